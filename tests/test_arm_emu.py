"""The Cortex-M harness: CPU model, AAPCS calls, exact counting, faults, cost estimate."""
from __future__ import annotations

import collections

import numpy as np
import pytest
from unicorn import UC_HOOK_CODE, UC_PROT_ALL
from unicorn import arm_const as R

from arm_emu import CPU_MODELS, BuildError, In, Machine, Out, build_elf, make_emulator
from arm_emu import build as build_mod
from arm_emu.elf import load_elf
from arm_emu.machine import PAGE, RETURN_ADDRESS
from arm_harness import CPUS, SOURCES, machine
from tinysim.errors import KernelFault, TinysimError

RNG = np.random.default_rng(20240605)


# ---------------------------------------------------------------- CPU model and build

@pytest.mark.parametrize("cpu", CPUS)
def test_emulator_has_the_named_core_model(cpu):
    assert make_emulator(cpu).ctl_get_cpu_model() == CPU_MODELS[cpu]


def test_vadd_f64_runs_on_m7_only():
    # FPv5 double precision exists on the Cortex-M7, not the M4: proof of the core model
    assert machine("cortex-m7").call("fx_vadd_f64").value == 7
    with pytest.raises(KernelFault, match=r"invalid instruction for cortex-m4.*vadd\.f64"):
        machine("cortex-m4").call("fx_vadd_f64")


def test_unknown_cpu_is_refused():
    with pytest.raises(TinysimError, match="unknown CPU 'cortex-m33'"):
        make_emulator("cortex-m33")
    with pytest.raises(BuildError, match="unknown CPU"):
        build_elf(SOURCES, "cortex-m0")


def test_builds_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYSIM_BUILD_DIR", str(tmp_path))
    src = tmp_path / "k.c"
    src.write_text("int k(int a) { return a + 1; }\n")
    first = build_elf([src], "cortex-m4")
    assert first.parent == tmp_path
    stamp = first.stat().st_mtime_ns
    assert build_elf([src], "cortex-m4") == first and first.stat().st_mtime_ns == stamp
    assert build_elf([src], "cortex-m4", ["-DX=1"]) != first
    src.write_text("int k(int a) { return a + 2; }\n")
    second = build_elf([src], "cortex-m4")
    assert second != first
    assert Machine(second, "cortex-m4").call("k", 40).value == 42


def test_compile_error_shows_the_compiler_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYSIM_BUILD_DIR", str(tmp_path))
    src = tmp_path / "bad.c"
    src.write_text("int bad(void) { return undeclared; }\n")
    with pytest.raises(BuildError, match=r"(?s)failed to build bad\.c.*'undeclared' undeclared"):
        build_elf([src])
    # the failure is remembered: the same inputs do not run the compiler again
    monkeypatch.setattr(build_mod.subprocess, "run", None)
    with pytest.raises(BuildError, match="'undeclared' undeclared"):
        build_elf([src])


def test_warnings_are_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYSIM_BUILD_DIR", str(tmp_path))
    src = tmp_path / "warn.c"
    src.write_text("int warn(int a) { int unused; return a; }\n")
    with pytest.raises(BuildError, match="unused variable"):
        build_elf([src])


def test_missing_compiler_names_the_install_command(monkeypatch):
    build_mod.compiler_version.cache_clear()
    monkeypatch.setattr(build_mod.shutil, "which", lambda name: None)
    try:
        with pytest.raises(BuildError, match="apt-get install -y --no-install-recommends "
                                             "gcc-arm-none-eabi"):
            build_elf(SOURCES)
    finally:
        build_mod.compiler_version.cache_clear()


def test_builtin_memcpy_is_inlined():
    # -ffreestanding alone would make memcpy a call; the kernels' hot loops must not call
    listing = machine("cortex-m7").disassemble("fx_mac")
    assert "bl\t" not in listing and " bl " not in listing
    assert "smlad" in listing


# ---------------------------------------------------------------- calls (AAPCS)

def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


@pytest.mark.parametrize("cpu", CPUS)
def test_six_arguments_with_a_pointer_on_the_stack(cpu):
    a = RNG.integers(-1000, 1000, 37).astype(np.int32)
    b = RNG.integers(-1000, 1000, 37).astype(np.int32)
    out = np.zeros(37, np.int32)
    res = machine(cpu).call("fx_args6", a, Out(out), 37, -3, 11, b)
    expected = a * -3 + b + 11
    np.testing.assert_array_equal(out, expected)
    assert res.value == int(expected.sum())


@pytest.mark.parametrize("cpu", CPUS)
def test_eight_scalar_arguments_and_64_bit_return(cpu):
    m = machine(cpu)
    args = [5, -7, 1 << 20, -(1 << 31), 0xFFFFFFFF, 3, -2, 9]
    signed = [_int32(a) for a in args]
    assert m.call("fx_args8", *args).value == _int32(sum((i + 1) * v for i, v in enumerate(signed)))
    res = m.call("fx_ret64", -70000, 80000)
    assert (res.r1 << 32 | res.r0) == (-70000 * 80000) & ((1 << 64) - 1)


@pytest.mark.parametrize("cpu", CPUS)
def test_arrays_copy_in_and_out(cpu):
    src = RNG.integers(-128, 128, 1001).astype(np.int8)
    keep = src.copy()
    dst = np.full(1001, 7, np.int8)
    machine(cpu).call("fx_copy", Out(dst, name="dst"), src, 1001)
    np.testing.assert_array_equal(dst, keep)
    np.testing.assert_array_equal(src, keep)


def test_static_data_is_reloaded_before_every_call():
    m = machine("cortex-m7")
    assert [m.call("fx_counter").value for _ in range(3)] == [6, 6, 6]


@pytest.mark.parametrize("bad, message", [
    (1.5, "argument 0 is a float"),
    (1 << 32, "does not fit in 32 bits"),
    (np.zeros(4, np.int8)[::2], None),
])
def test_bad_arguments_are_refused(bad, message):
    m = machine("cortex-m7")
    if message is None:   # a strided Out array cannot receive the result in place
        with pytest.raises(TinysimError, match="writable C-contiguous"):
            m.call("fx_copy", Out(bad), np.zeros(2, np.int8), 2)
    else:
        with pytest.raises(TinysimError, match=message):
            m.call("fx_load", bad)


def test_unknown_function_lists_the_known_ones():
    with pytest.raises(TinysimError, match=r"no function 'fx_nope'.*fx_copy"):
        machine("cortex-m7").call("fx_nope")


# ---------------------------------------------------------------- exact counting

def _code_hook_counts(cpu: str, name: str, arrays: list[np.ndarray], scalars: list[int]):
    """Reference count: a fresh engine, the same ELF, a Python hook on every instruction."""
    image = load_elf(machine(cpu).image.path)
    uc = make_emulator(cpu)
    for seg in image.segments:
        lo = seg.address // PAGE * PAGE
        uc.mem_map(lo, -(-(seg.address + seg.mem_size - lo) // PAGE) * PAGE, UC_PROT_ALL)
        uc.mem_write(seg.address, seg.data)
    uc.mem_map(RETURN_ADDRESS, PAGE, UC_PROT_ALL)
    uc.mem_map(0x30000000, 0x100000, UC_PROT_ALL)
    words = []
    for i, arr in enumerate(arrays):
        uc.mem_write(0x30000000 + i * 0x10000, arr.tobytes())
        words.append(0x30000000 + i * 0x10000)
    regs = [R.UC_ARM_REG_R0, R.UC_ARM_REG_R1, R.UC_ARM_REG_R2, R.UC_ARM_REG_R3]
    for reg, value in zip(regs, words + scalars):
        uc.reg_write(reg, value & 0xFFFFFFFF)
    uc.reg_write(R.UC_ARM_REG_SP, 0x300F0000)
    uc.reg_write(R.UC_ARM_REG_LR, RETURN_ADDRESS | 1)
    counts = collections.Counter()
    uc.hook_add(UC_HOOK_CODE, lambda _uc, address, _size, _data: counts.update((address,)))
    uc.emu_start(image.function(name).address | 1, RETURN_ADDRESS)
    return counts


@pytest.mark.parametrize("cpu", CPUS)
def test_block_counts_equal_a_code_hook_without_it_blocks(cpu):
    m = machine(cpu)
    assert "\tit" not in m.disassemble("fx_copy") and " it " not in m.disassemble("fx_copy")
    src = RNG.integers(-128, 128, 77).astype(np.int8)
    res = m.call("fx_copy", Out(np.zeros(77, np.int8)), src, 77)
    reference = _code_hook_counts(cpu, "fx_copy", [np.zeros(77, np.int8), src], [77])
    assert dict(res.stats.per_instruction) == dict(reference)
    assert res.stats.instructions == sum(reference.values())


@pytest.mark.parametrize("cpu", CPUS)
def test_failed_it_conditions_count_in_block_counting_only(cpu):
    x = RNG.integers(-5, 5, 50).astype(np.int32)
    res = machine(cpu).call("fx_count_positive", x, 50)
    assert res.value == int((x > 0).sum())
    reference = _code_hook_counts(cpu, "fx_count_positive", [x], [50])
    skipped = int((x <= 0).sum())
    assert res.stats.instructions == sum(reference.values()) + skipped
    diff = {a: c - reference.get(a, 0) for a, c in res.stats.per_instruction.items()
            if c != reference.get(a, 0)}
    fn = machine(cpu).image.function("fx_count_positive")
    addgt = [i.address for i in machine(cpu).code.insns
             if fn.address <= i.address < fn.end and i.name == "add" and i.conditional]
    assert diff == {addgt[0]: skipped}


@pytest.mark.parametrize("cpu", CPUS)
def test_static_decode_agrees_with_unicorn_translation_blocks(cpu):
    m = machine(cpu)
    x = RNG.integers(-128, 128, 256).astype(np.int8)
    m.call("fx_mac", x, x, 256, 3)
    starts, _ = m._native.block_views(m._block)
    checked = 0
    for h in np.flatnonzero(starts[:-1]):
        pc, icount, size = m.uc.ctl_request_cache(m.code.base + 2 * int(h))
        hw = (pc - m.code.base) // 2
        assert m.code.prefix[hw + size // 2] - m.code.prefix[hw] == icount
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("cpu", CPUS)
def test_counts_are_exactly_linear_in_loop_trips(cpu):
    m = machine(cpu)
    x = RNG.integers(-128, 128, 64).astype(np.int8)
    runs = [m.call("fx_mac", x, x, 64, reps).stats for reps in (1, 2, 3, 10)]
    per_rep = runs[1].instructions - runs[0].instructions
    assert per_rep > 16 * 8
    assert runs[2].instructions - runs[1].instructions == per_rep
    assert runs[3].instructions == runs[0].instructions + 9 * per_rep
    s = runs[3]
    assert s.instructions == sum(s.per_function.values()) == sum(s.histogram.values()) \
        == sum(s.per_instruction.values())
    assert s.histogram["smlad"] == 2 * 16 * 10 and s.histogram["sxtb16"] >= 2 * 16 * 10


@pytest.mark.parametrize("cpu", CPUS)
def test_per_function_totals_follow_the_symbols(cpu):
    m = machine(cpu)
    x = np.arange(9, dtype=np.int32)
    res = m.call("fx_sum_squares", x, 9)
    assert res.value == int((x * x).sum())
    square_len = len(m.disassemble("fx_square").splitlines())
    assert res.stats.per_function["fx_square"] == 9 * square_len
    assert set(res.stats.per_function) == {"fx_sum_squares", "fx_square"}


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("n", [1, 2, 17])
def test_m4_cycle_estimate_applies_the_cost_table(cpu, n):
    # fx_count_positive: movs, cbz (not taken), n x (ldr 2, cmp, it, addgt, subs: 1 each),
    # bne taken n-1 times (3) and once not (1), mov, bx lr (3): 9n + 4 cycles
    x = RNG.integers(-5, 5, n).astype(np.int32)
    assert machine(cpu).call("fx_count_positive", x, n).stats.m4_cycles_estimate == 9 * n + 4


def test_counting_overhead_ratio():
    """Raw vs counted emulation speed (printed, not asserted: wall time is not testable)."""
    raw = machine("cortex-m7", instrument=False)
    counted = machine("cortex-m7")
    x = RNG.integers(-128, 128, 1024).astype(np.int8)
    reps = 1600   # about 5 M instructions
    r_raw = min((raw.call("fx_mac", x, x, 1024, reps) for _ in range(3)),
                key=lambda r: r.wall_seconds)
    r_cnt = min((counted.call("fx_mac", x, x, 1024, reps) for _ in range(3)),
                key=lambda r: r.wall_seconds)
    assert r_raw.stats is None and r_raw.value == r_cnt.value
    n = r_cnt.stats.instructions
    assert n == counted.call("fx_mac", x, x, 1024, reps).stats.instructions
    print(f"\nfx_mac {n:,} instructions: raw {n / r_raw.wall_seconds / 1e6:.0f} M/s, "
          f"counted {n / r_cnt.wall_seconds / 1e6:.0f} M/s, "
          f"overhead {1 - r_raw.wall_seconds / r_cnt.wall_seconds:.1%}")


# ---------------------------------------------------------------- faults

def _fault(cpu, name, *args, machine_kwargs=None, **kwargs) -> str:
    m = machine(cpu, **(machine_kwargs or {}))
    with pytest.raises(KernelFault) as info:
        m.call(name, *args, **kwargs)
    message = str(info.value)
    assert f"kernel {name!r} ({cpu}" in message
    # the machine is still usable after a fault
    dst = np.zeros(5, np.int8)
    m.call("fx_copy", Out(dst), np.arange(5, dtype=np.int8), 5)
    assert list(dst) == [0, 1, 2, 3, 4]
    return message


@pytest.mark.parametrize("cpu", CPUS)
def test_planted_out_of_bounds_write_is_caught(cpu):
    msg = _fault(cpu, "fx_oob_write", Out(np.zeros(100, np.int8), name="out"), 100)
    assert "write of 1 byte at 0x" in msg
    assert "16 bytes past the end of argument 0 'out' (Out int8[100], 100 B)" in msg
    assert "fx_oob_write+0x" in msg and "fx_harness.c:" in msg and "strb" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_write_before_the_start_is_located_by_a_rerun(cpu):
    out = np.zeros(100, np.int8)
    msg = _fault(cpu, "fx_underflow_write", Out(out), 100)
    assert "3 bytes before the start of argument 0" in msg and "pc 0x" in msg
    assert not out.any(), "Out arrays are not updated when the kernel faults"


@pytest.mark.parametrize("cpu", CPUS)
def test_read_past_the_end_is_caught(cpu):
    msg = _fault(cpu, "fx_overflow_read", np.zeros(10, np.int32), 10)
    assert "read of 4 bytes" in msg and "just past the end of argument 0 (input int32[10]" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_read_before_the_start_needs_exact_bounds(cpu):
    msg = _fault(cpu, "fx_underflow_read", np.zeros(100, np.int8), 100,
                 machine_kwargs={"exact_bounds": True})
    assert "read of 1 byte" in msg and "1 byte before the start of argument 0" in msg
    assert "ldrsb" in msg


def test_exact_bounds_gives_the_same_results_and_counts():
    x = RNG.integers(-128, 128, 256).astype(np.int8)
    fast = machine("cortex-m7").call("fx_mac", x, x, 256, 4)
    exact = machine("cortex-m7", exact_bounds=True).call("fx_mac", x, x, 256, 4)
    assert fast.value == exact.value and fast.stats.instructions == exact.stats.instructions


@pytest.mark.parametrize("cpu", CPUS)
def test_writing_an_input_is_caught(cpu):
    msg = _fault(cpu, "fx_write_input", In(np.zeros(8, np.int8), name="x"))
    assert "inside read-only input argument 0 'x'" in msg and "Out(...)" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_null_and_unmapped_accesses(cpu):
    assert "NULL pointer" in _fault(cpu, "fx_load", 0)
    msg = _fault(cpu, "fx_load", 0x30000000)
    assert "read of 4 bytes at 0x30000000" in msg and "unmapped" in msg
    msg = _fault(cpu, "fx_call_ptr", 0x30000001)
    assert "jumped to 0x30000000 (which is unmapped" in msg and "not code" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_invalid_instruction(cpu):
    msg = _fault(cpu, "fx_trap")
    assert f"invalid instruction for {cpu}" in msg and "udf" in msg and "fx_trap+0x0" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_breakpoint_has_no_handler(cpu):
    msg = _fault(cpu, "fx_breakpoint")
    assert "BKPT breakpoint: no handler in the emulator" in msg and "bkpt #1" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_runaway_loop_hits_the_budget(cpu):
    msg = _fault(cpu, "fx_spin", np.zeros(1, np.int32), budget=10_000)
    assert "without returning (budget 10,000)" in msg and "fx_spin+0x" in msg


def test_a_returning_kernel_over_budget_is_refused():
    x = np.ones(64, np.int8)
    exact = machine("cortex-m7").call("fx_mac", x, x, 64, 5).stats.instructions
    assert machine("cortex-m7").call("fx_mac", x, x, 64, 5, budget=exact).value == 64 * 5
    msg = _fault("cortex-m7", "fx_mac", x, x, 64, 5, budget=exact - 1)
    assert f"returned after {exact:,} instructions, over its budget of {exact - 1:,}" in msg


def test_stack_overflow():
    msg = _fault("cortex-m7", "fx_big_frame", 3, machine_kwargs={"stack_size": 4096})
    assert "below the 4096 B stack: a stack overflow" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_unaligned_ldrd_is_flagged(cpu):
    base = np.arange(16, dtype=np.int8)
    m = machine(cpu)
    res = m.call("fx_ldrd_sum", In(base, align=8), 4)
    words = base.view(np.int32)
    assert res.value == int(words[1] + words[2]) and res.stats.alignment_checks == 1
    msg = _fault(cpu, "fx_ldrd_sum", In(base, align=8), 2)
    assert "unaligned multi-word access" in msg and "ldrd r2, r3, [r0, #8]" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_unaligned_post_indexed_ldrd_is_flagged(cpu):
    pairs = np.arange(8, dtype=np.int32)
    assert machine(cpu).call("fx_ldrd_post_sum", pairs, 4).value == int(pairs.sum())
    odd = np.zeros(33, np.int8)   # 33 bytes, end-aligned: the start is odd
    msg = _fault(cpu, "fx_ldrd_post_sum", In(odd, align=1), 4)
    assert "unaligned multi-word access" in msg and "ldrd r2, r3, [r0], #8" in msg


@pytest.mark.parametrize("cpu", CPUS)
def test_ldrd_skipped_by_its_it_condition_is_not_flagged(cpu):
    odd = In(np.arange(33, dtype=np.int8), align=1)   # end-aligned 33 bytes: odd start
    res = machine(cpu).call("fx_ldrd_if", 0, odd)
    assert res.value == 0 and res.stats.alignment_checks == 0
    assert "unaligned multi-word access" in _fault(cpu, "fx_ldrd_if", 1, odd)


@pytest.mark.parametrize("cpu", CPUS)
def test_unaligned_ldm_is_flagged(cpu):
    m = machine(cpu)
    assert any(k in m.disassemble("fx_copy_quad") for k in ("ldm", "ldmia"))
    src = np.arange(20, dtype=np.int8)
    dst = np.zeros(4, np.int32)
    m.call("fx_copy_quad", Out(dst), In(src, align=4), 4)
    np.testing.assert_array_equal(dst, src[4:20].view(np.int32))
    assert "unaligned multi-word access" in _fault(cpu, "fx_copy_quad", Out(dst),
                                                   In(src, align=4), 1)


@pytest.mark.parametrize("cpu", CPUS)
def test_callee_saved_register_clobber_is_caught(cpu):
    assert "returned with r5 changed" in _fault(cpu, "fx_clobber_r5")
