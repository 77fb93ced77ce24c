"""Properties: one-op activation and (de)quantize models, bit-exact with TFLM.

LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, LEAKY_RELU, SOFTMAX (random beta, int8 and int16
output, float), LOG_SOFTMAX (int8 and float), QUANTIZE (float -> int8/int16, integer
requantization) and DEQUANTIZE, with random shapes, scales and zero points. Every integer
input holds all 256 int8 codes (a shuffled ramp) besides random values, so the whole input
range is covered in each example, not only the saturating ends; softmax rows are drawn
around a row maximum with a random spread so the exp/reciprocal path is exercised below
saturation too.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from _strategies import rngs, scales, zero_points
from _tflm import assert_bit_exact_with_tflm
from kernels_ref.common import DTYPE_RANGE
from tinysim.modelgen import GraphBuilder


def _one_op(opcode, shape, in_q, out_q, in_dtype="int8", out_dtype="int8", **options):
    gb = GraphBuilder(f"prop_{opcode.lower()}")
    x = gb.input(shape, *in_q, dtype=in_dtype)
    y = gb.op(opcode, [x], shape, *out_q, out_dtype=out_dtype, **options)
    gb.output(y)
    return gb.build()


def _check(graph, x):
    assert_bit_exact_with_tflm(graph, [x])


@st.composite
def shapes(draw, max_rank: int = 4, max_size: int = 600):
    """1-4-D shapes; the product is at least 1, at most ``max_size``."""
    rank = draw(st.integers(1, max_rank))
    dims = [draw(st.integers(1, 12)) for _ in range(rank)]
    while int(np.prod(dims)) > max_size:
        dims[int(np.argmax(dims))] //= 2
    return tuple(dims)


def _full_range(rng, shape, dtype: str = "int8") -> np.ndarray:
    """Random values of the dtype with every int8 code present where the tensor is big
    enough (shuffled), so each example covers the whole input range."""
    lo, hi = DTYPE_RANGE[dtype]
    x = rng.integers(lo, hi + 1, shape, endpoint=False).astype(dtype).reshape(-1)
    ramp = np.arange(-128, 128) if dtype != "uint8" else np.arange(0, 256)
    k = min(x.size, ramp.size)
    x[:k] = rng.permutation(ramp)[:k]
    return rng.permutation(x).reshape(shape)


def _rows_around_max(rng, shape, spread: int) -> np.ndarray:
    """int8 rows whose values sit within ``spread`` below a random row maximum."""
    depth = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    top = rng.integers(-128, 128, (rows, 1))
    x = top - rng.integers(0, spread + 1, (rows, depth))
    return np.clip(x, -128, 127).astype(np.int8).reshape(shape)


# ---- sigmoid-like: output quantization is fixed by TFLM's kernels


@given(shapes(), scales(1e-3, 2.0), zero_points(), rngs())
def test_logistic(shape, in_scale, in_zp, rng):
    _check(_one_op("LOGISTIC", shape, (in_scale, in_zp), (1 / 256, -128)),
           _full_range(rng, shape))


@given(shapes(), scales(1e-3, 2.0), zero_points(), rngs())
def test_tanh(shape, in_scale, in_zp, rng):
    _check(_one_op("TANH", shape, (in_scale, in_zp), (1 / 128, 0)), _full_range(rng, shape))


@given(shapes(), scales(1e-3, 1.0), zero_points(), st.floats(-6.5, 2.0), zero_points(),
       rngs())
def test_hard_swish(shape, in_scale, in_zp, out_log2, out_zp, rng):
    # output scale >= input_scale / 90: TFLM rejects output exponents > 0 (below /128)
    out_scale = float(np.float32(in_scale * 2.0 ** out_log2))
    _check(_one_op("HARD_SWISH", shape, (in_scale, in_zp), (out_scale, out_zp)),
           _full_range(rng, shape))


# ---- relu family: requantization between input and output quantization


@given(shapes(), scales(1e-3, 1.0), zero_points(), st.one_of(st.just(0.0), st.floats(-3, 3)),
       zero_points(), st.booleans(), rngs())
def test_relu(shape, in_scale, in_zp, out_log2, out_zp, int16, rng):
    out_scale = float(np.float32(in_scale * 2.0 ** out_log2))
    dtype = "int16" if int16 else "int8"
    if int16:  # TFLM's int16 RELU is symmetric
        in_zp = out_zp = 0
    _check(_one_op("RELU", shape, (in_scale, in_zp), (out_scale, out_zp), dtype, dtype),
           _full_range(rng, shape, dtype))


@given(shapes(), scales(1e-3, 1.0), zero_points(), st.booleans(), st.booleans(), rngs())
def test_relu6(shape, in_scale, in_zp, same_output_quant, int16, rng):
    # TFLM clamps in the input's quantization and ignores the output's: both cases
    out_q = (in_scale, in_zp) if same_output_quant else (in_scale * 1.7, 0)
    dtype = "int16" if int16 else "int8"
    _check(_one_op("RELU6", shape, (in_scale, in_zp), out_q, dtype, dtype),
           _full_range(rng, shape, dtype))


@given(shapes(), scales(1e-3, 1.0), zero_points(), st.floats(-3, 3), zero_points(),
       st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.2, 0.3, 1.0]), st.floats(-2.0, 2.0)),
       st.booleans(), rngs())
def test_leaky_relu(shape, in_scale, in_zp, out_log2, out_zp, alpha, int16, rng):
    out_scale = float(np.float32(in_scale * 2.0 ** out_log2))
    dtype = "int16" if int16 else "int8"
    if int16:
        in_zp, out_zp = in_zp * 256, out_zp * 256
    _check(_one_op("LEAKY_RELU", shape, (in_scale, in_zp), (out_scale, out_zp), dtype, dtype,
                   alpha=float(np.float32(alpha))),
           _full_range(rng, shape, dtype))


# ---- softmax / log-softmax over the last axis


@given(shapes(), scales(1e-3, 2.0), zero_points(),
       st.one_of(st.just(1.0), scales(0.1, 10.0)), st.integers(0, 255), st.booleans(), rngs())
def test_softmax(shape, in_scale, in_zp, beta, spread, int16_out, rng):
    out_q, out_dtype = ((1 / 65536, -32768), "int16") if int16_out else ((1 / 256, -128), "int8")
    g = _one_op("SOFTMAX", shape, (in_scale, in_zp), out_q, out_dtype=out_dtype, beta=beta)
    _check(g, _rows_around_max(rng, shape, spread))


@given(shapes(), scales(1e-3, 2.0), zero_points(), st.integers(0, 255), rngs())
def test_log_softmax(shape, in_scale, in_zp, spread, rng):
    g = _one_op("LOG_SOFTMAX", shape, (in_scale, in_zp), (16 / 256, 127))
    _check(g, _rows_around_max(rng, shape, spread))


@given(shapes(), st.one_of(st.just(1.0), scales(0.1, 10.0)), st.floats(-6, 6), rngs())
def test_float_softmax_and_log_softmax(shape, beta, log2_spread, rng):
    x = (rng.normal(0.0, 1.0, shape) * 2.0 ** log2_spread).astype(np.float32)
    f32 = dict(in_dtype="float32", out_dtype="float32")
    _check(_one_op("SOFTMAX", shape, (None, None), (None, None), beta=beta, **f32), x)
    _check(_one_op("LOG_SOFTMAX", shape, (None, None), (None, None), **f32), x)


# ---- quantize / dequantize


@given(shapes(), scales(1e-3, 1.0), zero_points(), st.booleans(), rngs())
def test_quantize_float(shape, out_scale, out_zp, int16, rng):
    dtype = "int16" if int16 else "int8"
    lo, hi = DTYPE_RANGE[dtype]
    if int16:
        out_zp *= 256
    # floats over the representable range and 20% past both ends, plus exact half steps
    real_lo, real_hi = out_scale * (lo - out_zp), out_scale * (hi - out_zp)
    width = real_hi - real_lo
    x = rng.uniform(real_lo - 0.2 * width, real_hi + 0.2 * width, shape).reshape(-1)
    half = (rng.integers(lo, hi, x.size) + 0.5 - out_zp) * np.float32(out_scale)
    x = np.where(rng.random(x.size) < 0.25, half, x).astype(np.float32).reshape(shape)
    _check(_one_op("QUANTIZE", shape, (None, None), (out_scale, out_zp), "float32", dtype), x)


REQUANTIZE_PAIRS = [("int8", "int8"), ("int8", "int16"), ("int8", "int32"), ("int8", "uint8"),
                    ("uint8", "int8"), ("int16", "int8"), ("int16", "int16"),
                    ("int16", "int32"), ("int32", "int8"), ("int32", "int16")]


@given(shapes(), st.sampled_from(REQUANTIZE_PAIRS), scales(1e-3, 1.0), st.floats(-4, 4),
       st.integers(-128, 127), st.integers(-128, 127), rngs())
def test_quantize_requantize(shape, pair, in_scale, out_log2, in_code, out_code, rng):
    in_dtype, out_dtype = pair

    def zp(dtype, code):  # anywhere in the type's range
        return {"uint8": code + 128, "int16": code * 256, "int32": code * 4099}.get(dtype, code)

    out_scale = float(np.float32(in_scale * 2.0 ** out_log2))
    if in_dtype == "int32":
        # int8 codes scaled up to a random magnitude, with noise in the low bits
        k = int(rng.integers(0, 23))
        coarse = _full_range(rng, shape).astype(np.int64) << k
        x = (coarse + rng.integers(0, 1 << k, shape)).astype(np.int32)
    else:
        x = _full_range(rng, shape, in_dtype)
    g = _one_op("QUANTIZE", shape, (in_scale, zp(in_dtype, in_code)),
                (out_scale, zp(out_dtype, out_code)), in_dtype, out_dtype)
    _check(g, x)


@given(shapes(), scales(1e-4, 10.0), st.sampled_from(["int8", "int16", "uint8"]),
       st.integers(-128, 127), rngs())
def test_dequantize(shape, in_scale, dtype, code, rng):
    zp = {"uint8": code + 128, "int16": code * 256}.get(dtype, code)
    _check(_one_op("DEQUANTIZE", shape, (in_scale, zp), (None, None), dtype, "float32"),
           _full_range(rng, shape, dtype))


# ---- regressions: counterexamples found once, kept as explicit cases


def test_regression_leaky_relu_multipliers_are_formed_in_double():
    """Shrunk by Hypothesis: with the alpha ratio formed in float32 (as TFLM's source reads)
    one int16 value came out -11612 where TFLM gives -11611; the PyPI TFLM forms it in
    double."""
    shape = (2, 3, 7)
    out_scale = float(np.float32(2.0 ** -2.427252796836158))
    x = _full_range(np.random.default_rng(0), shape, "int16")
    _check(_one_op("LEAKY_RELU", shape, (1.0, 84 * 256), (out_scale, 0), "int16", "int16",
                   alpha=float(np.float32(0.1))), x)


def test_regression_leaky_relu_negative_alpha_on_exact_halves():
    """alpha = -0.5 with equal scales makes every odd input an exact half: TFLM computes
    -(x * |alpha|), not x * alpha, and the two round those halves differently."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    _check(_one_op("LEAKY_RELU", x.shape, (0.1, 0), (0.1, 0), alpha=-0.5), x)


def test_regression_hard_swish_multipliers_are_formed_in_double():
    """Scales where float32 and double division give output multipliers 30157 vs 30156
    (Q15), which changes one output of the int8 ramp; TFLM matches double."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    _check(_one_op("HARD_SWISH", x.shape, (0.012457508593797684, 58),
                   (0.0033840767573565245, 51)), x)
