"""tinysim.modelgen: GraphBuilder, quantized-weight helpers, and tinysim's own MCUNet-like
model run bit-exact against TFLM on every tensor."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from kernels_ref.common import activation_range_quantized
from properties._tflm import assert_bit_exact_with_tflm
from tinysim import modelgen
from tinysim.errors import ShapeError, TinysimError, UnsupportedError
from tinysim.loader import load_model_bytes
from tinysim.modelgen import (GraphBuilder, affine_params, bias_int32, mcunet_like_model,
                              model_inputs, quantize, sample_images, symmetric_filter)
from tinysim.oracle import TFLMOracle
from tinysim.writer import write_model

# Images from a different seed than the calibration set: the model must generalize.
TEST_IMAGES = 4


@lru_cache(maxsize=None)
def _model(float_io: bool = False, seed: int = 0, input_hw: int = 48):
    return mcunet_like_model(seed=seed, input_hw=input_hw, float_io=float_io)


def _runs(graph, n=TEST_IMAGES, seed=7):
    return model_inputs(graph, sample_images(n, graph.tensor(graph.inputs[0]).shape[1], seed))


# --- GraphBuilder -------------------------------------------------------------------------

def test_builder_fills_default_options_and_int8_versions():
    gb = GraphBuilder("t")
    x = gb.input((1, 4, 4, 2), 0.1, 0)
    f = symmetric_filter(np.ones((3, 1, 1, 2)), axis=0)
    y = gb.op("CONV_2D", [x, gb.quantized_const(f), -1], (1, 4, 4, 3), 0.2, 5, stride_h=1)
    gb.output(y)
    g = gb.build()
    op = g.operators[0]
    assert dict(op.options) == dict(padding="SAME", stride_w=1, stride_h=1, dilation_w=1,
                                    dilation_h=1, fused_activation="NONE")
    assert op.version == 3 and op.inputs == (0, 1, -1) and op.outputs == (2,)
    assert g.tensor(1).quantization.per_channel and g.tensor(1).quantization.axis == 0
    assert (g.tensor(2).scale, g.tensor(2).zero_point) == (np.float32(0.2), 5)
    assert g.inputs == (0,) and g.outputs == (2,)


def test_builder_rejects_bad_graphs():
    gb = GraphBuilder("t")
    x = gb.input((1, 4), 0.1, 0)
    with pytest.raises(UnsupportedError,
                       match=r"t: op 0 \(ADD\): unknown option\(s\) \['stride'\]"):
        gb.op("ADD", [x, x], (1, 4), 0.1, 0, stride=2)
    with pytest.raises(UnsupportedError, match=r"\['filter_h', 'filter_w'\] are required"):
        gb.op("MAX_POOL_2D", [x], (1, 4), 0.1, 0)
    with pytest.raises(TinysimError, match="input tensor 9 is not defined"):
        gb.op("RELU", [9], (1, 4), 0.1, 0)
    with pytest.raises(UnsupportedError, match="not a TFLite builtin"):
        gb.op("CONV_9D", [x], (1, 4), 0.1, 0)
    with pytest.raises(ShapeError, match="3 per-channel scales for an axis of size 2"):
        gb.const(np.zeros((2, 5), np.int8), scale=[0.1, 0.2, 0.3])
    with pytest.raises(ShapeError, match="finite and positive"):
        gb.input((1, 4), 0.0, 0)
    with pytest.raises(TinysimError, match="at least one input and one output"):
        gb.build()


# --- quantized weights --------------------------------------------------------------------

def test_symmetric_filter_per_channel():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, (4, 3, 3, 5)) * np.array([1e-3, 0.1, 1.0, 10.0]).reshape(4, 1, 1, 1)
    f = symmetric_filter(w, axis=0)
    assert f.q.dtype == np.int8 and f.scale.dtype == np.float32 and f.scale.shape == (4,)
    assert np.all(f.zero_point == 0)
    assert np.all(np.abs(f.q).reshape(4, -1).max(axis=1) == 127)  # full code range per channel
    assert f.q.min() >= -127
    err = np.abs(f.dequantize() - w).reshape(4, -1).max(axis=1)
    assert np.all(err <= f.scale * 0.5 + 1e-12)

    dw = symmetric_filter(rng.normal(0, 1, (1, 3, 3, 6)), axis=3)
    assert dw.scale.shape == (6,) and dw.axis == 3
    fc = symmetric_filter(rng.normal(0, 1, (10, 7)), axis=None)
    assert fc.scale.shape == (1,)


def test_bias_scale_is_input_scale_times_filter_scale():
    fscale = np.array([0.01, 0.02, 0.005], np.float32)
    b = bias_int32(np.array([1.0, -2.0, 0.3]), 0.05, fscale)
    assert b.q.dtype == np.int32
    assert np.array_equal(b.scale, np.float32(0.05) * fscale)
    assert np.array_equal(b.q, np.round(np.array([1.0, -2.0, 0.3]) / b.scale.astype(np.float64)))


@pytest.mark.parametrize("rmin,rmax", [(0.0, 6.0), (-1.0, 1.0), (-3.7, 0.2), (0.5, 2.0)])
def test_affine_params_cover_range_with_exact_zero(rmin, rmax):
    scale, zp = affine_params(rmin, rmax)
    assert quantize(np.array([0.0]), scale, zp)[0] == zp
    lo, hi = (np.array([min(rmin, 0.0), max(rmax, 0.0)]) / scale + zp)
    assert lo >= -128.5 and hi <= 127.5
    assert hi - lo >= 254  # uses (nearly) all 256 codes


# --- the MCUNet-like model ----------------------------------------------------------------

def test_model_structure():
    g = _model()
    ops = [op.opcode for op in g.operators]
    assert ops[0] == "CONV_2D" and ops[-4:] == ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
                                                "SOFTMAX"]
    stem = g.operators[0]
    assert g.tensor(stem.inputs[1]).shape == (16, 3, 3, 3)
    assert (stem.options["stride_h"], stem.fused_activation) == (2, "RELU6")
    dws = [op for op in g.operators if op.opcode == "DEPTHWISE_CONV_2D"]
    assert {g.tensor(op.inputs[1]).shape[1] for op in dws} == {3, 5, 7}
    assert {op.options["stride_h"] for op in dws} == {1, 2}
    assert all(op.fused_activation == "RELU6" for op in dws)
    producers = g.producers()
    valid = [op for op in dws if op.options["padding"] == "VALID"]
    assert len(valid) == 1 and g.operators[producers[valid[0].inputs[0]]].opcode == "PAD"
    assert ops.count("ADD") == 2
    total = sum(t.nbytes for t in g.tensors if t.is_constant)
    assert len(write_model(g)) < 200_000 and total < 100_000


def test_model_is_deterministic_per_seed():
    assert write_model(mcunet_like_model(seed=0)) == write_model(_model())
    assert write_model(mcunet_like_model(seed=1)) != write_model(_model())


@pytest.mark.parametrize("float_io", [False, True])
def test_tflm_runs_the_model_and_activations_are_not_saturated(float_io):
    g = _model(float_io)
    buf = write_model(g)
    loaded = load_model_bytes(buf, g.name)
    oracle = TFLMOracle(buf, loaded)
    results = [oracle.run(r) for r in _runs(loaded)]
    producers = loaded.producers()
    checked = 0
    for t in loaded.activation_tensors:
        if t.dtype != "int8":
            continue
        values = np.concatenate([r[t.index].ravel() for r in results])
        op = loaded.operators[producers[t.index]] if t.index in producers else None
        lo, hi = activation_range_quantized(op.fused_activation if op else "NONE",
                                            t.scale, t.zero_point)
        inside = np.mean((values > lo) & (values < hi))
        assert inside >= 0.5, f"tensor {t.index} ({t.name}): only {inside:.0%} inside ({lo}, {hi})"
        distinct = len(np.unique(values))
        assert distinct >= min(32, values.size // 4), f"tensor {t.index} ({t.name}): {distinct}"
        checked += 1
    assert checked >= len(loaded.operators) - 1
    probs = results[0][loaded.outputs[0]]
    if float_io:
        assert probs.dtype == np.float32 and abs(float(probs.sum()) - 1.0) < 0.05
    # Different images give different predictions: the model is not a constant.
    assert len({r[loaded.outputs[0]].tobytes() for r in results}) == len(results)


@pytest.mark.parametrize("float_io", [False, True])
def test_tinysim_is_bit_exact_with_tflm_on_every_tensor(float_io):
    g = _model(float_io)
    for inputs in _runs(g):
        assert_bit_exact_with_tflm(g, inputs)


def test_bit_exact_on_other_seeds_sizes_and_random_inputs():
    rng = np.random.default_rng(11)
    for seed, hw in ((1, 32), (2, 64)):
        g = _model(seed=seed, input_hw=hw)
        assert_bit_exact_with_tflm(g, _runs(g, n=1, seed=seed)[0])
        t = g.tensor(g.inputs[0])
        assert_bit_exact_with_tflm(g, [rng.integers(-128, 128, t.shape).astype(np.int8)])


def test_float_io_variant_computes_the_same_integers():
    """model_inputs quantizes exactly as TFLM's QUANTIZE does, so both variants agree."""
    g_int8, g_float = _model(False), _model(True)
    images = sample_images(TEST_IMAGES, 48, seed=7)
    o_int8 = TFLMOracle(write_model(g_int8), g_int8)
    o_float = TFLMOracle(write_model(g_float), g_float)
    quantize_op = g_float.operators[0]
    softmax_float = g_float.operators[-2]
    for x_int8, x_float in zip(model_inputs(g_int8, images), model_inputs(g_float, images)):
        a, b = o_int8.run(x_int8), o_float.run(x_float)
        assert np.array_equal(a[g_int8.inputs[0]], b[quantize_op.outputs[0]])
        assert np.array_equal(a[g_int8.outputs[0]], b[softmax_float.outputs[0]])


def test_sample_images_are_smooth_and_in_range():
    imgs = sample_images(3, 32, seed=5)
    assert imgs.shape == (3, 32, 32, 3) and imgs.dtype == np.float32
    assert imgs.min() >= -1 and imgs.max() <= 1 and imgs.std() > 0.2
    # Neighbouring pixels correlate far more than in noise.
    dx = np.abs(np.diff(imgs, axis=2)).mean()
    assert dx < 0.5 * np.abs(imgs - imgs.mean()).mean()


def test_input_hw_must_fit_the_strides():
    with pytest.raises(ShapeError, match="multiple of 8"):
        modelgen.mcunet_like_model(input_hw=50)
