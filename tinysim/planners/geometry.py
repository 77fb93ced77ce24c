"""Which input elements an op's output box needs: the contract of region steps.

An op's *logical* input in slot j is the graph tensor ``op.inputs[j]``. A step may read
it through another tensor: a folded PAD's input, shifted by the pad (``fold_offset``).
A whole-op step reads the logical input and the kernel pads as the op says; a region
step (its write box is part of the output) reads exactly the input box the output box
needs, including the op's own padding as elements outside the tensor, and the executor
runs the op VALID on it.
"""
from __future__ import annotations

from ..errors import PlanError, UnsupportedError
from ..ir import Graph, Operator
from ..plan import Box

SPATIAL_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"})
POINTWISE_OPS = frozenset({
    "ADD", "SUB", "MUL", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "LEAKY_RELU",
    "HARD_SWISH", "QUANTIZE", "DEQUANTIZE", "MAXIMUM", "MINIMUM", "ABS", "NEG"})
REGION_OPS = SPATIAL_OPS | POINTWISE_OPS


def window(graph: Graph, op: Operator) -> tuple[int, int, int, int]:
    """(effective kernel height, effective kernel width, stride_h, stride_w)."""
    o = op.options
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = graph.tensor(op.inputs[1]).shape
        kh, kw = f[1], f[2]
    else:
        kh, kw = o["filter_h"], o["filter_w"]
    eff_h = (kh - 1) * o.get("dilation_h", 1) + 1
    eff_w = (kw - 1) * o.get("dilation_w", 1) + 1
    return eff_h, eff_w, o["stride_h"], o["stride_w"]


def padding_top_left(graph: Graph, op: Operator) -> tuple[int, int]:
    """TFLM's leading (top, left) padding of a spatial op (ComputePadding)."""
    eff_h, eff_w, s_h, s_w = window(graph, op)
    x = graph.tensor(op.inputs[0]).shape
    y = graph.tensor(op.outputs[0]).shape
    if op.options["padding"] != "SAME":
        return 0, 0
    return (max(((y[1] - 1) * s_h + eff_h - x[1]) // 2, 0),
            max(((y[2] - 1) * s_w + eff_w - x[2]) // 2, 0))


def fold_offset(graph: Graph, op: Operator, slot: int, tensor: int,
                folded_pad: dict[int, tuple[int, Box, int]]) -> tuple[int, ...]:
    """Offset from the logical input's coordinates to ``tensor``'s: zeros when the step
    reads the logical input itself, minus the leading pads when it reads the input of
    the folded PAD that produced it. ``folded_pad``: foldable_pads(graph), keyed by PAD op."""
    logical = op.inputs[slot]
    if tensor == logical:
        return (0,) * len(graph.tensor(logical).shape)
    for pad_op, (src, box, _) in folded_pad.items():
        if graph.operators[pad_op].outputs[0] == logical and src == tensor:
            return box.start
    raise PlanError(f"{graph.name}: op {op.index} ({op.opcode}) input {slot} is tensor "
                    f"{logical}, but the step reads tensor {tensor}, which is neither it nor "
                    "the input of a PAD that could be folded into it")


def needed_box(graph: Graph, op: Operator, slot: int, out_box: Box | None,
               offset: tuple[int, ...]) -> Box:
    """The box of the read tensor (logical input shifted by ``offset``) that the step
    must read: for a whole-op step (``out_box`` None) the logical input; for a region
    step computing ``out_box``, its window including the op's own padding."""
    logical = graph.tensor(op.inputs[slot]).shape
    y = graph.tensor(op.outputs[0]).shape
    if out_box is None:
        return Box(tuple(offset), tuple(o + s for o, s in zip(offset, logical)))
    if op.opcode in SPATIAL_OPS and slot == 0:
        eff_h, eff_w, s_h, s_w = window(graph, op)
        pt, pl = padding_top_left(graph, op)
        (b0, y0, x0, c0), (b1, y1, x1, c1) = out_box.start, out_box.stop
        if op.opcode == "CONV_2D":
            c0, c1 = 0, logical[3]
        elif op.opcode == "DEPTHWISE_CONV_2D":
            m = op.options.get("depth_multiplier", 1)
            c0, c1 = c0 // m, (c1 - 1) // m + 1
        start = (b0, y0 * s_h - pt, x0 * s_w - pl, c0)
        stop = (b1, (y1 - 1) * s_h - pt + eff_h, (x1 - 1) * s_w - pl + eff_w, c1)
    elif op.opcode in POINTWISE_OPS and logical == y:
        start, stop = out_box.start, out_box.stop
    else:
        raise UnsupportedError(
            f"{graph.name}: op {op.index} ({op.opcode}) cannot run on an output region "
            f"(input {slot}); region steps support {sorted(REGION_OPS)} (pointwise ones "
            "without broadcasting)")
    return Box(tuple(a + o for a, o in zip(start, offset)),
               tuple(b + o for b, o in zip(stop, offset)))


def fill_problem(graph: Graph, op: Operator, slot: int, box: Box, tensor_shape: tuple[int, ...],
                 offset: tuple[int, ...], fill: int | None,
                 fold_fill: int | None) -> str | None:
    """Why the elements of read ``box`` outside the tensor would not get the values the op
    expects there, or None. Outside the tensor but inside the logical input is a folded
    PAD's padding (``fold_fill``); outside the logical input is the op's own padding,
    which a region step materializes."""
    inside = Box.whole(tensor_shape)
    if inside.contains(box):
        return None
    if fill is None:
        return "the read reaches outside the tensor but gives no fill value"
    logical = Box(tuple(offset), tuple(o + s for o, s in
                                        zip(offset, graph.tensor(op.inputs[slot]).shape)))
    clipped = box.intersect(logical)
    if clipped is not None and not inside.contains(clipped):
        if fold_fill is None:
            return "the read reaches outside the tensor where no folded PAD pads it"
        if fill != fold_fill:
            return f"the folded PAD pads with {fold_fill}, the read fills with {fill}"
    if logical.contains(box):
        return None
    x = graph.tensor(op.inputs[slot])
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D") and slot == 0:
        # TFLM skips padded points; a point equal to the zero point adds 0 after the offset
        if fill != x.zero_point:
            return f"{op.opcode} padding must be the input zero point {x.zero_point}, not {fill}"
        return None
    if op.opcode == "MAX_POOL_2D" and slot == 0:
        if fill != -128:
            return f"MAX_POOL_2D padding must be -128 (never the max), not {fill}"
        return None
    return (f"{op.opcode} cannot take padding as stored values (AVERAGE_POOL_2D divides by "
            "the in-image count): the read must stay inside the op's input")
