"""Shared Prepare-time helpers with TFLM's exact arithmetic (padding, activation ranges)."""
from __future__ import annotations

import numpy as np

from tinysim.errors import UnsupportedError
from .quantization import round_half_away

DTYPE_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
               "int32": (-(1 << 31), (1 << 31) - 1)}


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int,
                    out_size: int) -> int:
    """TFLM ComputePadding: the leading (top/left) pad for SAME."""
    effective = (filter_size - 1) * dilation + 1
    padding = ((out_size - 1) * stride + effective - in_size) // 2
    return padding if padding > 0 else 0


def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int,
                     dilation: int = 1) -> int:
    """TFLite ComputeOutSize, with C's truncating division (a window larger than the
    input gives 0 or less, never a floored -1 that could pass for a size elsewhere)."""
    effective = (filter_size - 1) * dilation + 1
    num = in_size + stride - 1 if padding == "SAME" else in_size + stride - effective
    return num // stride if num >= 0 else -((-num) // stride)


def activation_range_quantized(activation: str, scale: float, zero_point: int,
                               dtype: str = "int8", where: str = "") -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized: clamp bounds in the output's quantized domain."""
    qmin, qmax = DTYPE_RANGE[dtype]
    scale32 = np.float32(scale)

    def quantize(f: float) -> int:
        return zero_point + round_half_away(float(np.float32(f) / scale32))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise UnsupportedError(
        f"{where}fused activation {activation} is not supported on quantized ops; "
        "supported: NONE, RELU, RELU6, RELU_N1_TO_1")


def tensor_desc(t) -> str:
    """How error messages name a tensor: its index and name."""
    return f"tensor {t.index} ({t.name})"


def op_where(graph, op) -> str:
    """Prefix naming the model and op, for error messages."""
    return f"{graph.name}: op {op.index} ({op.opcode}): "
