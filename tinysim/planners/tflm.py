"""``tflm``: TFLM's GreedyMemoryPlanner on the graph's own op order.

Buffers (tensors in tensor-index order, then kernel scratch in request order) are sorted
by aligned size, largest first, with TFLM's stable bubble sort over a list it filled back
to front, so equal sizes go in reverse insertion order; each takes the lowest offset not
overlapping a time-overlapping buffer already placed.
"""
from __future__ import annotations

import sys

from ..ir import Graph
from ..plan import Plan
from .place import group_extent, place
from .schedule import PlanOptions, align_up, build_schedule

NAME = "tflm"


def plan(graph: Graph, options: PlanOptions = PlanOptions(), alignment: int = 16) -> Plan:
    schedule = build_schedule(graph, None, options, alignment=alignment)
    offsets = place(schedule, lambda pos, g: (-align_up(group_extent(g), alignment), -pos),
                    alignment)
    return schedule.to_plan(offsets, NAME, alignment)


def measured_arena(model_path: str) -> int:
    """TFLM's own activation arena for the model: the "head" that its
    ``print_allocations()`` reports after an invoke (planned activations + kernel scratch),
    read from the C-level stderr, which is redirected to a file around the call."""
    import os
    import re
    import tempfile

    import numpy as np

    from ..oracle import OracleUnavailable
    try:
        from tflite_micro import runtime  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise OracleUnavailable("measuring TFLM's arena needs the 'tflite-micro' package: "
                                "pip install tflite-micro") from exc
    with tempfile.TemporaryFile() as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            it = runtime.Interpreter.from_file(str(model_path))
            k = 0
            while True:
                try:
                    d = it.get_input_details(k)
                except (IndexError, RuntimeError, ValueError):
                    break
                it.set_input(np.zeros(d["shape"], d["dtype"]), k)
                k += 1
            it.invoke()
            it.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    m = re.search(r"Arena allocation head (\d+) bytes", text)
    if m is None:
        raise RuntimeError(f"TFLM printed no arena figures for {model_path}")
    return int(m.group(1))
