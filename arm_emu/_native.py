"""Native Unicorn hooks, registered through ``uc_hook_add`` with a C function pointer.

A Python hook costs microseconds per call; these run at native speed. Each hook reads
and writes one int64 numpy array passed as its user-data pointer (layouts below). The
arrays belong to the Machine, which keeps them alive while the hooks exist.

Block hook (``BLOCK_*`` layout), called at the start of every executed translation block
with the block's address and size in bytes:

    idx = (address - base) / 2                  (halfword index; out of range: ignore)
    starts[idx] += 1;  ends[idx + size/2] += 1
    bytes += size;  if bytes > budget_bytes: flag, uc_emu_stop

so the executions of each instruction are the running sum of starts - ends at its
halfword, exact even when the same address starts blocks of different lengths. The
budget is checked in bytes, the cheapest exact-enough test: a Thumb instruction is 2 or
4 bytes, so the Machine sets budget_bytes = 4 x budget and the run stops after at most
2 x budget instructions; the Machine then compares the exact count with the budget.
This hook runs once per block (a hot loop's block is 10-30 instructions), so it is
written directly in LLVM IR and JIT-compiled with llvmlite: a numba cfunc adds a
wrapper call that measured 7% of raw emulation speed on a 12-instruction loop.

Site hook (``SITE_*`` layout, one array row per site), a code hook on one multi-word
instruction: reads the base register, adds the displacement, flags and stops if the
address is not word-aligned (the hook runs before the instruction executes).

Bounds hook (``BOUNDS_*`` layout), an optional memory hook over the buffer region:
every access must lie inside one of the legal [lo, hi) ranges; the first one that does
not is recorded (access type, address, size, PC) and the emulation stopped.

The site and bounds hooks are numba cfuncs calling uc_emu_stop and uc_reg_read through
ctypes pointers, which numba cannot cache on disk: they compile (about half a second)
when this module is imported.
"""
from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import numpy as np
from numba import cfunc, types
from unicorn import arm_const
from unicorn.unicorn_py3 import unicorn as _uc

_lib = _uc.uclib
_uc_emu_stop = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(
    ctypes.cast(_lib.uc_emu_stop, ctypes.c_void_p).value)
# the value pointer is declared as an integer so numba can pass an address it computed
_uc_reg_read = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64)(
    ctypes.cast(_lib.uc_reg_read, ctypes.c_void_p).value)
_PC = arm_const.UC_ARM_REG_PC

# block hook layout: header, then starts[n + 1], ends[n + 1] (n = code halfwords)
BLOCK_BASE, BLOCK_N, BLOCK_BYTES, BLOCK_BUDGET_BYTES, BLOCK_STOPPED = 0, 1, 2, 3, 4
BLOCK_HEADER = 8

# The block hook. Typed-pointer syntax parses on every LLVM numba has shipped with.
_BLOCK_HOOK_IR = f"""
declare i32 @uc_emu_stop(i8*)

define void @ts_block_hook(i8* %uc, i64 %address, i32 %size, i64* %data) {{
entry:
  %base = load i64, i64* %data
  %n.ptr = getelementptr i64, i64* %data, i64 {BLOCK_N}
  %n = load i64, i64* %n.ptr
  %offset = sub i64 %address, %base
  %idx = lshr i64 %offset, 1
  %inside = icmp ult i64 %idx, %n                 ; unsigned: also rejects address < base
  br i1 %inside, label %count, label %done

count:
  %halfwords = lshr i32 %size, 1
  %halfwords.64 = zext i32 %halfwords to i64
  %end.raw = add i64 %idx, %halfwords.64
  %past = icmp ugt i64 %end.raw, %n
  %end = select i1 %past, i64 %n, i64 %end.raw
  %start.slot = add i64 %idx, {BLOCK_HEADER}       ; starts[idx]
  %start.ptr = getelementptr i64, i64* %data, i64 %start.slot
  %start.old = load i64, i64* %start.ptr
  %start.new = add i64 %start.old, 1
  store i64 %start.new, i64* %start.ptr
  %end.rel = add i64 %end, %n
  %end.slot = add i64 %end.rel, {BLOCK_HEADER + 1}  ; ends[end], after the n + 1 starts
  %end.ptr = getelementptr i64, i64* %data, i64 %end.slot
  %end.old = load i64, i64* %end.ptr
  %end.new = add i64 %end.old, 1
  store i64 %end.new, i64* %end.ptr
  %bytes.ptr = getelementptr i64, i64* %data, i64 {BLOCK_BYTES}
  %bytes.old = load i64, i64* %bytes.ptr
  %size.64 = zext i32 %size to i64
  %bytes.new = add i64 %bytes.old, %size.64
  store i64 %bytes.new, i64* %bytes.ptr
  %budget.ptr = getelementptr i64, i64* %data, i64 {BLOCK_BUDGET_BYTES}
  %budget = load i64, i64* %budget.ptr
  %over = icmp sgt i64 %bytes.new, %budget
  br i1 %over, label %stop, label %done

stop:
  %stopped.ptr = getelementptr i64, i64* %data, i64 {BLOCK_STOPPED}
  store i64 1, i64* %stopped.ptr
  %ignored = call i32 @uc_emu_stop(i8* %uc)
  br label %done

done:
  ret void
}}
"""

# site hook row layout
SITE_REG, SITE_DISP, SITE_SCRATCH, SITE_SCRATCH_ADDR, SITE_BAD, SITE_BAD_ADDR, SITE_EXECS = range(7)
SITE_ROW = 8

# bounds hook layout: header, then (lo, hi) pairs
BOUNDS_COUNT, BOUNDS_BAD, BOUNDS_ACCESS, BOUNDS_ADDR, BOUNDS_SIZE, BOUNDS_PC, \
    BOUNDS_SCRATCH_ADDR = range(7)
BOUNDS_HEADER = 8
BOUNDS_MAX_RANGES = 64

_code_sig = types.void(types.voidptr, types.uint64, types.uint32, types.CPointer(types.int64))
_mem_sig = types.void(types.voidptr, types.int32, types.uint64, types.int32, types.int64,
                      types.CPointer(types.int64))


@cfunc(_code_sig, nopython=True)
def _site_hook(uc, address, size, row):
    _uc_reg_read(uc, np.int32(row[SITE_REG]), np.uint64(row[SITE_SCRATCH_ADDR]))
    target = (row[SITE_SCRATCH] + row[SITE_DISP]) & 0xFFFFFFFF
    row[SITE_EXECS] += 1
    if target & 3 and row[SITE_BAD] == 0:
        row[SITE_BAD] = 1
        row[SITE_BAD_ADDR] = target
        _uc_emu_stop(uc)


@cfunc(_mem_sig, nopython=True)
def _bounds_hook(uc, access, address, size, value, data):
    lo = np.int64(address)
    hi = lo + np.int64(size)
    for i in range(data[BOUNDS_COUNT]):
        if data[BOUNDS_HEADER + 2 * i] <= lo and hi <= data[BOUNDS_HEADER + 2 * i + 1]:
            return
    if data[BOUNDS_BAD] == 0:
        data[BOUNDS_BAD] = 1
        data[BOUNDS_ACCESS] = access
        data[BOUNDS_ADDR] = lo
        data[BOUNDS_SIZE] = size
        _uc_reg_read(uc, np.int32(_PC), np.uint64(data[BOUNDS_SCRATCH_ADDR]))
        _uc_emu_stop(uc)


def _jit_block_hook():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.add_symbol("uc_emu_stop", ctypes.cast(_lib.uc_emu_stop, ctypes.c_void_p).value)
    module = llvm.parse_assembly(_BLOCK_HOOK_IR)
    module.verify()
    machine = llvm.Target.from_default_triple().create_target_machine(opt=3)
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    return engine, engine.get_function_address("ts_block_hook")


# the engine owns the machine code: it lives as long as this module
_block_engine, BLOCK_HOOK = _jit_block_hook()
SITE_HOOK = _site_hook.address
BOUNDS_HOOK = _bounds_hook.address


def block_data(base: int, n_halfwords: int) -> np.ndarray:
    data = np.zeros(BLOCK_HEADER + 2 * (n_halfwords + 1), np.int64)
    data[BLOCK_BASE] = base
    data[BLOCK_N] = n_halfwords
    return data


def block_views(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) views into a block-hook array."""
    n1 = int(data[BLOCK_N]) + 1
    return data[BLOCK_HEADER:BLOCK_HEADER + n1], data[BLOCK_HEADER + n1:BLOCK_HEADER + 2 * n1]


def site_rows(sites) -> np.ndarray:
    rows = np.zeros((len(sites), SITE_ROW), np.int64)
    for r, site in zip(rows, sites):
        r[SITE_REG] = site.uc_reg
        r[SITE_DISP] = site.disp
    base = rows.ctypes.data
    rows[:, SITE_SCRATCH_ADDR] = base + (np.arange(len(sites)) * SITE_ROW + SITE_SCRATCH) * 8
    return rows


def bounds_data() -> np.ndarray:
    data = np.zeros(BOUNDS_HEADER + 2 * BOUNDS_MAX_RANGES, np.int64)
    data[BOUNDS_SCRATCH_ADDR] = data.ctypes.data + BOUNDS_PC * 8
    return data


def hook_add(uc, htype: int, callback: int, user_data: int, begin: int, end: int) -> int:
    """Register a native callback; returns the hook handle for hook_del."""
    handle = _uc.uc_hook_h()
    status = _lib.uc_hook_add(uc._uch, ctypes.byref(handle), htype, ctypes.c_void_p(callback),
                              ctypes.c_void_p(user_data), ctypes.c_uint64(begin),
                              ctypes.c_uint64(end))
    if status != 0:
        raise _uc.UcError(status)
    return handle.value


def hook_del(uc, handle: int) -> None:
    status = _lib.uc_hook_del(uc._uch, _uc.uc_hook_h(handle))
    if status != 0:
        raise _uc.UcError(status)
