"""Shared fixtures: the original authors' weights (resolved by `anpolicy.store.authors`)."""

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
    """Tang & Ha's weights through the one resolver (`anpolicy.store.authors.resolve`): the
    fetched copy, else ../shared/reference; skipped, naming the command, when absent."""
    from anpolicy.store import authors

    try:
        return authors.resolve()
    except authors.AuthorsWeightsMissing as e:
        pytest.skip(f"conformance tests need the authors' weights: {e}")


@pytest.fixture
def random_an_params():
    def make(population: int = 1, scale: float = 0.5, seed: int = 0) -> np.ndarray:
        from anpolicy.sim.policy import AttentionNeuronPolicy

        rng = np.random.default_rng(seed)
        n = AttentionNeuronPolicy().n_params
        return (scale * rng.standard_normal((population, n))).astype(np.float32)

    return make


@pytest.fixture(scope="module")
def an():
    """A random Attention Neuron: ``(policy, params (913,) float32)``, fixed seed."""
    from anpolicy.sim.policy import AttentionNeuronPolicy

    pol = AttentionNeuronPolicy()
    params = (0.5 * np.random.default_rng(0).standard_normal(pol.n_params)).astype(np.float32)
    return pol, params


@pytest.fixture
def explorer(an):
    """The explorer panel on the random agent (closed figures afterwards)."""
    import matplotlib.pyplot as plt

    from anpolicy.report.widgets import Explorer

    pol, params = an
    ex = Explorer(pol, params, agent="random", seed=1, episode=2, step=5)
    yield ex
    plt.close("all")


# ------------------------------------------------------------- markers and helpers


def pytest_collection_modifyitems(items):
    """Every test that needs the built book (the `built` fixture, directly or through
    another fixture) is ``slow``: ``pytest -m "not slow"`` is the quick loop; ``.ci/run``
    runs everything."""
    for item in items:
        if "built" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def run_cli(*args, check: bool = True):
    """``python -m anpolicy ARGS`` from the repository root; asserts exit status 0 when
    ``check``. Returns the `subprocess.CompletedProcess` (text output)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "anpolicy", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out
