"""Shared fixtures and the Hypothesis profiles.

CI loads the bounded ``ci`` profile (the default); ``HYPOTHESIS_PROFILE=deep`` explores more.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = (ROOT.parent / "shared" / "models").resolve()
sys.path.insert(0, str(ROOT))

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MODEL_NAMES = sorted(p.stem for p in SHARED_MODELS.glob("*.tflite"))


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / f"{name}.tflite"
    if not path.exists():
        pytest.fail(f"shared model {path} is missing: tests read ../shared/models beside the repo")
    return path


@pytest.fixture(scope="session")
def shared_models_dir() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.fail(f"{SHARED_MODELS} is missing: clone the repo with ../shared beside it")
    return SHARED_MODELS
