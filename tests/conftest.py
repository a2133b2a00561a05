"""Shared fixtures: the original authors' weights (resolved by `anpolicy.store.authors`) and
the quick build of the book (`built`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


# ------------------------------------------------------------- the quick build
# One quick build per test session, shared by tests/test_book.py and tests/test_pages.py.

BUILD = REPO / "scripts" / "build_book.py"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """Build the book once, quick profile; return the HTML folder. ``ANPOLICY_BUILT_HTML``
    names an existing quick build to use instead (a local shortcut, never set in CI)."""
    given = os.environ.get("ANPOLICY_BUILT_HTML")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("book")
    before = _git_status()
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--quick", "--path-output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert _git_status() == before, "building wrote into the source tree"
    html = out / "_build" / "html"
    assert str(html / "index.html") in proc.stdout
    return html


def _git_status() -> str:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return ""
    return subprocess.run(
        ["git", "status", "--porcelain", "--", "book", "_config.yml", "_toc.yml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout


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
