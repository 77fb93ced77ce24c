"""The ``tinysim`` command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ShapeError, TinysimError


def _load_input(path: str) -> np.ndarray:
    try:
        return np.load(path)
    except ValueError as exc:
        raise ShapeError(f"--input {path} is not a .npy array ({exc}); save each input with "
                         "numpy.save") from exc


def count(text: str) -> int:
    """An argparse type for counts that must be at least 1 (inputs to run, lines to show)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a count >= 1")
    return n


def _cmd_info(args) -> int:
    from .loader import load_model
    from .report import format_info
    print(format_info(load_model(args.model)))
    return 0


def _cmd_run(args) -> int:
    from .executor import Executor
    from .loader import load_model
    from .verify import make_inputs
    graph = load_model(args.model)
    if args.input:
        inputs = [_load_input(p) for p in args.input]
    else:
        inputs = make_inputs(graph, 1, args.seed)[0]
    executor = Executor(graph)
    values = executor.run(inputs)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    for k, ti in enumerate(graph.outputs):
        arr = values[ti]
        t = graph.tensor(ti)
        shown = np.array2string(arr.ravel()[:16], separator=" ")
        print(f"output {k} (tensor {ti} {t.name}) {arr.shape} {arr.dtype}: {shown}"
              f"{' ...' if arr.size > 16 else ''}")
        if out_dir:
            np.save(out_dir / f"output{k}_t{ti}.npy", arr)
    if out_dir:
        print(f"saved {len(graph.outputs)} output(s) to {out_dir}")
    return 0


def _cmd_verify(args) -> int:
    from .verify import verify_model
    failed = 0
    for model in args.model:
        report = verify_model(model, args.inputs, args.seed)
        print(report.summary_line())
        for m in report.mismatches[: args.show]:
            print("  MISMATCH " + m.describe())
        failed += not report.ok
    return 1 if failed else 0


def _cmd_golden(args) -> int:
    from .golden import write_golden
    from .loader import load_model
    manifest = write_golden(load_model(args.model), args.out, args.seed)
    print(f"golden vectors for {len(manifest.ops)} ops of {manifest.model} written to {args.out} "
          f"(sha256 {manifest.model_sha256[:16]}..., tinysim {manifest.tinysim_version})")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinysim", description=__doc__)
    p.add_argument("--version", action="version", version=f"tinysim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="ops, shapes, quantization, MACs, params, activation sizes")
    s.add_argument("model")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("run", help="execute with the int8 reference and save outputs")
    s.add_argument("model")
    s.add_argument("--input", action="append", help=".npy file per model input (repeat)")
    s.add_argument("--out", help="directory for output .npy files")
    s.add_argument("--seed", type=int, default=0, help="seed of the random input if none given")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("verify", help="compare every tensor with TFLite Micro, byte for byte")
    s.add_argument("model", nargs="+")
    s.add_argument("--inputs", type=count, default=3,
                   help="number of inputs: random, all-min, all-max, then more random")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--show", type=int, default=5, help="mismatches to print per model")
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("golden", help="golden vectors (.npy and C headers) for every op")
    s.add_argument("model")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_golden)

    s = sub.add_parser("demo", help="build tinysim's own MCUNet-like model and show the pipeline")
    s.add_argument("--out", default="demo_out", help="directory for the demo's files")
    s.set_defaults(func=_cmd_demo)

    for ext in _extensions():
        ext.add_subparsers(sub)
    return p


def _extensions():
    """Subcommand groups that live beside their subsystem (plans, ARM kernels)."""
    from . import cli_kernels, cli_plan  # noqa: PLC0415 - keep `tinysim info` import-light
    return [cli_plan, cli_kernels]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TinysimError as exc:
        print(f"tinysim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave cannot be read or written
        print(f"tinysim {args.command}: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
