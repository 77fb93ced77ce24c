"""Acceptance of the foundation: every op of every shared model bit-exact with TFLM.

Inputs are seeded random, all-minimum and all-maximum (realistic floats for float-input
models); the comparison covers every intermediate tensor, not just the outputs.
"""
from __future__ import annotations

import pytest

from conftest import MODEL_NAMES, shared_model
from tinysim.verify import verify_model


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_tensor_bit_exact_with_tflm(name):
    report = verify_model(shared_model(name), count=4, seed=1)
    assert report.n_inputs == 4
    assert report.ok, report.summary_line() + "\n" + "\n".join(
        m.describe() for m in report.mismatches[:10])
    assert report.summary_line().endswith(f"{report.n_ops}/{report.n_ops} ops bit-exact over 4 inputs")
