"""When an op's output may overwrite its input's bytes: the schemes and their safety rules.

One set of rules serves the schedule builder (which in-place rewrites it may make) and
the static checker (which declared relations it accepts):

- ``view`` (kernel 'view'): RESHAPE/SQUEEZE/EXPAND_DIMS; the output *is* the input's
  bytes, same offset, same size, nothing is written.
- ``elementwise`` (kernel 'op'): output element i depends on input element i only; same
  offset, same element count, output items no wider than input items, so with elements
  produced in increasing order output element i covers only input elements <= i, all
  already read (QUANTIZE float32 -> int8 shrinks 4 bytes to 1).
- ``depthwise_channel`` (kernel 'depthwise_inplace'): TinyEngine's scheme. Per channel c
  the input channel is copied to a scratch plane, then output (p, c) is written at input
  byte (p, c) (same offset, NHWC, p < out H*W <= in H*W): only channel c's bytes are
  overwritten, and they were copied out. Needs depth_multiplier 1.
- ``rows`` (kernel 'op_rows'): CONV_2D / DEPTHWISE_CONV_2D computed one output row at a
  time, top to bottom; the output starts ``delta`` bytes from the input (delta < 0: it
  starts before it) so that output rows 0..r end before the first input row that output
  row r still reads. Saves all but a few rows of the smaller tensor.
- ``rows_reverse`` (kernel 'op_rows_reverse'): the mirror image: output rows computed
  bottom to top, the output starting after the input, so that output rows r..end start
  after the last input row that output row r reads. Alternating the two keeps a chain of
  row-by-row convs from drifting through the arena.
"""
from __future__ import annotations

from ..ir import Graph, Operator, Tensor
from ..plan import Access
from .geometry import padding_top_left, window

ELEMENTWISE_OPS = frozenset({
    "ADD", "SUB", "MUL", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "LEAKY_RELU",
    "HARD_SWISH", "QUANTIZE", "MAXIMUM", "MINIMUM", "ABS", "NEG"})
VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
ROWS_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})
SCHEME_KERNEL = {"view": "view", "elementwise": "op", "depthwise_channel": "depthwise_inplace",
                 "rows": "op_rows", "rows_reverse": "op_rows_reverse"}


def read_origin(graph: Graph, op: Operator, read: Access) -> tuple[int, int]:
    """Tensor coordinates (row, col) of the op's padded-input origin for a whole-op read:
    output (y, x) reads rows from y * stride + origin row (a folded PAD's box included)."""
    pt, pl = padding_top_left(graph, op)
    b0 = read.box.start if read.box is not None else (0, 0, 0, 0)
    return b0[1] - pt, b0[2] - pl


def _rows_geometry(graph: Graph, op: Operator, read: Access):
    """(input rows, input row bytes, output rows, output row bytes, stride, first input row
    of output row 0, effective kernel height), or None when the op cannot run by rows."""
    if op.opcode not in ROWS_OPS or read.slot != 0:
        return None
    x = graph.tensor(read.tensor)
    y = graph.tensor(op.outputs[0])
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    if read.box is not None and (read.box.start[0] != 0 or read.box.stop[0] != 1):
        return None
    if read.fill is not None and read.fill != x.zero_point:
        return None
    origin_row, _ = read_origin(graph, op, read)
    eff_h, _, stride_h, _ = window(graph, op)
    return (x.shape[1], x.shape[2] * x.shape[3] * x.itemsize,
            y.shape[1], y.shape[2] * y.shape[3] * y.itemsize, stride_h, origin_row, eff_h)


def rows_max_delta(graph: Graph, op: Operator, read: Access) -> int | None:
    """Largest (output offset - input offset) keeping the 'rows' scheme safe (output rows
    0..r end before the first input row output row r reads), or None when the op cannot
    run row by row."""
    geo = _rows_geometry(graph, op, read)
    if geo is None:
        return None
    in_rows, row_in, out_rows, row_out, stride, origin, _ = geo
    return min(min(max(r * stride + origin, 0), in_rows) * row_in - (r + 1) * row_out
               for r in range(out_rows))


def rows_reverse_min_delta(graph: Graph, op: Operator, read: Access) -> int | None:
    """Smallest (output offset - input offset) keeping 'rows_reverse' safe (output rows
    r..end start after the last input row output row r reads)."""
    geo = _rows_geometry(graph, op, read)
    if geo is None:
        return None
    in_rows, row_in, out_rows, row_out, stride, origin, eff_h = geo
    return max(min(max(r * stride + origin + eff_h, 0), in_rows) * row_in - r * row_out
               for r in range(out_rows))


def depthwise_channel_ok(graph: Graph, op: Operator, read: Access) -> str | None:
    """None when the depthwise op can run TinyEngine's channel scheme on ``read``."""
    x = graph.tensor(read.tensor)
    y = graph.tensor(op.outputs[0])
    if op.opcode != "DEPTHWISE_CONV_2D":
        return f"the depthwise_channel scheme needs a DEPTHWISE_CONV_2D, op is {op.opcode}"
    if op.options.get("depth_multiplier", 1) != 1:
        return "the depthwise_channel scheme needs depth_multiplier 1"
    if read.slot != 0 or x.dtype != "int8" or y.dtype != "int8" or len(x.shape) != 4 \
            or x.shape[0] != 1:
        return "the depthwise_channel scheme needs an int8 NHWC batch-1 input in slot 0"
    if read.fill is not None and read.fill != x.zero_point:
        return (f"the read pads with {read.fill} but the in-place kernel skips padding, "
                f"which equals padding with the input zero point {x.zero_point}")
    if read.box is not None and (read.box.start[3] != 0 or read.box.stop[3] != x.shape[3]
                                 or read.box.start[0] != 0 or read.box.stop[0] != 1):
        return "the depthwise_channel scheme cannot pad channels or batches"
    if y.nbytes > x.nbytes:
        return (f"the output ({y.nbytes} B) is larger than the input ({x.nbytes} B), so "
                "output pixels would land on input channels not yet copied out")
    return None


def scheme_problem(graph: Graph, op: Operator, scheme: str, kernel: str, read: Access,
                   out: Tensor, delta: int, scratch_sizes: list[int]) -> str | None:
    """Why overwriting ``read``'s buffer with ``out`` at offset delta (output offset minus
    input offset) is unsafe under ``scheme``, or None when it is safe."""
    x = graph.tensor(read.tensor)
    if SCHEME_KERNEL.get(scheme) != kernel:
        return f"scheme '{scheme}' needs kernel '{SCHEME_KERNEL.get(scheme)}', step has '{kernel}'"
    if scheme == "view":
        if op.opcode not in VIEW_OPS:
            return f"only {sorted(VIEW_OPS)} can be views, op is {op.opcode}"
        if read.box is not None or delta != 0 or out.nbytes != x.nbytes:
            return "a view must have the input's offset and size"
        return None
    if scheme == "elementwise":
        if op.opcode not in ELEMENTWISE_OPS:
            return f"{op.opcode} is not elementwise (elementwise ops: {sorted(ELEMENTWISE_OPS)})"
        if read.box is not None or x.shape != out.shape:
            return (f"the overwritten input {x.shape} and the output {out.shape} must have "
                    "the same shape")
        if out.itemsize > x.itemsize:
            return (f"output items ({out.itemsize} B) are wider than input items "
                    f"({x.itemsize} B): output element i would cover input element i+1")
        if delta != 0:
            return f"the output must start at the input's offset (it is {delta:+d} B away)"
        return None
    if scheme == "depthwise_channel":
        problem = depthwise_channel_ok(graph, op, read)
        if problem:
            return problem
        if delta != 0:
            return f"the output must start at the input's offset (it is {delta:+d} B away)"
        plane = x.shape[1] * x.shape[2]
        if not any(s >= plane for s in scratch_sizes):
            return f"the step has no scratch buffer of a channel plane ({plane} B)"
        return None
    if scheme == "rows":
        limit = rows_max_delta(graph, op, read)
        if limit is None:
            return f"{op.opcode} with this input cannot be computed row by row in place"
        if delta > limit:
            return (f"the output starts {delta:+d} B from the input; row by row it must start "
                    f"at most {limit:+d} B from it, or output rows overwrite input rows "
                    "still to be read")
        return None
    if scheme == "rows_reverse":
        limit = rows_reverse_min_delta(graph, op, read)
        if limit is None:
            return f"{op.opcode} with this input cannot be computed row by row in place"
        if delta < limit:
            return (f"the output starts {delta:+d} B from the input; bottom-up row by row it "
                    f"must start at least {limit:+d} B from it, or output rows overwrite input "
                    "rows still to be read")
        return None
    return f"unknown in-place scheme '{scheme}'"
