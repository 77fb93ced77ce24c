"""Static plan checks and mutation testing of the checker itself.

``check_plan`` proves a plan well-formed without running it: every buffer fits the arena
and holds what its size says; every element of every op's output is written (more than
once only into different buffers: a patch plan recomputes halos); every access
reads a box the op needs, from buffers that hold it, live at that step, written before;
and no two buffers that are live at the same step share a byte unless the plan declares
that in-place relation at that step and the op's access pattern makes it safe (the rules
in planners.inplace). The dynamic half is the arena executor's shadow memory.

``mutants`` derives faulty plans from a valid one (an offset shifted onto a live
neighbour, the arena shrunk, a live range shortened, two buffers with identical live
ranges aliased, an unsafe in-place declared); ``mutation_test`` reports which the
static checker, then the shadow-memory run, catches.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .errors import ArenaViolation, PlanError, TinysimError
from .ir import Graph
from .liveness import activation_tensors
from .plan import Box, Buffer, InPlace, Plan, Step, validate_structure
from .planners.geometry import fill_problem, fold_offset, needed_box
from .planners.inplace import (ELEMENTWISE_OPS, ROWS_OPS, SCHEME_KERNEL, VIEW_OPS,
                               scheme_problem)
from .planners.schedule import foldable_pads

KERNEL_OPS = {"view": VIEW_OPS, "depthwise_inplace": frozenset({"DEPTHWISE_CONV_2D"}),
              "op_rows": ROWS_OPS, "op_rows_reverse": ROWS_OPS}


@dataclass(frozen=True)
class Problem:
    kind: str      # model | buffer | fit | access | coverage | liveness | overlap | inplace
    message: str


@dataclass(frozen=True)
class CheckReport:
    plan: Plan
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return (f"{self.plan.model}: plan '{self.plan.label}' passes the static checks "
                    f"({len(self.plan.steps)} steps, {len(self.plan.buffers)} buffers, "
                    f"{self.plan.arena_bytes} B arena)")
        return (f"{self.plan.model}: plan '{self.plan.label}' has {len(self.problems)} "
                f"problem(s); first: {self.problems[0].message}")


def check_plan(graph: Graph, plan: Plan) -> CheckReport:
    problems: list[Problem] = []

    def add(kind: str, msg: str) -> None:
        problems.append(Problem(kind, f"{graph.name}: {msg}"))

    try:
        validate_structure(plan)
    except PlanError as exc:
        return CheckReport(plan, (Problem("structure", str(exc)),))
    if plan.model != graph.name or (plan.model_sha256 and graph.sha256
                                    and plan.model_sha256 != graph.sha256):
        add("model", f"the plan is for model '{plan.model}' (sha256 {plan.model_sha256[:12]}), "
            f"not this one (sha256 {graph.sha256[:12]}); re-plan it")
        return CheckReport(plan, tuple(problems))
    _check_buffers(graph, plan, add)
    if any(p.kind == "buffer" for p in problems):
        return CheckReport(plan, tuple(problems))
    _check_steps(graph, plan, add)
    _check_overlaps(graph, plan, add)
    return CheckReport(plan, tuple(problems))


def _check_buffers(graph: Graph, plan: Plan, add) -> None:
    activations = set(activation_tensors(graph))
    n = len(plan.steps)
    for b in plan.buffers:
        where = f"buffer '{b.name}'"
        if b.kind == "tensor":
            if b.tensor not in activations:
                add("buffer", f"{where} holds tensor {b.tensor}, not an activation tensor")
                continue
            t = graph.tensor(b.tensor)
            box = b.box_in(t.shape)
            if not Box.whole(t.shape).contains(box):
                add("buffer", f"{where}: box {box.start}..{box.stop} is not inside tensor "
                    f"{t.index} {t.shape}")
                continue
            if b.size != box.size * t.itemsize:
                add("buffer", f"{where}: size {b.size} B, but box {box.start}..{box.stop} of "
                    f"tensor {t.index} ({t.dtype}) holds {box.size * t.itemsize} B")
            if not b.in_arena and b.tensor not in graph.inputs:
                add("buffer", f"{where}: only graph inputs may live outside the arena")
            if b.tensor in graph.inputs and b.first_step != 0:
                add("liveness", f"{where}: graph input tensor {b.tensor} is loaded before "
                    f"step 0, but its live range starts at step {b.first_step}")
            if b.tensor in graph.outputs and b.last_step != n - 1:
                add("liveness", f"{where}: graph output tensor {b.tensor} must stay live to the "
                    f"last step {n - 1}, not {b.last_step}")
        if b.in_arena:
            if b.end > plan.arena_bytes:
                add("fit", f"{where} [{b.offset}, {b.end}) does not fit the "
                    f"{plan.arena_bytes}-byte arena")
            if b.offset % plan.alignment:
                add("fit", f"{where}: offset {b.offset} is not a multiple of the plan's "
                    f"alignment {plan.alignment}")


def _check_steps(graph: Graph, plan: Plan, add) -> None:
    folded = foldable_pads(graph)
    n_ops = len(graph.operators)
    written: dict[str, np.ndarray] = {}
    for b in plan.buffers:
        if b.kind == "tensor":
            written[b.name] = np.full(b.box_in(graph.tensor(b.tensor).shape).shape,
                                      b.tensor in graph.inputs)
    coverage: dict[int, np.ndarray] = {}
    for k, st in enumerate(plan.steps):
        where = f"step {k} (op {st.op})"
        if not 0 <= st.op < n_ops:
            add("access", f"{where}: the model has ops 0..{n_ops - 1}")
            continue
        op = graph.operators[st.op]
        where = f"step {k} (op {op.index} {op.opcode})"
        if st.kernel in KERNEL_OPS and op.opcode not in KERNEL_OPS[st.kernel]:
            add("access", f"{where}: kernel '{st.kernel}' cannot run {op.opcode}")
        for name in st.scratch:
            b = plan.buffer(name)
            if not b.first_step <= k <= b.last_step:
                add("liveness", f"{where} uses scratch '{name}' outside its live range "
                    f"[{b.first_step}, {b.last_step}]")
        # writes
        out_boxes: dict[int, Box] = {}
        slots = [a.slot for a in st.writes]
        if sorted(slots) != list(range(len(op.outputs))):
            add("access", f"{where} writes output slots {slots}; the op has "
                f"{len(op.outputs)} output(s), each written once per step")
        for a in st.writes:
            if not 0 <= a.slot < len(op.outputs) or a.tensor != op.outputs[a.slot]:
                add("access", f"{where} writes tensor {a.tensor} as output {a.slot}")
                continue
            t = graph.tensor(a.tensor)
            box = a.box_in(t.shape)
            if not Box.whole(t.shape).contains(box):
                add("access", f"{where} writes box {box.start}..{box.stop} outside tensor "
                    f"{t.index} {t.shape}")
                continue
            out_boxes[a.slot] = box
            cov = coverage.setdefault(a.tensor, np.zeros(t.shape, np.int32))
            cov[_slices(box)] += 1
            _check_pieces(graph, plan, k, where, a, box, add, written, is_write=True)
        # reads
        region = any(box != Box.whole(graph.tensor(op.outputs[s]).shape)
                     for s, box in out_boxes.items())
        out_box = out_boxes.get(0) if region else None
        need = [s for s, t in enumerate(op.inputs)
                if t >= 0 and not graph.tensor(t).is_constant]
        got = sorted(a.slot for a in st.reads)
        if got != need:
            add("access", f"{where} reads input slots {got}; the op's non-constant inputs are "
                f"slots {need}, each read once")
        for a in st.reads:
            if a.slot not in need:
                continue
            try:
                offset = fold_offset(graph, op, a.slot, a.tensor, folded)
                want = needed_box(graph, op, a.slot, out_box, offset)
            except TinysimError as exc:
                add("access", f"{where}: {exc}")
                continue
            t = graph.tensor(a.tensor)
            box = a.box_in(t.shape)
            if box != want:
                add("access", f"{where} reads box {box.start}..{box.stop} of tensor {t.index}; "
                    f"the op needs {want.start}..{want.stop}")
                continue
            fold_fill = None
            if a.tensor != op.inputs[a.slot]:
                fold_fill = next(f for p, (src, _, f) in folded.items()
                                 if graph.operators[p].outputs[0] == op.inputs[a.slot])
            problem = fill_problem(graph, op, a.slot, box, t.shape, offset, a.fill, fold_fill)
            if problem:
                add("access", f"{where} read of tensor {t.index}: {problem}")
            _check_pieces(graph, plan, k, where, a, box, add, written, is_write=False)
        if st.inplace is not None:
            _check_declared(st, where, add)
    folded_outputs = {graph.operators[p].outputs[0] for p in folded}
    for op in graph.operators:
        for t in op.outputs:
            tensor = graph.tensor(t)
            if tensor.nbytes == 0:
                continue
            cov = coverage.get(t)
            if cov is None:
                if t not in folded_outputs or t in graph.outputs:
                    add("coverage", f"no step computes op {op.index} ({op.opcode}) output "
                        f"tensor {t}")
            elif cov.min() < 1:
                # more than once is allowed: patch plans recompute halos into other buffers
                add("coverage", f"op {op.index} ({op.opcode}) output tensor {t}: "
                    f"{int((cov == 0).sum())} elements never written")


def _slices(box: Box, origin: tuple[int, ...] | None = None) -> tuple[slice, ...]:
    origin = origin or (0,) * len(box.start)
    return tuple(slice(a - o, b - o) for a, b, o in zip(box.start, box.stop, origin))


def _check_pieces(graph: Graph, plan: Plan, k: int, where: str, a, box: Box, add,
                  written: dict[str, np.ndarray], is_write: bool) -> None:
    t = graph.tensor(a.tensor)
    inside = box.intersect(Box.whole(t.shape))
    covered = 0
    for name in a.buffers:
        b = plan.buffer(name)
        if b.kind != "tensor" or b.tensor != a.tensor:
            add("access", f"{where} accesses tensor {a.tensor} in buffer '{name}', which holds "
                f"{'scratch' if b.kind == 'scratch' else f'tensor {b.tensor}'}")
            return
        if not b.first_step <= k <= b.last_step:
            add("liveness", f"{where} {'writes' if is_write else 'reads'} buffer '{name}' "
                f"(tensor {a.tensor}) outside its live range [{b.first_step}, {b.last_step}]")
        if inside is None:
            continue
        bbox = b.box_in(t.shape)
        part = inside.intersect(bbox)
        if part is None:
            continue
        covered += part.size
        mask = written[name][_slices(part, bbox.start)]
        if is_write:
            if mask.any():
                add("coverage", f"{where} writes box {part.start}..{part.stop} of tensor "
                    f"{a.tensor} into buffer '{name}', which an earlier step already wrote "
                    f"({int(mask.sum())} elements)")
            mask[...] = True
        elif not mask.all():
            add("liveness", f"{where} reads box {part.start}..{part.stop} of tensor {a.tensor} "
                f"from buffer '{name}' before any earlier step wrote it")
    if inside is not None and covered != inside.size:
        add("access", f"{where}: buffers {list(a.buffers)} hold {covered} of the "
            f"{inside.size} elements of tensor {a.tensor}'s box {inside.start}..{inside.stop} "
            "(each must be held once)")


def _check_declared(st: Step, where: str, add) -> None:
    ip = st.inplace
    reads = [a for a in st.reads if a.tensor == ip.input]
    writes = [a for a in st.writes if a.tensor == ip.output]
    if len(reads) != 1 or len(writes) != 1:
        add("inplace", f"{where} declares tensor {ip.output} in place over {ip.input}, but "
            "does not read the one and write the other exactly once")
    if SCHEME_KERNEL.get(ip.scheme) != st.kernel:
        add("inplace", f"{where}: scheme '{ip.scheme}' runs with kernel "
            f"'{SCHEME_KERNEL.get(ip.scheme)}', the step says '{st.kernel}'")


def _check_overlaps(graph: Graph, plan: Plan, add) -> None:
    """Buffers live at a common step that share bytes must be a declared, safe in-place
    pair: the input dies at that step, the output is born there."""
    declared: dict[tuple[int, int], tuple[int, Step]] = {}
    for k, st in enumerate(plan.steps):
        if st.inplace is not None:
            declared[(st.inplace.input, st.inplace.output)] = (k, st)
    for k, st in enumerate(plan.steps):
        if st.kernel != "op" and st.inplace is None:
            add("inplace", f"step {k} (op {st.op}): kernel '{st.kernel}' needs an in-place "
                "declaration")
    arena = sorted((b for b in plan.buffers if b.in_arena and b.size > 0),
                   key=lambda b: (b.offset, b.name))
    for i, x in enumerate(arena):
        for y in arena[i + 1:]:
            if y.offset >= x.end:
                break
            if x.last_step < y.first_step or y.last_step < x.first_step:
                continue
            problem = _pair_problem(graph, plan, x, y, declared)
            if problem is not None:
                lo, hi = max(x.offset, y.offset), min(x.end, y.end)
                add("overlap", f"buffers '{x.name}' [{x.offset}, {x.end}) and '{y.name}' "
                    f"[{y.offset}, {y.end}) share bytes [{lo}, {hi}) while both are live at "
                    f"steps {max(x.first_step, y.first_step)}..{min(x.last_step, y.last_step)}"
                    f": {problem}")


def _pair_problem(graph: Graph, plan: Plan, x: Buffer, y: Buffer,
                  declared: dict[tuple[int, int], tuple[int, Step]]) -> str | None:
    for a, b in ((x, y), (y, x)):
        if a.kind != "tensor" or b.kind != "tensor" or (a.tensor, b.tensor) not in declared:
            continue
        k, st = declared[(a.tensor, b.tensor)]
        if not (a.last_step == k == b.first_step):
            return (f"the in-place step {k} must be the input's last step and the output's "
                    f"first (they are live over [{a.first_step}, {a.last_step}] and "
                    f"[{b.first_step}, {b.last_step}])")
        read = next((r for r in st.reads if r.tensor == a.tensor and a.name in r.buffers), None)
        if read is None or not any(b.name in w.buffers for w in st.writes):
            return f"step {k} does not read '{a.name}' and write '{b.name}'"
        if sum(r.tensor == a.tensor for r in st.reads) != 1:
            return f"step {k} reads the overwritten tensor {a.tensor} more than once"
        if a.box is not None or b.box is not None:
            return "in-place schemes apply to whole-tensor buffers"
        op = graph.operators[st.op]
        scratch = [plan.buffer(s).size for s in st.scratch]
        problem = scheme_problem(graph, op, st.inplace.scheme, st.kernel, read,
                                 graph.tensor(b.tensor), b.offset - a.offset, scratch)
        if problem is None:
            return None
        return f"declared in place at step {k} ({op.opcode}), but {problem}"
    return "no in-place relation declares it"


# -- mutation testing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    kind: str  # one of MUTATION_KINDS
    description: str
    plan: Plan


MUTATION_KINDS = ("shift_offset", "shrink_arena", "shorten_live_range", "alias_same_range",
                  "unsafe_inplace")


def _with_buffer(plan: Plan, name: str, **changes) -> Plan:
    return replace(plan, buffers=tuple(replace(b, **changes) if b.name == name else b
                                       for b in plan.buffers))


def _spread(items: list, count: int) -> list:
    """Up to ``count`` items evenly spread over ``items`` (deterministic)."""
    if len(items) <= count:
        return items
    return [items[i * len(items) // count] for i in range(count)]


def mutants(graph: Graph, plan: Plan, per_kind: int = 6) -> list[Mutant]:
    """Faulty plans derived from ``plan``, faulty by construction: each makes a byte hold
    two live values, leaves the arena, or breaks a declared access pattern."""
    out: list[Mutant] = []
    arena = [b for b in plan.buffers if b.in_arena and b.size > 0]
    related = {(st.inplace.input, st.inplace.output) for st in plan.steps if st.inplace}

    def independent(x: Buffer, y: Buffer) -> bool:
        return x.name != y.name and x.first_step <= y.last_step and \
            y.first_step <= x.last_step and (x.tensor, y.tensor) not in related and \
            (y.tensor, x.tensor) not in related

    # shift an offset onto a neighbour live at the same time
    pairs = [(x, y) for x in arena for y in arena if independent(x, y)]
    for x, y in _spread(pairs, per_kind):
        shift = y.offset - x.offset + max(min(x.size, y.size) // 2 // plan.alignment, 0) \
            * plan.alignment
        out.append(Mutant("shift_offset", f"buffer '{x.name}' shifted by {shift:+d} B onto "
                          f"'{y.name}' (both live)",
                          _with_buffer(plan, x.name, offset=x.offset + shift)))
    # shrink the arena below the furthest buffer end
    top = max((b.end for b in arena), default=0)
    if top:
        for cut in sorted({1, plan.alignment, max(top // 10, 1)}):
            out.append(Mutant("shrink_arena", f"arena shrunk to {top - cut} B (needs {top})",
                              replace(plan, arena_bytes=top - cut)))
    # shorten a live range: the buffer is declared dead before its last access
    shortenable = [b for b in arena if b.last_step > b.first_step]
    for b in _spread(shortenable, per_kind):
        out.append(Mutant("shorten_live_range",
                          f"buffer '{b.name}' live range [{b.first_step}, {b.last_step}] cut "
                          f"to end at {b.last_step - 1}",
                          _with_buffer(plan, b.name, last_step=b.last_step - 1)))
    # alias two buffers with identical live ranges (TinyEngine's strict-inequality bug),
    # else two with overlapping ranges
    same = [(x, y) for i, x in enumerate(arena) for y in arena[i + 1:]
            if (x.first_step, x.last_step) == (y.first_step, y.last_step) and independent(x, y)]
    for x, y in _spread(same or [p for p in pairs if p[0].name < p[1].name], per_kind):
        out.append(Mutant("alias_same_range", f"buffer '{y.name}' put at '{x.name}''s offset "
                          f"{x.offset} (live [{x.first_step}, {x.last_step}] and "
                          f"[{y.first_step}, {y.last_step}])",
                          _with_buffer(plan, y.name, offset=x.offset)))
    out.extend(_unsafe_inplace(graph, plan, per_kind))
    return out


def _unsafe_inplace(graph: Graph, plan: Plan, per_kind: int) -> list[Mutant]:
    """Declare in place what is genuinely unsafe, output at the input's offset: a conv
    whose window reaches input pixels stored after the output pixel it writes, a fully
    connected layer (every output reads every input), an elementwise op over an input
    that a later step still reads."""
    out = []
    for k, st in enumerate(plan.steps):
        if st.inplace is not None and st.inplace.scheme != "view":
            # a declared relation pushed past what its scheme allows: output rows onto
            # input rows still to be read, output channels/elements onto later inputs
            bin_ = plan.buffer(next(a for a in st.reads if a.tensor == st.inplace.input).buffers[0])
            bout = plan.buffer(st.writes[0].buffers[0])
            offset = bin_.offset if st.inplace.scheme.startswith("rows") \
                else bin_.offset + plan.alignment
            # still on the input, so later input bytes are overwritten: a real fault
            if offset != bout.offset and offset < bin_.end:
                out.append(Mutant("unsafe_inplace", f"step {k}: '{st.inplace.scheme}' in-place "
                                  f"output moved from {bout.offset} to {offset} (input at "
                                  f"{bin_.offset})", _with_buffer(plan, bout.name, offset=offset)))
            continue
        if st.inplace is not None or len(st.writes) != 1 or not st.reads:
            continue
        a_in, a_out = st.reads[0], st.writes[0]
        if len(a_in.buffers) != 1 or len(a_out.buffers) != 1 or a_in.box is not None:
            continue
        bin_, bout = plan.buffer(a_in.buffers[0]), plan.buffer(a_out.buffers[0])
        if not bin_.in_arena or bin_.box is not None or bout.box is not None:
            continue
        op = graph.operators[st.op]
        x, y = graph.tensor(a_in.tensor), graph.tensor(a_out.tensor)
        why = None
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            f = graph.tensor(op.inputs[1]).shape
            if f[2] > 1 and x.shape[2] > 1:
                why = f"its {f[1]}x{f[2]} window reads input pixels after the one it overwrites"
        elif op.opcode == "FULLY_CONNECTED" and x.size > 1 and y.size > 1:
            why = "every output reads every input"
        elif op.opcode in ELEMENTWISE_OPS and bin_.last_step > k:
            why = f"its input is still read at step {bin_.last_step}"
        if why is None:
            continue
        mutated = replace(st, inplace=InPlace(x.index, y.index, "elementwise"))
        steps = plan.steps[:k] + (mutated,) + plan.steps[k + 1:]
        out.append(Mutant("unsafe_inplace", f"step {k} ({op.opcode}) declared in place over "
                          f"tensor {x.index}: {why}",
                          _with_buffer(replace(plan, steps=steps), bout.name,
                                       offset=bin_.offset)))
    return _spread(out, per_kind)


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    static: bool           # caught by check_plan
    dynamic: bool | None   # caught by the shadow-memory run (None: not run)
    detail: str

    @property
    def caught(self) -> bool:
        return self.static or bool(self.dynamic)


@dataclass(frozen=True)
class MutationReport:
    results: tuple[MutantResult, ...]

    @property
    def kill_rate(self) -> float:
        return sum(r.caught for r in self.results) / len(self.results)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for r in self.results:
            caught, total = out.get(r.mutant.kind, (0, 0))
            out[r.mutant.kind] = (caught + r.caught, total + 1)
        return out

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if not r.caught]


def mutation_test(graph: Graph, plan: Plan, inputs: Sequence[np.ndarray] | None = None,
                  per_kind: int = 6, dynamic: bool = False) -> MutationReport:
    """Run the checker on every mutant. With ``dynamic`` (and inputs), also run each in the
    arena with shadow memory and compare with the reference, even when the static check
    already caught it, so both halves are measured."""
    from .arena import ArenaExecutor, compare_with_reference
    from .executor import Executor

    base = check_plan(graph, plan)
    if not base.ok:
        raise PlanError(f"mutation testing needs a valid plan to start from: {base.summary()}")
    if dynamic and inputs is None:
        raise PlanError(f"{graph.name}: dynamic mutation testing runs every mutant in the "
                        "arena; pass inputs")
    reference = None  # the layer-wise run, made once when a mutant first needs it
    results = []
    derived = mutants(graph, plan, per_kind)
    if not derived:
        raise PlanError(f"{graph.name}: no faulty plan could be derived from '{plan.label}' "
                        "(an empty arena?), so there is no kill rate to report")
    for m in derived:
        report = check_plan(graph, m.plan)
        detail = report.problems[0].message if report.problems else ""
        caught_dynamic = None
        if dynamic or not report.problems:
            if inputs is None:
                raise PlanError(f"{graph.name}: mutant '{m.description}' passed the static "
                                "checks; pass inputs to run it in the arena")
            if reference is None:
                reference = Executor(graph).run(inputs)
            try:
                run = ArenaExecutor(graph, m.plan).run(inputs)
                mismatches = compare_with_reference(graph, run, reference)
                caught_dynamic = bool(mismatches)
                if mismatches and not detail:
                    detail = mismatches[0].describe()
            except (ArenaViolation, PlanError) as exc:
                caught_dynamic = True
                detail = detail or str(exc)
        results.append(MutantResult(m, bool(report.problems), caught_dynamic, detail))
    return MutationReport(tuple(results))
