"""Offset assignment: greedy first fit (or best fit) of buffer groups in a given order,
and squeaky-wheel refinement of that order.

A group is buffers placed together at fixed relative offsets (an in-place chain); each
member keeps its own size and live range, so an in-place output smaller than its input
frees the rest of the input's bytes after the step. A group may go at base offset O when
no member overlaps, in bytes and in time, a buffer already placed. The lowest such offset
is what TFLM's GreedyMemoryPlanner finds by walking its offset-ordered list of
time-overlapping buffers for the first gap that is big enough.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from .schedule import Request, Schedule


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Group:
    """Buffers placed together at fixed offsets from the group's base (an in-place chain):
    (request, offset from the base) pairs, offsets >= 0; a lone buffer is a group of one."""

    members: tuple[tuple[Request, int], ...]

    def extent(self, alignment: int) -> int:
        return max(rel + align_up(r.size, alignment) for r, rel in self.members)

    @property
    def first(self) -> int:
        return min(r.live.first for r, _ in self.members)

    @property
    def last(self) -> int:
        return max(r.live.last for r, _ in self.members)


GroupKey = Callable[[int, Group], tuple]


def group_requests(requests: Sequence[Request]) -> tuple[Group, ...]:
    """Arena requests grouped by in-place anchors (``Request.anchor``/``delta``: the
    buffer starts ``delta`` bytes after its anchor's start); external ones left out."""
    by_name = {r.name: r for r in requests}
    groups: dict[str, list[tuple[Request, int]]] = {}
    for r in requests:
        if r.external:
            continue
        name, rel = r.name, 0
        while by_name[name].anchor is not None:
            rel += by_name[name].delta
            name = by_name[name].anchor
        groups.setdefault(name, []).append((r, rel))
    out = []
    for members in groups.values():
        low = min(rel for _, rel in members)
        out.append(Group(tuple((r, rel - low) for r, rel in members)))
    return tuple(out)


def fit(groups: Sequence[Group], alignment: int, best_fit: bool = False) -> dict[str, int]:
    """Place ``groups`` in the given order, each at an aligned base offset where no member
    overlaps (in bytes and time) a buffer placed before it: the lowest such offset (first
    fit) or the start of the tightest range of such offsets (best fit), else above
    everything it meets.

    Sizes are rounded up to the alignment (TFLM's AlignSizeUp) and relative offsets are
    multiples of it, so every offset is aligned.
    """
    n = sum(len(g.members) for g in groups)
    off = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    first = np.zeros(n, np.int64)
    last = np.zeros(n, np.int64)
    k = 0
    offsets: dict[str, int] = {}
    for g in groups:
        # base O is forbidden by a placed [q_off, q_end) that member (rel, size) meets in
        # time when q_off - size - rel < O < q_end - rel
        lo_parts, hi_parts = [], []
        for r, rel in g.members:
            size = align_up(r.size, alignment)
            if size == 0:
                continue
            meet = (first[:k] <= r.live.last) & (r.live.first <= last[:k]) & (end[:k] > off[:k])
            lo_parts.append(off[:k][meet] - size - rel)
            hi_parts.append(end[:k][meet] - rel)
        at = 0
        if lo_parts and sum(p.size for p in lo_parts):
            lo, hi = np.concatenate(lo_parts), np.concatenate(hi_parts)
            order = np.argsort(lo, kind="stable")
            lo, hi = lo[order], hi[order]
            reach = np.maximum.accumulate(np.concatenate(([0], hi)))
            room = lo - reach[:-1]  # allowed bases [reach, lo] before each interval
            ok = np.flatnonzero(room >= 0)
            if ok.size == 0:
                at = int(reach[-1])
            elif best_fit:
                at = int(reach[ok[np.argmin(room[ok])]])
            else:
                at = int(reach[ok[0]])
        for r, rel in g.members:
            offsets[r.name] = at + rel
            off[k], end[k] = at + rel, at + rel + align_up(r.size, alignment)
            first[k], last[k] = r.live.first, r.live.last
            k += 1
    return offsets


def arena_bytes(groups: Sequence[Group], offsets: dict[str, int], alignment: int) -> int:
    """Arena bytes of a placement: the furthest aligned member end."""
    return max((offsets[r.name] + align_up(r.size, alignment) for g in groups
                for r, _ in g.members), default=0)


def squeaky_wheel(groups: Sequence[Group], ranked: list[int], alignment: int,
                  best_fit: bool, rounds: int) -> tuple[int, list[int], dict[str, int]]:
    """Refine a placement order (indices into ``groups``): a group that reaches the arena
    top moves to the front, one at a time, and the order is placed again; kept when the
    arena does not grow. Returns (arena, order, offsets)."""
    order = list(ranked)
    offsets = fit([groups[i] for i in order], alignment, best_fit)
    best = arena_bytes(groups, offsets, alignment)
    seen = {tuple(order)}
    for _ in range(rounds):
        moved = None
        for culprit in order:
            if any(offsets[r.name] + align_up(r.size, alignment) == best
                   for r, _ in groups[culprit].members):
                candidate = [culprit] + [i for i in order if i != culprit]
                if tuple(candidate) not in seen:
                    moved = candidate
                    break
        if moved is None:
            break
        seen.add(tuple(moved))
        trial = fit([groups[i] for i in moved], alignment, best_fit)
        size = arena_bytes(groups, trial, alignment)
        if size <= best:
            best, order, offsets = size, moved, trial
    return best, order, offsets


def rank(groups: Sequence[Group], key: GroupKey) -> list[int]:
    """Group indices sorted by ``key(position, group)`` ascending (position: the group's
    index, for explicit tie-breaking)."""
    return sorted(range(len(groups)), key=lambda i: key(i, groups[i]))


def place(schedule: Schedule, key: GroupKey, alignment: int) -> dict[str, int]:
    """First fit with the schedule's groups in ``key`` order."""
    groups = schedule.groups
    return fit([groups[i] for i in rank(groups, key)], alignment)
