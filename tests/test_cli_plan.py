"""``tinysim plan`` and ``tinysim check`` end to end."""
from __future__ import annotations

import json

from conftest import shared_model

from tinysim.cli import main
from tinysim.plan import load


def test_plan_prints_figures_and_writes_plan_and_picture(tmp_path, capsys):
    out, png = tmp_path / "plan.json", tmp_path / "arena.png"
    rc = main(["plan", str(shared_model("mcunet_vww1")), "--planner", "best", "--inplace",
               "--sram", "256KiB", "--out", str(out), "--picture", str(png)])
    text = capsys.readouterr().out
    assert rc == 0
    plan = load(out)
    peak_line = next(line for line in text.splitlines() if "peak (arena)" in line)
    assert f"{plan.arena_bytes:,} B" in peak_line
    assert "liveness lower bound" in text and "TFLM's arena" in text and "161,472 B" in text
    assert plan.arena_bytes <= 89600
    step_lines = [line for line in text.splitlines() if line[:6].strip().isdigit()]
    assert len(step_lines) == len(plan.steps)
    assert "fits 262,144 B of SRAM" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_plan_that_does_not_fit_fails_clearly(capsys):
    rc = main(["plan", str(shared_model("mlperf_ic")), "--sram", "40KiB", "--no-steps"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "needs 49,152 B of arena but the SRAM is 40,960 B (40KiB)" in err
    assert "--planner best --inplace" in err


def test_check_passes_a_good_plan_and_reports_mutants(tmp_path, capsys):
    model = str(shared_model("mlperf_ic"))
    out = tmp_path / "plan.json"
    assert main(["plan", model, "--planner", "best", "--inplace", "--out", str(out),
                 "--no-steps"]) == 0
    capsys.readouterr()
    rc = main(["check", model, str(out), "--mutants"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "passes the static checks" in text
    assert text.count("bit-exact with the layer-wise reference") == 2
    assert "kill rate 100%" in text


def test_check_fails_a_faulty_plan(tmp_path, capsys):
    model = str(shared_model("mlperf_ic"))
    out = tmp_path / "plan.json"
    assert main(["plan", model, "--out", str(out), "--no-steps"]) == 0
    d = json.loads(out.read_text())
    # the first two buffers are live together (the input and the first conv's output)
    d["buffers"][1]["offset"] = d["buffers"][0]["offset"]
    out.write_text(json.dumps(d))
    capsys.readouterr()
    rc = main(["check", model, str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    assert "fails the static checks" in text and "[overlap]" in text


def test_check_refuses_a_plan_for_another_model(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", str(shared_model("mlperf_kws")), "--out", str(out), "--no-steps"]) == 0
    capsys.readouterr()
    assert main(["check", str(shared_model("mlperf_ic")), str(out)]) == 1
    assert "re-plan it" in capsys.readouterr().out
