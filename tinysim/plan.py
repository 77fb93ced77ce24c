"""Memory plans as data: which step runs what, and where every byte it touches lives.

A plan is a list of steps over one arena. Each step runs one op's kernel, or a region of
it, reading and writing *accesses*: a box of one tensor (whole tensor by default) found
in one or more *buffers*. A buffer is a contiguous byte range of the arena (or outside
it) holding one tensor's box densely in C order, live over an inclusive step range.
Kernel scratch (the in-place depthwise channel buffer, TFLM's MEAN accumulator) are
buffers too. In-place relations are declared per step: which output overwrites which
input and by which access pattern (``InPlace.scheme``).

This one format covers whole-tensor plans (TFLM's), in-place plans (TinyEngine's),
folded PADs (a read box reaching outside the tensor, filled with the pad value) and
tiled/patch plans (several buffers per tensor, steps computing an output box).

On disk it is JSON with ``format`` / ``format_version`` and a top-level ``arena_bytes``
so other tools can read the arena size without understanding the rest.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import PlanError

FORMAT = "tinysim-plan"
FORMAT_VERSION = 1

# kernel: how the executor runs a step
KERNELS = (
    "op",                  # the op's reference kernel (kernels_ref), out-of-place
    "depthwise_inplace",   # TinyEngine's in-place depthwise, channel by channel
    "op_rows",             # the op's reference kernel one output row at a time, top down
    "op_rows_reverse",     # the same, bottom up
    "view",                # no computation: the output is the input's bytes (RESHAPE)
)
# InPlace.scheme: the access pattern that makes sharing bytes safe
INPLACE_SCHEMES = (
    "elementwise",        # output element i computed from input element i only
    "depthwise_channel",  # input channel copied to scratch, output channel written back
    "rows",               # output rows land on input rows no later output row reads
    "rows_reverse",       # the same with rows produced bottom up, output after the input
    "view",               # output bytes are the input bytes, nothing is written
)
BUFFER_KINDS = ("tensor", "scratch")


@dataclass(frozen=True)
class Box:
    """Half-open region [start, stop) of a tensor, in the tensor's own coordinates.

    A read box may reach outside the tensor (negative start, stop past the shape): those
    elements are virtual padding with the access's ``fill`` value, never stored.
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]

    def __post_init__(self):
        if len(self.start) != len(self.stop):
            raise PlanError(f"box {self.start}..{self.stop}: start and stop differ in rank")
        if any(b < a for a, b in zip(self.start, self.stop)):
            raise PlanError(f"box {self.start}..{self.stop} has a negative extent")

    @classmethod
    def whole(cls, shape: Iterable[int]) -> "Box":
        shape = tuple(int(s) for s in shape)
        return cls((0,) * len(shape), shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop))

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def intersect(self, other: "Box") -> "Box | None":
        start = tuple(max(a, b) for a, b in zip(self.start, other.start))
        stop = tuple(min(a, b) for a, b in zip(self.stop, other.stop))
        if any(b <= a for a, b in zip(start, stop)):
            return None
        return Box(start, stop)

    def contains(self, other: "Box") -> bool:
        """False for a box of another rank (zip alone would compare a prefix)."""
        return len(other.start) == len(self.start) and all(a <= c and d <= b for a, b, c, d in
                   zip(self.start, self.stop, other.start, other.stop))

    def to_json(self) -> dict[str, list[int]]:
        return {"start": list(self.start), "stop": list(self.stop)}

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Box":
        try:
            return cls(tuple(int(v) for v in d["start"]), tuple(int(v) for v in d["stop"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{where}: a box needs integer lists 'start' and 'stop', got "
                            f"{d!r}") from exc


@dataclass(frozen=True)
class Buffer:
    """Contiguous bytes [offset, offset + size) holding ``tensor``'s ``box`` in C order
    (kind 'tensor'), or a kernel's scratch (kind 'scratch', tensor -1), live from
    ``first_step`` to ``last_step`` inclusive. ``offset`` None: outside the arena (an
    input the application keeps in its own memory)."""

    name: str
    kind: str
    tensor: int
    box: Box | None
    size: int
    offset: int | None
    first_step: int
    last_step: int
    purpose: str = ""

    @property
    def in_arena(self) -> bool:
        return self.offset is not None

    @property
    def end(self) -> int:
        return (self.offset or 0) + self.size

    def box_in(self, shape: tuple[int, ...]) -> Box:
        """The box held, of a tensor of ``shape`` (``box`` None: the whole tensor)."""
        return self.box if self.box is not None else Box.whole(shape)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "tensor": self.tensor,
                             "box": self.box.to_json() if self.box else None,
                             "offset": self.offset, "size": self.size,
                             "first_step": self.first_step, "last_step": self.last_step}
        if self.purpose:
            d["purpose"] = self.purpose
        return d

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Buffer":
        try:
            name = str(d["name"])
            where = f"{where} '{name}'"
            box = Box.from_json(d["box"], where) if d.get("box") is not None else None
            off = d["offset"]
            return cls(name=name, kind=str(d["kind"]), tensor=int(d["tensor"]), box=box,
                       size=int(d["size"]), offset=None if off is None else int(off),
                       first_step=int(d["first_step"]), last_step=int(d["last_step"]),
                       purpose=str(d.get("purpose", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{where}: malformed buffer entry ({exc!r}); each buffer needs "
                            "name, kind, tensor, box, offset, size, first_step, last_step"
                            ) from exc


@dataclass(frozen=True)
class Access:
    """A step's read or write of ``tensor`` (the op's input/output number ``slot``).

    ``box`` None means the whole tensor. The elements of the box inside the tensor come
    from ``buffers`` (whose boxes together cover them); elements outside it are ``fill``
    (reads only: the virtual padding a folded PAD leaves to its consumer).
    """

    slot: int
    tensor: int
    buffers: tuple[str, ...]
    box: Box | None = None
    fill: int | None = None

    def box_in(self, shape: tuple[int, ...]) -> Box:
        """The box accessed, of a tensor of ``shape`` (``box`` None: the whole tensor)."""
        return self.box if self.box is not None else Box.whole(shape)

    def to_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "tensor": self.tensor, "buffers": list(self.buffers),
                "box": self.box.to_json() if self.box else None, "fill": self.fill}

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Access":
        try:
            box = Box.from_json(d["box"], where) if d.get("box") is not None else None
            fill = d.get("fill")
            return cls(slot=int(d["slot"]), tensor=int(d["tensor"]),
                       buffers=tuple(str(b) for b in d["buffers"]), box=box,
                       fill=None if fill is None else int(fill))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{where}: malformed access ({exc!r}); an access needs slot, "
                            "tensor, buffers, box, fill") from exc


@dataclass(frozen=True)
class InPlace:
    """At this step ``output``'s buffer overwrites ``input``'s bytes, safe by ``scheme``."""

    input: int
    output: int
    scheme: str

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "scheme": self.scheme}


@dataclass(frozen=True)
class Step:
    """Run op ``op`` with ``kernel``. ``reads`` cover the op's non-constant inputs,
    ``writes`` its outputs (a write box smaller than the output: a region step)."""

    op: int
    kernel: str
    reads: tuple[Access, ...]
    writes: tuple[Access, ...]
    scratch: tuple[str, ...] = ()
    inplace: InPlace | None = None

    def to_json(self, index: int) -> dict[str, Any]:
        return {"step": index, "op": self.op, "kernel": self.kernel,
                "reads": [a.to_json() for a in self.reads],
                "writes": [a.to_json() for a in self.writes],
                "scratch": list(self.scratch),
                "inplace": self.inplace.to_json() if self.inplace else None}


@dataclass(frozen=True)
class Plan:
    model: str
    model_sha256: str
    planner: str
    options: tuple[str, ...]
    alignment: int
    arena_bytes: int
    buffers: tuple[Buffer, ...]
    steps: tuple[Step, ...]
    format_version: int = FORMAT_VERSION
    _index: dict[str, Buffer] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        index: dict[str, Buffer] = {}
        for b in self.buffers:
            if b.name in index:
                raise PlanError(f"plan for {self.model}: buffer name '{b.name}' is used twice")
            index[b.name] = b
        object.__setattr__(self, "_index", index)

    def buffer(self, name: str) -> Buffer:
        try:
            return self._index[name]
        except KeyError:
            raise PlanError(f"plan for {self.model}: no buffer named '{name}'") from None

    def has_buffer(self, name: str) -> bool:
        return name in self._index

    @property
    def label(self) -> str:
        return "+".join((self.planner,) + self.options)

    def tensor_buffers(self, tensor: int) -> list[Buffer]:
        return [b for b in self.buffers if b.kind == "tensor" and b.tensor == tensor]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": self.format_version,
            "arena_bytes": self.arena_bytes,
            "model": {"name": self.model, "sha256": self.model_sha256},
            "planner": self.planner, "options": list(self.options),
            "alignment": self.alignment,
            "buffers": [b.to_json() for b in self.buffers],
            "steps": [s.to_json(i) for i, s in enumerate(self.steps)],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps() + "\n")


def _step_from_json(d: Any, k: int) -> Step:
    where = f"step {k}"
    try:
        if int(d.get("step", k)) != k:
            raise PlanError(f"{where}: entry says step {d['step']}; steps must be listed in "
                            "execution order, numbered from 0")
        ip = d.get("inplace")
        inplace = None if ip is None else InPlace(int(ip["input"]), int(ip["output"]),
                                                  str(ip["scheme"]))
        return Step(op=int(d["op"]), kernel=str(d["kernel"]),
                    reads=tuple(Access.from_json(a, f"{where} read") for a in d["reads"]),
                    writes=tuple(Access.from_json(a, f"{where} write") for a in d["writes"]),
                    scratch=tuple(str(s) for s in d.get("scratch", ())), inplace=inplace)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{where}: malformed step ({exc!r}); a step needs op, kernel, reads, "
                        "writes, scratch, inplace") from exc


def plan_from_json(d: Any, source: str = "plan") -> Plan:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise PlanError(f"{source}: not a tinysim plan (no \"format\": \"{FORMAT}\"); write "
                        "one with `tinysim plan MODEL --out plan.json`")
    version = d.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanError(f"{source}: plan format version {version!r}, this tinysim reads "
                        f"version {FORMAT_VERSION}; re-plan the model with this tinysim")
    try:
        model = d["model"]
        plan = Plan(model=str(model["name"]), model_sha256=str(model.get("sha256", "")),
                    planner=str(d["planner"]), options=tuple(str(o) for o in d["options"]),
                    alignment=int(d["alignment"]), arena_bytes=int(d["arena_bytes"]),
                    buffers=tuple(Buffer.from_json(b, f"{source}: buffer")
                                  for b in d["buffers"]),
                    steps=tuple(_step_from_json(s, k) for k, s in enumerate(d["steps"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{source}: malformed plan ({exc!r}); it needs model, planner, options, "
                        "alignment, arena_bytes, buffers, steps") from exc
    validate_structure(plan)
    return plan


def loads(text: str, source: str = "plan") -> Plan:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{source}: not valid JSON ({exc})") from exc
    return plan_from_json(d, source)


def load(path: str | Path) -> Plan:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise PlanError(f"cannot read plan {p}: {exc.strerror}") from exc
    return loads(text, str(p))


def validate_structure(plan: Plan) -> None:
    """Self-consistency that needs no graph: known kinds, existing names, sane numbers."""
    where = f"plan for {plan.model}"
    if plan.alignment < 1:
        raise PlanError(f"{where}: alignment {plan.alignment} must be >= 1")
    if plan.arena_bytes < 0:
        raise PlanError(f"{where}: arena_bytes {plan.arena_bytes} is negative")
    n = len(plan.steps)
    for b in plan.buffers:
        bw = f"{where}: buffer '{b.name}'"
        if b.kind not in BUFFER_KINDS:
            raise PlanError(f"{bw}: kind '{b.kind}' is not one of {BUFFER_KINDS}")
        if b.kind == "scratch" and b.tensor != -1:
            raise PlanError(f"{bw}: a scratch buffer holds no tensor (tensor must be -1)")
        if b.size < 0 or (b.offset is not None and b.offset < 0):
            raise PlanError(f"{bw}: negative size or offset ({b.size}, {b.offset})")
        if not 0 <= b.first_step <= b.last_step < max(n, 1):
            raise PlanError(f"{bw}: live range [{b.first_step}, {b.last_step}] is not inside "
                            f"the plan's steps 0..{n - 1}")
    for k, s in enumerate(plan.steps):
        sw = f"{where}: step {k} (op {s.op})"
        if s.kernel not in KERNELS:
            raise PlanError(f"{sw}: kernel '{s.kernel}' is not one of {KERNELS}")
        if s.inplace is not None and s.inplace.scheme not in INPLACE_SCHEMES:
            raise PlanError(f"{sw}: in-place scheme '{s.inplace.scheme}' is not one of "
                            f"{INPLACE_SCHEMES}")
        for a in s.reads + s.writes:
            if not a.buffers:
                raise PlanError(f"{sw}: the access to tensor {a.tensor} names no buffer")
            for name in a.buffers:
                if not plan.has_buffer(name):
                    raise PlanError(f"{sw}: the access to tensor {a.tensor} names buffer "
                                    f"'{name}', which the plan does not define")
        for a in s.writes:
            if a.fill is not None:
                raise PlanError(f"{sw}: the write of tensor {a.tensor} has a fill value; only "
                                "reads may reach outside a tensor")
        for name in s.scratch:
            if not plan.has_buffer(name) or plan.buffer(name).kind != "scratch":
                raise PlanError(f"{sw}: scratch '{name}' is not a scratch buffer of the plan")
