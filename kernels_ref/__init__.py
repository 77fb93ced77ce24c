"""Numba int8 reference kernels, one op per module, with TFLM's integer semantics.

Every op module defines:
  OPCODES: tuple of TFLite op names it implements
  prepare(graph, op) -> Params       frozen dataclass; TFLM's Prepare (multipliers, pads,
                                     clamp ranges); raises UnsupportedError/ShapeError
                                     naming model, op index and tensor
  evaluate(params, inputs, outputs)  TFLM's Eval: reads ``inputs`` (arrays in op.inputs
                                     order, constants included, None for an omitted
                                     optional input) and writes every array in
                                     ``outputs`` in place (preallocated, right shape/dtype)
plus a public function taking plain arrays and the private ``@njit`` engine behind it.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_NOT_OPS = {"common", "quantization"}
_registry: dict[str, ModuleType] | None = None


def registry() -> dict[str, ModuleType]:
    """TFLite op name -> module implementing it (discovered, so adding an op is one file)."""
    global _registry
    if _registry is None:
        found: dict[str, ModuleType] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name in _NOT_OPS or info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if not getattr(mod, "OPCODES", ()):
                raise RuntimeError(f"{mod.__name__} is a public kernels_ref module without "
                                   "OPCODES: name private helpers with a leading underscore")
            for opcode in mod.OPCODES:
                if opcode in found:
                    raise RuntimeError(f"{opcode} implemented twice: {found[opcode].__name__}, "
                                       f"{mod.__name__}")
                found[opcode] = mod
        _registry = found
    return _registry
