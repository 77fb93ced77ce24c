"""Shared by the arm_emu tests: the fixture ELF's sources and one Machine per CPU model."""
from __future__ import annotations

import functools
from pathlib import Path

from arm_emu import Machine

FIXTURES = Path(__file__).resolve().parent / "arm_fixtures"
SOURCES = [FIXTURES / "fx_harness.c", FIXTURES / "fx_dsp.c", FIXTURES / "fx_asm.S"]
CPUS = ("cortex-m4", "cortex-m7")


@functools.lru_cache(maxsize=None)
def machine(cpu: str, **kwargs) -> Machine:
    """A Machine over the fixture ELF, shared by every test in the session."""
    return Machine.from_sources(SOURCES, cpu, **kwargs)
