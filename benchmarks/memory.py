"""Activation arena per shared model: every planner and option next to TFLM's own arena.

For each model: TFLM's arena as TFLM itself reports it (print_allocations' "head"), the
``tflm`` planner, ``best`` without and with in-place options (each option alone, and all
together as ``--inplace``), the liveness lower bound of the graph-order schedule and of
the best in-place plan, and TinyEngine's published in-place figure for mcunet_vww1.
Every plan is also run in the arena with the shadow memory and compared with the
layer-wise reference (``ok`` column), and mutation-tested (kill rate). A second table
gives the patch-based and tensor-splitting plans (benchmarks/memory_tiled.py).

    python benchmarks/memory.py [--json out.json] [models...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinysim.arena import ArenaExecutor, compare_with_reference  # noqa: E402
from tinysim.checker import check_plan, mutation_test  # noqa: E402
from tinysim.executor import Executor  # noqa: E402
from tinysim.liveness import lower_bound  # noqa: E402
from tinysim.loader import load_model  # noqa: E402
from tinysim.planners import make_plan  # noqa: E402
from tinysim.planners.schedule import INPLACE_GROUP  # noqa: E402
from tinysim.oracle import measured_arena  # noqa: E402
from tinysim.verify import make_inputs  # noqa: E402
from memory_tiled import NOTE as TILED_NOTE, measure_tiled, table_tiled, tiled_ok  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
TINYENGINE_INPLACE = {"mcunet_vww1": 89600}  # published, activations only

CONFIGS = [("tflm", ()), ("tflm", ("inplace",)), ("best", ())] + \
    [("best", (o,)) for o in INPLACE_GROUP] + [("best", ("inplace",)),
                                               ("best", ("inplace", "input_outside"))]


def measure(name: str) -> dict:
    path = SHARED / f"{name}.tflite"
    graph = load_model(path)
    inputs = make_inputs(graph, 1, 0)[0]
    reference = Executor(graph).run(inputs)
    row: dict = {"model": name, "tflm_measured": measured_arena(str(path)), "plans": {}}
    plans = {}
    for planner, options in CONFIGS:
        key = "+".join((planner,) + options)
        plan = plans[key] = make_plan(graph, planner, options)
        run = ArenaExecutor(graph, plan).run(inputs)
        ok = check_plan(graph, plan).ok and not compare_with_reference(graph, run, reference)
        row["plans"][key] = {
            "arena": plan.arena_bytes, "lower_bound": lower_bound(plan), "ok": ok}
    mt = mutation_test(graph, plans["best+inplace"], inputs)
    row["mutants"] = len(mt.results)
    row["kill_rate"] = mt.kill_rate
    row["tinyengine"] = TINYENGINE_INPLACE.get(name)
    return row


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def table(rows: list[dict]) -> str:
    names = ["tflm", "tflm+inplace", "best"] + [f"best+{o}" for o in INPLACE_GROUP] + \
        ["best+inplace", "best+inplace+input_outside"]
    head = ["model", "TFLM (measured)"] + names + ["bound (graph order)", "bound (best+inplace)",
                                                   "TinyEngine", "all ok", "mutants killed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        p = r["plans"]
        cells = [r["model"], _kb(r["tflm_measured"])] + [_kb(p[n]["arena"]) for n in names] + [
            _kb(p["tflm"]["lower_bound"]), _kb(p["best+inplace"]["lower_bound"]),
            _kb(r["tinyengine"]), "yes" if all(v["ok"] for v in p.values()) else "NO",
            f"{r['mutants']} ({100 * r['kill_rate']:.0f}%)"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    names = args.models or sorted(p.stem for p in SHARED.glob("*.tflite"))
    rows = [measure(n) for n in names]
    print("Activation arena, bytes (16-byte alignment). 'inplace' = all of "
          + ", ".join(INPLACE_GROUP) + ".\n")
    print(table(rows))
    for r in rows:
        r["patch_split"] = measure_tiled(r["model"])
    print("\n" + TILED_NOTE + "\n")
    print(table_tiled([r["patch_split"] for r in rows]))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    bad = [r["model"] for r in rows if r["plans"]["tflm"]["arena"] != r["tflm_measured"]
           or not all(v["ok"] for v in r["plans"].values()) or r["kill_rate"] < 1
           or not tiled_ok(r["patch_split"])]
    if bad:
        print(f"\nFAILED: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
