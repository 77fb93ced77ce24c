"""The depthwise, ADD and pooling C kernels on real layers of the shared models, on the
emulated Cortex-M7 and M4, bit-exact with kernels_ref; the acceptance figure; errors."""
from __future__ import annotations

import numpy as np
import pytest

from arm_emu import In
from arm_emu import kernels_dw as kd
from conftest import shared_model
from kernels_ref import add, average_pool_2d, depthwise_conv_2d, max_pool_2d
from kernels_ref._broadcast import Broadcast
from kernels_ref._pool_common import PoolParams
from kernels_ref.quantization import quantize_multiplier_array
from tinysim.errors import KernelFault, UnsupportedError

CPUS = ("cortex-m7", "cortex-m4")
# (model, op): 3x3 stride 1 and 2 (SAME and VALID), 5x5, 7x7, few and many channels
DEPTHWISE_LAYERS = [("mcunet_vww1", 3), ("mcunet_vww1", 7), ("mcunet_vww1", 19),
                    ("mcunet_vww1", 26), ("mcunet_vww1", 34), ("mlperf_vww", 3),
                    ("mlperf_kws", 1), ("armzoo_vww2", 2), ("mcunet_vww0", 9)]
OTHER_LAYERS = [("mcunet_vww1", 12), ("mlperf_ic", 3), ("mlperf_ic", 12), ("mlperf_kws", 9),
                ("mcunet_det", 50)]


def random_input(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)


def reference(layer: kd.Layer, inputs: list[np.ndarray]) -> np.ndarray:
    module = {"DEPTHWISE_CONV_2D": depthwise_conv_2d, "ADD": add,
              "AVERAGE_POOL_2D": average_pool_2d, "MAX_POOL_2D": max_pool_2d}[layer.opcode]
    out = np.empty(layer.output_shape, np.int8)
    module.evaluate(layer.params, inputs, [out])
    return out


def depthwise_kernels(layer: kd.Layer) -> list[str]:
    names = ["ts_depthwise_conv_s8", "ts_depthwise_conv_s8_inplace_chw"]
    return names + (["ts_depthwise_conv_3x3_s8"] if layer.filter.shape[1:3] == (3, 3) else [])


def run_depthwise(kernel: str, cpu: str, layer: kd.Layer, x: np.ndarray) -> kd.KernelRun:
    p = layer.params
    args = (kd.machine(cpu), x, layer.filter, layer.bias, p.output_multiplier, p.output_shift)
    if kernel == "ts_depthwise_conv_s8_inplace_chw":
        return kd.run_depthwise_conv_inplace_chw(*args, **layer.depthwise_kwargs())
    return kd.run_depthwise_conv(*args, kernel=kernel, **layer.depthwise_kwargs())


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("model,op", DEPTHWISE_LAYERS)
def test_depthwise_kernels_on_model_layers(cpu, model, op):
    layer = kd.model_layer(shared_model(model), op)
    x = random_input(layer.input_shape, seed=op)
    expected = reference(layer, [x, layer.filter, layer.bias])
    for kernel in depthwise_kernels(layer):
        run = run_depthwise(kernel, cpu, layer, x)
        np.testing.assert_array_equal(run.output, expected, err_msg=f"{kernel}, {layer.name}")
        assert run.stats.instructions > layer.macs, "the count covers the whole layer"


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("model,op", OTHER_LAYERS)
def test_add_and_pool_kernels_on_model_layers(cpu, model, op):
    layer = kd.model_layer(shared_model(model), op)
    m = kd.machine(cpu)
    if layer.opcode == "ADD":
        a, b = random_input(layer.input_shape, 1), random_input(layer.input_shape, 2)
        expected, run = reference(layer, [a, b]), kd.run_add(m, a, b, layer.params)
    else:
        x = random_input(layer.input_shape, op)
        run_pool = kd.run_avgpool if layer.opcode == "AVERAGE_POOL_2D" else kd.run_maxpool
        expected, run = reference(layer, [x]), run_pool(m, x, layer.params,
                                                        layer.output_shape[1:3])
    np.testing.assert_array_equal(run.output, expected, err_msg=layer.name)


def reference_layer_40x40x48(seed=0):
    """The issue's reference shape: depthwise 3x3, 40x40x48, stride 1, pad 1."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, 40, 40, 48), dtype=np.int8)
    f = rng.integers(-127, 128, (1, 3, 3, 48), dtype=np.int8)
    bias = rng.integers(-5000, 5000, 48).astype(np.int32)
    mult, shift = quantize_multiplier_array(rng.uniform(0.001, 0.02, 48))
    kwargs = dict(output_size=(40, 40), padding=(1, 1), input_offset=7, output_offset=-5,
                  act_min=-5, act_max=120)
    return x, f, bias, mult, shift, kwargs


def test_depthwise_3x3_reference_shape_is_exact_and_at_most_6_instructions_per_mac():
    x, f, bias, mult, shift, kwargs = reference_layer_40x40x48()
    expected = depthwise_conv_2d.depthwise_conv_2d(x, f, bias, mult, shift, **kwargs)
    macs = 40 * 40 * 48 * 9
    for kernel in ("ts_depthwise_conv_3x3_s8",):
        run = kd.run_depthwise_conv(kd.machine("cortex-m7"), x, f, bias, mult, shift,
                                    kernel=kernel, **kwargs)
        np.testing.assert_array_equal(run.output, expected)
        assert run.stats.instructions / macs <= 6.0, run.stats.summary()
    run = kd.run_depthwise_conv_inplace_chw(kd.machine("cortex-m7"), x, f, bias, mult, shift,
                                            **kwargs)
    np.testing.assert_array_equal(run.output, expected)
    assert run.stats.instructions / macs <= 6.0, run.stats.summary()


@pytest.mark.parametrize("cpu", CPUS)
def test_general_requantization_path_on_a_layer(cpu):
    """Multipliers >= 0.25 and tiny ones take ts_requantize, next to fast channels."""
    x, f, bias, _, _, kwargs = reference_layer_40x40x48(1)
    x = x[:, :9, :7]
    kwargs["output_size"] = (9, 7)
    mult, shift = quantize_multiplier_array(np.linspace(1e-8, 2.5, 48))
    expected = depthwise_conv_2d.depthwise_conv_2d(x, f, bias, mult, shift, **kwargs)
    assert len(np.unique(expected)) > 2, "not all saturated"
    m = kd.machine(cpu)
    for kernel in kd.DEPTHWISE_KERNELS:
        run = kd.run_depthwise_conv(m, x, f, bias, mult, shift, kernel=kernel, **kwargs)
        np.testing.assert_array_equal(run.output, expected, err_msg=kernel)
    run = kd.run_depthwise_conv_inplace_chw(m, x, f, bias, mult, shift, **kwargs)
    np.testing.assert_array_equal(run.output, expected)


@pytest.mark.parametrize("cpu", CPUS)
def test_avgpool_window_over_256_points_accumulates_in_int32(cpu):
    x = np.full((1, 17, 17, 5), -128, np.int8)     # sum -36992 does not fit int16 lanes
    x[0, 0, 0] = [127, -128, 0, 5, -7]
    params = PoolParams(1, 1, 17, 17, 0, 0, -128, 127)
    expected = np.empty((1, 1, 1, 5), np.int8)
    average_pool_2d.evaluate(params, [x], [expected])
    got = kd.run_avgpool(kd.machine(cpu), x, params, (1, 1))
    np.testing.assert_array_equal(got.output, expected)


def test_inplace_buffer_size_comes_from_the_c_code():
    # 40x40 3x3 pad 1: 3 rows x 1 word x 4 packed weight words, the 42x42 bordered image,
    # 3 * stride + 4 bytes of slack
    params = kd._dw_params((1, 40, 40, 48), (1, 3, 3, 48), (40, 40), (1, 1), (1, 1), (1, 1),
                           0, 0, -128, 127)
    assert kd.inplace_chw_buffer_size(kd.machine("cortex-m7"), params) == 48 + 42 * 42 + 7


def test_channel_table_marks_the_requantization_of_each_channel():
    table = kd.channel_table(np.array([100, -7, 3], np.int32),
                             np.array([1 << 30, 1 << 30, 1 << 30], np.int32),
                             np.array([-3, 1, -30], np.int32), output_offset=-2)
    # bias; multiplier; fast: 2^1 + (-2) * 2^2 and e - 1; else TFLM's shift and -1
    np.testing.assert_array_equal(table, [[100, 1 << 30, 2 - 8, 2], [-7, 1 << 30, 1, -1],
                                          [3, 1 << 30, -30, -1]])


def test_filter_layouts():
    f = np.arange(2 * 3 * 5, dtype=np.int8).reshape(1, 2, 3, 5)
    groups = kd.filter_groups_of_4(f)
    assert groups.shape == (2, 6, 4)
    np.testing.assert_array_equal(groups[0, 4], f[0, 1, 1, :4])
    np.testing.assert_array_equal(groups[1, 4], [f[0, 1, 1, 4], 0, 0, 0])
    np.testing.assert_array_equal(kd.filter_chw(f)[3], f[0, :, :, 3].reshape(-1))


def small_case():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 6, 6, 4), dtype=np.int8)
    f = rng.integers(-127, 128, (1, 3, 3, 4), dtype=np.int8)
    mult, shift = quantize_multiplier_array(np.full(4, 0.01))
    return x, f, mult, shift


@pytest.mark.parametrize("change,message", [
    (dict(depth_multiplier=2), "depth multiplier 1"),
    (dict(batch=2), "batch 1"),
    (dict(window=5, kernel="ts_depthwise_conv_3x3_s8"), "3x3 window"),
    (dict(kernel="ts_depthwise_conv_9x9_s8"), "unknown kernel"),
])
def test_depthwise_wrapper_refuses_what_the_kernels_do_not_do(change, message):
    x, f, mult, shift = small_case()
    if "batch" in change:
        x = np.concatenate([x, x])
    if "window" in change:
        f = np.zeros((1, 5, 5, 4), np.int8)
    if change.get("depth_multiplier") == 2:
        f = np.zeros((1, 3, 3, 8), np.int8)
        mult, shift = np.repeat(mult, 2), np.repeat(shift, 2)
    with pytest.raises(UnsupportedError, match=message):
        kd.run_depthwise_conv(kd.machine("cortex-m7"), x, f, None, mult, shift,
                              output_size=(4, 4), input_offset=0, output_offset=0,
                              depth_multiplier=change.get("depth_multiplier", 1),
                              kernel=change.get("kernel", "ts_depthwise_conv_s8"))


def test_inplace_refuses_an_output_larger_than_its_input_and_dilation():
    x, f, mult, shift = small_case()
    m = kd.machine("cortex-m7")
    with pytest.raises(UnsupportedError, match="larger than the input plane"):
        kd.run_depthwise_conv_inplace_chw(m, x, f, None, mult, shift, output_size=(8, 8),
                                          padding=(2, 2), input_offset=0, output_offset=0)
    with pytest.raises(UnsupportedError, match="dilation 1"):
        kd.run_depthwise_conv_inplace_chw(m, x, f, None, mult, shift, output_size=(2, 2),
                                          dilation=(2, 2), input_offset=0, output_offset=0)


def test_add_wrapper_refuses_broadcasting():
    params = add.quantized_add_params(0.1, 0, 0.1, 0, 0.2, 0, "NONE", Broadcast(None, None))
    with pytest.raises(UnsupportedError, match="no broadcasting"):
        kd.run_add(kd.machine("cortex-m7"), np.zeros((1, 4), np.int8), np.zeros((4, 1), np.int8),
                   params)


@pytest.mark.parametrize("kernel", ["ts_depthwise_conv_s8", "ts_depthwise_conv_3x3_s8"])
def test_kernels_return_an_error_status_for_bad_arguments(kernel):
    x, f, mult, shift = small_case()
    params = kd._dw_params(x.shape, f.shape, (4, 4), (1, 1), (1, 1), (0, 0), 0, 0, 10, -10)
    table = kd.channel_table(None, mult, shift, 0)
    out = np.zeros((4, 4, 4), np.int8)
    res = kd.machine("cortex-m7").call(kernel, In(params), In(x[0]), In(kd.filter_groups_of_4(f)),
                                       In(table), out)
    assert res.value == -1    # TS_ERROR_ARGUMENT: act_min > act_max
    with pytest.raises(KernelFault, match="TS_ERROR_ARGUMENT"):
        kd.run_depthwise_conv(kd.machine("cortex-m7"), x, f, None, mult, shift, kernel=kernel,
                              output_size=(4, 4), input_offset=0, output_offset=0,
                              act_min=10, act_max=-10)


def test_inplace_wrapper_leaves_the_callers_input_alone():
    """With one channel the CHW transpose is a view of the input: the wrapper must copy."""
    x = np.random.default_rng(4).integers(-128, 128, (1, 6, 8, 1), dtype=np.int8)
    before = x.copy()
    f = np.full((1, 3, 3, 1), 3, np.int8)
    mult, shift = quantize_multiplier_array([0.01])
    kd.run_depthwise_conv_inplace_chw(kd.machine("cortex-m7"), x, f, None, mult, shift,
                                      output_size=(4, 6), input_offset=0, output_offset=0)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("cpu", CPUS)
def test_bench_cases_and_sweep_are_bit_exact(cpu):
    from arm_emu import bench, bench_dw
    cases = bench_dw.cases() + bench_dw.sweep(seed=1, count=3)
    records = [bench.run_case(case, cpu) for case in cases]
    assert all(r.bit_exact for r in records), [r.shape for r in records if not r.bit_exact]
    kernels = {r.kernel for r in records}
    assert kernels == {"ts_depthwise_conv_s8", "ts_depthwise_conv_3x3_s8",
                       "ts_depthwise_conv_s8_inplace_chw", "ts_add_s8", "ts_avgpool_s8",
                       "ts_maxpool_s8"}
    reference = [r for r in records if r.shape.startswith("reference")
                 and r.kernel == "ts_depthwise_conv_3x3_s8"]
    assert reference[0].instructions_per_mac <= 6.0
