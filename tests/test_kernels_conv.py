"""The convolution and fully connected C kernels (kernels_c/ts_convolve_*, ts_fully_connected_s8)
on the emulated Cortex-M7 and M4: every CONV_2D / FULLY_CONNECTED layer of the shared
models bit-exact with kernels_ref, the issue's instructions-per-MAC targets, both
requantization paths, the host-side packing, argument checks, and that every DSP
instruction the kernels execute has a Python model in tests/properties/test_arm_dsp.py."""
from __future__ import annotations

import numpy as np
import pytest

from arm_emu import In, Out
from arm_emu import bench_conv
from arm_emu import kernels_conv as kc
from conftest import MODEL_NAMES, shared_model
from kernels_ref.conv_2d import conv_2d
from kernels_ref.fully_connected import fully_connected
from kernels_ref.quantization import multiply_by_quantized_multiplier, quantize_multiplier_array
from properties.test_arm_dsp import MNEMONIC, MODELS
from tinysim.errors import KernelFault, UnsupportedError
from tinysim.loader import load_model

CPUS = ("cortex-m7", "cortex-m4")


def conv_case(rng, h, w, in_c, out_c, fh=1, fw=1, scales=(1e-4, 1e-2), bias_range=5000):
    x = rng.integers(-128, 128, (1, h, w, in_c), dtype=np.int8)
    f = rng.integers(-127, 128, (out_c, fh, fw, in_c), dtype=np.int8)
    mult, shift = quantize_multiplier_array(rng.uniform(*scales, out_c))
    bias = rng.integers(-bias_range, bias_range, out_c).astype(np.int32)
    return x, f, bias, mult, shift


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_conv_and_fc_layer_of_the_shared_models_is_bit_exact(cpu, model):
    graph = load_model(shared_model(model))
    m = kc.machine(cpu)
    rng = np.random.default_rng(sum(map(ord, model)))
    layers = [op for op in graph.operators if op.opcode in ("CONV_2D", "FULLY_CONNECTED")]
    assert layers, f"{model} has no CONV_2D or FULLY_CONNECTED layer; the shared corpus changed"
    for op in layers:
        x = rng.integers(-128, 128, graph.tensor(op.inputs[0]).shape, dtype=np.int8)
        got = kc.run_graph_op(m, graph, op, x).output
        np.testing.assert_array_equal(got, kc.reference_graph_op(graph, op, x),
                                      err_msg=f"{model} op {op.index} on {cpu}")


def test_reference_pointwise_shape_is_exact_and_at_most_2_2_instructions_per_mac():
    """Issue 5's 1x1 reference shape, 20x20x32 -> 64 (CMSIS-NN: 2.64), and the same layer
    with 16 and 8 input channels (CMSIS-NN: 3.9 and 6.7)."""
    limits = {32: 2.2, 16: 1.6, 8: 2.1}
    for in_c, limit in limits.items():
        case = bench_conv.reference_conv_case(20, 20, in_c, 64)
        run = case.run("cortex-m7")
        np.testing.assert_array_equal(run.output, case.reference())
        per_mac = run.stats.instructions / case.macs
        assert per_mac <= limit, f"{in_c} input channels: {per_mac:.3f} instructions/MAC"
        assert run.stats.histogram["smmlar"] == 20 * 20 * 64, "one SMMLAR per output"


def test_first_layer_kernel_beats_the_general_im2col_on_mcunet_vww1():
    graph = load_model(shared_model("mcunet_vww1"))
    op = graph.operators[2]
    x = np.random.default_rng(2).integers(-128, 128, graph.tensor(op.inputs[0]).shape,
                                          dtype=np.int8)
    m = kc.machine("cortex-m7")
    special = kc.run_graph_op(m, graph, op, x)
    general = kc.run_graph_op(m, graph, op, x, kernel="ts_convolve_s8")
    assert special.stats.kernel == "ts_convolve_3x3_s2_c3_s8"
    np.testing.assert_array_equal(special.output, general.output)
    assert special.stats.instructions < 0.75 * general.stats.instructions


@pytest.mark.parametrize("cpu", CPUS)
def test_fast_and_generic_requantization_paths(cpu):
    """Fast path: SMMLAR per output; a huge bias, an effective scale >= 0.5 (shift >= 0)
    or < 2^-23 (shift below -22) sends the layer to the generic path (TFLM's formula);
    all bit-exact."""
    rng = np.random.default_rng(5)
    m = kc.machine(cpu)
    kw = dict(output_size=(4, 5), input_offset=-3, output_offset=7)
    x, f, bias, mult, shift = conv_case(rng, 4, 5, 12, 9)
    variants = {
        "fast": (bias, mult, shift, (-128, 127)),
        "fast clamp": (bias, mult, shift, (-40, 90)),
        "huge bias": (np.where(np.arange(9) == 4, 1 << 30, bias).astype(np.int32), mult, shift,
                      (-128, 127)),
        "large multiplier": (bias, *quantize_multiplier_array(rng.uniform(0.3, 2.0, 9)),
                             (-128, 127)),
        "tiny multiplier": (bias, *quantize_multiplier_array(rng.uniform(1e-9, 1e-8, 9)),
                            (-100, 100)),
    }
    for name, (b, mu, sh, (lo, hi)) in variants.items():
        run = kc.run_conv(m, x, f, b, mu, sh, act_min=lo, act_max=hi,
                          kernel="ts_convolve_1x1_s8", **kw)
        np.testing.assert_array_equal(
            run.output, conv_2d(x, f, b, mu, sh, act_min=lo, act_max=hi, **kw), err_msg=name)
        assert ("smmlar" in run.stats.histogram) == name.startswith("fast"), name


def test_constant_channels_are_stored_as_their_constant():
    """All-zero weights (mlperf_vww's dead channels carry biases near 2^30) or a zero
    multiplier: the packed row is zeroed and the channel reproduces TFLM's constant."""
    rng = np.random.default_rng(9)
    x, f, bias, mult, shift = conv_case(rng, 3, 3, 8, 3)
    f[0] = 0
    bias[0] = 1073741952
    mult[1] = 0
    packed = kc.pack_conv_filter(f, bias, mult, shift, input_offset=5, output_offset=-1)
    v = int(multiply_by_quantized_multiplier(np.int32(bias[0]), mult[0], shift[0]))
    # channel 0: bias' word 0, weights words 1-2, then multiplier, right shift
    assert packed[0] == 4 * min(max(v, -256), 255)
    assert not packed[1:3].any() and list(packed[3:5]) == [1 << 30, 1]
    # channel 1: bias' (4 * 0) closes channel 0's record, weights words 7-8
    assert packed[6] == 0
    assert not packed[7:9].any() and list(packed[9:11]) == [1 << 30, 1]
    kw = dict(output_size=(3, 3), input_offset=5, output_offset=-1)
    run = kc.run_conv(kc.machine(), x, f, bias, mult, shift, kernel="ts_convolve_1x1_s8", **kw)
    np.testing.assert_array_equal(run.output, conv_2d(x, f, bias, mult, shift, **kw))
    assert "smmlar" in run.stats.histogram, "constant channels keep the layer fast"


def test_packed_conv_filter_layout():
    f = np.arange(2 * 1 * 1 * 5, dtype=np.int8).reshape(2, 1, 1, 5)
    packed = kc.pack_conv_filter(f, np.array([100, -7], np.int32), np.array([1 << 30, 3 << 29]),
                                 np.array([-3, -22]), input_offset=2, output_offset=-4)
    assert packed.dtype == np.int32 and packed.size == 1 + 2 * (8 // 4 + 4)
    assert packed[0] == 100 + 2 * sum(range(5))
    assert list(packed[1:3].view(np.int8)) == [0, 1, 2, 3, 4, 0, 0, 0]
    assert list(packed[3:7]) == [1 << 30, 3, 4 + (-4) * 8, -7 + 2 * sum(range(5, 10))]
    assert list(packed[7:9].view(np.int8)) == [5, 6, 7, 8, 9, 0, 0, 0]
    assert list(packed[9:13]) == [3 << 29, 22, (1 << 21) - 4 * (1 << 22), 0]


def test_packed_fc_filter_interleaves_four_units():
    f = np.arange(5 * 6, dtype=np.int8).reshape(5, 6)
    packed = kc.pack_fc_filter(f, None, 1 << 30, -5, input_offset=0, output_offset=0)
    # input offset 0: the folded biases stay 0
    k4 = 8
    assert packed.size == 2 * (16 + k4)
    block = packed[:16 + k4]
    assert list(block[4:8].view(np.int8).reshape(4, 4)[:, 0]) == [0, 6, 12, 18]
    assert list(block[8:12].view(np.int8).reshape(4, 4)[0]) == [4, 5, 0, 0]
    assert list(block[12:15]) == [1 << 30, 5, 16]
    tail = packed[16 + k4:]                 # unit 4, then 3 zero units
    assert list(tail[:4]) == [0, 0, 0, 0]
    assert list(tail[-12:-9]) == [1 << 30, 5, 16] and list(tail[-3:]) == [0, 1, 0]


@pytest.mark.parametrize("cpu", CPUS)
def test_fully_connected_batches_per_tensor_and_per_unit(cpu):
    rng = np.random.default_rng(3)
    m = kc.machine(cpu)
    x = rng.integers(-128, 128, (3, 37), dtype=np.int8)
    f = rng.integers(-127, 128, (11, 37), dtype=np.int8)
    bias = rng.integers(-9000, 9000, 11).astype(np.int32)
    for mult, shift in ((np.int32(1518500250), np.int32(-9)),
                        quantize_multiplier_array(rng.uniform(1e-4, 1e-2, 11))):
        kw = dict(input_offset=-12, output_offset=3, act_min=-128, act_max=100)
        run = kc.run_fully_connected(m, x, f, bias, mult, shift, **kw)
        np.testing.assert_array_equal(run.output, fully_connected(x, f, bias, mult, shift, **kw))


BAD = [dict(stride_h=0), dict(dilation_w=0), dict(pad_h=-1), dict(act_min=10, act_max=9),
       dict(act_max=128), dict(input_offset=129), dict(output_c=0)]


@pytest.mark.parametrize("change", BAD, ids=lambda c: ",".join(c))
@pytest.mark.parametrize("kernel", kc.CONV_KERNELS)
def test_conv_kernels_return_an_error_status_for_bad_arguments(kernel, change):
    shape = {"ts_convolve_1x1_s8": (1, 1, 4), "ts_convolve_3x3_s2_c3_s8": (3, 3, 3)}.get(
        kernel, (3, 3, 4))
    fh, fw, in_c = shape
    stride = (2, 2) if kernel == "ts_convolve_3x3_s2_c3_s8" else (1, 1)
    params = kc.conv_params((1, 7, 7, in_c), (2, fh, fw, in_c), (3, 3), stride, (1, 1), (0, 0),
                            1, 0, -128, 127)
    for name, value in change.items():
        params[kc.PARAM_FIELDS.index(name)] = value
    f = np.zeros((2, fh, fw, in_c), np.int8)
    packed = kc.pack_conv_filter(f, None, 1 << 30, -8, 1, 0)
    res = kc.machine().call(kernel, In(params), In(np.zeros((1, 7, 7, in_c), np.int8)),
                            In(packed, align=4), Out(np.zeros(9 * 36, np.int8), align=4),
                            Out(np.zeros(64, np.int8)))
    assert res.value == -1


@pytest.mark.parametrize("kernel,filter_shape,stride", [
    ("ts_convolve_1x1_s8", (2, 3, 3, 4), (1, 1)),
    ("ts_convolve_3x3_s8", (2, 5, 5, 4), (1, 1)),
    ("ts_convolve_3x3_s2_c3_s8", (2, 3, 3, 4), (2, 2)),
    ("ts_convolve_3x3_s2_c3_s8", (2, 3, 3, 3), (1, 1)),
])
def test_specialised_kernels_refuse_other_windows(kernel, filter_shape, stride):
    x = np.zeros((1, 7, 7, filter_shape[3]), np.int8)
    f = np.zeros(filter_shape, np.int8)
    with pytest.raises(KernelFault, match="rejected its arguments"):
        kc.run_conv(kc.machine(), x, f, None, 1 << 30, -8, output_size=(3, 3), stride=stride,
                    input_offset=0, output_offset=0, kernel=kernel)


def test_wrappers_refuse_grouped_convolutions_and_unknown_kernels():
    x = np.zeros((1, 4, 4, 4), np.int8)
    with pytest.raises(UnsupportedError, match="grouped"):
        kc.run_conv(kc.machine(), x, np.zeros((2, 1, 1, 2), np.int8), None, 1 << 30, -8,
                    output_size=(4, 4), input_offset=0, output_offset=0)
    with pytest.raises(UnsupportedError, match="unknown kernel"):
        kc.run_conv(kc.machine(), x, np.zeros((2, 1, 1, 4), np.int8), None, 1 << 30, -8,
                    output_size=(4, 4), input_offset=0, output_offset=0, kernel="ts_nope")


# DSP-extension and long-multiply mnemonics (capstone names): each one a kernel executes
# must have a Python model checked on the exact CPU model by test_arm_dsp.py
DSP_AND_MULTIPLY = {
    "smlad", "smladx", "smlsd", "smuad", "smusd", "smlabb", "smlabt", "smlatb", "smlatt",
    "smulbb", "smultt", "smlal", "smull", "umull", "umlal", "umaal", "smmla", "smmlar",
    "smmul", "smmulr", "smmls", "sxtb16", "sxtab16", "uxtb16", "uxtab16", "sadd16", "ssub16",
    "sadd8", "ssub8", "qadd", "qsub", "qadd8", "qsub8", "qadd16", "qsub16", "ssat", "usat",
    "ssat16", "usat16", "pkhbt", "pkhtb", "sel", "sdiv", "udiv", "clz", "shadd16", "sasx",
}


def test_every_dsp_instruction_the_kernels_run_has_a_model():
    modeled = {MNEMONIC.get(name, name[3:]) for name in MODELS}
    executed = set()
    rng = np.random.default_rng(11)
    m = kc.machine("cortex-m7")
    for kernel, (fh, fw, in_c, stride) in {
            "ts_convolve_1x1_s8": (1, 1, 5, (1, 1)), "ts_convolve_3x3_s8": (3, 3, 4, (1, 1)),
            "ts_convolve_s8": (2, 3, 6, (1, 2)), "ts_convolve_3x3_s2_c3_s8": (3, 3, 3, (2, 2))
    }.items():
        for scales in ((1e-4, 1e-2), (0.3, 2.0)):   # fast, then generic requantization
            x, f, bias, mult, shift = conv_case(rng, 7, 7, in_c, 6, fh, fw, scales)
            oh, ow = (7 - fh) // stride[0] + 1, (7 - fw) // stride[1] + 1
            run = kc.run_conv(m, x, f, bias, mult, shift, output_size=(oh, ow), stride=stride,
                              input_offset=1, output_offset=2, kernel=kernel)
            executed |= set(run.stats.histogram)
    for scales in ((1e-4, 1e-2), (0.3, 2.0)):
        mult, shift = quantize_multiplier_array(rng.uniform(*scales, 1))
        run = kc.run_fully_connected(m, rng.integers(-128, 128, (1, 21), dtype=np.int8),
                                     rng.integers(-127, 128, (6, 21), dtype=np.int8), None,
                                     mult, shift, input_offset=0, output_offset=0)
        executed |= set(run.stats.histogram)
    used = executed & DSP_AND_MULTIPLY
    assert {"smlad", "sxtb16", "smmlar", "ssat", "sadd16"} <= used
    assert used <= modeled, f"DSP instructions without a model: {sorted(used - modeled)}"


def run_cli(argv, capsys):
    import argparse

    from tinysim import cli_kernels
    parser = argparse.ArgumentParser(prog="tinysim")
    cli_kernels.add_subparsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status = args.func(args)
    return status, capsys.readouterr().out


def test_cli_kernels_bench_json_records(capsys):
    import json
    status, out = run_cli(["kernels", "bench", "--kernel", "convolve_1x1", "--json"], capsys)
    records = json.loads(out)
    assert status == 0 and records
    assert {"kernel", "shape", "macs", "instructions", "instructions_per_mac",
            "m4_cycles_estimate", "emulator_instructions_per_second", "bit_exact"} <= set(records[0])
    ref = next(r for r in records if r["shape"] == "reference: 1x1 20x20x32->64")
    assert ref["macs"] == 20 * 20 * 32 * 64 and ref["instructions_per_mac"] <= 2.2
    assert any(r["shape"].startswith("mcunet_vww1 op 5: 1x1 40x40x8") for r in records)
    assert all(r["kernel"] == "ts_convolve_1x1_s8" and r["bit_exact"] for r in records)


def test_cli_kernels_bench_table_and_check(capsys):
    status, out = run_cli(["kernels", "bench", "--kernel", "fully_connected"], capsys)
    assert status == 0 and "lenet_mnist op 2: fc 784->300" in out and "estimate" in out
    status, out = run_cli(["kernels", "check", "--kernel", "fully_connected", "--count", "3",
                           "--cpu", "cortex-m4"], capsys)
    assert status == 0
    assert out.splitlines()[0].split() == ["ts_fully_connected_s8", "cortex-m4", "5",
                                           "bit-exact", "0", "failed"]
    assert out.strip().splitlines()[-1].startswith("5/5 kernel runs bit-exact")


def test_kernels_touch_nothing_outside_their_buffers_exact_bounds():
    """With exact_bounds the harness checks every access against the argument buffers,
    including reads just before an array's start (the 3-channel window loads read the
    byte before a window row; it must be inside the input)."""
    from arm_emu import Machine
    m = Machine.from_sources(kc.SOURCES, "cortex-m7", exact_bounds=True)
    rng = np.random.default_rng(4)
    for kernel, (h, w, in_c, fh, stride, pad) in {
            "ts_convolve_1x1_s8": (3, 5, 7, 1, (1, 1), (0, 0)),
            "ts_convolve_3x3_s8": (5, 4, 3, 3, (1, 1), (0, 0)),
            "ts_convolve_s8": (5, 6, 5, 3, (2, 1), (1, 1)),
            "ts_convolve_3x3_s2_c3_s8": (7, 7, 3, 3, (2, 2), (0, 0))}.items():
        x, f, bias, mult, shift = conv_case(rng, h, w, in_c, 5, fh, fh)
        oh = (h + 2 * pad[0] - fh) // stride[0] + 1
        ow = (w + 2 * pad[1] - fh) // stride[1] + 1
        kw = dict(output_size=(oh, ow), stride=stride, padding=pad, input_offset=-9,
                  output_offset=4)
        run = kc.run_conv(m, x, f, bias, mult, shift, kernel=kernel, **kw)
        np.testing.assert_array_equal(run.output, conv_2d(x, f, bias, mult, shift, **kw))
    x = rng.integers(-128, 128, (2, 13), dtype=np.int8)
    f = rng.integers(-127, 128, (6, 13), dtype=np.int8)
    run = kc.run_fully_connected(m, x, f, None, 1 << 30, -7, input_offset=3, output_offset=0)
    np.testing.assert_array_equal(run.output, fully_connected(x, f, None, 1 << 30, -7,
                                                              input_offset=3, output_offset=0))
