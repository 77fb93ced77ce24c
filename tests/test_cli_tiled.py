"""``tinysim plan`` with --search, --patch, --split, --input-outside, end to end."""
from __future__ import annotations

import re

from conftest import shared_model

from tinysim.cli import main
from tinysim.plan import load


def _arena(row: str) -> int:
    """The arena column of a search table row (the first number after the configuration)."""
    return int(next(tok for tok in row.split()[2:]
                    if re.fullmatch(r"\d{1,3}(,\d{3})*", tok)).replace(",", ""))


def test_search_prints_its_table_and_the_chosen_plan_checks(tmp_path, capsys):
    model = str(shared_model("mcunet_vww1"))
    out = tmp_path / "plan.json"
    rc = main(["plan", model, "--sram", "64KiB", "--search", "--input-outside", "--no-steps",
               "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    lines = text.splitlines()
    assert "input image outside the arena" in lines[0] and "activations only" in lines[0]
    header = lines[1].split()
    assert header[:4] == ["kind", "configuration", "arena", "B"]
    rows = lines[2:lines.index(next(x for x in lines if x.startswith("chosen:")))]
    assert {r.split()[0] for r in rows} >= {"split", "patch", "in-place", "layer-wise"}
    chosen = next(r for r in rows if "*" in r)
    plan = load(out)
    assert plan.planner == chosen.split()[0] and "input_outside" in plan.options
    assert _arena(chosen) == plan.arena_bytes == min(_arena(r) for r in rows)
    assert f"arena {plan.arena_bytes:,} B" in next(x for x in lines if x.startswith("chosen:"))
    assert plan.arena_bytes <= 34448  # TinyTS's published figure, same accounting
    assert "with the input image inside the arena the search would choose" in text
    assert f"fits 65,536 B of SRAM ({65536 - plan.arena_bytes:,} B to spare)" in text
    assert main(["check", model, str(out)]) == 0
    assert "bit-exact with the layer-wise reference" in capsys.readouterr().out


def test_search_that_cannot_fit_says_what_would(capsys):
    rc = main(["plan", str(shared_model("mcunet_vww1")), "--sram", "64KiB", "--search",
               "--no-steps"])
    captured = capsys.readouterr()
    assert rc == 2
    assert "no candidate fits 65,536 B" in captured.out
    assert "with --input-outside (the application keeps the image)" in captured.out
    assert "but the SRAM is 65,536 B (64KiB)" in captured.err


def test_search_names_the_configurations_it_could_not_plan(monkeypatch, capsys):
    from tinysim.errors import PlanError
    from tinysim.planners import search

    real = search.split.plan

    def refuse_breadth(graph, tile_rows, order, *rest):
        if order == "breadth":
            raise PlanError(f"{graph.name}: no breadth-first tiles today")
        return real(graph, tile_rows, order, *rest)

    monkeypatch.setattr(search.split, "plan", refuse_breadth)
    assert main(["plan", str(shared_model("mlperf_kws")), "--search", "--no-steps"]) == 0
    text = capsys.readouterr().out
    assert ("not a candidate (could not be planned): split rows=1 breadth: "
            "mlperf_kws.tflite: no breadth-first tiles today") in text
    assert "rows=1 breadth" not in text.split("chosen:")[0]


def test_patch_reports_memory_with_extra_macs(capsys):
    rc = main(["plan", str(shared_model("mcunet_vww1")), "--patch", "2x2@7", "--input-outside",
               "--no-steps"])
    text = capsys.readouterr().out
    assert rc == 0
    first, macs, other = text.splitlines()[:3]
    assert first.startswith("patch+grid=2x2+split=7") and "input image outside" in first
    assert "halo recomputation" in macs and "(+160,704 = +1.4%" in macs
    assert other.startswith("with the input image inside the arena:")


def test_split_order_and_tile_height(capsys):
    rc = main(["plan", str(shared_model("mlperf_kws")), "--split", "1", "--order", "breadth",
               "--no-steps"])
    text = capsys.readouterr().out
    assert rc == 0
    assert text.startswith("split+rows=1+order=breadth")
    assert "(+0 = +0.0% halo recomputation)" in text
    assert "peak (arena)" in text


def test_tiled_option_errors(capsys):
    model = str(shared_model("mlperf_vww"))
    assert main(["plan", model, "--patch", "2by2", "--no-steps"]) == 2
    assert "is not NxM or NxM@OP" in capsys.readouterr().err
    assert main(["plan", model, "--patch", "2x2", "--split", "1", "--no-steps"]) == 2
    assert "give one of --search, --patch, --split" in capsys.readouterr().err
