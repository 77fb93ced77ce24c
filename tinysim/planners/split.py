"""``split``: TinyTS-style tensor splitting into row tiles, no recomputation.

The tiled stage is the first ``stage_ops`` ops (by default every leading op that can run
region by region). Every tensor those ops produce is cut into row tiles of ``tile_rows``
rows, each its own buffer; each op runs once per output tile, reading exactly the input
rows that tile needs (rows shared with the next tile stay in their tile buffer, nothing is
recomputed). A tile buffer is freed after its last reader. The graph input, when inside
the arena, is cut into tiles the same way (the application writes the image into them)
so its rows are freed as soon as no tile needs them; with ``input_outside`` steps read
their rows straight from the application's copy. Ops after the stage run whole, reading
the last tiles together.

Orders:
- ``depth``: a tile flows down the chain as soon as it can: at each step the deepest op
  whose next output tile has all its input rows runs (TinyTS's depth-first order).
- ``breadth``: op by op, all tiles of one op before the next (layer-wise, tile-freed).
"""
from __future__ import annotations

from ..errors import PlanError
from ..ir import Graph
from ..plan import Access, Box, Plan, Step
from ..tiling import geometry, read_box, stored_part, tileable_prefix
from .tiled import BufferSpec, box_bytes, finish, whole_steps

NAME = "split"
ORDERS = ("depth", "breadth")


def _tiles(rows: int, h: int) -> list[tuple[int, int]]:
    return [(r, min(r + h, rows)) for r in range(0, rows, h)]


def plan(graph: Graph, tile_rows: int = 1, order: str = "depth", stage_ops: int | None = None,
         input_outside: bool = False, alignment: int = 16) -> Plan:
    where = f"{graph.name}: split plan"
    if order not in ORDERS:
        raise PlanError(f"{where}: order '{order}' is not one of {', '.join(ORDERS)}")
    if tile_rows < 1:
        raise PlanError(f"{where}: tile height {tile_rows} must be >= 1 row")
    limit = tileable_prefix(graph)
    n_stage = limit if stage_ops is None else stage_ops
    if limit == 0:
        raise PlanError(f"{where}: op 0 ({graph.operators[0].opcode}) cannot run on row tiles, "
                        "so the model has no spatial first stage to split")
    if not 1 <= n_stage <= limit:
        raise PlanError(f"{where}: the tiled stage can hold ops 0..{limit - 1} "
                        f"({limit} ops), not {n_stage}")
    geo = geometry(graph, range(n_stage))
    stage = sorted(geo)  # folded PADs run no step
    h = tile_rows

    specs: list[BufferSpec] = []
    tile_names: dict[int, list[str]] = {}     # tensor -> its tile buffers, top to bottom
    tile_span: dict[int, list[tuple[int, int]]] = {}
    holders: dict[int, tuple[str, ...]] = {}

    def add_tiles(t: int, prefix: str) -> None:
        shape = graph.tensor(t).shape
        spans = _tiles(shape[1], h)
        names = []
        for k, (r0, r1) in enumerate(spans):
            box = Box((0, r0, 0, 0), (shape[0], r1, shape[2], shape[3]))
            name = f"{prefix}t{t}.r{r0}"
            specs.append(BufferSpec(name, t, box, box_bytes(graph, t, box),
                                    purpose=f"rows {r0}..{r1 - 1}"))
            names.append(name)
        tile_names[t] = names
        tile_span[t] = spans
        holders[t] = tuple(names)

    produced = {geo[i].output for i in stage}
    for t in graph.inputs:
        if graph.tensor(t).nbytes == 0:
            continue
        tiled_reader = any(m.tensor == t for g in geo.values() for m in g.inputs)
        if input_outside or not tiled_reader or len(graph.tensor(t).shape) != 4:
            name = f"t{t}"
            specs.append(BufferSpec(name, t, None, graph.tensor(t).nbytes,
                                    external=input_outside, purpose="graph input"))
            holders[t] = (name,)
        else:
            add_tiles(t, "in.")
    for i in stage:
        add_tiles(geo[i].output, "")

    def covering(t: int, box: Box) -> tuple[str, ...]:
        if t not in tile_names:
            return holders[t]
        return tuple(n for n, (r0, r1) in zip(tile_names[t], tile_span[t])
                     if r0 < box.stop[1] and box.start[1] < r1)

    # the rows each output tile reads, per input, and the producer tiles that must be done
    producer_of = {geo[i].output: i for i in stage}
    step_of: dict[tuple[int, int], Step] = {}
    needs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i in stage:
        g = geo[i]
        out = graph.tensor(g.output)
        for k, (r0, r1) in enumerate(tile_span[g.output]):
            wbox = Box((0, r0, 0, 0), (out.shape[0], r1, out.shape[2], out.shape[3]))
            reads = []
            deps = []
            for m in g.inputs:
                rb = read_box(graph, m, wbox)
                part = stored_part(graph, m.tensor, rb)
                if part is None:
                    raise PlanError(f"{where}: op {i} tile {k} reads only padding of tensor "
                                    f"{m.tensor}")
                reads.append(Access(m.slot, m.tensor, covering(m.tensor, part), rb,
                                    m.fill if part != rb else None))
                if m.tensor in producer_of:
                    last = (part.stop[1] - 1) // h
                    deps.append((producer_of[m.tensor], last))
            step_of[(i, k)] = Step(op=i, kernel="op", reads=tuple(reads),
                                   writes=(Access(0, g.output, (tile_names[g.output][k],),
                                                  wbox),))
            needs[(i, k)] = deps

    count = {i: len(tile_span[geo[i].output]) for i in stage}
    steps: list[Step] = []
    if order == "breadth":
        for i in stage:
            steps.extend(step_of[(i, k)] for k in range(count[i]))
    else:
        done = {i: 0 for i in stage}
        remaining = sum(count.values())
        while remaining:
            for i in reversed(stage):
                k = done[i]
                if k < count[i] and all(done[p] > last for p, last in needs[(i, k)]):
                    break
            else:  # unreachable: the first unfinished op always has its inputs
                raise PlanError(f"{where}: no tile can run; the stage is not in order")
            steps.append(step_of[(i, k)])
            done[i] += 1
            remaining -= 1

    scratch: dict[str, tuple[int, str]] = {}
    rest = range(n_stage, len(graph.operators))
    steps.extend(whole_steps(graph, rest, holders, len(steps), scratch))
    for i in rest:
        for t in graph.operators[i].outputs:
            if graph.tensor(t).nbytes and t not in produced:
                specs.append(BufferSpec(f"t{t}", t, None, graph.tensor(t).nbytes))
    options = (f"rows={h}", f"order={order}", f"stage=0..{n_stage - 1}") + \
        (("input_outside",) if input_outside else ())
    return finish(graph, steps, specs, scratch, NAME, options, alignment)
