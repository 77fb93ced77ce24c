"""Loader and IR on the shared corpus, and the clear errors bad input must give."""
from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
import tflite

from conftest import MODEL_NAMES, shared_model
from tinysim import ModelLoadError, ShapeError, UnsupportedError, load_model, load_model_bytes
from tinysim.executor import Executor
from tinysim.stats import graph_stats


def test_corpus_is_present():
    assert len(MODEL_NAMES) == 11


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loads_with_typed_tensors(name):
    g = load_model(shared_model(name))
    assert len(g.operators) > 0 and g.sha256
    for op in g.operators:
        for ti in op.inputs + op.outputs:
            assert ti == -1 or g.tensor(ti).index == ti
    for op in g.operators:
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = g.tensor(op.inputs[1])
            assert w.is_constant and w.dtype == "int8"
            # per-channel along the output-channel axis, as the corpus notes say
            q = w.quantization
            assert q.per_channel and q.scale.size == w.shape[q.axis]
            assert q.axis == (0 if op.opcode == "CONV_2D" else 3)


def test_op_figures_mlperf_kws():
    g = load_model(shared_model("mlperf_kws"))
    st = graph_stats(g)
    # first conv: 25x5x64 outputs, 10x4 kernel over 1 input channel
    assert st[0].opcode == "CONV_2D" and st[0].macs == 25 * 5 * 64 * 10 * 4
    assert st[1].macs == 25 * 5 * 64 * 3 * 3
    assert st[0].param_bytes == 64 * 10 * 4 * 1 + 64 * 4
    assert st[2].activation_bytes == 2 * 25 * 5 * 64


def test_empty_file(tmp_path):
    p = tmp_path / "empty.tflite"
    p.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty.tflite: the file is empty"):
        load_model(p)


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read"):
        load_model(tmp_path / "nope.tflite")


def test_not_a_flatbuffer():
    with pytest.raises(ModelLoadError, match="not a TFLite flatbuffer"):
        load_model_bytes(b"PK\x03\x04 this is a zip file, not a model" * 4, "x.tflite")


@pytest.mark.parametrize("keep", [100, 5000, 0.5, 0.9])
def test_truncated(keep):
    buf = shared_model("mlperf_kws").read_bytes()
    n = int(len(buf) * keep) if isinstance(keep, float) else keep
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        load_model_bytes(buf[:n], "mlperf_kws.tflite")


def _model_with_subgraphs(n: int) -> bytes:
    b = flatbuffers.Builder(256)
    subgraphs = []
    for _ in range(n):
        tflite.SubGraphStart(b)
        subgraphs.append(tflite.SubGraphEnd(b))
    tflite.ModelStartSubgraphsVector(b, n)
    for s in reversed(subgraphs):
        b.PrependUOffsetTRelative(s)
    vec = b.EndVector()
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddSubgraphs(b, vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_several_subgraphs():
    with pytest.raises(UnsupportedError, match="has 2 subgraphs"):
        load_model_bytes(_model_with_subgraphs(2), "two.tflite")


def test_graph_input_that_does_not_exist():
    b = flatbuffers.Builder(256)
    tflite.SubGraphStartInputsVector(b, 1)
    b.PrependInt32(3)
    inputs = b.EndVector()
    tflite.SubGraphStart(b)
    tflite.SubGraphAddInputs(b, inputs)
    sg = tflite.SubGraphEnd(b)
    tflite.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sg)
    vec = b.EndVector()
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddSubgraphs(b, vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    with pytest.raises(ModelLoadError, match="bad.tflite: graph input tensor 3 does not exist"):
        load_model_bytes(bytes(b.Output()), "bad.tflite")


def test_input_shape_mismatch():
    g = load_model(shared_model("mlperf_kws"))
    ex = Executor(g)
    with pytest.raises(ShapeError, match=r"mlperf_kws.tflite: input 0 .* needs shape \(1, 49, 10, 1\)"):
        ex.run([np.zeros((1, 10, 49, 2), np.int8)])
    with pytest.raises(ShapeError, match="needs dtype int8, got float32"):
        ex.run([np.zeros((1, 49, 10, 1), np.float32)])
    with pytest.raises(ShapeError, match="has 1 input"):
        ex.run([])


def _one_op_graph(opcode: str, dtype: str = "int8"):
    from tinysim.ir import Graph, Operator, Quantization, Tensor
    q = Quantization(np.array([0.05], np.float32), np.array([0], np.int64))
    tensors = (Tensor(0, "x", (1, 4), dtype, q), Tensor(1, "y", (1, 4), dtype, q),
               Tensor(2, "z", (1, 4), dtype, q))
    op = Operator(0, opcode, (0, 1), (2,))
    return Graph("toy.tflite", tensors, (op,), (0, 1), (2,))


def test_unsupported_op_names_model_op_and_supported_list():
    from tinysim.writer import write_model
    g = load_model_bytes(write_model(_one_op_graph("SQUARED_DIFFERENCE")), "toy.tflite")
    with pytest.raises(UnsupportedError) as exc:
        Executor(g)
    msg = str(exc.value)
    assert "toy.tflite: op 0 is SQUARED_DIFFERENCE" in msg
    assert "supported ops:" in msg and "CONV_2D" in msg and "DEPTHWISE_CONV_2D" in msg


def test_unsupported_dtype_names_tensor():
    from tinysim.writer import write_model
    buf = bytearray(write_model(_one_op_graph("MAXIMUM")))
    g = load_model_bytes(bytes(buf), "toy.tflite")
    assert g.tensor(0).dtype == "int8"
    # complex64 (TFLite type 8): patch the first tensor's type field in the flatbuffer
    model = tflite.Model.GetRootAsModel(buf, 0)
    t = model.Subgraphs(0).Tensors(0)
    o = t._tab.Offset(6)  # Tensor.type
    assert o
    buf[t._tab.Pos + o] = 8
    with pytest.raises(UnsupportedError, match=r"toy.tflite: tensor 0 \(x\) has TFLite type 8"):
        load_model_bytes(bytes(buf), "toy.tflite")
