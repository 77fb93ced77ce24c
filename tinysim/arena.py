"""Execute a plan in one simulated SRAM arena, with shadow memory that proves every read.

All activations live in one ``numpy`` uint8 array of ``plan.arena_bytes``. Each step's
kernel reads and writes numpy views at the planned offsets; in-place steps really
overwrite their input's bytes. Beside the arena, the shadow memory records for every byte
which value it holds: byte k of tensor t has id ``base[t] + k`` (scratch buffers get ids
too), and which step wrote it. Every read compares the shadow ids of the bytes it reads
with the ids it expects; a mismatch raises ArenaViolation naming the step, op, tensor,
byte range and the op that overwrote it. In-place depthwise steps are checked channel by
channel, row-by-row steps row by row, so the check sees the kernel's own order.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from numba import njit

import kernels_ref
from kernels_ref._depthwise_inplace import depthwise_channel
from .errors import ArenaViolation, PlanError, TinysimError, UnsupportedError
from .executor import check_supported, validate_inputs
from .ir import Graph, Operator, frozen_options
from .plan import Access, Box, Buffer, Plan, Step
from .planners.geometry import REGION_OPS, fold_offset, needed_box, padding_top_left
from .planners.schedule import foldable_pads
from .verify import TensorMismatch, tensor_mismatch

NEVER_WRITTEN = -2
LOADED = -1  # writer of graph inputs: the application, before step 0


def byte_runs(outer: tuple[int, ...], box: Box, itemsize: int) -> tuple[np.ndarray, int]:
    """Start offsets (bytes, in a dense C-order array of shape ``outer``) and common length
    of the contiguous runs that make up ``box``, in C order."""
    nd = len(outer)
    if box.size == 0:
        return np.zeros(0, np.int64), 0
    strides = [1] * nd
    for ax in range(nd - 2, -1, -1):
        strides[ax] = strides[ax + 1] * outer[ax + 1]
    axis = 0
    for ax in range(nd - 1, -1, -1):
        if box.start[ax] != 0 or box.stop[ax] != outer[ax]:
            axis = ax
            break
    length = (box.stop[axis] - box.start[axis]) * strides[axis] * itemsize
    starts = np.array([box.start[axis] * strides[axis]], np.int64) if nd else \
        np.zeros(1, np.int64)
    for ax in range(axis - 1, -1, -1):
        starts = (np.arange(box.start[ax], box.stop[ax], dtype=np.int64)[:, None]
                  * strides[ax] + starts[None, :]).reshape(-1)
    return starts * itemsize, length


def _expand(starts: np.ndarray, length: int) -> np.ndarray:
    return (starts[:, None] + np.arange(length, dtype=np.int64)[None, :]).reshape(-1)


@dataclass(frozen=True)
class _Piece:
    """The part ``box`` (tensor coordinates) of an access held by ``buffer``."""

    buffer: Buffer
    box: Box
    arena_starts: np.ndarray  # absolute byte offsets of its runs in the buffer's memory
    arena_len: int
    id_starts: np.ndarray     # byte offsets of the same bytes within the tensor
    id_len: int

    @property
    def contiguous(self) -> bool:
        return self.arena_starts.size == 1

    def arena_index(self):
        if self.contiguous:
            s = int(self.arena_starts[0])
            return slice(s, s + self.arena_len)
        return _expand(self.arena_starts, self.arena_len)

    def ids(self, base: int) -> np.ndarray:
        if self.id_starts.size == 1:
            s = int(self.id_starts[0]) + base
            return np.arange(s, s + self.id_len, dtype=np.int64)
        return _expand(self.id_starts, self.id_len) + base


@dataclass(frozen=True)
class ArenaRun:
    """Every tensor's value as the arena held it right after the step that wrote it, and
    the graph outputs read from the arena after the last step."""

    values: dict[int, np.ndarray]
    outputs: list[np.ndarray]
    bytes_checked: int


class ArenaExecutor:
    """Prepared once per (graph, plan); ``run`` executes the plan with shadow checks."""

    def __init__(self, graph: Graph, plan: Plan):
        check_supported(graph)
        self.graph = graph
        self.plan = plan
        self.where = f"{graph.name}: plan '{plan.label}'"
        self._check_layout()
        self.folded = foldable_pads(graph)
        reg = kernels_ref.registry()
        self.params: dict[int, Any] = {}
        for st in plan.steps:
            if st.kernel != "view" and st.op not in self.params:
                op = self._op(st)
                self.params[st.op] = reg[op.opcode].prepare(graph, op)
        self._sub_params: dict[tuple, Any] = {}
        # shadow ids: tensors by index, then scratch buffers by name
        self.base: dict[int, int] = {}
        next_id = 0
        for t in sorted({b.tensor for b in plan.buffers if b.kind == "tensor"}):
            self.base[t] = next_id
            next_id += graph.tensor(t).nbytes
        self.scratch_base: dict[str, int] = {}
        for b in plan.buffers:
            if b.kind == "scratch":
                self.scratch_base[b.name] = next_id
                next_id += b.size
        if next_id >= 2 ** 31:
            raise PlanError(f"{self.where}: more than 2 GiB of activations to track")
        owners = sorted([(base, f"tensor {t} ({graph.tensor(t).name})")
                         for t, base in self.base.items() if graph.tensor(t).nbytes]
                        + [(base, f"scratch buffer '{n}'")
                           for n, base in self.scratch_base.items()
                           if plan.buffer(n).size])
        self._id_bases = [base for base, _ in owners]
        self._id_labels = [label for _, label in owners]

    # -- plan sanity the executor cannot run without (the checker says more) ------------

    def _op(self, st: Step) -> Operator:
        if not 0 <= st.op < len(self.graph.operators):
            raise PlanError(f"{self.where}: a step runs op {st.op}, the model has ops "
                            f"0..{len(self.graph.operators) - 1}")
        return self.graph.operators[st.op]

    def _check_layout(self) -> None:
        g, p = self.graph, self.plan
        for b in p.buffers:
            if b.in_arena and b.end > p.arena_bytes:
                raise PlanError(f"{self.where}: buffer '{b.name}' [{b.offset}, {b.end}) does "
                                f"not fit the {p.arena_bytes}-byte arena")
            if b.kind == "tensor":
                if not 0 <= b.tensor < len(g.tensors) or g.tensor(b.tensor).is_constant:
                    raise PlanError(f"{self.where}: buffer '{b.name}' holds tensor {b.tensor}, "
                                    "which is not an activation tensor of the model")
                t = g.tensor(b.tensor)
                box = b.box_in(t.shape)
                if not Box.whole(t.shape).contains(box) or b.size != box.size * t.itemsize:
                    raise PlanError(f"{self.where}: buffer '{b.name}' ({b.size} B) does not "
                                    f"hold box {box.start}..{box.stop} of tensor {t.index} "
                                    f"({t.name}, {t.shape} {t.dtype})")

    # -- accesses ------------------------------------------------------------------------

    def _pieces(self, k: int, a: Access) -> tuple[Box, Box | None, list[_Piece]]:
        t = self.graph.tensor(a.tensor)
        box = a.box_in(t.shape)
        inside = box.intersect(Box.whole(t.shape)) if box.size else None
        pieces = []
        covered = 0
        for name in a.buffers:
            b = self.plan.buffer(name)
            if b.kind != "tensor" or b.tensor != a.tensor:
                raise PlanError(f"{self.where}: step {k} accesses tensor {a.tensor} in buffer "
                                f"'{name}', which holds "
                                f"{'scratch' if b.kind == 'scratch' else f'tensor {b.tensor}'}")
            if inside is None:
                continue
            bbox = b.box_in(t.shape)
            part = inside.intersect(bbox)
            if part is None:
                continue
            rel = Box(tuple(s - o for s, o in zip(part.start, bbox.start)),
                      tuple(s - o for s, o in zip(part.stop, bbox.start)))
            a_starts, a_len = byte_runs(bbox.shape, rel, t.itemsize)
            i_starts, i_len = byte_runs(t.shape, part, t.itemsize)
            pieces.append(_Piece(b, part, a_starts + (b.offset or 0), a_len, i_starts, i_len))
            covered += part.size
        if inside is not None and covered != inside.size:
            raise PlanError(f"{self.where}: {self._step_desc(k)} accesses box {box.start}.."
                            f"{box.stop} of tensor {a.tensor}, but its buffers "
                            f"{list(a.buffers)} hold {covered} of its {inside.size} elements "
                            "(missing or overlapping)")
        if inside is not None and inside != box and a.fill is None:
            raise PlanError(f"{self.where}: {self._step_desc(k)} reads box {box.start}.."
                            f"{box.stop} of tensor {a.tensor} {t.shape}, outside the tensor, "
                            "with no fill")
        return box, inside, pieces

    def _memory(self, b: Buffer) -> np.ndarray:
        return self.arena if b.in_arena else self.external[b.name]

    def _buffer_array(self, piece: _Piece, dtype) -> np.ndarray:
        """The buffer's bytes as a dense array of its box (a view into the arena)."""
        b = piece.buffer
        start = b.offset or 0
        shape = b.box_in(self.graph.tensor(b.tensor).shape).shape
        return self._memory(b)[start:start + b.size].view(dtype).reshape(shape)

    def _check(self, k: int, a: Access, piece: _Piece) -> None:
        if not piece.buffer.in_arena:
            return
        idx = piece.arena_index()
        want = piece.ids(self.base[a.tensor])
        have = self.owner[idx]
        self.bytes_checked += want.size
        if not np.array_equal(have, want):
            self._violation(k, a, piece, idx, have, want)

    def _mark(self, k: int, a: Access, piece: _Piece) -> None:
        if piece.buffer.in_arena:
            idx = piece.arena_index()
            self.owner[idx] = piece.ids(self.base[a.tensor])
            self.writer[idx] = k

    def _read(self, k: int, a: Access) -> np.ndarray:
        t = self.graph.tensor(a.tensor)
        box, inside, pieces = self._pieces(k, a)
        for piece in pieces:
            self._check(k, a, piece)
        dtype = np.dtype(t.dtype)
        if len(pieces) == 1 and pieces[0].box == box and pieces[0].contiguous:
            idx = pieces[0].arena_index()
            return self._memory(pieces[0].buffer)[idx].view(dtype).reshape(box.shape)
        out = np.full(box.shape, a.fill if a.fill is not None else 0, dtype)
        for piece in pieces:
            out[_slices(piece.box, box)] = self._buffer_array(piece, dtype)[
                _slices(piece.box, piece.buffer.box_in(t.shape))]
        return out

    def _write_target(self, k: int, a: Access) -> tuple[np.ndarray, list[_Piece], bool]:
        """(array the kernel writes, pieces, whether the array is the arena itself)."""
        t = self.graph.tensor(a.tensor)
        box, _, pieces = self._pieces(k, a)
        dtype = np.dtype(t.dtype)
        if len(pieces) == 1 and pieces[0].box == box and pieces[0].contiguous:
            idx = pieces[0].arena_index()
            return self._memory(pieces[0].buffer)[idx].view(dtype).reshape(box.shape), \
                pieces, True
        return np.empty(box.shape, dtype), pieces, False

    def _commit(self, k: int, a: Access, arr: np.ndarray, pieces: list[_Piece],
                direct: bool) -> None:
        t = self.graph.tensor(a.tensor)
        box = a.box_in(t.shape)
        for piece in pieces:
            if not direct:
                self._buffer_array(piece, arr.dtype)[
                    _slices(piece.box, piece.buffer.box_in(t.shape))] = \
                    arr[_slices(piece.box, box)]
            self._mark(k, a, piece)
        value = self.values.setdefault(a.tensor, np.zeros(t.shape, t.dtype))
        value[_slices(box, Box.whole(t.shape))] = arr

    def _step_desc(self, k: int) -> str:
        if k >= len(self.plan.steps):
            return "after the last step, reading the graph output"
        op = self.graph.operators[self.plan.steps[k].op]
        return f"step {k} (op {op.index} {op.opcode})"

    def _violation(self, k: int, a: Access, piece: _Piece, idx, have: np.ndarray,
                   want: np.ndarray):
        g = self.graph
        t = g.tensor(a.tensor)
        bad = int(np.flatnonzero(have != want)[0])
        arena_bytes = np.arange(self.arena.size)[idx] if isinstance(idx, slice) else idx
        byte = int(arena_bytes[bad])
        lo, hi = int(arena_bytes.min()), int(arena_bytes.max()) + 1
        holder = self._describe_id(int(have[bad]))
        w = int(self.writer[byte])
        if w == NEVER_WRITTEN:
            by = ("no step ever wrote it; the plan reads the tensor from bytes its producer "
                  "did not write — fix the buffer's offset or the access")
        else:
            by = (f"{'the graph input load' if w == LOADED else self._step_desc(w)} "
                  "overwrote it. Two buffers share these bytes while both are live; fix the "
                  "plan's offsets, live ranges or in-place declarations")
        raise ArenaViolation(
            f"{self.where}: {self._step_desc(k)} reads tensor {t.index} "
            f"({t.name}) at arena bytes [{lo}, {hi}) in buffer '{piece.buffer.name}', but byte "
            f"{byte} holds {holder}: {by}")

    def _describe_id(self, ident: int) -> str:
        if ident < 0:
            return "nothing"
        k = bisect.bisect_right(self._id_bases, ident) - 1
        return f"byte {ident - self._id_bases[k]} of {self._id_labels[k]}"

    # -- steps ---------------------------------------------------------------------------

    def run(self, inputs: Sequence[np.ndarray], stop_after: int | None = None) -> ArenaRun:
        """Execute every step (or steps 0..``stop_after``, leaving ``arena``, ``owner``
        and ``writer`` as they are right after that step, for inspection)."""
        g, plan = self.graph, self.plan
        inputs = validate_inputs(g, inputs)
        self.arena = np.zeros(plan.arena_bytes, np.uint8)
        self.owner = np.full(plan.arena_bytes, -1, np.int32)
        self.writer = np.full(plan.arena_bytes, NEVER_WRITTEN, np.int32)
        self.external = {b.name: np.zeros(b.size, np.uint8)
                         for b in plan.buffers if not b.in_arena}
        self.values: dict[int, np.ndarray] = {}
        self.bytes_checked = 0
        for ti, x in zip(g.inputs, inputs):
            bufs = plan.tensor_buffers(ti)
            if not bufs:
                raise PlanError(f"{self.where}: graph input tensor {ti} has no buffer")
            a = Access(0, ti, tuple(b.name for b in bufs))
            arr, pieces, direct = self._write_target(-1, a)
            arr[...] = x
            self._commit(LOADED, a, arr, pieces, direct)
        for k, st in enumerate(plan.steps):
            self._step(k, st)
            if k == stop_after:
                return ArenaRun(self.values, [], self.bytes_checked)
        outputs = []
        for ti in g.outputs:
            bufs = plan.tensor_buffers(ti)
            if not bufs:
                raise PlanError(f"{self.where}: graph output tensor {ti} has no buffer")
            a = Access(0, ti, tuple(b.name for b in bufs))
            outputs.append(self._read(len(plan.steps), a).copy())
        return ArenaRun(self.values, outputs, self.bytes_checked)

    def _step(self, k: int, st: Step) -> None:
        op = self._op(st)
        for name in st.scratch:
            b = self.plan.buffer(name)
            if b.in_arena:
                idx = slice(b.offset, b.end)
                self.owner[idx] = np.arange(b.size, dtype=np.int64) + self.scratch_base[name]
                self.writer[idx] = k
        if st.kernel == "view":
            self._view(k, st, op)
        elif st.kernel == "depthwise_inplace":
            self._depthwise_inplace(k, st, op)
        elif st.kernel in ("op_rows", "op_rows_reverse"):
            self._rows(k, st, op, reverse=st.kernel == "op_rows_reverse")
        elif st.kernel == "op":
            self._op_step(k, st, op)
        else:
            raise PlanError(f"{self.where}: step {k} has unknown kernel '{st.kernel}'")

    def _reads_by_slot(self, k: int, st: Step, op: Operator) -> dict[int, Access]:
        by_slot = {a.slot: a for a in st.reads}
        for slot, t in enumerate(op.inputs):
            if t >= 0 and not self.graph.tensor(t).is_constant and slot not in by_slot:
                raise PlanError(f"{self.where}: step {k} (op {op.index} {op.opcode}) does not "
                                f"read input {slot} (tensor {t})")
        return by_slot

    def _inputs(self, op: Operator, arrays: dict[int, np.ndarray]) -> list[np.ndarray | None]:
        ins: list[np.ndarray | None] = []
        for slot, t in enumerate(op.inputs):
            if t < 0:
                ins.append(None)
            elif self.graph.tensor(t).is_constant:
                ins.append(self.graph.tensor(t).data)
            else:
                ins.append(arrays[slot])
        return ins

    def _op_step(self, k: int, st: Step, op: Operator) -> None:
        g = self.graph
        reads = self._reads_by_slot(k, st, op)
        if len(st.writes) != len(op.outputs):
            raise PlanError(f"{self.where}: step {k} (op {op.index} {op.opcode}) writes "
                            f"{len(st.writes)} tensors, the op has {len(op.outputs)} outputs")
        region = [a for a in st.writes
                  if a.box is not None and a.box != Box.whole(g.tensor(a.tensor).shape)]
        arrays = {slot: self._read(k, a) for slot, a in reads.items()}
        targets = [self._write_target(k, a) for a in st.writes]
        params = self.params[op.index]
        if region:
            params = self._region_params(op, {s: arr.shape for s, arr in arrays.items()},
                                         targets[0][0].shape)
        kernels_ref.registry()[op.opcode].evaluate(
            params, self._inputs(op, arrays), [arr for arr, _, _ in targets])
        for a, (arr, pieces, direct) in zip(st.writes, targets):
            self._commit(k, a, arr, pieces, direct)

    def _region_params(self, op: Operator, in_shapes: dict[int, tuple[int, ...]],
                       out_shape: tuple[int, ...]):
        """Params for the op on an input box that already holds its padding (VALID)."""
        key = (op.index, tuple(sorted(in_shapes.items())), out_shape)
        if key not in self._sub_params:
            if op.opcode not in REGION_OPS or len(op.outputs) != 1:
                raise UnsupportedError(
                    f"{self.where}: op {op.index} ({op.opcode}) cannot run on an output "
                    f"region; region steps support {sorted(REGION_OPS)}")
            g = self.graph
            tensors = list(g.tensors)
            for slot, shape in in_shapes.items():
                tensors[op.inputs[slot]] = replace(tensors[op.inputs[slot]], shape=shape)
            tensors[op.outputs[0]] = replace(tensors[op.outputs[0]], shape=out_shape)
            options = dict(op.options)
            if "padding" in options:
                options["padding"] = "VALID"
            sub_op = replace(op, options=frozen_options(options))
            sub_graph = replace(g, tensors=tuple(tensors))
            try:
                self._sub_params[key] = kernels_ref.registry()[op.opcode].prepare(
                    sub_graph, sub_op)
            except TinysimError as exc:
                raise PlanError(f"{self.where}: op {op.index} ({op.opcode}) region with input "
                                f"{in_shapes} and output {out_shape} is inconsistent: {exc}"
                                ) from exc
        return self._sub_params[key]

    def _view(self, k: int, st: Step, op: Operator) -> None:
        """No kernel: the output is the input's bytes. Copies only when the plan puts
        them elsewhere (TFLM's RESHAPE copies when the buffers differ)."""
        if len(st.reads) != 1 or len(st.writes) != 1:
            raise PlanError(f"{self.where}: view step {k} must read and write one tensor")
        a_in, a_out = st.reads[0], st.writes[0]
        x = self._read(k, a_in)
        arr, pieces, direct = self._write_target(k, a_out)
        if x.size != arr.size or x.dtype != arr.dtype:
            raise PlanError(f"{self.where}: view step {k} (op {op.index}) maps tensor "
                            f"{a_in.tensor} onto tensor {a_out.tensor} of another size or type")
        flat = arr.reshape(-1)
        if flat.__array_interface__["data"][0] != x.__array_interface__["data"][0]:
            flat[:] = x.reshape(-1)
        self._commit(k, a_out, arr, pieces, direct)

    def _single(self, k: int, a: Access, what: str) -> Buffer:
        if len(a.buffers) != 1:
            raise PlanError(f"{self.where}: step {k}: the {what} of an in-place kernel must "
                            f"be one buffer, not {list(a.buffers)}")
        b = self.plan.buffer(a.buffers[0])
        if not b.in_arena or b.box is not None:
            raise PlanError(f"{self.where}: step {k}: the {what} of an in-place kernel must be "
                            f"a whole-tensor buffer in the arena ('{b.name}' is not)")
        return b

    def _depthwise_inplace(self, k: int, st: Step, op: Operator) -> None:
        g = self.graph
        if op.opcode != "DEPTHWISE_CONV_2D" or len(st.writes) != 1 or not st.reads or \
                st.reads[0].slot != 0 or not st.scratch:
            raise PlanError(f"{self.where}: step {k}: kernel 'depthwise_inplace' needs a "
                            "DEPTHWISE_CONV_2D step reading input 0, with a scratch buffer")
        a_in, a_out = st.reads[0], st.writes[0]
        bin_, bout = self._single(k, a_in, "input"), self._single(k, a_out, "output")
        x, y = g.tensor(a_in.tensor), g.tensor(a_out.tensor)
        scratch = self.plan.buffer(st.scratch[-1])
        _, h, w, c = x.shape
        _, oh, ow, oc = y.shape
        p = self.params[op.index]
        if x.dtype != "int8" or p.depth_multiplier != 1 or oc != c or x.shape[0] != 1 or \
                not scratch.in_arena or scratch.size < h * w:
            raise PlanError(f"{self.where}: step {k}: in-place depthwise needs int8 batch-1 "
                            "input, depth_multiplier 1 and an in-arena scratch of one channel")
        if a_in.box is not None and (a_in.fill != x.zero_point or a_in.box.start[0] != 0
                                     or a_in.box.start[3] != 0 or a_in.box.stop[3] != c):
            raise PlanError(f"{self.where}: step {k}: in-place depthwise can fold only a "
                            "spatial PAD of the input zero point")
        origin = a_in.box.start if a_in.box is not None else (0, 0, 0, 0)
        pt, pl = padding_top_left(g, op)
        bias_t = op.inputs[2] if len(op.inputs) > 2 else -1
        bias = g.tensor(bias_t).data if bias_t >= 0 else p.zero_bias
        self.bytes_checked += x.nbytes
        bad = _depthwise_inplace_checked(
            self.arena.view(np.int8), self.owner, self.writer, k, bin_.offset,
            self.base[x.index], scratch.offset, self.scratch_base[scratch.name], bout.offset,
            self.base[y.index], h, w, c, oh, ow, g.tensor(op.inputs[1]).data, bias,
            p.output_multiplier, p.output_shift, p.stride_h, p.stride_w, p.dilation_h,
            p.dilation_w, pt - origin[1], pl - origin[2], p.input_offset, p.output_offset,
            p.act_min, p.act_max)
        if bad >= 0:
            channel = (bad - bin_.offset) % c
            piece = _Piece(bin_, Box((0, 0, 0, channel), (1, h, w, channel + 1)),
                           np.arange(h * w, dtype=np.int64) * c + channel + bin_.offset, 1,
                           np.arange(h * w, dtype=np.int64) * c + channel, 1)
            idx = piece.arena_index()
            self._violation(k, a_in, piece, idx, self.owner[idx], piece.ids(self.base[x.index]))
        self.values[y.index] = self.arena[bout.offset:bout.offset + y.nbytes].view(
            np.int8).reshape(y.shape).copy()

    def _rows(self, k: int, st: Step, op: Operator, reverse: bool) -> None:
        """The op one output row at a time, top to bottom (or bottom up), each row written
        straight into the arena (over input rows no later row reads, when the plan is
        right)."""
        g = self.graph
        if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(st.writes) != 1 or \
                not st.reads or st.reads[0].slot != 0 or len(st.reads) != 1:
            raise PlanError(f"{self.where}: step {k}: kernel 'op_rows' runs CONV_2D or "
                            "DEPTHWISE_CONV_2D reading input 0 only")
        a_in, a_out = st.reads[0], st.writes[0]
        x, y = g.tensor(a_in.tensor), g.tensor(op.outputs[0])
        if a_out.box is not None or a_out.tensor != y.index or len(y.shape) != 4 or \
                y.shape[0] != 1:
            raise PlanError(f"{self.where}: step {k}: 'op_rows' writes the whole NHWC batch-1 "
                            "output")
        offset = fold_offset(g, op, 0, a_in.tensor, self.folded)
        fill = a_in.fill if a_in.fill is not None else x.zero_point
        for r in (reversed(range(y.shape[1])) if reverse else range(y.shape[1])):
            out_box = Box((0, r, 0, 0), (1, r + 1) + y.shape[2:])
            row_in = replace(a_in, box=needed_box(g, op, 0, out_box, offset), fill=fill)
            row_out = replace(a_out, box=out_box)
            arr_in = self._read(k, row_in)
            arr_out, pieces, direct = self._write_target(k, row_out)
            params = self._region_params(op, {0: arr_in.shape}, arr_out.shape)
            kernels_ref.registry()[op.opcode].evaluate(
                params, self._inputs(op, {0: arr_in}), [arr_out])
            self._commit(k, row_out, arr_out, pieces, direct)


def _slices(inner: Box, outer: Box) -> tuple[slice, ...]:
    return tuple(slice(a - o, b - o) for a, b, o in zip(inner.start, inner.stop, outer.start))


@njit(cache=True)
def _depthwise_inplace_checked(arena, owner, writer, step, in_off, in_base, scratch_off,
                               scratch_base, out_off, out_base, in_h, in_w, channels, out_h,
                               out_w, filter_data, bias_data, multiplier, shift, stride_h,
                               stride_w, dilation_h, dilation_w, pad_h, pad_w, input_offset,
                               output_offset, act_min, act_max):
    """The in-place depthwise kernel with the shadow check around each channel: returns
    the first arena byte read that no longer held the input, or -1."""
    plane = in_h * in_w
    for c in range(channels):
        for p in range(plane):
            b = in_off + p * channels + c
            if owner[b] != in_base + p * channels + c:
                return b
        for p in range(plane):
            arena[scratch_off + p] = arena[in_off + p * channels + c]
            owner[scratch_off + p] = scratch_base + p
            writer[scratch_off + p] = step
        depthwise_channel(arena[scratch_off:scratch_off + plane], in_h, in_w, filter_data, c,
                          bias_data, multiplier, shift, stride_h, stride_w, dilation_h,
                          dilation_w, pad_h, pad_w, input_offset, output_offset, act_min,
                          act_max, arena, out_off + c, channels, out_h, out_w)
        for q in range(out_h * out_w):
            b = out_off + q * channels + c
            owner[b] = out_base + q * channels + c
            writer[b] = step
    return -1


def compare_with_reference(graph: Graph, arena_run: ArenaRun,
                           reference: dict[int, np.ndarray]) -> list[TensorMismatch]:
    """Every tensor the plan computed against the layer-wise reference executor, bit for
    bit (float outputs compared by their bytes)."""
    found = (tensor_mismatch(graph, ti, ours, reference[ti].reshape(ours.shape),
                             against="the layer-wise reference")
             for ti, ours in sorted(arena_run.values.items()))
    return [m for m in found if m is not None]
