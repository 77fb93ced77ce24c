"""Every DSP, multiply-long and divide instruction the C kernels use, on the emulated
Cortex-M4 and M7, against a plain Python model of the instruction (ARMv7-M Architecture
Reference Manual semantics). The list follows what the kernels compile to: a kernel that
starts using a new one adds a fixture loop and a model here.

Each fixture function (tests/arm_fixtures/fx_dsp.c) maps one instruction over arrays,
out[i] = op(a[i], b[i], c[i]), so one emulator call checks a whole Hypothesis example.
"""
from __future__ import annotations

import pytest
from hypothesis import given

from _arm_models import (INT32_MAX, INT32_MIN, assert_instruction_matches, byte, half,
                         halves, operand_arrays, s8, s16, s32, sel_after_ssub8,
                         select_bytes)
from arm_harness import CPUS, machine

EDGES = [0, 1, -1, INT32_MIN, INT32_MAX, 0x7FFF, 0x8000, -0x8000, 0x7F7F7F7F, -0x7F7F7F80,
         0x00800080, 0x7FFF8000, -0x7FFF8000, 0x01000100, 0x0000FFFF, -0x10000]


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def sxtb16(x: int) -> int:
    return halves(s8(byte(x, 0)), s8(byte(x, 2)))


def ror8(x: int) -> int:
    return (x >> 8 | x << 24) & 0xFFFFFFFF


def sel_after_sadd8(x: int, y: int, z: int, w: int) -> int:
    return select_bytes([s8(byte(x, i)) + s8(byte(y, i)) >= 0 for i in range(4)], z, w)


def fold64(v: int) -> int:
    v &= (1 << 64) - 1
    return (v >> 32) ^ (v & 0xFFFFFFFF)


def sdiv(x: int, y: int) -> int:
    # Cortex-M with CCR.DIV_0_TRP clear (the reset value) returns 0 for a zero divisor
    if y == 0:
        return 0
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


# name -> model on unsigned 32-bit operands, returning the 32-bit result
MODELS = {
    "fx_smlad": lambda x, y, z: s16(x) * s16(y) + s16(x >> 16) * s16(y >> 16) + s32(z),
    "fx_smuad": lambda x, y, z: s16(x) * s16(y) + s16(x >> 16) * s16(y >> 16),
    "fx_sxtb16": lambda x, y, z: sxtb16(x),
    "fx_sxtb16_ror8": lambda x, y, z: sxtb16(ror8(x)),
    "fx_sxtab16": lambda x, y, z: halves(half(x, 0) + s8(byte(y, 0)), half(x, 1) + s8(byte(y, 2))),
    "fx_qadd": lambda x, y, z: clamp(s32(x) + s32(y), INT32_MIN, INT32_MAX),
    "fx_qsub": lambda x, y, z: clamp(s32(x) - s32(y), INT32_MIN, INT32_MAX),
    "fx_ssat8": lambda x, y, z: clamp(s32(x), -128, 127),
    "fx_ssat16": lambda x, y, z: clamp(s32(x), -32768, 32767),
    "fx_usat8": lambda x, y, z: clamp(s32(x), 0, 255),
    "fx_qadd8": lambda x, y, z: sum((clamp(s8(byte(x, i)) + s8(byte(y, i)), -128, 127) & 0xFF)
                                    << (8 * i) for i in range(4)),
    "fx_sadd16": lambda x, y, z: halves(half(x, 0) + half(y, 0), half(x, 1) + half(y, 1)),
    "fx_pkhbt16": lambda x, y, z: (x & 0xFFFF) | (y << 16 & 0xFFFF0000),
    "fx_sel": lambda x, y, z: sel_after_sadd8(x, y, z, ~z & 0xFFFFFFFF),
    "fx_smmulr": lambda x, y, z: (s32(x) * s32(y) + 0x80000000) >> 32,
    "fx_smlabb": lambda x, y, z: s16(x) * s16(y) + s32(z),
    "fx_smlatt": lambda x, y, z: s16(x >> 16) * s16(y >> 16) + s32(z),
    "fx_smmlar": lambda x, y, z: ((s32(z) << 32) + s32(x) * s32(y) + 0x80000000) >> 32,
    "fx_ssub8": lambda x, y, z: sum(((byte(x, i) - byte(y, i)) & 0xFF) << (8 * i)
                                    for i in range(4)),
    "fx_ssub8_sel": lambda x, y, z: sel_after_ssub8(x, y, z, ~z & 0xFFFFFFFF),
    "fx_sxtab": lambda x, y, z: x + s8(y),
    "fx_smlal": lambda x, y, z: fold64(((~z & 0xFFFFFFFF) << 32 | z) + s32(x) * s32(y)),
    "fx_umull": lambda x, y, z: fold64(x * y),
    "fx_sdiv": lambda x, y, z: sdiv(s32(x), s32(y)),
    "fx_clz": lambda x, y, z: 32 - x.bit_length(),
}
MNEMONIC = {"fx_sxtb16_ror8": "sxtb16", "fx_ssat8": "ssat", "fx_ssat16": "ssat",
            "fx_usat8": "usat", "fx_pkhbt16": "pkhbt", "fx_sel": "sel", "fx_ssub8_sel": "sel"}

@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name", sorted(MODELS))
@given(operands=operand_arrays(EDGES, 48))
def test_dsp_instruction_matches_its_model(cpu, name, operands):
    assert_instruction_matches(machine(cpu), name, MODELS[name], MNEMONIC.get(name, name[3:]),
                               operands)
