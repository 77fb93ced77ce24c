"""The command line on real models: info, run, verify, golden, and its error exits."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_model
from tinysim.cli import main
from tinysim.errors import TinysimError
from tinysim.loader import load_model
from tinysim.verify import make_inputs


def test_info(capsys):
    assert main(["info", str(shared_model("mlperf_kws"))]) == 0
    out = capsys.readouterr().out
    assert "13 ops" in out and "DEPTHWISE_CONV_2D" in out
    assert "2,664,768 MACs" in out


def test_run_saves_outputs(tmp_path, capsys):
    model = shared_model("mlperf_kws")
    x = np.random.default_rng(3).integers(-128, 128, (1, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "out")]) == 0
    saved = np.load(tmp_path / "out" / "output0_t34.npy")
    assert saved.shape == (1, 12) and saved.dtype == np.int8
    assert "output 0 (tensor 34" in capsys.readouterr().out


def test_verify_summary_line(capsys):
    assert main(["verify", str(shared_model("mlperf_kws")), "--inputs", "3"]) == 0
    assert capsys.readouterr().out.strip() == "mlperf_kws.tflite: 13/13 ops bit-exact over 3 inputs"


def test_golden_vectors(tmp_path):
    model = shared_model("mlperf_kws")
    assert main(["golden", str(model), "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["ops"]) == 13 and len(manifest["model_sha256"]) == 64
    header = (tmp_path / "op000_conv_2d.h").read_text()
    assert manifest["model_sha256"] in header and "tinysim" in header
    assert "#define OP000_CONV_2D_OUT0_DIM1 25" in header
    assert "static const int8_t op000_conv_2d_out0[8000]" in header
    assert "#define OP000_CONV_2D_OUT0_ZERO_POINT -128" in header
    # the .npy files hold what the header holds, and chain from op to op
    out0 = np.load(tmp_path / manifest["ops"][0]["arrays"][-1]["npy"])
    in1 = np.load(tmp_path / manifest["ops"][1]["arrays"][0]["npy"])
    assert np.array_equal(out0, in1)


def test_bad_file_exits_cleanly(tmp_path, capsys):
    p = tmp_path / "bad.tflite"
    p.write_bytes(b"garbage" * 10)
    assert main(["info", str(p)]) == 2
    err = capsys.readouterr().err
    assert "bad.tflite" in err and "Traceback" not in err


def test_bad_input_and_output_paths_exit_cleanly(tmp_path, capsys):
    model = str(shared_model("lenet_mnist"))
    assert main(["run", model, "--input", str(tmp_path / "missing.npy")]) == 2
    err = capsys.readouterr().err
    assert "missing.npy: No such file or directory" in err and "Traceback" not in err
    (tmp_path / "x.json").write_text("{}")
    assert main(["run", model, "--input", str(tmp_path / "x.json")]) == 2
    assert "x.json is not a .npy array" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["golden", model, "--out", str(blocker / "dir")]) == 2
    assert f"{blocker / 'dir'}: Not a directory" in capsys.readouterr().err


def test_verify_refuses_zero_inputs(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(shared_model("lenet_mnist")), "--inputs", "0"])
    assert exc.value.code == 2
    assert "'0' is not a count >= 1" in capsys.readouterr().err
    with pytest.raises(TinysimError, match="at least 1"):
        make_inputs(load_model(shared_model("lenet_mnist")), 0)


def test_verify_names_the_first_difference_and_fails(monkeypatch, capsys):
    from tinysim import executor
    real_run = executor.Executor.run

    def off_by_one_at_op_3(self, inputs):
        values = real_run(self, inputs)
        t = self.graph.operators[3].outputs[0]
        values[t] = values[t].copy()
        values[t].flat[5] += 1
        return values
    monkeypatch.setattr(executor.Executor, "run", off_by_one_at_op_3)
    assert main(["verify", str(shared_model("mlperf_kws")), "--inputs", "2"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("mlperf_kws.tflite: 12/13 ops bit-exact over 2 inputs")
    assert "MISMATCH mlperf_kws.tflite: op 3 (DEPTHWISE_CONV_2D), tensor" in out
    assert "1 of 8000 values differ from TFLM" in out and "first at (0, 0, 0, 5)" in out


def test_golden_float_literals_are_c():
    from tinysim.golden import _c_literal
    text = _c_literal(np.array([1.5, -np.inf, np.inf, np.nan, 1e-45], np.float32))
    assert text == "{\n  1.5f, -INFINITY, INFINITY, NAN, 1.401298464324817e-45f\n}"


def test_kernels_filter_that_matches_nothing_is_an_error(capsys):
    for argv in (["kernels", "bench", "--kernel", "nosuch"],
                 ["kernels", "check", "--kernel", "nosuch", "--count", "0"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no kernel name contains --kernel 'nosuch'" in err and "ts_convolve_s8" in err
