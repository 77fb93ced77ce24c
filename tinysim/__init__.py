"""tinysim: a golden model for tiny deep learning on microcontrollers."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (ArenaViolation, KernelFault, ModelLoadError, PlanError, ShapeError,  # noqa: E402
                     TinysimError, UnsupportedError)
from .ir import Graph, Operator, Quantization, Tensor  # noqa: E402
from .loader import load_model, load_model_bytes  # noqa: E402

__all__ = ["ArenaViolation", "Graph", "KernelFault", "ModelLoadError", "Operator", "PlanError",
           "Quantization", "ShapeError", "Tensor", "TinysimError", "UnsupportedError",
           "__version__", "load_model", "load_model_bytes"]
