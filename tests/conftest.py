"""Shared fixtures: the original authors' weights (resolved by `anpolicy.authors`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def authors_weights_path() -> Path:
    """Tang & Ha's weights through the one resolver (`anpolicy.authors.resolve`): the
    fetched copy, else ../shared/reference; skipped, naming the command, when absent."""
    from anpolicy import authors

    try:
        return authors.resolve()
    except authors.AuthorsWeightsMissing as e:
        pytest.skip(f"conformance tests need the authors' weights: {e}")


@pytest.fixture
def random_an_params():
    def make(population: int = 1, scale: float = 0.5, seed: int = 0) -> np.ndarray:
        from anpolicy.policy import AttentionNeuronPolicy

        rng = np.random.default_rng(seed)
        n = AttentionNeuronPolicy().n_params
        return (scale * rng.standard_normal((population, n))).astype(np.float32)

    return make
