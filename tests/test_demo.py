"""The README's main job, end to end: tinysim demo on its own model."""
from __future__ import annotations

from tinysim.cli import main


def test_demo_runs_the_whole_pipeline(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ops bit-exact over 5 inputs" in out
    assert "mutation testing:" in out and "kill rate 100%" in out
    assert "<- chosen" in out
    assert "demo passed" in out and " NO" not in out
    assert (tmp_path / "mcunet_like.tflite").stat().st_size > 10_000
    assert (tmp_path / "golden" / "manifest.json").exists()
    assert (tmp_path / "arena.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
