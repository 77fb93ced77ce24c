"""Draw a plan's arena: time (step) across, addresses up, one rectangle per buffer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .ir import Graph
from .liveness import occupancy
from .plan import Plan

_SCHEME_COLOURS = {"depthwise_channel": "#d62728", "rows": "#9467bd",
                   "rows_reverse": "#17becf", "elementwise": "#ff7f0e", "view": "#8c564b"}


def _label(graph: Graph, plan: Plan, name: str) -> str:
    b = plan.buffer(name)
    if b.kind == "scratch":
        return "scratch"
    t = graph.tensor(b.tensor)
    return f"t{t.index} " + "x".join(str(d) for d in t.shape[1:] or t.shape)


def draw_arena(graph: Graph, plan: Plan, path: str | Path, tflm_arena: int | None = None) -> Path:
    """Write a PNG of the plan: each buffer a rectangle from its first to its last step
    and from its offset to its end; in-place outputs coloured by scheme; the peak step
    and the arena top marked; live bytes per step below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(plan.steps)
    occ = occupancy(plan)
    peak_step = int(np.argmax(occ)) if n else 0
    scheme_of = {st.writes[0].tensor: st.inplace.scheme for st in plan.steps
                 if st.inplace is not None and st.writes}
    kib = 1024.0
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(8.0, min(0.22 * n + 4, 24.0)), 8.5),
                                  gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    top = max(plan.arena_bytes, 1)
    pastel = plt.get_cmap("Pastel1")
    for i, b in enumerate(plan.buffers):
        if not b.in_arena or b.size == 0:
            continue
        scheme = scheme_of.get(b.tensor) if b.kind == "tensor" else None
        if b.kind == "scratch":
            colour = "#7f7f7f"
        else:
            colour = _SCHEME_COLOURS.get(scheme, pastel(i % 9))
        x0, width = b.first_step - 0.45, b.last_step - b.first_step + 0.9
        ax.add_patch(Rectangle((x0, b.offset / kib), width, b.size / kib, facecolor=colour,
                               edgecolor="black", linewidth=0.4, alpha=0.8,
                               hatch="///" if scheme else None))
        if b.size >= 0.04 * top and width >= 0.9:
            ax.text(x0 + width / 2, (b.offset + b.size / 2) / kib, _label(graph, plan, b.name),
                    ha="center", va="center", fontsize=6.5, clip_on=True,
                    rotation=90 if width < 2.5 else 0)
    ax.axhline(plan.arena_bytes / kib, color="red", linestyle="--", linewidth=1.2)
    ax.text(n - 0.5, plan.arena_bytes / kib, f" arena {plan.arena_bytes:,} B", color="red",
            va="bottom", ha="right", fontsize=8)
    if tflm_arena is not None:
        ax.axhline(tflm_arena / kib, color="grey", linestyle=":", linewidth=1.0)
        ax.text(-0.5, tflm_arena / kib, f" TFLM {tflm_arena:,} B", color="grey", va="bottom",
                fontsize=8)
    ax.axvline(peak_step, color="red", linewidth=0.8, alpha=0.5)
    ax.text(peak_step, 0, f"peak step {peak_step}", color="red", rotation=90, va="bottom",
            ha="right", fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, max(top, tflm_arena or 0) * 1.06 / kib)
    ax.set_ylabel("arena address (KiB)")
    opts = f" + {', '.join(plan.options)}" if plan.options else ""
    ax.set_title(f"{plan.model}: {plan.planner}{opts}\narena {plan.arena_bytes:,} B, liveness "
                 f"lower bound {int(occ.max()) if n else 0:,} B", fontsize=10)
    used = [s for s in _SCHEME_COLOURS if s in scheme_of.values()]
    handles = [Rectangle((0, 0), 1, 1, facecolor=_SCHEME_COLOURS[s], hatch="///", alpha=0.8)
               for s in used]
    labels = [f"written in place ({s})" for s in used]
    if any(b.kind == "scratch" for b in plan.buffers):
        handles.append(Rectangle((0, 0), 1, 1, color="#7f7f7f"))
        labels.append("kernel scratch")
    if handles:
        ax.legend(handles, labels, loc="upper right", bbox_to_anchor=(1.0, 0.92), fontsize=7,
                  framealpha=0.8)
    ax2.bar(range(n), occ / kib, color="#1f77b4", width=0.8)
    ax2.bar([peak_step], [occ[peak_step] / kib], color="red", width=0.8)
    ax2.set_ylabel("live KiB")
    ax2.set_xlabel("step (op order)")
    labels = [f"{k}:{graph.operators[st.op].opcode[:4]}" for k, st in enumerate(plan.steps)]
    stride = max(1, n // 40)
    ax2.set_xticks(range(0, n, stride))
    ax2.set_xticklabels(labels[::stride], rotation=90, fontsize=6)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
