"""``split``: TinyTS-style tensor splitting into row tiles, no recomputation.

The tiled stage is a run of ops (by default the model's longest spatial stage,
``tiling.spatial_stage``). Every tensor its ops produce is cut into row tiles of
``tile_rows`` rows, each its own buffer; each op runs once per output tile, reading exactly
the input rows that tile needs (rows shared with the next tile stay in their tile buffer:
nothing is recomputed). A tile buffer is freed after its last reader. The graph input,
when inside the arena and read by the stage, is cut into tiles the same way (the
application writes the image into them), so its rows are freed as soon as no tile needs
them; with ``input_outside`` the steps read their rows straight from the application's
copy. Ops before and after the stage run whole; an op after it reads the tiles together.

Orders:
- ``depth``: a tile flows down the stage as soon as it can: at each step the deepest op
  whose next output tile has all its input rows runs (TinyTS's depth-first order).
- ``frugal``: depth-first, except that a ready step freeing at least as many bytes as it
  allocates runs first (the deepest such step). Measured on the shared models: never a
  larger arena than ``depth``, smaller on mlperf_vww and mcunet_vww0/1 when the input
  image is inside the arena (its rows are freed sooner).
- ``breadth``: op by op, all tiles of one op before the next (layer-wise, tile-freed).
"""
from __future__ import annotations

from ..errors import PlanError
from ..ir import Graph
from ..plan import Access, Box, Plan, Step
from ..tiling import region_read, spatial_stage, stage_ops
from .tiled import BufferSpec, box_bytes, finish, whole_steps

NAME = "split"
ORDERS = ("depth", "frugal", "breadth")


def _spans(rows: int, h: int) -> list[tuple[int, int]]:
    return [(r, min(r + h, rows)) for r in range(0, rows, h)]


def plan(graph: Graph, tile_rows: int = 1, order: str = "depth",
         stage: tuple[int, int] | None = None, input_outside: bool = False,
         alignment: int = 16) -> Plan:
    where = f"{graph.name}: split plan"
    if order not in ORDERS:
        raise PlanError(f"{where}: order '{order}' is not one of {', '.join(ORDERS)}")
    if tile_rows < 1:
        raise PlanError(f"{where}: tile height {tile_rows} must be >= 1 row")
    if stage is None:
        stage = spatial_stage(graph)
        if stage is None:
            raise PlanError(f"{where}: no op of the model runs on row tiles (no convolution "
                            "or pooling stage); use a layer-wise planner")
    start, end = stage
    tiled = stage_ops(graph, start, end)
    order_ops = sorted(tiled)
    h = tile_rows

    specs: list[BufferSpec] = []
    holders: dict[int, tuple[str, ...]] = {}   # tensor -> buffers holding it
    spans: dict[int, list[tuple[int, int]]] = {}

    def add_tiles(t: int, prefix: str) -> None:
        shape = graph.tensor(t).shape
        spans[t] = _spans(shape[1], h)
        names = []
        for r0, r1 in spans[t]:
            box = Box((0, r0, 0, 0), (shape[0], r1, shape[2], shape[3]))
            names.append(f"{prefix}t{t}.r{r0}")
            specs.append(BufferSpec(names[-1], t, box, box_bytes(graph, t, box),
                                    purpose=f"rows {r0}..{r1 - 1}"))
        holders[t] = tuple(names)

    stage_reads = {r.tensor for op in tiled.values() for r in op.reads}
    for t in graph.inputs:
        if graph.tensor(t).nbytes == 0:
            continue
        if input_outside or t not in stage_reads or len(graph.tensor(t).shape) != 4:
            specs.append(BufferSpec(f"t{t}", t, None, graph.tensor(t).nbytes,
                                    external=input_outside, purpose="graph input"))
            holders[t] = (f"t{t}",)
        else:
            add_tiles(t, "in.")

    scratch: dict[str, tuple[int, str]] = {}
    steps = whole_steps(graph, range(start), holders, 0, specs, scratch)
    for i in order_ops:
        add_tiles(tiled[i].output, "")

    def covering(t: int, box: Box) -> tuple[str, ...]:
        if t not in spans:
            return holders[t]
        return tuple(n for n, (r0, r1) in zip(holders[t], spans[t])
                     if r0 < box.stop[1] and box.start[1] < r1)

    producer = {tiled[i].output: i for i in order_ops}
    tile_step: dict[tuple[int, int], Step] = {}
    waits: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (producer op, its last tile)
    for i in order_ops:
        t_out = tiled[i].output
        shape = graph.tensor(t_out).shape
        for k, (r0, r1) in enumerate(spans[t_out]):
            wbox = Box((0, r0, 0, 0), (shape[0], r1, shape[2], shape[3]))
            reads, deps = [], []
            for r in tiled[i].reads:
                box, fill = region_read(graph, tiled[i], r, wbox)
                stored = box.intersect(Box.whole(graph.tensor(r.tensor).shape))
                if stored is None:
                    raise PlanError(f"{where}: op {i} rows {r0}..{r1 - 1} read only padding "
                                    f"of tensor {r.tensor}")
                reads.append(Access(r.slot, r.tensor, covering(r.tensor, stored), box, fill))
                if r.tensor in producer:
                    deps.append((producer[r.tensor], (stored.stop[1] - 1) // h))
            tile_step[(i, k)] = Step(op=i, kernel="op", reads=tuple(reads),
                                     writes=(Access(0, t_out, (holders[t_out][k],), wbox),))
            waits[(i, k)] = deps

    count = {i: len(spans[tiled[i].output]) for i in order_ops}
    if order == "breadth":
        for i in order_ops:
            steps.extend(tile_step[(i, k)] for k in range(count[i]))
    else:
        steps.extend(_depth_first(order_ops, count, tile_step, waits, specs,
                                  frugal=order == "frugal"))

    rest = range(end, len(graph.operators))
    steps.extend(whole_steps(graph, rest, holders, len(steps), specs, scratch))
    options = (f"rows={h}", f"order={order}", f"stage={start}..{end - 1}") + \
        (("input_outside",) if input_outside else ())
    return finish(graph, steps, specs, scratch, NAME, options, alignment)


def _depth_first(ops: list[int], count: dict[int, int], tile_step: dict[tuple[int, int], Step],
                 waits: dict[tuple[int, int], list[tuple[int, int]]],
                 specs: list[BufferSpec], frugal: bool) -> list[Step]:
    """The deepest ready tile step first (``frugal``: the deepest step that frees at least
    what it allocates, if any is ready). The first unfinished op always has its inputs,
    so some step is always ready."""
    size = {s.name: 0 if s.external else s.size for s in specs}
    pending: dict[str, int] = {}  # tile steps still to read each buffer
    for st in tile_step.values():
        for a in st.reads:
            for name in a.buffers:
                pending[name] = pending.get(name, 0) + 1
    done = {i: 0 for i in ops}
    out = []

    def net(st: Step) -> int:
        freed = sum(size[n] for a in st.reads for n in a.buffers if pending[n] == 1)
        return sum(size[n] for a in st.writes for n in a.buffers) - freed

    for _ in range(sum(count.values())):
        ready = [i for i in reversed(ops) if done[i] < count[i] and
                 all(done[p] > last for p, last in waits[(i, done[i])])]
        i = ready[0]
        if frugal:
            i = next((j for j in ready if net(tile_step[(j, done[j])]) <= 0), i)
        st = tile_step[(i, done[i])]
        for a in st.reads:
            for name in a.buffers:
                pending[name] -= 1
        out.append(st)
        done[i] += 1
    return out
