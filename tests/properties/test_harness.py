"""The property-test harness itself: strategies stay in range, mismatches are reported with
op, tensor and position, and a generated graph survives the write -> TFLM path."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import _tflm
from _strategies import int_arrays, per_channel_scales, quant_params, rngs, scales
from _tflm import assert_bit_exact_with_tflm, first_mismatch
from tinysim.modelgen import GraphBuilder, random_bias, random_filter


@given(scales(1e-4, 0.5))
def test_scales_are_float32_in_range(s):
    assert float(np.float32(s)) == s and 1e-4 * 0.999 <= s <= 0.5 * 1.001


@given(st.integers(1, 16).flatmap(lambda n: st.tuples(st.just(n), per_channel_scales(n))))
def test_per_channel_scales_shape(n_and_scales):
    n, s = n_and_scales
    assert s.shape == (n,) and s.dtype == np.float32 and np.all(s > 0)


@given(quant_params("int8"), int_arrays((3, 5), "int8"))
def test_quant_params_and_arrays_in_int8_range(params, arr):
    scale, zp = params
    assert scale > 0 and -128 <= zp <= 127
    assert arr.dtype == np.int8 and arr.shape == (3, 5)


def _conv_graph(rng, in_q, out_q, cin=3, cout=4, hw=6, k=3, stride=1, padding="SAME",
                activation="NONE"):
    gb = GraphBuilder("harness_conv")
    x = gb.input((1, hw, hw, cin), *in_q)
    f = random_filter(rng, (cout, k, k, cin), axis=0)
    b = random_bias(rng, cout, in_q[0], f.scale)
    out_hw = (hw + stride - 1) // stride if padding == "SAME" else (hw - k) // stride + 1
    y = gb.op("CONV_2D", [x, gb.quantized_const(f), gb.quantized_const(b)],
              (1, out_hw, out_hw, cout), *out_q, padding=padding, stride_h=stride,
              stride_w=stride, fused_activation=activation)
    gb.output(y)
    return gb.build()


@given(rngs(), quant_params(min_scale=0.01, max_scale=0.1),
       quant_params(min_scale=0.02, max_scale=0.5), st.sampled_from([1, 2]),
       st.sampled_from(["SAME", "VALID"]))
def test_generated_conv_is_bit_exact(rng, in_q, out_q, stride, padding):
    g = _conv_graph(rng, in_q, out_q, stride=stride, padding=padding)
    x = rng.integers(-128, 128, g.tensor(g.inputs[0]).shape).astype(np.int8)
    values = assert_bit_exact_with_tflm(g, [x])
    assert set(values) >= set(g.outputs)


def test_mismatch_names_op_tensor_position_and_values():
    g = _conv_graph(np.random.default_rng(0), (0.05, 2), (0.1, -3))
    out = g.outputs[0]
    theirs = {g.inputs[0]: np.zeros((1, 6, 6, 3), np.int8), out: np.zeros((1, 6, 6, 4), np.int8)}
    ours = {k: v.copy() for k, v in theirs.items()}
    ours[out][0, 2, 1, 3] = 7
    ours[out][0, 4, 0, 0] = -2
    m = first_mismatch(g, ours, theirs)
    assert m is not None and m.tensor_index == out
    msg = m.describe()
    assert "harness_conv: op 0 (CONV_2D)" in msg
    assert f"tensor {out} (conv_2d_0" in msg
    assert "2 of 144 values differ from TFLM" in msg
    assert "first at (0, 2, 1, 3): tinysim 7 vs TFLM 0" in msg
    assert first_mismatch(g, theirs, theirs) is None


def test_harness_fails_when_tinysim_disagrees(monkeypatch):
    rng = np.random.default_rng(1)
    g = _conv_graph(rng, (0.05, 0), (0.1, 0))
    real_run = _tflm.Executor.run

    def off_by_one(self, inputs):
        values = real_run(self, inputs)
        values[g.outputs[0]] = values[g.outputs[0]].copy()
        values[g.outputs[0]][0, 0, 0, 0] ^= 1
        return values

    monkeypatch.setattr(_tflm.Executor, "run", off_by_one)
    x = rng.integers(-128, 128, (1, 6, 6, 3)).astype(np.int8)
    with pytest.raises(AssertionError, match=r"op 0 \(CONV_2D.*1 of 144 values differ.*"
                                             r"first at \(0, 0, 0, 0\)"):
        assert_bit_exact_with_tflm(g, [x])
