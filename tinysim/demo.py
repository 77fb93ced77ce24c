"""``tinysim demo``: the whole pipeline on tinysim's own MCUNet-like model.

Build the model, show it, verify it against TFLM, write golden vectors, plan its memory
and prove the plans in the simulated arena (mutants included), search patch and split
plans under a small SRAM budget, and run its layers on the C kernels under an emulated
Cortex-M7.
"""
from __future__ import annotations

from pathlib import Path

from .arena import ArenaExecutor, compare_with_reference
from .checker import check_plan, mutation_test
from .errors import TinysimError
from .executor import Executor
from .golden import write_golden
from .loader import load_model_bytes
from .modelgen import mcunet_like_model
from .picture import draw_arena
from .planners import make_plan
from .planners.search import search
from .report import format_info
from .stats import op_macs
from .verify import make_inputs, verify_bytes
from .writer import write_model

SEARCH_SRAM = 16 * 1024


def _banner(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def _prove(graph, plan, inputs, reference) -> bool:
    """Static checks, then the plan run in the arena with shadow memory, bit for bit."""
    report = check_plan(graph, plan)
    if not report.ok:
        print(f"  {plan.label}: static check FAILED: {report.problems[0].message}")
        return False
    runner = ArenaExecutor(graph, plan)
    for x, ref in zip(inputs, reference):
        mismatches = compare_with_reference(graph, runner.run(x), ref)
        if mismatches:
            print(f"  {plan.label}: MISMATCH {mismatches[0].describe()}")
            return False
    print(f"  {plan.label}: {plan.arena_bytes:,} B arena, checker clean, every tensor "
          f"bit-exact with the layer-wise reference over {len(inputs)} inputs")
    return True


def _memory(graph, out_dir: Path) -> bool:
    _banner("5. tinysim plan + check: memory plans proven in the simulated SRAM arena")
    inputs = make_inputs(graph, 3, 1)
    ref_exec = Executor(graph)
    reference = [ref_exec.run(x) for x in inputs]
    tflm = make_plan(graph, "tflm")
    best = make_plan(graph, "best", ["inplace"])
    ok = _prove(graph, tflm, inputs, reference) and _prove(graph, best, inputs, reference)
    print(f"  best+in-place saves {tflm.arena_bytes - best.arena_bytes:,} B "
          f"({100 * (1 - best.arena_bytes / tflm.arena_bytes):.0f}%) over TFLM's planner")
    picture = out_dir / "arena.png"
    draw_arena(graph, best, picture, tflm.arena_bytes)
    print(f"  arena picture: {picture}")
    mr = mutation_test(graph, best, inputs[0], dynamic=True)
    print(f"  mutation testing: {len(mr.results)} faulty plans derived, kill rate "
          f"{100 * mr.kill_rate:.0f}%")
    ok = ok and not mr.survivors

    _banner(f"6. tinysim plan --search --sram {SEARCH_SRAM // 1024}KiB: patches and row tiles")
    result = search(graph, sram=SEARCH_SRAM)
    print(f"  {'kind':<11} {'configuration':<34} {'arena B':>9} {'extra MACs':>11}")
    for c in result.kept:
        mark = " <- chosen" if c is result.best else ""
        print(f"  {c.kind:<11} {c.config:<34.34} {c.peak:>9,} {c.extra_macs:>11,}{mark}")
    return _prove(graph, result.best.plan, inputs, reference) and ok


def _arm_kernels(graph) -> bool:
    _banner("7. C kernels on an emulated Cortex-M7: bit-exact, instructions counted")
    from arm_emu import kernels_conv, kernels_dw  # noqa: PLC0415 - needs the ARM toolchain
    from kernels_ref import conv_2d, depthwise_conv_2d  # noqa: PLC0415
    values = Executor(graph).run(make_inputs(graph, 1, 2)[0])
    conv_m, dw_m = kernels_conv.machine("cortex-m7"), kernels_dw.machine("cortex-m7")
    total_instr = total_macs = 0
    ok = True
    print(f"  {'op':>3} {'type':<18} {'kernel':<26} {'MACs':>9} {'instructions':>12} "
          f"{'instr/MAC':>9}  exact")
    for op in graph.operators:
        x = values[op.inputs[0]]
        if op.opcode in ("CONV_2D", "FULLY_CONNECTED"):
            run = kernels_conv.run_graph_op(conv_m, graph, op, x)
            kernel = "ts_fully_connected_s8"
            if op.opcode == "CONV_2D":
                p = conv_2d.prepare(graph, op)
                kernel = kernels_conv.conv_kernel_for(
                    graph.tensor(op.inputs[1]).shape, (p.stride_h, p.stride_w),
                    (p.dilation_h, p.dilation_w), (p.pad_h, p.pad_w))
        elif op.opcode == "DEPTHWISE_CONV_2D":
            p = depthwise_conv_2d.prepare(graph, op)
            f = graph.tensor(op.inputs[1]).data
            b = graph.tensor(op.inputs[2]).data
            kernel = ("ts_depthwise_conv_3x3_s8" if f.shape[1:3] == (3, 3)
                      else "ts_depthwise_conv_s8")
            run = kernels_dw.run_depthwise_conv(
                dw_m, x, f, b, p.output_multiplier, p.output_shift,
                output_size=graph.tensor(op.outputs[0]).shape[1:3],
                stride=(p.stride_h, p.stride_w), padding=(p.pad_h, p.pad_w),
                input_offset=p.input_offset, output_offset=p.output_offset,
                act_min=p.act_min, act_max=p.act_max, kernel=kernel)
        else:
            continue
        macs = op_macs(graph, op)
        exact = run.output.tobytes() == values[op.outputs[0]].tobytes()
        ok &= exact
        total_instr += run.stats.instructions
        total_macs += macs
        print(f"  {op.index:>3} {op.opcode:<18} {kernel:<26} {macs:>9,} "
              f"{run.stats.instructions:>12,} {run.stats.instructions / macs:>9.2f}  "
              f"{'yes' if exact else 'NO'}")
    print(f"  conv + depthwise + FC layers: {total_instr:,} instructions for {total_macs:,} "
          f"MACs ({total_instr / total_macs:.2f} per MAC), exact block counting")
    return ok


def run_demo(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    _banner("1. build tinysim's own MCUNet-like int8 model")
    model_path = out_dir / "mcunet_like.tflite"
    model_bytes = write_model(mcunet_like_model(seed=0))
    model_path.write_bytes(model_bytes)
    graph = load_model_bytes(model_bytes, model_path.name)
    print(f"wrote {model_path} ({len(model_bytes):,} bytes)")

    _banner("2. tinysim info")
    print(format_info(graph))

    _banner("3. tinysim verify: every tensor against TFLite Micro")
    report = verify_bytes(model_bytes, model_path.name, count=5, seed=0)
    print(report.summary_line())
    for m in report.mismatches[:5]:
        print("  MISMATCH " + m.describe())

    _banner("4. tinysim golden: per-op vectors as .npy and C headers")
    golden_dir = out_dir / "golden"
    manifest = write_golden(graph, golden_dir)
    print(f"{len(manifest.ops)} ops written to {golden_dir} (headers op000_*.h ..., manifest.json)")

    try:
        memory_ok = _memory(graph, out_dir)
        kernels_ok = _arm_kernels(graph)
    except TinysimError as exc:
        print(f"\ndemo failed: {exc}")
        return 1
    ok = report.ok and memory_ok and kernels_ok
    print(f"\ndemo {'passed' if ok else 'FAILED'}: files in {out_dir}")
    return 0 if ok else 1
