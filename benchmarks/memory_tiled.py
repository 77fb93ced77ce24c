"""Patch and split columns of benchmarks/memory.py (which prints them after its planner
table; this file also runs alone): activation arenas of patch-based and tensor-splitting
plans per shared model, under both input accountings, next to the published TinyEngine
(MCUNetV2) and TinyTS figures.

For each model and accounting (input image inside / outside the arena): the best split
plan (depth-first and breadth-first, tile heights 1-8 rows), the best patch plan (grids
2x2-4x4 at the search's split points) with its extra MACs of halo recomputation, and what
``tinysim plan --search`` chooses. Every plan shown is run in the arena with the shadow
memory, checked statically, and compared with the layer-wise reference (``ok``).

    python benchmarks/memory_tiled.py [--json out.json] [models...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinysim.arena import ArenaExecutor, compare_with_reference  # noqa: E402
from tinysim.checker import check_plan  # noqa: E402
from tinysim.executor import Executor  # noqa: E402
from tinysim.loader import load_model  # noqa: E402
from tinysim.planners.search import search  # noqa: E402
from tinysim.verify import make_inputs  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
# published activation arenas, bytes: (input inside, input outside); None: not published
TINYENGINE_PATCH = {"mcunet_vww1": (59568, None)}             # 2x2 patches, split after op 5
TINYTS = {"mcunet_vww1": (36960, 34448), "mlperf_vww": (29568, 13824),
          "mlperf_ic": (14272, 13568), "mlperf_kws": (9920, 9920)}   # depth-first 1-row tiles


def _pick(result, kind):
    ofs = [c for c in result.candidates if c.kind == kind]
    return min(ofs, key=lambda c: (c.peak, c.extra_macs)) if ofs else None


def measure_tiled(name: str) -> dict:
    graph = load_model(SHARED / f"{name}.tflite")
    inputs = make_inputs(graph, 1, 0)[0]
    reference = Executor(graph).run(inputs)
    row: dict = {"model": name}
    for outside in (False, True):
        result = search(graph, None, outside)
        side = {}
        for key, cand in (("split", _pick(result, "split")), ("patch", _pick(result, "patch")),
                          ("search", result.best)):
            if cand is None:
                side[key] = None
                continue
            run = ArenaExecutor(graph, cand.plan).run(inputs)
            ok = check_plan(graph, cand.plan).ok and \
                not compare_with_reference(graph, run, reference)
            base = cand.macs - cand.extra_macs
            side[key] = {"arena": cand.peak, "config": f"{cand.kind} {cand.config}",
                         "extra_macs": cand.extra_macs,
                         "extra_pct": 100.0 * cand.extra_macs / base if base else 0.0,
                         "ok": ok}
        row["outside" if outside else "inside"] = side
    row["tinyengine_patch"] = TINYENGINE_PATCH.get(name, (None, None))
    row["tinyts"] = TINYTS.get(name, (None, None))
    return row


def _cell(v: dict | None, macs: bool = False) -> str:
    if v is None:
        return "-"
    text = f"{v['arena']:,}"
    if macs:
        text += f" (+{v['extra_pct']:.1f}% MACs)"
    return text


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def table_tiled(rows: list[dict]) -> str:
    head = ["model", "split (in)", "split (out)", "patch (in)", "patch (out)",
            "search (in)", "search (out)", "chosen (out)", "TinyEngine patch (in)",
            "TinyTS (in / out)", "all ok"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        i, o = r["inside"], r["outside"]
        s = o["search"]
        ok = tiled_ok(r)
        cells = [r["model"], _cell(i["split"]), _cell(o["split"]), _cell(i["patch"], True),
                 _cell(o["patch"], True), _cell(i["search"]), _cell(o["search"]),
                 f"{s['config']}" + (f" (+{s['extra_pct']:.1f}% MACs)" if s["extra_macs"]
                                     else ""),
                 _n(r["tinyengine_patch"][0]),
                 f"{_n(r['tinyts'][0])} / {_n(r['tinyts'][1])}", "yes" if ok else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = ("Patch and split plans, bytes of activation arena (16-byte alignment); (in) = input "
        "image inside the arena, (out) = kept outside, as MCUNetV2's and TinyTS's figures do. "
        "mcunet_vww1's file takes a float32 image (76,800 B) and QUANTIZEs it, the published "
        "figures are for its int8 graph: compare its (out) column. MACs: extra over the "
        "layer-wise model (halo recomputation; split plans recompute nothing).")


def tiled_ok(row: dict) -> bool:
    return all(v["ok"] for side in ("inside", "outside") for v in row[side].values()
               if v is not None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    names = args.models or sorted(p.stem for p in SHARED.glob("*.tflite"))
    rows = [measure_tiled(n) for n in names]
    print(NOTE + "\n")
    print(table_tiled(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    bad = [r["model"] for r in rows if not tiled_ok(r)]
    if bad:
        print(f"\nFAILED: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
