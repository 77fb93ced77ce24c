"""``tinysim kernels bench`` and ``tinysim kernels check``: the C kernels on emulated Cortex-M.

bench: every registered case (arm_emu/bench.py: the reference shapes and layers of the
shared models) on one CPU model: MACs, executed instructions (exact, block counting),
instructions per MAC, the Cortex-M4 cycle ESTIMATE, the emulator's throughput and whether
the output equals kernels_ref. ``--json`` prints the same as a list of records.

check: the bit-exactness suite: every registered case plus a seeded sweep of small random
layers per kernel, on the Cortex-M7 and M4 models, against kernels_ref; exit status 1 on
any mismatch or fault.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

CPUS = ("cortex-m7", "cortex-m4")


def add_subparsers(subparsers) -> None:
    """Register ``kernels`` (with ``bench`` and ``check``) on the main parser's subparsers."""
    k = subparsers.add_parser("kernels", help="C int8 kernels on emulated Cortex-M: bench, check")
    ksub = k.add_subparsers(dest="kernels_command", required=True)

    b = ksub.add_parser("bench", help="instructions per MAC on reference and model layer shapes")
    b.add_argument("--cpu", choices=CPUS, default="cortex-m7")
    b.add_argument("--kernel", default="", help="only kernels whose name contains this")
    b.add_argument("--json", action="store_true", help="print a JSON list of records")
    b.set_defaults(func=_cmd_bench)

    c = ksub.add_parser("check", help="bit-exactness of every kernel against kernels_ref")
    c.add_argument("--cpu", choices=CPUS, action="append",
                   help="CPU model (repeatable; default: both)")
    c.add_argument("--kernel", default="", help="only kernels whose name contains this")
    c.add_argument("--seed", type=int, default=0, help="seed of the random sweep")
    c.add_argument("--count", type=int, default=10,
                   help="random sweep cases per kernel (0: registered cases only)")
    c.set_defaults(func=_cmd_check)


def _matching(cases, kernel: str) -> list:
    from tinysim.errors import TinysimError
    chosen = [c for c in cases if kernel in c.kernel]
    if not chosen:
        raise TinysimError(f"no kernel name contains --kernel '{kernel}'; the kernels are "
                           f"{', '.join(sorted({c.kernel for c in cases}))}")
    return chosen


def _cmd_bench(args: argparse.Namespace) -> int:
    from arm_emu import bench
    records = [bench.run_case(case, args.cpu) for case in _matching(bench.cases(), args.kernel)]
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=1))
    else:
        print(format_bench(records))
    return 0 if all(r.bit_exact for r in records) else 1


def format_bench(records) -> str:
    # the name columns as wide as their longest entry, so the numbers stay aligned
    kw = max([len("kernel")] + [len(r.kernel) for r in records])
    sw = max([len("shape")] + [len(r.shape) for r in records])
    head = (f"{'kernel':{kw}} {'shape':{sw}} {'MACs':>10} {'instructions':>13} "
            f"{'instr/MAC':>9} {'M4 cycles (est.)':>17} {'cyc/MAC':>7} {'emulator':>11}  exact")
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(
            f"{r.kernel:{kw}} {r.shape:{sw}} {r.macs:>10,} {r.instructions:>13,} "
            f"{r.instructions_per_mac:>9.3f} {r.m4_cycles_estimate:>17,} "
            f"{r.m4_cycles_per_mac_estimate:>7.2f} "
            f"{r.emulator_instructions_per_second / 1e6:>7.0f} M/s  "
            f"{'yes' if r.bit_exact else 'NO'}")
    cpu = records[0].cpu if records else "-"
    lines.append(f"{len(records)} cases on {cpu}; instructions are exact (block counting), "
                 "M4 cycles an estimate from the Cortex-M4 cost table")
    return "\n".join(lines)


def _cmd_check(args: argparse.Namespace) -> int:
    from arm_emu import bench
    from tinysim.errors import TinysimError
    cpus = args.cpu or list(CPUS)
    cases = _matching(bench.cases() + (bench.sweep(args.seed, args.count) if args.count
                                       else []), args.kernel)
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    failures = []
    for case in cases:
        for cpu in cpus:
            try:
                exact = bench.run_case(case, cpu).bit_exact
                problem = "" if exact else "output differs from kernels_ref"
            except TinysimError as exc:
                exact, problem = False, f"{type(exc).__name__}: {exc}"
            tally[(case.kernel, cpu)][0 if exact else 1] += 1
            if not exact:
                failures.append(f"FAIL {case.kernel} on {cpu}, {case.shape}: {problem}")
    for line in failures:
        print(line)
    kw = max((len(kernel) for kernel, _ in tally), default=0)
    for (kernel, cpu), (ok, bad) in sorted(tally.items()):
        print(f"{kernel:{kw}} {cpu:10} {ok:4d} bit-exact {bad:4d} failed")
    total_bad = sum(bad for _, bad in tally.values())
    total = sum(ok + bad for ok, bad in tally.values())
    print(f"{total - total_bad}/{total} kernel runs bit-exact with kernels_ref "
          f"({len(cases)} cases x {len(cpus)} CPU model(s), sweep seed {args.seed})")
    return 1 if total_bad or not total else 0
