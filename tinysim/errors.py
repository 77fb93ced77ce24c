"""Exceptions users can meet. Each message names the model, the op or tensor, and the fix."""
from __future__ import annotations


class TinysimError(Exception):
    """Base of every error tinysim raises on purpose."""


class ModelLoadError(TinysimError):
    """The file is not a model tinysim can read (empty, truncated, not a flatbuffer...)."""


class UnsupportedError(TinysimError):
    """The model uses an op, dtype or option the int8 reference does not implement."""


class ShapeError(TinysimError):
    """Tensor shapes or an input array disagree with what the model declares."""


class PlanError(TinysimError):
    """A memory plan is malformed or does not fit the SRAM it was asked to fit."""


class ArenaViolation(TinysimError):
    """A kernel read arena bytes that no longer hold the tensor it meant to read."""


class KernelFault(TinysimError):
    """A C kernel faulted in the emulator (bad access, invalid instruction, runaway)."""
