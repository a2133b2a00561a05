"""What a training run's folder holds besides its checkpoint: snapshots, log, code version.

``<run>/snapshots/gen_XXXXXX.npz`` are agent files of the best-so-far parameters every
``snapshot_every`` generations (`snapshot_path`, `snapshot_generations`,
`load_snapshots`); ``log.jsonl`` one JSON row per generation (`_log_upto` cuts it at a
checkpoint's generation); `code_version` the git commit the run was started from.
``<run>/sampling_state.npz`` (`save_sampling_state`, written when a run finishes) keeps the
optimizer's final sampling distribution without its 6 MB checkpoint, so that a later run
can start where this one's step sizes ended (`load_sampling_stds`, ``--init-stds-from``).
`export_sampling_state` writes one from any run's last checkpoint, finished or still
running, under a name that carries its generation (``sampling-state`` on the command line).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from anpolicy.store.weights import load_agent

SNAPSHOT_DIR = "snapshots"
SAMPLING_STATE = "sampling_state.npz"


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


SNAPSHOT_PREFIX, SAMPLING_STATE_PREFIX = "gen_", "sampling_state_gen"  # + GGGGGG.npz


def generation_in_name(path) -> int | None:
    """The generation a run file's name carries: a snapshot's (``gen_GGGGGG.npz``) or a
    sampling state's written mid-run (``sampling_state_genGGGGGG.npz``); None otherwise."""
    stem = Path(path).stem
    for prefix in (SNAPSHOT_PREFIX, SAMPLING_STATE_PREFIX):
        if stem.startswith(prefix) and stem[len(prefix) :].isdigit():
            return int(stem[len(prefix) :])
    return None


def snapshot_path(run_dir, gen: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"{SNAPSHOT_PREFIX}{gen:06d}.npz"


def snapshot_generations(run_dir) -> list[int]:
    """Generations of the snapshots a run directory holds, ascending."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    return sorted(generation_in_name(p) for p in folder.glob(f"{SNAPSHOT_PREFIX}*.npz"))


def load_snapshots(run_dir) -> list[tuple[object, np.ndarray, dict]]:
    """``[(policy, params, meta), ...]`` of a run's snapshot series, by generation.
    ``meta`` holds ``generation``, ``episodes`` (training episodes seen), ``env_steps``,
    ``wall_s``, ``validation_mean`` and ``validation_se``."""
    return [load_agent(snapshot_path(run_dir, g)) for g in snapshot_generations(run_dir)]


def _log_upto(log_path: Path, step: int, key: str = "gen") -> str:
    """The log's lines up to ``step`` of column ``key`` (a checkpoint's), as text."""
    lines = log_path.read_text().splitlines() if log_path.exists() else []
    return "".join(ln + "\n" for ln in lines if ln.strip() and json.loads(ln)[key] <= step)


def save_sampling_state(path, optimizer, generation: int) -> Path:
    """Write an optimizer's final sampling distribution: ``center`` (n,), ``stds`` (n,)
    per-coordinate standard deviations (parameter units), ``step_size`` and the
    ``generation`` it belongs to."""
    path = Path(path)
    np.savez(
        path,
        center=np.asarray(optimizer.center, dtype=np.float64),
        stds=optimizer.stds,
        step_size=np.float64(optimizer.step_size),
        generation=np.int64(generation),
    )
    return path


def export_sampling_state(run_dir, out=None) -> tuple[Path, int]:
    """Write the sampling state of ``run_dir``'s last checkpoint (a run still training,
    or one that finished) to ``out`` (default ``<run>/sampling_state_genGGGGGG.npz``, the
    checkpoint's generation), so that a run can be forked mid-flight with the stdevs it
    has now: the file stays as written while the run goes on. Returns (path, generation).
    FileNotFoundError when the run has no checkpoint; ValueError when the checkpoint's
    optimizer keeps no per-parameter stdevs."""
    from anpolicy.store.checkpoint import load_checkpoint

    ckpt = Path(run_dir) / "checkpoint.pkl"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{run_dir}: no checkpoint.pkl to read a sampling state from")
    st = load_checkpoint(ckpt)
    optimizer, gen = st["optimizer"], int(st["gen"])
    if not hasattr(optimizer, "stds"):
        raise ValueError(f"{ckpt}: its optimizer ({type(optimizer).__name__}) keeps no stds")
    path = Path(out) if out else Path(run_dir) / f"{SAMPLING_STATE_PREFIX}{gen:06d}.npz"
    return save_sampling_state(path, optimizer, gen), gen


def load_sampling_stds(source, n_params: int) -> np.ndarray:
    """The per-coordinate standard deviations (n_params,) of a finished run's sampling
    state: ``source`` is the run folder or its ``sampling_state.npz``. ValueError when
    the file is not one, holds another number of parameters, or a value that is not a
    finite positive number; FileNotFoundError names the run that has none."""
    path = Path(source)
    if path.is_dir():
        path = path / SAMPLING_STATE
    if not path.is_file():
        raise FileNotFoundError(
            f"--init-stds-from: no {SAMPLING_STATE} at {path} (finished runs write one; "
            "runs finished before it existed have none)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            stds = np.asarray(z["stds"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"--init-stds-from: {path} is not a sampling state ({e})") from e
    if stds.shape != (n_params,):
        raise ValueError(
            f"--init-stds-from: {path} holds {stds.shape} stds; the policy has {n_params} "
            "parameters"
        )
    if not (np.isfinite(stds).all() and (stds > 0).all()):
        raise ValueError(f"--init-stds-from: {path} holds stds that are not finite and > 0")
    return stds
