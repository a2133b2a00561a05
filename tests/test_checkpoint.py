"""Checkpoints pickled under the old flat module paths (``anpolicy.es.CMAES``, before the
package was split into layers) still load, and the optimizer resumes where it stopped."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from anpolicy.store.checkpoint import MOVED_MODULES, load_checkpoint, loads_checkpoint
from anpolicy.training import es
from tests.conftest import REPO


def _pickled_under_old_path(obj, monkeypatch) -> bytes:
    """Pickle ``obj`` as the old layout did: its classes named ``anpolicy.es.*``."""
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "anpolicy.es", es)
        for cls in (es.CMAES, es.PGPE, es.Adam):
            m.setattr(cls, "__module__", "anpolicy.es")
        data = pickle.dumps(obj)
    assert b"anpolicy.es" in data and b"anpolicy.training.es" not in data
    return data


@pytest.mark.parametrize("make", [
    lambda: es.CMAES(n=5, popsize=6, sigma0=0.1, seed=3),
    lambda: es.PGPE(n=5, popsize=6, seed=3),
])  # fmt: skip
def test_old_path_checkpoint_loads_and_resumes_the_same_samples(make, monkeypatch):
    opt = make()
    opt.tell(-np.sum(opt.ask() ** 2, axis=1))
    data = _pickled_under_old_path({"gen": 1, "es": opt}, monkeypatch)
    assert "anpolicy.es" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data)  # the plain unpickler cannot find the old module
    st = loads_checkpoint(data)
    assert type(st["es"]) is type(opt) and st["gen"] == 1
    np.testing.assert_array_equal(st["es"].ask(), opt.ask())


def test_every_moved_module_maps_to_a_module_that_exists():
    import importlib

    for old, new in MOVED_MODULES.items():
        assert old != new
        importlib.import_module(new)


# every committed checkpoint (finished runs drop theirs), old layout or new
RUNS = sorted(p.parent.name for p in (REPO / "data" / "runs").glob("*/checkpoint.pkl"))


@pytest.mark.parametrize("run", RUNS)
def test_committed_run_checkpoints_load(run):
    path = REPO / "data" / "runs" / run / "checkpoint.pkl"
    if not path.exists():
        pytest.skip(f"{path} not in this checkout")
    st = load_checkpoint(path)
    assert type(st["optimizer"]).__module__ == "anpolicy.training.es"
    assert isinstance(st["gen"], int) and st["gen"] > 0


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"\x80\x04\x95", "corrupt or truncated"),  # a pickle cut short
        (b"garbage\n", "corrupt or truncated"),
        (bytes(range(7, 107)), "corrupt or truncated"),
        (pickle.dumps([1, 2]), "not a training checkpoint"),
        (pickle.dumps({"gen": 3}), "it lacks"),
    ],
    ids=["truncated", "text", "noise", "a list", "keys missing"],
)
def test_a_bad_checkpoint_is_one_clear_error_from_the_cli_too(tmp_path, content, needle):
    from anpolicy.__main__ import main
    from anpolicy.store.weights import CheckpointError

    (tmp_path / "checkpoint.pkl").write_bytes(content)
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(tmp_path / "checkpoint.pkl")
    assert main(["sampling-state", str(tmp_path)]) == 2  # a user error, not an internal one
