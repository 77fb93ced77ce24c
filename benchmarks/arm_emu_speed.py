"""Emulation speed of the Cortex-M harness: raw Unicorn vs exact counting vs exact bounds.

Two test-fixture kernels, about 50 M instructions each, on the same inputs:
  fx_conv1x1  a CMSIS-NN-style int8 1x1 convolution (blocks of ~30 instructions)
  fx_mac      a bare 4-byte dot-product loop (12-instruction blocks: the worst case for
              a per-block hook)
Modes: raw (no hooks: Machine(instrument=False)), counted (the default: block counting,
alignment checks, guard pages), exact (counted + exact_bounds=True). Each figure is the
best of --repeat runs of this thread's CPU time (time.thread_time, so other processes on
a busy machine count less than in wall time), modes interleaved.

    python benchmarks/arm_emu_speed.py [--cpu cortex-m7] [--repeat 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arm_emu import Machine, Out  # noqa: E402
from kernels_ref.quantization import quantize_multiplier_array  # noqa: E402

FIXTURES = ROOT / "tests" / "arm_fixtures"
SOURCES = [FIXTURES / "fx_harness.c", FIXTURES / "fx_dsp.c", FIXTURES / "fx_asm.S"]
MODES = {"raw": {"instrument": False}, "counted": {}, "exact": {"exact_bounds": True}}


def workloads(rng: np.random.Generator):
    pixels, cin, cout = 1600, 96, 96
    x = rng.integers(-128, 128, (pixels, cin)).astype(np.int8)
    w = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    bias = rng.integers(-5000, 5000, cout).astype(np.int32)
    mult, shift = quantize_multiplier_array(rng.uniform(2e-4, 4e-3, cout))
    out = np.zeros((pixels, cout), np.int8)
    a = rng.integers(-128, 128, 1024).astype(np.int8)
    return {
        "fx_conv1x1": (x, w, bias, mult, shift, Out(out), pixels, cin, cout, 5, -3),
        "fx_mac": (a, a, 1024, 16_000),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", default="cortex-m7", choices=("cortex-m4", "cortex-m7"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    machines = {mode: Machine.from_sources(SOURCES, args.cpu, **kw) for mode, kw in MODES.items()}
    results = {}
    for kernel, call_args in workloads(np.random.default_rng(0)).items():
        counted = machines["counted"].call(kernel, *call_args, budget=10**9)
        n = counted.stats.instructions
        best = {mode: float("inf") for mode in MODES}
        for _ in range(args.repeat):
            for mode, m in machines.items():
                start = time.thread_time()
                m.call(kernel, *call_args, budget=10**9)
                best[mode] = min(best[mode], time.thread_time() - start)
        speed = {mode: n / best[mode] / 1e6 for mode in MODES}
        results[kernel] = {
            "instructions": n,
            "m_instr_per_s": {k: round(v, 1) for k, v in speed.items()},
            "counting_overhead": round(1 - speed["counted"] / speed["raw"], 4),
            "m4_cycles_estimate": counted.stats.m4_cycles_estimate,
        }
    if args.json:
        print(json.dumps({"cpu": args.cpu, "results": results}, indent=2))
        return 0
    print(f"{args.cpu}: best of {args.repeat}, million instructions per second")
    for kernel, r in results.items():
        s = r["m_instr_per_s"]
        print(f"  {kernel:11s} {r['instructions']:>12,} instr   raw {s['raw']:6.0f}   "
              f"counted {s['counted']:6.0f} ({r['counting_overhead']:.1%} overhead)   "
              f"exact bounds {s['exact']:5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
