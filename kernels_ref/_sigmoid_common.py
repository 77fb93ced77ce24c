"""Prepare arithmetic shared by the int8 LOGISTIC and TANH kernels."""
from __future__ import annotations

import math

from .quantization import round_half_away


def frexp_input_multiplier(input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLM's int8 tanh/logistic Prepare: frexp(scale * 2^(31 - integer bits)) straight into
    (TfLiteRound(q * 2^31), exponent) — not QuantizeMultiplier, so no renormalisation."""
    q, left_shift = math.frexp(float(input_scale) * float(1 << (31 - input_integer_bits)))
    if left_shift < 0:
        raise ValueError(f"input scale {input_scale!r} is below 2^-{32 - input_integer_bits}, "
                         "where TFLM's input radius shifts by a negative amount")
    return round_half_away(q * (1 << 31)), left_shift
