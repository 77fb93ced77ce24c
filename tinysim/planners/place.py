"""Offset assignment: greedy first fit of buffer groups in a given order.

A group is buffers placed together at fixed relative offsets (an in-place chain); each
member keeps its own size and live range, so an in-place output smaller than its input
frees the rest of the input's bytes after the step. A group may go at base offset O when
no member overlaps, in bytes and in time, a buffer already placed. The lowest such offset
is what TFLM's GreedyMemoryPlanner finds by walking its offset-ordered list of
time-overlapping buffers for the first gap that is big enough.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .schedule import Request, Schedule, align_up

Group = tuple[tuple[Request, int], ...]
GroupKey = Callable[[int, Group], tuple]


def first_fit(groups: Sequence[Group], alignment: int) -> dict[str, int]:
    """Place groups in the given order, each at its lowest allowed aligned base offset.

    Sizes are rounded up to the alignment (TFLM's AlignSizeUp) and relative offsets are
    multiples of it, so every offset is aligned.
    """
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[str, int] = {}
    for group in groups:
        # base O is forbidden by a placed [q_off, q_end) that a member (relative offset
        # rel, size s) meets in time when q_off - s < O + rel < q_end
        forbidden = []
        for r, rel in group:
            size = align_up(r.size, alignment)
            if size == 0:
                continue
            for q_off, q_end, q_first, q_last in placed:
                if q_first <= r.live.last and r.live.first <= q_last:
                    forbidden.append((q_off - size - rel, q_end - rel))
        forbidden.sort()
        offset = 0
        for lo, hi in forbidden:
            if lo >= offset:
                break
            if hi > offset:
                offset = hi
        for r, rel in group:
            offsets[r.name] = offset + rel
            size = align_up(r.size, alignment)
            if size:
                placed.append((offset + rel, offset + rel + size, r.live.first, r.live.last))
    return offsets


def group_extent(group: Group) -> int:
    """Bytes from the group's base to its furthest member end."""
    return max(rel + r.size for r, rel in group)


def group_span(group: Group) -> tuple[int, int]:
    return min(r.live.first for r, _ in group), max(r.live.last for r, _ in group)


def place(schedule: Schedule, key: GroupKey, alignment: int) -> dict[str, int]:
    """First fit with groups sorted by ``key(position, group)`` ascending (position: the
    group's index in the schedule, for explicit tie-breaking)."""
    groups = schedule.groups
    order = sorted(range(len(groups)), key=lambda i: key(i, groups[i]))
    return first_fit([groups[i] for i in order], alignment)
