"""write_model: every shared model survives load -> write -> load, and TFLM runs the bytes."""
from __future__ import annotations

import numpy as np
import pytest
import tflite

from conftest import MODEL_NAMES, shared_model
from tinysim import loader
from tinysim.errors import UnsupportedError
from tinysim.ir import Graph, Operator, Quantization, Tensor, frozen_options
from tinysim.loader import load_model, load_model_bytes
from tinysim.oracle import TFLMOracle
from tinysim.writer import BUFFER_ALIGNMENT, OPTION_WRITERS, write_model


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    assert len(a.tensors) == len(b.tensors)
    for ta, tb in zip(a.tensors, b.tensors):
        where = f"tensor {ta.index} ({ta.name})"
        assert (ta.index, ta.name, ta.shape, ta.dtype) == \
            (tb.index, tb.name, tb.shape, tb.dtype), where
        assert ta.quantization == tb.quantization, where
        assert ta.is_constant == tb.is_constant, where
        if ta.is_constant:
            assert ta.data.dtype == tb.data.dtype and np.array_equal(ta.data, tb.data), where
    assert len(a.operators) == len(b.operators)
    for oa, ob in zip(a.operators, b.operators):
        where = f"op {oa.index} ({oa.opcode})"
        assert (oa.index, oa.opcode, oa.inputs, oa.outputs, oa.version) == \
            (ob.index, ob.opcode, ob.inputs, ob.outputs, ob.version), where
        assert dict(oa.options) == dict(ob.options), where
    assert (a.inputs, a.outputs, a.description) == (b.inputs, b.outputs, b.description)


def _inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for ti in graph.inputs:
        t = graph.tensor(ti)
        if t.dtype == "float32":
            out.append(rng.uniform(-1.0, 1.0, t.shape).astype(np.float32))
        else:
            info = np.iinfo(t.dtype)
            out.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_and_tflm_agree_on_every_tensor(name):
    path = shared_model(name)
    original = load_model(path)
    written = write_model(original)
    reloaded = load_model_bytes(written, original.name)
    assert_graphs_equal(original, reloaded)
    # Writing is deterministic and a fixed point: the reloaded graph writes the same bytes.
    assert write_model(reloaded) == written

    inputs = _inputs(original, seed=1)
    want = TFLMOracle.from_file(str(path), original).run(inputs)
    got = TFLMOracle(written, reloaded).run(inputs)
    assert want.keys() == got.keys()
    for ti in want:
        assert np.array_equal(want[ti], got[ti]), f"tensor {ti} ({original.tensor(ti).name})"


def _root(buf: bytes):
    return tflite.Model.GetRootAsModel(buf, 0)


def test_file_layout_follows_the_converter():
    graph = load_model(shared_model("mlperf_kws"))
    buf = write_model(graph)
    model = _root(buf)
    assert buf[4:8] == b"TFL3"
    assert model.Version() == 3
    assert model.SubgraphsLength() == 1
    assert model.Buffers(0).DataLength() == 0
    sg = model.Subgraphs(0)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        data = model.Buffers(t.Buffer())
        if graph.tensor(i).is_constant:
            assert t.Buffer() != 0
            # Offset of the first data byte inside the file: kernels read biases in place.
            start = data._tab.Vector(data._tab.Offset(4))
            assert start % BUFFER_ALIGNMENT == 0, f"tensor {i}"
        else:
            assert t.Buffer() == 0 and data.DataLength() == 0


def test_per_channel_axis_is_written():
    graph = load_model(shared_model("mlperf_kws"))
    model = _root(write_model(graph))
    axes = {model.Subgraphs(0).Tensors(t.index).Quantization().QuantizedDimension()
            for t in graph.tensors if t.quantization is not None and t.quantization.per_channel}
    # Conv filters are per-channel on axis 0, depthwise filters on axis 3.
    assert axes == {0, 3}


def _tiny_graph(opcode: str, options: dict, version: int = 1) -> Graph:
    q = Quantization(np.array([0.5], np.float32), np.array([-3], np.int64))
    tensors = (Tensor(0, "x", (1, 4), "int8", q), Tensor(1, "y", (1, 4), "int8", q))
    op = Operator(0, opcode, (0,), (1,), frozen_options(options), version)
    return Graph("tiny", tensors, (op,), (0,), (1,))


def test_opcodes_above_127_keep_the_deprecated_placeholder():
    buf = write_model(_tiny_graph("BROADCAST_TO", {}, version=2))
    oc = _root(buf).OperatorCodes(0)
    code = tflite.BuiltinOperator.BROADCAST_TO
    assert code > 127
    assert (oc.BuiltinCode(), oc.DeprecatedBuiltinCode(), oc.Version()) == (code, 127, 2)
    assert load_model_bytes(buf).operators[0].opcode == "BROADCAST_TO"


def test_small_opcodes_set_both_fields():
    oc = _root(write_model(_tiny_graph("RELU", {}))).OperatorCodes(0)
    assert oc.BuiltinCode() == oc.DeprecatedBuiltinCode() == tflite.BuiltinOperator.RELU


def test_opcode_table_is_unique_per_op_and_version():
    graph = load_model(shared_model("mcunet_vww1"))  # its file repeats opcodes per op
    model = _root(write_model(graph))
    keys = [(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).Version())
            for i in range(model.OperatorCodesLength())]
    assert len(keys) == len(set(keys)) == len({(op.opcode, op.version) for op in graph.operators})


def test_every_option_the_loader_reads_can_be_written():
    assert set(loader.OPTION_READERS) <= set(OPTION_WRITERS)


def test_missing_option_names_op_and_key():
    with pytest.raises(UnsupportedError, match=r"tiny: op 0 \(SOFTMAX\): option 'beta' is missing"):
        write_model(_tiny_graph("SOFTMAX", {}))


def test_unknown_option_value_lists_the_valid_ones():
    with pytest.raises(UnsupportedError, match=r"fused_activation='SWISH'.*RELU6"):
        write_model(_tiny_graph("ADD", {"fused_activation": "SWISH"}))


def test_unknown_opcode_is_rejected():
    with pytest.raises(UnsupportedError, match=r"op 0 has opcode 'CONV_3X'"):
        write_model(_tiny_graph("CONV_3X", {}))
