"""Shared fixtures: the original authors' weights (a conformance fixture in ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(
    os.environ.get("ANPOLICY_REFERENCE", REPO.parent / "shared/reference/tang-ha-2021-cartpole-pi")
)
AUTHORS_WEIGHTS = REFERENCE_DIR / "model.npz"


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def authors_weights_path() -> Path:
    if not AUTHORS_WEIGHTS.is_file():
        pytest.skip(
            f"the original authors' weights are not at {AUTHORS_WEIGHTS} "
            "(../shared/reference is absent); conformance tests need them"
        )
    return AUTHORS_WEIGHTS


@pytest.fixture
def random_an_params():
    def make(population: int = 1, scale: float = 0.5, seed: int = 0) -> np.ndarray:
        from anpolicy.policy import AttentionNeuronPolicy

        rng = np.random.default_rng(seed)
        n = AttentionNeuronPolicy().n_params
        return (scale * rng.standard_normal((population, n))).astype(np.float32)

    return make
