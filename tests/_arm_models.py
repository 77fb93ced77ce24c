"""Python models of Arm instruction semantics (ARMv7-M Architecture Reference Manual) and
the one-instruction check, shared by tests/properties/test_arm_dsp.py and
test_kernels_dw_props.py (here, beside arm_harness, so test_kernels_conv.py can import
test_arm_dsp as properties.test_arm_dsp).

A fixture function maps one instruction over arrays, out[i] = op(a[i], b[i], c[i]), so one
emulator call checks a whole Hypothesis example; a model takes the three operands as
unsigned 32-bit ints and returns the result (masked to 32 bits by the check).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from arm_emu import Machine, Out

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def s8(v: int) -> int:
    v &= 0xFF
    return v - 0x100 if v & 0x80 else v


def s16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def byte(v: int, i: int) -> int:
    return (v >> (8 * i)) & 0xFF


def half(v: int, i: int) -> int:
    return (v >> (16 * i)) & 0xFFFF


def halves(lo: int, hi: int) -> int:
    return (lo & 0xFFFF) | (hi & 0xFFFF) << 16


def select_bytes(ge: list[bool], z: int, w: int) -> int:
    return sum((byte(z, i) if ge[i] else byte(w, i)) << (8 * i) for i in range(4))


def sel_after_ssub8(x: int, y: int, z: int, w: int) -> int:
    return select_bytes([s8(byte(x, i)) - s8(byte(y, i)) >= 0 for i in range(4)], z, w)


def operand_arrays(edges: list[int], max_len: int):
    """Three int32 arrays of one length in [1, max_len]: any int32 or one of ``edges``."""
    int32s = st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(edges))

    @st.composite
    def arrays(draw):
        n = draw(st.integers(1, max_len))
        return [np.array(draw(st.lists(int32s, min_size=n, max_size=n)), np.int32)
                for _ in range(3)]
    return arrays()


def assert_instruction_matches(m: Machine, name: str, model, mnemonic: str,
                               operands: list[np.ndarray]) -> None:
    """Run fixture ``name`` on the operands: ``mnemonic`` ran once per element at least and
    every output equals ``model``'s."""
    a, b, c = operands
    out = np.zeros(len(a), np.int32)
    res = m.call(name, a, b, c, Out(out), len(a))
    assert res.stats.histogram.get(mnemonic, 0) >= len(a), "the instruction really ran"
    expected = [model(int(x) & 0xFFFFFFFF, int(y) & 0xFFFFFFFF, int(z) & 0xFFFFFFFF) & 0xFFFFFFFF
                for x, y, z in zip(a, b, c)]
    np.testing.assert_array_equal(out.view(np.uint32), np.array(expected, np.uint32))
