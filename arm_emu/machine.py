"""Run C kernels on an emulated Cortex-M4/M7 (Unicorn): AAPCS calls, exact counts, faults.

Memory map (Unicorn's ARM page is 1 KB):

    0x0E000000  return sentinel page (LR points here; emu_start stops on reaching it)
    0x08000000  flash: the ELF's code and constants, read + execute
    0x20000000  the ELF's .data/.bss (reloaded before every call), read + write
    ...         stack, ``stack_size`` bytes ending at STACK_TOP, unmapped guard below/above
    0x20210000  buffers, one mapping each, separated by unmapped 16 KB guards

Each array argument gets its own pages, placed so the array ENDS exactly at the end of its
mapping (its start aligned to ``align``, by default the element size): the first byte past
the end is unmapped, so any read or write past the end faults at that instruction. Input
arrays are mapped read-only, so writing one faults too. The bytes between the mapping's
start and the array (under a page) are filled with a canary; a write there is found after
the call and the call is re-run with the exact bounds hook to name the instruction. Reads
there are caught only with ``exact_bounds=True``, which checks every access against the
legal ranges in a native memory hook (about 5x slower emulation, same counts).

Counting: a native block hook adds 1 per executed translation block to ``starts[block]``
and ``ends[block end]``; the running sum of starts - ends gives each instruction's
execution count exactly. Definition: every instruction the CPU steps through counts,
including instructions inside an IT block whose condition fails (they take an issue slot
on Cortex-M4 too); a Unicorn code hook would skip those, so it reports 0.4-4% fewer on
IT-heavy code. Per-function totals come from the ELF symbols, the mnemonic histogram from
capstone over the executed instructions, and a Cortex-M4 cycle ESTIMATE from cost_m4.

Budget: a call may execute at most ``budget`` instructions. The block hook checks bytes
(2 or 4 per Thumb instruction), so a runaway loop is stopped after at most 2 x budget
instructions; a call that returns is compared exactly with the budget afterwards.

Faults raise KernelFault naming the kernel, CPU, PC (symbol+offset, source line),
the instruction and the address: out-of-bounds or unmapped access, write to an input,
invalid instruction, instruction budget exceeded (runaway loop), stack overflow, an
unaligned LDRD/STRD/LDM/STM (Unicorn executes them; silicon raises a UsageFault), and a
callee-saved register or SP not restored (AAPCS).

Alignment check: the multi-word accesses (LDRD/STRD/LDM/STM/LDREX/STREX, SP- and
PC-relative ones excluded) found statically in the called function and its static
callees each get a native code hook that checks base + offset before the instruction
runs (a Unicorn code hook does not fire for an instruction whose IT condition fails, so
a skipped LDRD is not checked). Exact; the cost falls only on those instructions: about
5 ns per execution plus about 2.5 ns per further site hooked for the same call (Unicorn
walks its list of code hooks), counted in RunStats.alignment_checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
from unicorn import (UC_ARCH_ARM, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INTR,
                     UC_HOOK_MEM_INVALID, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MODE_THUMB,
                     UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError, arm_const)
from unicorn import unicorn_const as ucc

from tinysim.errors import KernelFault, TinysimError

from . import cost_m4, disasm
from .build import build_elf
from .elf import ElfImage, load_elf

CPU_MODELS: dict[str, int] = {
    "cortex-m4": arm_const.UC_CPU_ARM_CORTEX_M4,
    "cortex-m7": arm_const.UC_CPU_ARM_CORTEX_M7,
}
PAGE = 1024
RETURN_ADDRESS = 0x0E000000
STACK_TOP = 0x20200000
STACK_FLOOR = 0x20080000    # the stack may grow down to here; tinysim.ld's SRAM ends below
BUFFER_BASE = 0x20210000
BUFFER_LIMIT = 0x40000000
GUARD = 16 * PAGE
DEFAULT_STACK = 64 * 1024
DEFAULT_BUDGET = 500_000_000
RAW_TIMEOUT_US = 120_000_000
_CALLEE_SAVED = tuple(getattr(arm_const, f"UC_ARM_REG_R{i}") for i in range(4, 12))
_POISON = tuple(0x0BAD0000 + i for i in range(4, 12))
_ARG_REGS = tuple(getattr(arm_const, f"UC_ARM_REG_R{i}") for i in range(4))
_R = arm_const
_UDF = bytes.fromhex("fede")   # udf #0xfe, little-endian
_CANARY = np.random.default_rng(0x7157).integers(0, 256, 2 * PAGE, dtype=np.uint8).tobytes()
_EXCEPTIONS = {1: "undefined instruction", 2: "SVC (supervisor call)", 7: "BKPT breakpoint",
               17: "coprocessor instruction with no coprocessor (FPU code in a soft-float build?)",
               18: "invalid state (a branch to an address without the Thumb bit)",
               22: "unaligned access trap"}
_ACCESS = {ucc.UC_MEM_READ: "read", ucc.UC_MEM_WRITE: "write", ucc.UC_MEM_FETCH: "fetch",
           ucc.UC_MEM_READ_UNMAPPED: "read", ucc.UC_MEM_WRITE_UNMAPPED: "write",
           ucc.UC_MEM_FETCH_UNMAPPED: "fetch", ucc.UC_MEM_READ_PROT: "read",
           ucc.UC_MEM_WRITE_PROT: "write", ucc.UC_MEM_FETCH_PROT: "fetch"}


def make_emulator(cpu: str) -> Uc:
    """A Thumb Unicorn engine with the named Cortex-M core model, nothing mapped yet.

    UC_MODE_MCLASS is not used: it forces a Cortex-M33 whatever model is asked for.
    """
    if cpu not in CPU_MODELS:
        raise TinysimError(f"unknown CPU {cpu!r}: the emulator runs {', '.join(sorted(CPU_MODELS))}")
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
    uc.ctl_set_cpu_model(CPU_MODELS[cpu])
    return uc


@dataclass(frozen=True)
class In:
    """A read-only array argument (a plain numpy array means the same)."""
    array: np.ndarray
    name: str = ""
    align: int = 0          # start alignment in bytes; 0 = the element size


@dataclass(frozen=True)
class Out:
    """A writable array argument: copied in before the call, copied back into ``array``."""
    array: np.ndarray
    name: str = ""
    align: int = 0


@dataclass(frozen=True)
class RunStats:
    """What one call executed. ``instructions`` is exact (block counting, see module doc);
    ``m4_cycles_estimate`` is an ESTIMATE from the Cortex-M4 cost table (cost_m4)."""
    kernel: str
    cpu: str
    instructions: int
    per_function: Mapping[str, int]
    histogram: Mapping[str, int]          # capstone instruction name -> executions
    per_instruction: Mapping[int, int]    # address -> executions (executed ones only)
    m4_cycles_estimate: int
    alignment_checks: int                 # LDRD/STRD/LDM/STM executions checked
    wall_seconds: float

    @property
    def instructions_per_second(self) -> float:
        return self.instructions / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def summary(self) -> str:
        funcs = ", ".join(f"{k} {v:,}" for k, v in sorted(self.per_function.items(),
                                                          key=lambda kv: -kv[1]))
        return (f"{self.kernel} on {self.cpu}: {self.instructions:,} instructions "
                f"({funcs}); Cortex-M4 cycles ~{self.m4_cycles_estimate:,} (estimate); "
                f"{self.instructions_per_second / 1e6:.0f} M instr/s emulated")


@dataclass(frozen=True)
class CallResult:
    r0: int                       # raw 32-bit return register
    r1: int                       # high word of a 64-bit return
    wall_seconds: float
    stats: RunStats | None        # None when the machine runs uninstrumented

    @property
    def value(self) -> int:
        """r0 as a signed 32-bit int."""
        return self.r0 - (1 << 32) if self.r0 & 0x80000000 else self.r0


@dataclass(frozen=True)
class _Placed:
    label: str
    address: int
    nbytes: int
    map_start: int
    map_end: int
    writable: bool
    array: np.ndarray
    out: np.ndarray | None      # where to copy the result back (Out arguments)


@dataclass
class _Events:
    """What the Python-level fault hooks saw (they run only when something goes wrong)."""
    mem: tuple[int, int, int, int] | None = None     # access, address, size, pc
    intr: tuple[int, int] | None = None              # exception number, pc


class Machine:
    """An ELF loaded into an emulated Cortex-M, ready to call its functions.

    ``instrument=False`` runs without the counting and alignment hooks (raw speed, for
    measuring their overhead); calls then return ``stats=None`` and the instruction budget
    becomes a wall-clock timeout.
    """

    def __init__(self, elf: str | Path, cpu: str = "cortex-m7", *, stack_size: int = DEFAULT_STACK,
                 exact_bounds: bool = False, instrument: bool = True):
        if stack_size <= 0 or stack_size % PAGE or stack_size > STACK_TOP - STACK_FLOOR:
            raise TinysimError(f"stack_size={stack_size}: use a multiple of {PAGE} up to "
                               f"{STACK_TOP - STACK_FLOOR}")
        self.cpu = cpu
        self.image: ElfImage = load_elf(elf)
        self.code = disasm.decode(self.image)
        self.stack_size = stack_size
        self.exact_bounds = exact_bounds
        self.instrument = instrument
        self.uc = make_emulator(cpu)
        if self.uc.ctl_get_page_size() != PAGE:
            raise TinysimError(f"Unicorn's ARM page is {self.uc.ctl_get_page_size()} B, not {PAGE}")
        self._events = _Events()
        self._function_of = self._insn_functions()
        self._map_static()
        self._install_hooks()
        self._placed: tuple[_Placed, ...] = ()
        self._mapped: list[tuple[int, int, bool]] = []   # (start, size, writable)
        self._site_entry: str | None = None
        self._site_hooks: list[int] = []
        self._site_rows = np.zeros((0, 8), np.int64)
        self._site_list: tuple[disasm.AlignmentSite, ...] = ()
        self._twin: Machine | None = None

    @classmethod
    def from_sources(cls, sources: Sequence[str | Path], cpu: str = "cortex-m7",
                     extra_flags: Sequence[str] = (), **kwargs) -> "Machine":
        return cls(build_elf(sources, cpu, extra_flags), cpu, **kwargs)

    # ------------------------------------------------------------------ public

    def call(self, name: str, *args, budget: int = DEFAULT_BUDGET) -> CallResult:
        """Call C function ``name`` with the AAPCS: ints and arrays (In/Out/plain ndarray,
        passed as pointers), the first four in r0-r3 and the rest on the stack.

        Raises KernelFault if the kernel faults, runs past ``budget`` instructions, or
        breaks the AAPCS; Out arrays are updated only after a clean return.
        """
        fn = self.image.function(name)
        words, placed = self._marshal(name, args)
        self._map_buffers(placed)
        self._load_ram()
        for b in placed:
            self._write_buffer(b)
        sp = self._write_stack_args(words[4:])
        self._reset_instrumentation(name, budget)
        self._set_registers(words[:4], sp)

        error: UcError | None = None
        start = time.perf_counter()
        try:
            self.uc.emu_start(fn.address | 1, RETURN_ADDRESS,
                              timeout=0 if self.instrument else RAW_TIMEOUT_US)
        except UcError as exc:
            error = exc
        wall = time.perf_counter() - start
        self._raise_if_faulted(name, error, budget)
        self._check_canaries(name, args, budget)
        self._check_aapcs(name, sp)
        stats = self._stats(name, wall) if self.instrument else None
        if stats is not None and stats.instructions > budget:
            raise self._fault(name, None, f"returned after {stats.instructions:,} instructions, "
                              f"over its budget of {budget:,}; pass a larger budget= if that "
                              "is expected")
        for b in placed:
            if b.out is not None:
                raw = self.uc.mem_read(b.address, b.nbytes)
                b.out.reshape(-1).view(np.uint8)[:] = np.frombuffer(bytes(raw), np.uint8)
        r0 = self.uc.reg_read(_R.UC_ARM_REG_R0)
        r1 = self.uc.reg_read(_R.UC_ARM_REG_R1)
        return CallResult(r0, r1, wall, stats)

    def disassemble(self, name: str) -> str:
        """The static disassembly of function ``name``, one instruction a line."""
        fn = self.image.function(name)
        return "\n".join(f"{i.address:08x}  {i.text}" for i in self.code.insns
                         if fn.address <= i.address < fn.end)

    # ------------------------------------------------------------------ setup

    def _insn_functions(self) -> list[str]:
        names = []
        for insn in self.code.insns:
            f = self.image.function_at(insn.address)
            names.append(f.name if f else "?")
        return names

    def _map_static(self) -> None:
        pages: dict[int, int] = {}
        for seg in self.image.segments:
            perms = UC_PROT_READ | (UC_PROT_EXEC if seg.executable else 0) | \
                (UC_PROT_WRITE if seg.writable else 0)
            for p in range(seg.address // PAGE, -(-(seg.address + seg.mem_size) // PAGE)):
                pages[p] = pages.get(p, 0) | perms
        for start, end, perms in _runs(pages):
            self.uc.mem_map(start * PAGE, (end - start) * PAGE, perms)
        for seg in self.image.segments:
            if not seg.writable:
                self.uc.mem_write(seg.address, seg.data)
        self.uc.mem_map(RETURN_ADDRESS, PAGE, UC_PROT_READ | UC_PROT_EXEC)
        self.uc.mem_write(RETURN_ADDRESS, _UDF * (PAGE // 2))
        self.uc.mem_map(STACK_TOP - self.stack_size, self.stack_size, UC_PROT_READ | UC_PROT_WRITE)

    def _install_hooks(self) -> None:
        from . import _native   # compiles the native hooks on first use
        self._native = _native
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_bad_memory)
        self.uc.hook_add(UC_HOOK_INTR, self._on_exception)
        if self.instrument:
            self._block = _native.block_data(self.code.base, self.code.n_halfwords)
            _native.hook_add(self.uc, UC_HOOK_BLOCK, _native.BLOCK_HOOK, self._block.ctypes.data,
                             1, 0)
        if self.exact_bounds:
            self._bounds = _native.bounds_data()
            _native.hook_add(self.uc, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, _native.BOUNDS_HOOK,
                             self._bounds.ctypes.data, STACK_TOP - self.stack_size - GUARD,
                             BUFFER_LIMIT - 1)

    def _on_bad_memory(self, uc, access, address, size, value, _user) -> bool:
        if self._events.mem is None:
            self._events.mem = (access, address, size, uc.reg_read(_R.UC_ARM_REG_PC))
        return False

    def _on_exception(self, uc, intno, _user) -> None:
        if self._events.intr is None:
            self._events.intr = (intno, uc.reg_read(_R.UC_ARM_REG_PC))
        uc.emu_stop()

    # ------------------------------------------------------------------ per call

    def _marshal(self, name: str, args) -> tuple[list[int], tuple[_Placed, ...]]:
        words: list[int] = []
        specs = []
        for pos, arg in enumerate(args):
            if isinstance(arg, (In, Out, np.ndarray)):
                specs.append((pos, arg))
                words.append(0)    # the pointer, filled in once placed
            elif isinstance(arg, (bool, int, np.integer)):
                v = int(arg)
                if not -(1 << 31) <= v < (1 << 32):
                    raise TinysimError(f"{name}: argument {pos} = {v} does not fit in 32 bits")
                words.append(v & 0xFFFFFFFF)
            else:
                raise TinysimError(
                    f"{name}: argument {pos} is a {type(arg).__name__}; pass ints (32-bit), "
                    "numpy arrays, In(array) or Out(array)")
        placed = []
        cursor = BUFFER_BASE
        for pos, arg in specs:
            spec = In(arg) if isinstance(arg, np.ndarray) else arg
            b = _place(name, pos, spec, cursor)
            placed.append(b)
            words[pos] = b.address
            cursor = b.map_end + GUARD
            if cursor > BUFFER_LIMIT:
                raise TinysimError(f"{name}: the array arguments need more than "
                                   f"{BUFFER_LIMIT - BUFFER_BASE} bytes of emulated SRAM")
        return words, tuple(placed)

    def _map_buffers(self, placed: tuple[_Placed, ...]) -> None:
        wanted = [(b.map_start, b.map_end - b.map_start, b.writable) for b in placed]
        if wanted != [(s, n, w) for s, n, w in self._mapped]:
            for start, size, _ in self._mapped:
                self.uc.mem_unmap(start, size)
            for start, size, writable in wanted:
                self.uc.mem_map(start, size, UC_PROT_READ | (UC_PROT_WRITE if writable else 0))
            self._mapped = wanted
        self._placed = placed
        if self.exact_bounds:
            self._set_bounds(placed)

    def _set_bounds(self, placed: tuple[_Placed, ...]) -> None:
        n = self._native
        ranges = [(STACK_TOP - self.stack_size, STACK_TOP)] + \
            [(b.address, b.address + b.nbytes) for b in placed]
        if len(ranges) > n.BOUNDS_MAX_RANGES:
            raise TinysimError(f"exact_bounds checks at most {n.BOUNDS_MAX_RANGES - 1} arrays a call")
        self._bounds[:] = 0
        self._bounds[n.BOUNDS_SCRATCH_ADDR] = self._bounds.ctypes.data + n.BOUNDS_PC * 8
        self._bounds[n.BOUNDS_COUNT] = len(ranges)
        flat = np.array(ranges, np.int64).reshape(-1)
        self._bounds[n.BOUNDS_HEADER:n.BOUNDS_HEADER + len(flat)] = flat

    def _load_ram(self) -> None:
        for seg in self.image.segments:
            if seg.writable:
                self.uc.mem_write(seg.address, seg.data + bytes(seg.mem_size - len(seg.data)))

    def _write_buffer(self, b: _Placed) -> None:
        span = b.map_end - b.map_start
        image = bytearray(_canary(span))
        off = b.address - b.map_start
        image[off:off + b.nbytes] = b.array.tobytes()
        self.uc.mem_write(b.map_start, bytes(image))

    def _write_stack_args(self, stack_words: Sequence[int]) -> int:
        # stack arguments end at STACK_TOP (reads past them fault); SP stays 8-byte aligned
        sp = STACK_TOP - ((4 * len(stack_words) + 7) & ~7)
        if stack_words:
            self.uc.mem_write(sp, np.array(stack_words, dtype="<u4").tobytes())
        return sp

    def _set_registers(self, reg_words: Sequence[int], sp: int) -> None:
        uc = self.uc
        for reg, value in zip(_ARG_REGS, list(reg_words) + [0] * (4 - len(reg_words))):
            uc.reg_write(reg, value)
        for reg, value in zip(_CALLEE_SAVED, _POISON):
            uc.reg_write(reg, value)
        uc.reg_write(_R.UC_ARM_REG_R12, 0)
        uc.reg_write(_R.UC_ARM_REG_XPSR_NZCVQG, 0)
        uc.reg_write(_R.UC_ARM_REG_SP, sp)
        uc.reg_write(_R.UC_ARM_REG_LR, RETURN_ADDRESS | 1)

    def _reset_instrumentation(self, name: str, budget: int) -> None:
        self._events = _Events()
        if not self.instrument:
            return
        n = self._native
        if budget <= 0:
            raise TinysimError(f"{name}: budget must be a positive instruction count, not {budget}")
        self._block[n.BLOCK_BYTES] = 0
        self._block[n.BLOCK_BUDGET_BYTES] = 4 * budget   # Thumb instructions: 2 or 4 bytes
        self._block[n.BLOCK_STOPPED] = 0
        starts, ends = n.block_views(self._block)
        starts[:] = 0
        ends[:] = 0
        if self._site_entry != name:
            self._install_sites(name)
        self._site_rows[:, [n.SITE_BAD, n.SITE_BAD_ADDR, n.SITE_EXECS]] = 0

    def _install_sites(self, name: str) -> None:
        n = self._native
        for h in self._site_hooks:
            n.hook_del(self.uc, h)
        reach, indirect = disasm.callees(self.code, self.image, name)
        self._site_list = disasm.alignment_sites(self.code, self.image, None if indirect else reach)
        self._site_rows = n.site_rows(self._site_list)
        self._site_hooks = [
            n.hook_add(self.uc, UC_HOOK_CODE, n.SITE_HOOK,
                       self._site_rows.ctypes.data + i * n.SITE_ROW * 8, site.address, site.address)
            for i, site in enumerate(self._site_list)]
        # hooks are compiled into translated blocks: retranslate with the new set
        self.uc.ctl_flush_tb()
        self._site_entry = name

    # ------------------------------------------------------------------ after the call

    def _raise_if_faulted(self, name: str, error: UcError | None, budget: int) -> None:
        n = self._native
        uc = self.uc
        pc = uc.reg_read(_R.UC_ARM_REG_PC)
        if self.exact_bounds and self._bounds[n.BOUNDS_BAD]:
            access = _ACCESS.get(int(self._bounds[n.BOUNDS_ACCESS]), "access")
            addr = int(self._bounds[n.BOUNDS_ADDR])
            size = int(self._bounds[n.BOUNDS_SIZE])
            raise self._fault(name, int(self._bounds[n.BOUNDS_PC]) & ~1,
                              f"{access} of {_bytes(size)} at 0x{addr:08x}, "
                              f"{self._describe(addr, size, access)}")
        if self.instrument:
            bad = np.flatnonzero(self._site_rows[:, n.SITE_BAD])
            if len(bad):
                site = self._site_list[bad[0]]
                addr = int(self._site_rows[bad[0], n.SITE_BAD_ADDR])
                raise self._fault(name, site.address,
                                  f"unaligned multi-word access at 0x{addr:08x} ({site.text}): "
                                  "Unicorn allows it but LDRD/STRD/LDM/STM fault (UsageFault) "
                                  "on Cortex-M unless the address is a multiple of 4")
            if self._block[n.BLOCK_STOPPED]:
                raise self._fault(name, pc,
                                  f"ran {self._counts()[0].sum():,} instructions without "
                                  f"returning (budget {budget:,}): a runaway loop? If the kernel "
                                  "really needs more, pass a larger budget=")
        if self._events.mem is not None:
            access_type, addr, size, fpc = self._events.mem
            access = _ACCESS.get(access_type, "access")
            if access == "fetch":
                raise self._fault(name, fpc, f"jumped to 0x{addr:08x} "
                                  f"({self._describe(addr, size, access)}): not code")
            raise self._fault(name, fpc, f"{access} of {_bytes(size)} at 0x{addr:08x}, "
                              f"{self._describe(addr, size, access)}")
        if self._events.intr is not None:
            intno, ipc = self._events.intr
            what = _EXCEPTIONS.get(intno, f"CPU exception {intno}")
            raise self._fault(name, ipc, f"{what}: no handler in the emulator")
        if error is not None:
            if error.errno == ucc.UC_ERR_INSN_INVALID:
                raise self._fault(name, pc, f"invalid instruction for {self.cpu}")
            raise self._fault(name, pc, f"emulator error: {error}")
        if pc != RETURN_ADDRESS:
            raise self._fault(name, pc, "stopped without returning (wall-clock timeout of "
                              f"{RAW_TIMEOUT_US // 1_000_000} s in an uninstrumented run)")

    def _check_canaries(self, name: str, args, budget: int) -> None:
        if self.exact_bounds:
            return
        for b in self._placed:
            if not b.writable:
                continue   # read-only pages: any write already faulted
            span = b.map_end - b.map_start
            got = np.frombuffer(bytes(self.uc.mem_read(b.map_start, span)), np.uint8)
            changed = got != np.frombuffer(_canary(span), np.uint8)
            head, tail = b.address - b.map_start, b.address + b.nbytes - b.map_start
            changed[head:tail] = False   # the array itself
            if changed.any():
                self._locate_canary_write(name, args, budget)
                first = b.map_start + int(np.argmax(changed))
                raise self._fault(name, None,
                                  f"wrote {_bytes(int(changed.sum()))} outside {b.label}, the "
                                  f"first at 0x{first:08x}, {self._describe(first, 1, 'write')} "
                                  "(found after the call; a re-run with exact bounds did not "
                                  "reproduce it)")

    def _locate_canary_write(self, name: str, args, budget: int) -> None:
        """Re-run the call with exact bounds checking; it raises the fault with its PC."""
        if self._twin is None:
            self._twin = Machine(self.image.path, self.cpu, stack_size=self.stack_size,
                                 exact_bounds=True, instrument=self.instrument)
        self._twin.call(name, *args, budget=budget)

    def _check_aapcs(self, name: str, sp: int) -> None:
        uc = self.uc
        for i, (reg, value) in enumerate(zip(_CALLEE_SAVED, _POISON)):
            if uc.reg_read(reg) != value:
                raise self._fault(name, None, f"returned with r{i + 4} changed: r4-r11 are "
                                  "callee-saved under the AAPCS")
        if uc.reg_read(_R.UC_ARM_REG_SP) != sp:
            raise self._fault(name, None, f"returned with SP 0x{uc.reg_read(_R.UC_ARM_REG_SP):08x}, "
                              f"not 0x{sp:08x}: the stack is unbalanced")

    def _fault(self, name: str, pc: int | None, what: str) -> KernelFault:
        where = ""
        if pc is not None:
            insn = self.code.insn_at(pc)
            line = self.image.source_line(pc)
            where = (f" at pc 0x{pc:08x} ({self.image.symbolize(pc)}"
                     f"{', ' + line if line else ''})"
                     f"{': ' + insn.text if insn else ''}")
        return KernelFault(f"kernel {name!r} ({self.cpu}, {self.image.path.name}): {what}{where}")

    def _describe(self, address: int, size: int, access: str) -> str:
        for b in self._placed:
            end = b.address + b.nbytes
            if b.map_start - GUARD // 2 <= address < b.map_end + GUARD // 2:
                if address == end:
                    return f"just past the end of {b.label}"
                if address > end:
                    return f"{_bytes(address - end)} past the end of {b.label}"
                if address + size <= b.address:
                    return f"{_bytes(b.address - address)} before the start of {b.label}"
                if access == "write" and not b.writable:
                    return f"inside read-only input {b.label} (pass it as Out(...) if the " \
                        "kernel is meant to write it)"
                return f"straddling the bounds of {b.label}"
        stack_lo = STACK_TOP - self.stack_size
        if stack_lo - GUARD <= address < stack_lo:
            return (f"{_bytes(stack_lo - address)} below the {self.stack_size} B stack: a stack "
                    "overflow (pass a larger stack_size= to Machine if the kernel needs it)")
        if STACK_TOP <= address < STACK_TOP + GUARD:
            return "above the stack top, past the stack-passed arguments"
        if address < 0x10000:
            return "near address 0: a NULL pointer?"
        for seg in self.image.segments:
            if seg.address <= address < seg.address + seg.mem_size and not seg.writable:
                return "in flash (code and constants are read-only)"
        return "which is unmapped (no buffer, stack or ELF section there)"

    def _counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per static instruction: executions, and executed blocks that began there."""
        starts, ends = self._native.block_views(self._block)
        coverage = np.cumsum(starts[:-1] - ends[:-1])
        return coverage[self.code.index], starts[self.code.index]

    def _stats(self, name: str, wall: float) -> RunStats:
        n = self._native
        code = self.code
        counts, entries = self._counts()
        per_function: dict[str, int] = {}
        histogram: dict[str, int] = {}
        per_instruction: dict[int, int] = {}
        for i in np.flatnonzero(counts):
            c = int(counts[i])
            insn = code.insns[i]
            per_function[self._function_of[i]] = per_function.get(self._function_of[i], 0) + c
            histogram[insn.name] = histogram.get(insn.name, 0) + c
            per_instruction[insn.address] = c
        return RunStats(
            kernel=name, cpu=self.cpu, instructions=int(counts.sum()),
            per_function=MappingProxyType(per_function),
            histogram=MappingProxyType(dict(sorted(histogram.items(), key=lambda kv: -kv[1]))),
            per_instruction=MappingProxyType(per_instruction),
            m4_cycles_estimate=cost_m4.estimate_cycles(code, counts, entries),
            alignment_checks=int(self._site_rows[:, n.SITE_EXECS].sum()),
            wall_seconds=wall)


def _place(name: str, pos: int, spec: In | Out, cursor: int) -> _Placed:
    arr = spec.array
    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
        raise TinysimError(f"{name}: argument {pos} must hold a numeric numpy array")
    writable = isinstance(spec, Out)
    if writable and not (arr.flags.c_contiguous and arr.flags.writeable):
        raise TinysimError(f"{name}: Out argument {pos} must be a writable C-contiguous array "
                           "(pass np.ascontiguousarray(...) and read the result from it)")
    data = np.ascontiguousarray(arr)
    align = spec.align or data.dtype.itemsize
    if align & (align - 1) or not 1 <= align <= PAGE:
        raise TinysimError(f"{name}: argument {pos} align={align} must be a power of two <= {PAGE}")
    nbytes = data.nbytes
    pages = max(1, -(-(nbytes + align - 1) // PAGE))
    map_start = cursor
    map_end = cursor + pages * PAGE
    address = (map_end - nbytes) & ~(align - 1)
    kind = "Out" if writable else "input"
    label = (f"argument {pos}{' ' + repr(spec.name) if spec.name else ''} "
             f"({kind} {data.dtype}{list(data.shape)}, {nbytes} B)")
    return _Placed(label, address, nbytes, map_start, map_end, writable, data,
                   arr if writable else None)


def _bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"


def _canary(size: int) -> bytes:
    reps = -(-size // len(_CANARY))
    return (_CANARY * reps)[:size]


def _runs(pages: Mapping[int, int]):
    """Coalesce {page: perms} into (first page, end page, perms) runs."""
    run = None
    for p in sorted(pages):
        if run and run[1] == p and run[2] == pages[p]:
            run = (run[0], p + 1, run[2])
            continue
        if run:
            yield run
        run = (p, p + 1, pages[p])
    if run:
        yield run
