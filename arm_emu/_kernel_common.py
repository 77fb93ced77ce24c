"""What kernels_conv and kernels_dw share: the run result, the cached machine per source
set, C's int32 wrap-around for packed parameters and the C kernels' status check."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tinysim.errors import KernelFault

from .machine import Machine, RunStats

TS_OK = 0  # ts_status (kernels_c/ts_nn.h); every other value is TS_ERROR_ARGUMENT


@dataclass(frozen=True)
class KernelRun:
    """What one kernel call produced: ``output`` shaped as kernels_ref returns it."""
    output: np.ndarray
    stats: RunStats


def machine_factory(sources: tuple):
    """``machine(cpu)``: one emulated core with all of ``sources`` (a cached build)."""
    @functools.lru_cache(maxsize=None)
    def machine(cpu: str = "cortex-m7") -> Machine:
        """One emulated core with all of this module's kernels (a cached build)."""
        return Machine.from_sources(sources, cpu)
    return machine


def wrap_int32(values) -> np.ndarray:
    """int64 values -> int32 with two's-complement wrap-around (C's int32 arithmetic)."""
    return (np.asarray(values, np.int64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def check_status(kernel: str, status: int, params: np.ndarray,
                 fields: tuple[str, ...] | None = None) -> None:
    """KernelFault unless the kernel returned TS_OK; ``fields`` names the params' words."""
    if status != TS_OK:
        shown = params.tolist() if fields is None else \
            ", ".join(f"{n}={int(v)}" for n, v in zip(fields, params))
        raise KernelFault(f"{kernel} rejected its arguments (status {status}, "
                          f"TS_ERROR_ARGUMENT: an argument it does not support): {shown}")
