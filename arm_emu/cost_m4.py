"""Cortex-M4 cycle ESTIMATE from executed-instruction counts (ARM Cortex-M4 TRM, table 3-1).

An estimate, not a measurement: zero wait states, no bus contention, and a fixed
pipeline refill P = 2 (the TRM gives 1-3 by target alignment and width). Rules:

- data processing, multiply and multiply-accumulate (MUL, MLA, SMULL, SMLAL), every DSP
  instruction (SMLAD, SXTB16, QADD8, SSAT...), IT, and instructions skipped by a failed
  IT condition: 1 cycle;
- SDIV/UDIV: 2-12 by operand size, counted as 7;
- single LDR/STR (all widths): 2 cycles, 1 when it directly follows another single
  load/store in the same block (the TRM's pipelined neighbouring loads/stores);
- LDRD/STRD: 3; LDM/STM/PUSH/POP: 1 + N registers, + P when PC is loaded;
- branches and writes to PC: 1 + P when taken, 1 when not; TBB/TBH: 2 + P.

A conditional branch's not-taken count is taken as the number of blocks that began at
the instruction after it (capped at its own count), which is exact unless that address
is also a branch target. For Cortex-M7 (dual issue, branch prediction, caches) this
table is good to perhaps 20-30%: always report the result as an estimate.
"""
from __future__ import annotations

import numpy as np

from .disasm import CodeMap, Insn

P = 2
DIVIDE = 7
_SINGLE_LDST = frozenset({
    "ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht",
    "ldrex", "ldrexb", "ldrexh",
    "str", "strb", "strh", "strt", "strbt", "strht", "strex", "strexb", "strexh",
})
_DOUBLE = frozenset({"ldrd", "strd"})
_LIST = frozenset({"ldm", "ldmdb", "stm", "stmdb", "push", "pop"})
_DIVIDE = frozenset({"sdiv", "udiv"})
_TABLE_BRANCH = frozenset({"tbb", "tbh"})


def estimate_cycles(code: CodeMap, counts: np.ndarray, entries: np.ndarray) -> int:
    """Cycles for executed-instruction ``counts`` (aligned with code.insns); ``entries[i]``
    is how many executed blocks began at instruction i."""
    insns = code.insns
    total = 0
    for i in np.flatnonzero(counts):
        insn = insns[i]
        n = int(counts[i])
        total += _cycles(insn, n, int(entries[i]), insns[i - 1] if i > 0 else None,
                         int(entries[i + 1]) if i + 1 < len(insns) else 0)
    return total


def _cycles(insn: Insn, n: int, entered: int, previous: Insn | None, next_entered: int) -> int:
    name = insn.name
    if name in _SINGLE_LDST:
        follows_ldst = previous is not None and previous.name in _SINGLE_LDST \
            and previous.address + previous.size == insn.address
        pipelined = n - entered if follows_ldst else 0
        return 2 * n - pipelined + (P * n if insn.writes_pc else 0)
    if name in _DOUBLE:
        return 3 * n
    if name in _LIST:
        return (1 + insn.list_length + (P if insn.writes_pc else 0)) * n
    if name in _DIVIDE:
        return DIVIDE * n
    if name in _TABLE_BRANCH:
        return (2 + P) * n
    if insn.writes_pc:
        taken = n - min(n, next_entered) if insn.conditional else n
        return n + P * taken
    return n
