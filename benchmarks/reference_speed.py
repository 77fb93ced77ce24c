"""Time per inference: tinysim's Numba reference vs TFLM's Python interpreter vs LiteRT.

All engines run side by side in one process on the same inputs; each figure is the median
of several runs after one warm-up. Numba's compile (or cache load) time is the first
tinysim run minus its steady state, reported apart.

    python benchmarks/reference_speed.py [--repeat 15] [models...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinysim.executor import Executor  # noqa: E402
from tinysim.loader import load_model  # noqa: E402
from tinysim.verify import make_inputs  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _tflm(buf: bytes, inputs):
    from tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(buf)

    def run():
        for k, x in enumerate(inputs):
            it.set_input(x, k)
        it.invoke()
    return run


def _litert(buf: bytes, inputs, resolver: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    kind = getattr(OpResolverType, resolver)
    it = Interpreter(model_content=buf, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    details = it.get_input_details()

    def run():
        for d, x in zip(details, inputs):
            it.set_tensor(d["index"], x)
        it.invoke()
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    paths = [Path(m) for m in args.models] or sorted(SHARED.glob("*.tflite"))
    print(f"{'model':<22} {'compile s':>9} {'tinysim':>9} {'TFLM':>9} {'LiteRT ref':>10} "
          f"{'LiteRT opt':>10} {'TFLM/tinysim':>12} {'ref/tinysim':>11} {'opt/tinysim':>11}"
          "   (ms per inference, median)")
    ratios = []
    for path in paths:
        buf = path.read_bytes()
        graph = load_model(path)
        inputs = make_inputs(graph, 1, 0)[0]
        t0 = time.perf_counter()
        ex = Executor(graph)
        ex.run(inputs)
        first = time.perf_counter() - t0
        ours = _median_ms(lambda: ex.run(inputs), args.repeat)
        tflm = _median_ms(_tflm(buf, inputs), args.repeat)
        ref = _median_ms(_litert(buf, inputs, "BUILTIN_REF"), args.repeat)
        opt = _median_ms(_litert(buf, inputs, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"), args.repeat)
        compile_s = max(first - ours / 1e3, 0.0)
        ratios.append(tflm / ours)
        print(f"{path.stem:<22} {compile_s:>9.2f} {ours:>9.3f} {tflm:>9.3f} {ref:>10.3f} "
              f"{opt:>10.3f} {tflm / ours:>11.2f}x {ref / ours:>10.2f}x {opt / ours:>10.2f}x")
    print(f"geometric mean TFLM/tinysim: {float(np.exp(np.mean(np.log(ratios)))):.2f}x; "
          f"slowest model ratio {min(ratios):.2f}x (above 1 = tinysim faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
