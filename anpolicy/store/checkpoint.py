"""Training checkpoints (``checkpoint.pkl``), readable across module moves.

A checkpoint pickles the optimizer object, so the file names the class by its module
path (``anpolicy.es.CMAES``). Checkpoints written before the package was split into
layers name the old flat modules; `load_checkpoint` maps those paths to where the
classes live now, so a run started under the old layout resumes under the new one.
`save_checkpoint` writes one atomically; `RunClock` keeps a run's wall time across
resumes and says when the next checkpoint is due (the trainer and `apg` share it).
"""

from __future__ import annotations

import io
import pickle
import time
from pathlib import Path

from anpolicy.store.files import write_atomic

# old flat module -> its module now (only modules whose classes a checkpoint can hold
# matter, but every moved module is listed so that the map is the whole move)
MOVED_MODULES = {
    "anpolicy.analysis": "anpolicy.stats",
    **{
        f"anpolicy.{m}": f"anpolicy.sim.{m}"
        for m in (
            "physics",
            "env",
            "policy",
            "fused",
            "reference",
            "schedules",
            "interventions",
            "rollout",
            "distributed",
        )
    },
    **{f"anpolicy.{m}": f"anpolicy.store.{m}" for m in ("weights", "data", "results", "authors")},
    **{
        f"anpolicy.{m}": f"anpolicy.training.{m}"
        for m in ("es", "train", "distill", "apg", "bench", "config_help")
    },
    "anpolicy.study": "anpolicy.study.chapters",
    **{
        f"anpolicy.{m}": f"anpolicy.study.{m}"
        for m in (
            "experiments",
            "published",
            "claims",
            "verdicts",
            "streams",
            "attention",
            "baselines",
            "diagnostics",
            "learning",
            "recipe",
            "explorer_model",
            "chapter_params",
        )
    },
    **{
        f"anpolicy.{m}": f"anpolicy.report.{m}"
        for m in ("plots", "learning_plots", "training_plots", "widgets")
    },
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return super().find_class(MOVED_MODULES.get(module, module), name)


def loads_checkpoint(data: bytes):
    """Unpickle checkpoint bytes, mapping module paths of the old flat layout."""
    return _Unpickler(io.BytesIO(data)).load()


ES_CHECKPOINT_KEYS = ("config", "optimizer", "gen")  # the evolution-strategy trainer's


def load_checkpoint(path, keys=ES_CHECKPOINT_KEYS):
    """Read a ``checkpoint.pkl`` (see `loads_checkpoint`) that holds ``keys`` (the ES
    trainer's by default). CheckpointError (one line naming the file) when it is
    truncated, corrupt, or not such a checkpoint."""
    from anpolicy.store.weights import CheckpointError

    try:
        state = loads_checkpoint(Path(path).read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (corrupt or truncated: {e})"
        ) from e
    except (AttributeError, ImportError) as e:  # a class this code does not have
        raise CheckpointError(f"{path}: written by incompatible code ({e})") from e
    if not isinstance(state, dict) or not all(k in state for k in keys):
        raise CheckpointError(f"{path}: not a training checkpoint (it lacks {list(keys)})")
    return state


def save_checkpoint(path, state) -> Path:
    """Pickle ``state`` to ``path`` atomically (`anpolicy.store.files.write_atomic`)."""
    return write_atomic(path, pickle.dumps(state))


class RunClock:
    """Wall-clock seconds of a run across resumes, and when a checkpoint is due.

    ``wall_s``: the seconds the run had when this process took it over (0 for a new
    run, the checkpoint's ``wall_s`` on resume); a checkpoint is due every
    ``every_minutes`` after the last one (`saved` says one was just written).
    """

    def __init__(self, wall_s: float, every_minutes: float):
        self.wall0, self.every_s = float(wall_s), 60 * every_minutes
        self.start = self.last_saved = time.time()

    def elapsed(self) -> float:
        return self.wall0 + time.time() - self.start

    def checkpoint_due(self) -> bool:
        return time.time() - self.last_saved >= self.every_s

    def saved(self) -> None:
        self.last_saved = time.time()
