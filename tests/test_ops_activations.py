"""SOFTMAX, LOG_SOFTMAX, QUANTIZE and DEQUANTIZE bit-exact with TFLM on the shared models,
plus Prepare errors, the plain-array functions and the gemmlowp fixed-point helpers.

Each of these ops is fed TFLM's own input tensor (so the ops before it need not be
tinysim's) and its output must equal TFLM's output bit for bit, floats included.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import kernels_ref
from kernels_ref import _fixedpoint as fp
from kernels_ref.dequantize import dequantize
from kernels_ref.hard_swish import hard_swish
from kernels_ref.leaky_relu import leaky_relu
from kernels_ref.log_softmax import log_softmax, quantized_log_softmax_params
from kernels_ref.logistic import logistic
from kernels_ref.quantize import quantize
from kernels_ref.relu import relu
from kernels_ref.relu6 import relu6
from kernels_ref.softmax import quantized_softmax_params, softmax
from kernels_ref.tanh import tanh
from tests.conftest import shared_model
from tinysim.errors import ShapeError, UnsupportedError
from tinysim.executor import prepare
from tinysim.ir import Graph, Quantization, Tensor
from tinysim.loader import load_model
from tinysim.modelgen import GraphBuilder
from tinysim.oracle import TFLMOracle

OPS = ("SOFTMAX", "LOG_SOFTMAX", "QUANTIZE", "DEQUANTIZE")
MODELS = ("armzoo_kws_dscnn_l", "lenet_mnist", "mcunet_det", "mcunet_vww1", "mlperf_ic",
          "mlperf_kws", "mlperf_sww", "mlperf_vww")
SEEDS = (0, 1, 2)


def _bits(a: np.ndarray) -> np.ndarray:
    """Floats compared by their bit patterns: -0.0 != 0.0 and NaN == the same NaN."""
    return a.view(np.uint32) if a.dtype == np.float32 else a


def _float_inputs(graph, seed: int | str) -> np.ndarray:
    """Realistic floats for a model whose first op quantizes its float input: uniform over
    the int8 range that QUANTIZE represents, 10% wider on both sides to clamp some; the
    'extreme' set adds the values TFLM's cast handles specially (inf, NaN, > 2^31 steps)
    and exact half steps."""
    t = graph.tensor(graph.inputs[0])
    q = graph.tensor(graph.operators[0].outputs[0])
    lo, hi = q.scale * (-128 - q.zero_point), q.scale * (127 - q.zero_point)
    if seed == "extreme":
        s = np.float32(q.scale)
        special = np.array([np.nan, np.inf, -np.inf, 1e20, -1e20, 3e38, -3e38, 3e9 * s,
                            -3e9 * s, 0.0, -0.0, 0.5 * s, -0.5 * s, 1.5 * s, -2.5 * s,
                            (127.5 - q.zero_point) * s, (-128.5 - q.zero_point) * s, lo, hi],
                           np.float32)
        return np.resize(special, t.size).reshape(t.shape)
    rng = np.random.default_rng(seed)
    width = hi - lo
    return rng.uniform(lo - 0.1 * width, hi + 0.1 * width, t.shape).astype(np.float32)


def _int_inputs(graph, seed: int | str) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    if seed == "min":
        return np.full(t.shape, -128, t.dtype)
    if seed == "max":
        return np.full(t.shape, 127, t.dtype)
    return np.random.default_rng(seed).integers(-128, 128, t.shape).astype(t.dtype)


@pytest.fixture(scope="module", params=MODELS)
def model_run(request):
    """(graph, [TFLM tensor values per input set]) for one shared model."""
    path = shared_model(request.param)
    graph = load_model(path)
    oracle = TFLMOracle.from_file(str(path), graph)
    floats = graph.tensor(graph.inputs[0]).dtype == "float32"
    kinds = SEEDS + (("extreme",) if floats else ("min", "max"))
    runs = []
    for kind in kinds:
        x = _float_inputs(graph, kind) if floats else _int_inputs(graph, kind)
        values = oracle.run([x])
        values[graph.inputs[0]] = x
        runs.append((kind, values))
    return graph, runs


def test_each_op_matches_tflm_on_its_tflm_input(model_run):
    graph, runs = model_run
    ops = [op for op in graph.operators if op.opcode in OPS]
    assert ops, f"{graph.name} has none of {OPS}; the shared corpus changed"
    reg = kernels_ref.registry()
    for op in ops:
        module = reg[op.opcode]
        params = module.prepare(graph, op)
        out_t = graph.tensor(op.outputs[0])
        for kind, values in runs:
            out = np.empty(out_t.shape, out_t.dtype)
            module.evaluate(params, [values[op.inputs[0]]], [out])
            theirs = values[op.outputs[0]]
            differ = int(np.count_nonzero(_bits(out) != _bits(theirs)))
            assert differ == 0, (f"{graph.name}: op {op.index} ({op.opcode}), inputs "
                                 f"'{kind}': {differ} of {out.size} values differ from TFLM")


def test_corpus_covers_every_op_and_path():
    """The shared models exercise all four ops, float LOG_SOFTMAX and a nonzero-offset
    QUANTIZE among them (what the test above relies on)."""
    seen = {}
    for name in MODELS:
        g = load_model(shared_model(name))
        for op in g.operators:
            if op.opcode in OPS:
                seen.setdefault(op.opcode, set()).add(g.tensor(op.inputs[0]).dtype)
    assert seen == {"SOFTMAX": {"int8"}, "LOG_SOFTMAX": {"float32"},
                    "QUANTIZE": {"float32"}, "DEQUANTIZE": {"int8"}}


def test_outputs_compared_are_not_degenerate(model_run):
    """Guards the comparison above: across the input sets, every compared op output takes
    more than two distinct values (not all saturated)."""
    graph, runs = model_run
    for op in graph.operators:
        if op.opcode in OPS:
            seen = np.unique(np.concatenate([v[op.outputs[0]].reshape(-1) for _, v in runs]))
            assert seen.size > 2, f"{graph.name}: op {op.index} ({op.opcode}) gave {seen}"


def test_quantize_reproduces_tflms_out_of_range_cast():
    """TFLM casts round(x / scale) to int32 the x86 way: NaN, inf and huge values become
    INT32_MIN before the zero point is added — so +inf lands on -128 with zero point 0,
    and on 127 when a negative zero point wraps the sum around."""
    x = np.array([np.inf, 1e30, np.nan, -np.inf, 3.0, -3.0], np.float32)
    assert quantize(x, 0.1, 0).tolist() == [-128, -128, -128, -128, 30, -30]
    assert quantize(x, 0.1, -5).tolist() == [127, 127, 127, 127, 25, -35]
    assert quantize(x, 0.1, 5).tolist() == [-128, -128, -128, -128, 35, -25]


def test_quantize_rounds_half_away_from_zero_in_float32():
    s = np.float32(0.25)
    x = np.array([0.125, -0.125, 0.375, -0.375, 0.1249999], np.float32)
    assert quantize(x, float(s), 0).tolist() == [1, -1, 2, -2, 0]


def test_dequantize_forms_the_product_in_double():
    scale = float(np.float32(0.1))
    x = np.arange(-128, 128, dtype=np.int8)
    expected = (np.float64(scale) * (x.astype(np.float64) - 3)).astype(np.float32)
    assert np.array_equal(dequantize(x, scale, 3).view(np.uint32), expected.view(np.uint32))


# ---- Prepare errors: clear UnsupportedError naming model, op, tensor and the requirement


def _one_op(opcode, in_q, out_q, shape=(1, 10), in_dtype="int8", out_dtype="int8",
            **options):
    gb = GraphBuilder(f"m_{opcode.lower()}")
    x = gb.input(shape, *in_q, dtype=in_dtype)
    y = gb.op(opcode, [x], shape, *out_q, out_dtype=out_dtype, **options)
    gb.output(y)
    return gb.build()


@pytest.mark.parametrize("graph, fragments", [
    (_one_op("SOFTMAX", (0.1, 0), (1 / 255, -128)), ("scale 1/256", "zero point -128")),
    (_one_op("SOFTMAX", (0.1, 0), (1 / 256, 0)), ("zero point -128",)),
    (_one_op("SOFTMAX", (0.1, 0), (1 / 65536, 0), out_dtype="int16"), ("-32768",)),
    (_one_op("SOFTMAX", (1e-9, 0), (1 / 256, -128)), ("must exceed 1", "aborts")),
    (_one_op("SOFTMAX", (0.001, 0), (1 / 65536, 0), in_dtype="int16", out_dtype="int16"),
     ("int16", "int8 -> int8")),
    (_one_op("LOG_SOFTMAX", (0.1, 0), (1 / 16, 0)), ("16/256", "zero point 127")),
    (_one_op("LOGISTIC", (0.1, 0), (1 / 256, 0)), ("zero point -128",)),
    (_one_op("HARD_SWISH", (0.1, 0), (0.0007, 0)), ("exponent 1 > 0", "rejects")),
    (_one_op("RELU", (0.1, 3), (0.1, 0), in_dtype="int16", out_dtype="int16"),
     ("zero point 0",)),
    (_one_op("RELU6", (0.1, 0), (0.1, 0), out_dtype="int16"), ("int8, the input's type",)),
    (_one_op("TANH", (0.1, 0), (None, None), out_dtype="float32"), ("float32",)),
    (_one_op("QUANTIZE", (None, None), (0.1, 0), in_dtype="float32", out_dtype="int32"),
     ("float32 -> int8/int16",)),
    (_one_op("QUANTIZE", (0.1, 0), (0.1, 0), in_dtype="uint8", out_dtype="int16"),
     ("uint8 -> int8",)),
    (_one_op("DEQUANTIZE", (None, None), (None, None), in_dtype="int8",
             out_dtype="float32"), ("no quantization parameters",)),
])
def test_prepare_rejects_what_tflm_rejects(graph, fragments):
    with pytest.raises(UnsupportedError) as info:
        prepare(graph)
    msg = str(info.value)
    assert msg.startswith(f"{graph.name}: op 0 ({graph.operators[0].opcode}): ")
    assert "tensor " in msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_per_channel_activation_is_rejected():
    gb = GraphBuilder("m_perchannel")
    x = gb.input((1, 2), 0.1, 0)
    y = gb.op("DEQUANTIZE", [x], (1, 2), out_dtype="float32")
    gb.output(y)
    g = gb.build()
    t = g.tensors[x]
    per_channel = Tensor(t.index, t.name, t.shape, t.dtype,
                         Quantization(np.array([0.1, 0.2], np.float32),
                                      np.zeros(2, np.int64), 1))
    g2 = Graph(g.name, (per_channel,) + g.tensors[1:], g.operators, g.inputs, g.outputs)
    with pytest.raises(UnsupportedError, match="per channel"):
        prepare(g2)


def test_elementwise_shape_mismatch_is_a_shape_error():
    gb = GraphBuilder("m_shape")
    x = gb.input((1, 4), 0.1, 0)
    y = gb.op("RELU", [x], (1, 5), 0.1, 0)
    gb.output(y)
    with pytest.raises(ShapeError, match="tensor 1"):
        prepare(gb.build())


def test_empty_softmax_row_is_a_shape_error():
    for opcode, out_q in (("SOFTMAX", (1 / 256, -128)), ("LOG_SOFTMAX", (16 / 256, 127))):
        with pytest.raises(ShapeError, match="non-empty"):
            prepare(_one_op(opcode, (0.1, 0), out_q, shape=(1, 0)))


def test_evaluate_refuses_an_output_it_could_not_write_in_place():
    g = _one_op("RELU", (0.1, 0), (0.1, 0), shape=(4, 4))
    (p,) = prepare(g)
    strided = np.zeros((4, 8), np.int8)[:, ::2]
    with pytest.raises(ShapeError, match="C-contiguous"):
        p.evaluate([np.ones((4, 4), np.int8)], [strided])


# ---- plain-array functions: same values as the model path, validated input


def test_plain_softmax_matches_prepare_values():
    x = np.array([[-5, 0, 3, 3, 100, -128]], np.int8)
    m, s, d = quantized_softmax_params(1.0, 0.05)
    out = softmax(x, input_multiplier=m, input_left_shift=s, diff_min=d)
    real = x.astype(np.float64) * 0.05
    prob = np.exp(real - real.max()) / np.exp(real - real.max()).sum()
    assert out.dtype == np.int8
    assert np.all(np.abs(out - np.clip(np.round(prob * 256) - 128, -128, 127)) <= 1)
    out16 = softmax(x, input_multiplier=m, input_left_shift=s, diff_min=d,
                    output_dtype=np.int16)
    # 16-bit output is the same probability at 256x the resolution
    p8 = (out.astype(np.float64) + 128) / 256
    p16 = (out16.astype(np.float64) + 32768) / 65536
    assert np.all(np.abs(p8 - p16) <= 1 / 256)
    f = softmax(np.array([1.0, 2.0, 3.0], np.float32), beta=1.0)
    assert f.dtype == np.float32 and abs(float(f.sum()) - 1.0) < 1e-6


def test_plain_functions_reject_bad_arrays():
    with pytest.raises(ShapeError):
        softmax(np.zeros(3, np.int32))
    with pytest.raises(ShapeError):
        log_softmax(np.zeros(3, np.int8))  # int8 needs its input scale
    with pytest.raises(ShapeError):
        quantize(np.zeros(3, np.float32), 0.1, 0, output_dtype="int32")
    with pytest.raises(ShapeError):
        relu(np.zeros(3, np.int8), 0.1, 200, 0.1, 0)


def test_plain_activations_have_the_expected_shape():
    x = np.arange(-128, 128, dtype=np.int8)
    # each output is monotone in the input and spans a sensible range
    for out in (logistic(x, 0.1, 0), tanh(x, 0.1, 0), relu(x, 0.1, 0, 0.1, 0),
                relu6(x, 0.1, 0), leaky_relu(x, 0.1, 0, 0.1, 0, 0.25),
                hard_swish(x, 0.1, 0, 0.1, 0)[128:]):
        assert np.all(np.diff(out.astype(np.int32)) >= 0)
    assert logistic(x, 0.1, 0)[[0, 128, 255]].tolist() == [-128, 0, 127]  # 1/256 .. 255/256
    assert tanh(x, 0.1, 0)[[0, 128, 255]].tolist() == [-128, 0, 127]
    assert relu6(x, 0.1, 0).max() == 60 and relu6(x, 0.1, 0).min() == 0
    real = np.array([10.0, 11.0, 12.7])
    expected = (real - real.max() - math.log(np.exp(real - real.max()).sum())) * 16 + 127
    got = log_softmax(np.array([[100, 110, 127]], np.int8), 0.1)[0]
    assert np.all(np.abs(got - expected) <= 1), (got, expected)


# ---- gemmlowp fixed point: accuracy against libm (a broken port is far off)


def test_fixedpoint_exp_logistic_tanh_log_reciprocal():
    for v in np.linspace(-15.9, 0.0, 97):
        got = fp.exp_on_negative_values(np.int32(round(v * 2**26)), 5) / 2**31
        assert abs(got - math.exp(v)) < 2e-8 + 1e-6 * math.exp(v)
    for v in np.linspace(-7.9, 7.9, 81):
        raw = np.int32(round(v * 2**27))
        assert abs(fp.logistic(raw, 4) / 2**31 - 1 / (1 + math.exp(-v))) < 1e-7
        assert abs(fp.tanh(raw, 4) / 2**31 - math.tanh(v)) < 2e-7
    for v in (1.0, 1.5, 2.0, 10.0, 100.0, 4000.0):
        got = fp.log_x_for_x_greater_than_or_equal_to_1(np.int32(round(v * 2**19)), 5, 12)
        assert abs(got / 2**26 - math.log(v)) < 1e-6
        recip, bits = fp.get_reciprocal(np.int32(round(v * 2**19)), 12)
        assert abs(recip / 2**31 * 2.0 ** -bits - 1 / v) < 1e-8
    assert fp.exp_on_negative_values(np.int32(0), 5) == fp.INT32_MAX
    assert fp.logistic(np.int32(0), 4) == 1 << 30


def test_fixedpoint_int16_rounding_divide_keeps_gemmlowps_mask_truncation():
    # exponent >= 16 makes gemmlowp's int16 mask -1; TFLM's HARD_SWISH inherits that
    assert fp.rounding_divide_by_pot_int16(np.int16(0), 16) == 1
    assert fp.rounding_divide_by_pot_int16(np.int16(-5), 3) == -1
    assert fp.rounding_divide_by_pot_int16(np.int16(12), 3) == 2


def test_log_softmax_prepare_values():
    m, s, div, div_shift, diff_min = quantized_log_softmax_params(0.1)
    assert (1 << 30) <= m < (1 << 31) and s > 0 and div > 0 and div_shift >= 0
    assert diff_min < 0
