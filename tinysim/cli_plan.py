"""``tinysim plan`` and ``tinysim check``: memory plans from the command line.

tinysim.cli registers these with ``add_subparsers(subparsers)``. The patch-based,
tensor-splitting and search options of ``plan`` come from tinysim.cli_tiled.
"""
from __future__ import annotations

import re

from .errors import ArenaViolation, PlanError

_UNITS = {"": 1, "B": 1, "K": 1024, "KIB": 1024, "KB": 1000, "M": 1024 ** 2, "MIB": 1024 ** 2,
          "MB": 1000 ** 2}


def parse_size(text: str) -> int:
    """'256KiB' -> 262144; K, KiB = 1024 B; KB = 1000 B; M, MiB, MB likewise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise PlanError(f"cannot read the size '{text}'; write e.g. 262144, 256KiB, 320KB, 1MiB")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def _options(args) -> list[str]:
    return (["inplace"] if args.inplace else []) + list(args.option or []) + \
        (["input_outside"] if getattr(args, "input_outside", False) else [])


def cmd_plan(args) -> int:
    from . import cli_tiled
    from .liveness import occupancy
    from .loader import load_model
    from .planners import make_plan

    graph = load_model(args.model)
    sram = parse_size(args.sram) if args.sram is not None else None
    if cli_tiled.wants_tiled(args):
        tiled = cli_tiled.tiled_plan(graph, args, sram, args.alignment)
        plan = tiled.plan
        for line in tiled.lines:
            print(line)
    else:
        plan = make_plan(graph, args.planner, _options(args), args.alignment)
    tflm = make_plan(graph, "tflm", (), args.alignment)
    live = occupancy(plan)
    bound = int(live.max()) if live.size else 0
    print(f"{graph.name}: planner {plan.label}, {len(plan.steps)} steps, "
          f"{len(plan.buffers)} buffers")
    print(f"  peak (arena)          {plan.arena_bytes:>10,} B")
    print(f"  liveness lower bound  {bound:>10,} B")
    print(f"  TFLM's arena          {tflm.arena_bytes:>10,} B  (GreedyMemoryPlanner, graph order)")
    if args.steps:
        print("  step  op  opcode                 live bytes   kernel / in place")
        width = 30
        for k, st in enumerate(plan.steps):
            op = graph.operators[st.op]
            bar = "#" * int(round(width * live[k] / max(bound, 1)))
            how = st.kernel if st.inplace is None else f"{st.kernel} ({st.inplace.scheme})"
            print(f"  {k:4d} {op.index:3d}  {op.opcode:<20s} {int(live[k]):>12,}   "
                  f"{bar:<{width}s} {how if how != 'op' else ''}".rstrip())
    if sram is not None:
        if plan.arena_bytes > sram:
            if cli_tiled.wants_tiled(args):
                hint = "" if args.search else "; try --search"
            else:
                hint = ("; try --search" if args.planner == "best" and args.inplace
                        else "; try --planner best --inplace")
            raise PlanError(f"{graph.name}: the {plan.label} plan needs {plan.arena_bytes:,} B "
                            f"of arena but the SRAM is {sram:,} B ({args.sram}){hint}")
        print(f"  fits {sram:,} B of SRAM ({sram - plan.arena_bytes:,} B to spare)")
    if args.out:
        plan.save(args.out)
        print(f"  plan written to {args.out}")
    if args.picture:
        from .picture import draw_arena
        draw_arena(graph, plan, args.picture, tflm.arena_bytes)
        print(f"  picture written to {args.picture}")
    return 0


def cmd_check(args) -> int:
    from .arena import ArenaExecutor, compare_with_reference
    from .checker import check_plan, mutation_test
    from .executor import Executor
    from .loader import load_model
    from .plan import load
    from .verify import make_inputs

    graph = load_model(args.model)
    plan = load(args.plan)
    report = check_plan(graph, plan)
    if not report.ok:
        print(f"{graph.name}: plan {args.plan} fails the static checks:")
        for p in report.problems[: args.show]:
            print(f"  [{p.kind}] {p.message}")
        if len(report.problems) > args.show:
            print(f"  ... and {len(report.problems) - args.show} more")
        return 1
    print(report.summary())
    executor = ArenaExecutor(graph, plan)
    reference = Executor(graph)
    failed = 0
    for k, inputs in enumerate(make_inputs(graph, args.inputs, args.seed)):
        try:
            run = executor.run(inputs)
        except ArenaViolation as exc:
            print(f"  input {k}: ARENA VIOLATION {exc}")
            return 1
        mismatches = compare_with_reference(graph, run, reference.run(inputs))
        if mismatches:
            failed += 1
            for m in mismatches[: args.show]:
                print(f"  input {k}: MISMATCH {m.describe()}")
        else:
            print(f"  input {k}: {len(run.values)} tensors bit-exact with the layer-wise "
                  f"reference; shadow memory checked {run.bytes_checked:,} bytes read")
    if args.mutants:
        inputs = make_inputs(graph, 1, args.seed)[0]
        mr = mutation_test(graph, plan, inputs, dynamic=True)
        kinds = ", ".join(f"{kind} {c}/{n}" for kind, (c, n) in mr.by_kind().items())
        shadow = sum(bool(r.dynamic) for r in mr.results)
        print(f"  mutation testing: {len(mr.results)} faulty plans, kill rate "
              f"{100 * mr.kill_rate:.0f}% ({kinds}); shadow memory alone caught {shadow}")
        for r in mr.survivors:
            print(f"  SURVIVED: {r.mutant.description}")
        failed += bool(mr.survivors)
    return 1 if failed else 0


def add_subparsers(subparsers) -> None:
    from . import cli_tiled
    from .cli import count
    from .planners import OPTION_NAMES, PLANNERS

    s = subparsers.add_parser("plan", help="plan activation memory in one arena")
    s.add_argument("model")
    s.add_argument("--planner", choices=sorted(PLANNERS), default="tflm")
    s.add_argument("--inplace", action="store_true",
                   help="in-place depthwise/elementwise/row-by-row conv, folded PADs, "
                        "RESHAPE views")
    s.add_argument("--option", action="append", choices=OPTION_NAMES,
                   help="one plan option (repeat); --inplace turns on all but input_outside")
    s.add_argument("--sram", help="fail unless the arena fits, e.g. 256KiB")
    s.add_argument("--alignment", type=int, default=16, help="buffer alignment in bytes")
    s.add_argument("--out", help="write the plan as JSON")
    s.add_argument("--picture", help="draw the arena to this PNG")
    s.add_argument("--no-steps", dest="steps", action="store_false",
                   help="do not print live bytes per step")
    cli_tiled.add_arguments(s)
    s.set_defaults(func=cmd_plan)

    s = subparsers.add_parser("check", help="run a plan in the arena with the checker and "
                                            "compare with the reference")
    s.add_argument("model")
    s.add_argument("plan")
    s.add_argument("--inputs", type=count, default=2, help="inputs to run (random, min, max...)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--mutants", action="store_true",
                   help="also derive faulty plans and report the checker's kill rate")
    s.add_argument("--show", type=int, default=5, help="problems/mismatches to print")
    s.set_defaults(func=cmd_check)

