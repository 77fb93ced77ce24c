"""arm_emu: build C kernels for Cortex-M and run them, counted exactly, under Unicorn.

How a kernel test calls a C function with arrays and reads the stats (this runs as is,
on the test fixtures; a kernel lists its own sources, e.g. ``["kernels_c/ts_conv_s8.c"]``)::

    import numpy as np
    from arm_emu import Machine, Out

    m = Machine.from_sources(["tests/arm_fixtures/fx_harness.c"], cpu="cortex-m7")
    x = np.arange(-50, 50, dtype=np.int8)       # plain arrays are read-only inputs
    y = np.zeros(100, dtype=np.int8)
    res = m.call("fx_copy", Out(y, name="dst"), x, 100, budget=1_000_000)
    assert (y == x).all()                       # Out arrays receive what the kernel wrote
    res.value                                   # r0 as a signed int (res.r0 raw, res.r1 high)
    s = res.stats
    s.instructions                              # exact executed-instruction count
    s.per_function                              # {"fx_copy": ...} by ELF symbol
    s.histogram                                 # {"ldrb": ..., "strb": ...} (capstone names)
    s.m4_cycles_estimate                        # Cortex-M4 cost table: an ESTIMATE
    print(s.summary())

The ELF is built once per content hash (arm_emu.build) and a Machine is cheap to reuse:
build it once per test module (functools.lru_cache) and call it many times.

Arguments are ints (32-bit) and arrays, passed with the AAPCS (r0-r3, then the stack).
``In(array, name=, align=)`` / ``Out(...)`` name a buffer in error messages and set its
start alignment (default: the element size). Each array sits right against an unmapped
guard page, so an access past its end raises KernelFault naming the kernel, the PC
(symbol+offset, source line, instruction) and how far past which argument it landed.
Writing an input, an unaligned LDRD/STRD/LDM/STM, an invalid instruction, a stack
overflow and exceeding ``budget`` raise KernelFault too. ``Machine(..., exact_bounds=True)``
also catches reads just before an array's start (slower emulation, same counts).

Modules: build (arm-none-eabi-gcc flags, content-hash cache), elf (segments, symbols),
disasm (static capstone decode, call graph), machine (emulator, calls, faults, stats),
cost_m4 (the Cortex-M4 cycle estimate), _native (the numba hooks). See machine's
docstring for the memory map, the count definition and the checks.
"""
from .build import BuildError, build_elf, compile_flags
from .machine import (CPU_MODELS, CallResult, In, Machine, Out, RunStats, make_emulator)

__all__ = ["BuildError", "build_elf", "compile_flags", "CPU_MODELS", "CallResult", "In",
           "Machine", "Out", "RunStats", "make_emulator"]
