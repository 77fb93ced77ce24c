"""``tinysim plan`` options for patch-based, tensor-splitting and searched plans.

``add_arguments`` registers the options on the ``plan`` subcommand's parser;
``tiled_plan`` makes the plan they ask for (None when none was given) and the lines to
print: every figure says its accounting (activations only, input image inside or outside
the arena, alignment) and the extra MACs the plan computes over the layer-wise model.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from .errors import PlanError
from .ir import Graph
from .plan import Plan
from .planners import patch, split
from .planners.search import OBJECTIVES, SearchResult, patch_splits, search
from .tiling import plan_macs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("patch-based inference and tensor splitting")
    g.add_argument("--search", action="store_true",
                   help="try layer-wise, in-place, patch and split plans and keep the best "
                        "(lowest arena under --sram; see --objective)")
    g.add_argument("--objective", choices=OBJECTIVES, default="memory",
                   help="search: 'memory' = smallest arena, then fewest extra MACs; "
                        "'compute' = fewest extra MACs among plans that fit, then smallest")
    g.add_argument("--patch", metavar="NxM[@OP]",
                   help="patch-based plan: the spatial stage up to op OP runs on an NxM grid "
                        "of patches (halo recomputed), the rest layer-wise; without @OP the "
                        "downsampling op giving the smallest arena")
    g.add_argument("--stage2", choices=patch.STAGE2, default="inplace",
                   help="how --patch runs the ops after the split: planned by 'best' with "
                        "every in-place option (default, as TinyEngine) or layer by layer")
    g.add_argument("--split", metavar="H", type=int,
                   help="tensor-splitting plan: row tiles of H rows, no recomputation")
    g.add_argument("--order", choices=split.ORDERS, default="depth",
                   help="tile order for --split (default: depth-first)")
    g.add_argument("--input-outside", action="store_true",
                   help="keep the input image outside the arena (the application's memory); "
                        "steps read their windows straight from it")


def wants_tiled(args: argparse.Namespace) -> bool:
    return bool(args.search or args.patch or args.split is not None)


@dataclass(frozen=True)
class TiledResult:
    plan: Plan
    lines: tuple[str, ...]


def accounting(plan: Plan, input_outside: bool) -> str:
    return (f"activations only, input image {'outside' if input_outside else 'inside'} the "
            f"arena, {plan.alignment}-byte alignment")


def _macs_line(graph: Graph, plan: Plan) -> str:
    done, base = plan_macs(graph, plan)
    pct = 100.0 * (done - base) / base if base else 0.0
    return f"MACs: {done:,} ({done - base:+,} = {pct:+.1f}% halo recomputation)"


def parse_patch(graph: Graph, text: str) -> tuple[tuple[int, int], int | None]:
    m = re.fullmatch(r"(\d+)x(\d+)(?:@(\d+))?", text.strip())
    if not m:
        raise PlanError(f"{graph.name}: --patch '{text}' is not NxM or NxM@OP (e.g. 2x2@7)")
    return (int(m[1]), int(m[2])), (int(m[3]) if m[3] else None)


def _patch_plan(graph: Graph, text: str, outside: bool, alignment: int, stage2: str) -> Plan:
    grid, op = parse_patch(graph, text)
    if op is not None:
        return patch.plan(graph, grid, op, outside, alignment, stage2)
    splits = patch_splits(graph)
    if not splits:
        raise PlanError(f"{graph.name}: no downsampling op can end a patch stage; give the "
                        "split op explicitly (--patch NxM@OP)")
    plans, problems = [], []
    for s in splits:
        try:
            plans.append(patch.plan(graph, grid, s, outside, alignment, stage2))
        except PlanError as exc:
            problems.append(str(exc))
    if not plans:
        raise PlanError(f"{graph.name}: no split op works with a {grid[0]}x{grid[1]} grid: "
                        f"{problems[0]}")
    return min(plans, key=lambda p: p.arena_bytes)


def table(result: SearchResult) -> list[str]:
    rows = [("kind", "configuration", "arena B", "extra MACs", "extra %", "fits")]
    for c in result.kept:
        base = c.macs - c.extra_macs
        rows.append((c.kind, c.config + (" *" if c is result.best else ""), f"{c.peak:,}",
                     f"{c.extra_macs:,}", f"{100.0 * c.extra_macs / base:.1f}" if base else "0",
                     "-" if result.sram is None else ("yes" if c.fits(result.sram) else "no")))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return ["  ".join(v.rjust(w) if k >= 2 else v.ljust(w)
                      for k, (v, w) in enumerate(zip(r, widths))) for r in rows]


def tiled_plan(graph: Graph, args: argparse.Namespace, sram: int | None,
               alignment: int) -> TiledResult:
    outside = bool(args.input_outside)
    chosen = [n for n, v in (("--search", args.search), ("--patch", args.patch),
                             ("--split", args.split is not None)) if v]
    if len(chosen) != 1:
        raise PlanError(f"{graph.name}: give one of --search, --patch, --split (got "
                        f"{', '.join(chosen) or 'none'})")
    if args.search:
        result = search(graph, sram, outside, args.objective, alignment)
        other = search(graph, sram, not outside, args.objective, alignment)
        best = result.best
        lines = [f"search ({args.objective}) over {len(result.candidates)} candidates "
                 f"[{accounting(best.plan, outside)}]; * = chosen:", *table(result),
                 f"chosen: {best.kind} {best.config}: arena {best.peak:,} B, "
                 f"{_macs_line(graph, best.plan)}",
                 f"with the input image {'inside' if outside else 'outside'} the arena the "
                 f"search would choose {other.best.kind} {other.best.config}: "
                 f"{other.best.peak:,} B"]
        lines += [f"not a candidate (could not be planned): {why}" for why in result.skipped]
        if not result.fits:
            lines.append(f"no candidate fits {sram:,} B; the smallest needs {best.peak:,} B")
            if not outside and other.fits:
                lines.append("with --input-outside (the application keeps the image) "
                             f"{other.best.peak:,} B fits")
        return TiledResult(best.plan, tuple(lines))
    def make(input_outside: bool) -> Plan:
        if args.patch:
            return _patch_plan(graph, args.patch, input_outside, alignment, args.stage2)
        return split.plan(graph, args.split, args.order, None, input_outside, alignment)

    p, other = make(outside), make(not outside)
    lines = (f"{p.label}: arena {p.arena_bytes:,} B [{accounting(p, outside)}]",
             _macs_line(graph, p),
             f"with the input image {'inside' if outside else 'outside'} the arena: "
             f"{other.arena_bytes:,} B")
    return TiledResult(p, lines)

