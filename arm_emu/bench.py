"""The kernel benchmark registry behind ``tinysim kernels bench`` and ``tinysim kernels check``.

A ``BenchCase`` is one C kernel on one layer shape: how to run it on a CPU model and what
kernels_ref says the output must be. Providers are the modules ``arm_emu/bench_*.py``
(found by name, like kernels_ref's op registry, so a kernel group adds its cases in its
own module); each defines

    cases() -> list[BenchCase]                  the fixed shapes: reference shapes and
                                                layers of the shared models
    sweep(seed: int, count: int) -> list[BenchCase]
                                                small random shapes for ``check``

``run_case`` turns a case into a ``BenchRecord``: MACs, executed instructions (exact,
block counting), instructions per MAC, the Cortex-M4 cycle ESTIMATE, the emulator's
throughput and whether the output equals kernels_ref bit for bit.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Protocol

import numpy as np

from tinysim.errors import TinysimError

from .build import REPO_ROOT
from .machine import RunStats


class RunResult(Protocol):
    """What a kernel wrapper returns (_kernel_common.KernelRun)."""
    output: np.ndarray
    stats: RunStats


@dataclass(frozen=True)
class BenchCase:
    kernel: str                            # the C function
    shape: str                             # e.g. "mcunet_vww1 op 5: 1x1 40x40x8->48"
    macs: int
    run: Callable[[str], RunResult]        # cpu name -> the kernel's output and stats
    reference: Callable[[], np.ndarray]    # kernels_ref's output for the same inputs


@dataclass(frozen=True)
class BenchRecord:
    kernel: str
    shape: str
    cpu: str
    macs: int
    instructions: int
    instructions_per_mac: float
    m4_cycles_estimate: int
    m4_cycles_per_mac_estimate: float
    emulator_instructions_per_second: float
    bit_exact: bool

    def as_dict(self) -> dict:
        return asdict(self)


def shared_models_dir() -> Path:
    """Where the shared int8 models live: $TINYSIM_MODELS, else ../shared/models."""
    override = os.environ.get("TINYSIM_MODELS")
    return Path(override) if override else (REPO_ROOT.parent / "shared" / "models").resolve()


def providers() -> list[ModuleType]:
    """The arm_emu/bench_*.py modules, in name order."""
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)])
                   if m.name.startswith("bench_"))
    return [importlib.import_module(f"{__package__}.{name}") for name in names]


def cases() -> list[BenchCase]:
    return [case for mod in providers() for case in mod.cases()]


def sweep(seed: int, count: int) -> list[BenchCase]:
    return [case for mod in providers() for case in mod.sweep(seed, count)]


def run_case(case: BenchCase, cpu: str) -> BenchRecord:
    result = case.run(cpu)
    stats = result.stats
    expected = case.reference()
    exact = result.output.shape == expected.shape and np.array_equal(result.output, expected)
    if case.macs <= 0:
        raise TinysimError(f"bench case {case.kernel} / {case.shape} has no MACs")
    return BenchRecord(
        kernel=case.kernel, shape=case.shape, cpu=cpu, macs=case.macs,
        instructions=stats.instructions,
        instructions_per_mac=stats.instructions / case.macs,
        m4_cycles_estimate=stats.m4_cycles_estimate,
        m4_cycles_per_mac_estimate=stats.m4_cycles_estimate / case.macs,
        emulator_instructions_per_second=stats.instructions_per_second,
        bit_exact=bool(exact))
