"""Static Thumb disassembly of an ELF's code (capstone), decoded once per ELF.

The code map gives every instruction's address, size and capstone name, and the prefix
count of instruction starts per halfword (instruction lookup by address; the number of
instructions in any range [address, address + size)). Executed blocks always start on an
instruction boundary, and the ELF's mapping symbols cut literal pools out of the code,
so the static boundaries are the ones the CPU executes (a test checks them against
Unicorn's own translation blocks).

From the same decode: the static call graph (direct BL/B targets in other functions) and
the multi-word memory instructions (LDRD/STRD/LDM/STM/LDREX/STREX) whose address must be
word-aligned on Cortex-M but that Unicorn executes unaligned without complaint.
"""
from __future__ import annotations

from dataclasses import dataclass

import capstone
import numpy as np
from capstone import arm
from unicorn import arm_const

from .elf import ElfImage

# capstone register name -> unicorn register id
_UC_REGS = {
    **{f"r{i}": getattr(arm_const, f"UC_ARM_REG_R{i}") for i in range(13)},
    "sb": arm_const.UC_ARM_REG_R9, "sl": arm_const.UC_ARM_REG_R10,
    "fp": arm_const.UC_ARM_REG_R11, "ip": arm_const.UC_ARM_REG_R12,
    "sp": arm_const.UC_ARM_REG_SP, "lr": arm_const.UC_ARM_REG_LR, "pc": arm_const.UC_ARM_REG_PC,
}
_DIRECT_BRANCHES = frozenset({"b", "bl", "cbz", "cbnz"})
_INDIRECT_CALLS = frozenset({"blx", "bx"})
_MULTI_WORD = frozenset({"ldrd", "strd", "ldm", "ldmdb", "stm", "stmdb", "ldrex", "strex"})
_LIST_OPS = frozenset({"ldm", "ldmdb", "stm", "stmdb", "push", "pop"})


@dataclass(frozen=True)
class Insn:
    """One statically decoded Thumb instruction."""
    address: int
    size: int
    name: str                 # capstone's instruction name: no condition or .w suffix
    text: str                 # full assembly, e.g. "ldr.w r3, [r1], #4"
    conditional: bool         # Bcc, CBZ/CBNZ, or inside an IT block
    list_length: int          # registers moved by LDM/STM/PUSH/POP, else 0
    writes_pc: bool           # a branch, a return, or a load/move into PC
    target: int | None        # direct branch target
    base_reg: str | None      # base register of a memory operand
    disp: int                 # displacement applied before the access (0 for post-index)


@dataclass(frozen=True)
class AlignmentSite:
    """A multi-word access whose address (base register + disp) must be 4-byte aligned."""
    address: int
    uc_reg: int
    disp: int
    text: str


@dataclass(frozen=True)
class CodeMap:
    base: int                 # first code address; halfword h is at base + 2h
    n_halfwords: int
    insns: tuple[Insn, ...]
    index: np.ndarray         # int64 halfword index of each instruction
    prefix: np.ndarray        # int64[n_halfwords + 1]: instruction starts before halfword h

    def insn_at(self, address: int) -> Insn | None:
        h = (address - self.base) >> 1
        if address & 1 or not 0 <= h < self.n_halfwords:
            return None
        i = int(self.prefix[h])
        return self.insns[i] if i < len(self.insns) and self.index[i] == h else None


def decode(image: ElfImage) -> CodeMap:
    if not image.code_ranges:
        return CodeMap(0, 0, (), np.zeros(0, np.int64), np.zeros(1, np.int64))
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    code = _flash_bytes(image)
    insns: list[Insn] = []
    for start, end in image.code_ranges:
        pos = start
        while pos < end:
            decoded = False
            for ci in md.disasm(code(pos, end - pos), pos):
                insns.append(_insn(ci))
                pos = ci.address + ci.size
                decoded = True
            if not decoded:   # undecodable halfword (not GCC output): skip, it cannot be counted
                pos += 2
    base = image.code_ranges[0][0]
    n = (max(e for _, e in image.code_ranges) - base + 1) // 2
    index = np.array([(i.address - base) >> 1 for i in insns], dtype=np.int64)
    starts = np.zeros(n + 1, np.int64)
    starts[index] = 1
    prefix = np.concatenate([[0], np.cumsum(starts[:n])]).astype(np.int64)
    return CodeMap(base, n, tuple(insns), index, prefix)


def callees(code: CodeMap, image: ElfImage, entry: str) -> tuple[frozenset[str], bool]:
    """Functions reachable from ``entry`` by direct calls/tail calls, and whether any of
    them makes an indirect call (BLX/BX through a register other than LR)."""
    seen: set[str] = set()
    todo = [entry]
    indirect = False
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        fn = image.function(name)
        for insn in _insns_in(code, fn.address, fn.end):
            if insn.name in _DIRECT_BRANCHES and insn.target is not None \
                    and not fn.address <= insn.target < fn.end:
                callee = image.function_at(insn.target)
                if callee is not None:
                    todo.append(callee.name)
            elif insn.name in _INDIRECT_CALLS and insn.text.split()[-1] != "lr":
                indirect = True
    return frozenset(seen), indirect


def alignment_sites(code: CodeMap, image: ElfImage, functions: frozenset[str] | None
                    ) -> tuple[AlignmentSite, ...]:
    """Multi-word accesses in ``functions`` (every function if None), SP/PC-based ones left
    out: SP is word-aligned by construction and PC-relative addresses are static."""
    ranges = [(f.address, f.end) for f in image.functions()
              if functions is None or f.name in functions]
    sites = []
    for lo, hi in ranges:
        for insn in _insns_in(code, lo, hi):
            if insn.name in _MULTI_WORD and insn.base_reg not in (None, "sp", "pc"):
                sites.append(AlignmentSite(insn.address, _UC_REGS[insn.base_reg], insn.disp,
                                           insn.text))
    return tuple(sites)


def _insns_in(code: CodeMap, lo: int, hi: int):
    i = int(np.searchsorted(code.index, (lo - code.base) >> 1))
    while i < len(code.insns) and code.insns[i].address < hi:
        yield code.insns[i]
        i += 1


def _flash_bytes(image: ElfImage):
    segs = [s for s in image.segments if s.executable]

    def read(address: int, size: int) -> bytes:
        for s in segs:
            if s.address <= address < s.address + len(s.data):
                off = address - s.address
                return s.data[off:off + size]
        return b""
    return read


def _insn(ci) -> Insn:
    name = ci.insn_name()
    ops = list(ci.operands)
    mem = next((o for o in ops if o.type == arm.ARM_OP_MEM), None)
    regs = [ci.reg_name(o.reg) for o in ops if o.type == arm.ARM_OP_REG]
    imms = [o.imm for o in ops if o.type == arm.ARM_OP_IMM]
    base_reg, disp = None, 0
    if mem is not None:
        base_reg = ci.reg_name(mem.mem.base)
        disp = 0 if ci.post_index else mem.mem.disp
    elif name in ("ldm", "ldmdb", "stm", "stmdb") and regs:
        base_reg = regs[0]
        disp = -4 * (len(regs) - 1) if name.endswith("db") else 0
    list_length = 0
    if name in _LIST_OPS:
        list_length = len(regs) - (1 if name in ("ldm", "ldmdb", "stm", "stmdb") else 0)
    writes_pc = name in ("b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh") or \
        (bool(regs) and regs[0] == "pc" and name not in ("push", "stm", "stmdb", "str")) or \
        (name in ("pop", "ldm") and "pc" in regs)
    target = imms[-1] if name in _DIRECT_BRANCHES and imms else None
    conditional = (ci.cc not in (arm.ARM_CC_AL, arm.ARM_CC_INVALID) and name != "it") \
        or name in ("cbz", "cbnz")
    text = f"{ci.mnemonic} {ci.op_str}".strip()
    return Insn(ci.address, ci.size, name, text, conditional, list_length, writes_pc, target,
                base_reg, disp)
