"""Hypothesis strategies for quantization parameters and int8 data, shared by property tests.

Scales are float32 values as a .tflite file stores them, drawn log-uniformly so both tiny
(1e-4, weights) and large (~1, logits) scales appear. ``from _strategies import ...``
inside tests/properties.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinysim.modelgen import INT_RANGES

FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def scales(min_value: float = 1e-4, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """A positive float32 scale, log-uniform in [min_value, max_value]."""
    lo, hi = math.log2(min_value), math.log2(max_value)
    return st.floats(min_value=lo, max_value=hi).map(lambda e: float(np.float32(2.0 ** e)))


def zero_points(dtype: str = "int8") -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[dtype]
    return st.integers(lo, hi)


def quant_params(dtype: str = "int8", min_scale: float = 1e-3,
                 max_scale: float = 0.5) -> st.SearchStrategy[tuple[float, int]]:
    """(scale, zero_point) of an asymmetric activation tensor."""
    return st.tuples(scales(min_scale, max_scale), zero_points(dtype))


def per_channel_scales(n: int, min_value: float = 1e-4,
                       max_value: float = 0.05) -> st.SearchStrategy[np.ndarray]:
    """``n`` float32 filter scales (symmetric per-channel weights, zero point 0)."""
    return st.lists(scales(min_value, max_value), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.float32))


def int_arrays(shape, dtype: str = "int8") -> st.SearchStrategy[np.ndarray]:
    """Integer arrays over the dtype's full range (edges included)."""
    lo, hi = INT_RANGES[dtype]
    return hnp.arrays(np.dtype(dtype), shape, elements=st.integers(lo, hi))


def rngs() -> st.SearchStrategy[np.random.Generator]:
    """A seeded numpy Generator, for large realistic tensors Hypothesis should not shrink."""
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def fused_activations() -> st.SearchStrategy[str]:
    return st.sampled_from(FUSED_ACTIVATIONS)


def paddings() -> st.SearchStrategy[str]:
    return st.sampled_from(("SAME", "VALID"))
