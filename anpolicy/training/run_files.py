"""What a training run's folder holds besides its checkpoint: snapshots, log, code version.

``<run>/snapshots/gen_XXXXXX.npz`` are agent files of the best-so-far parameters every
``snapshot_every`` generations (`snapshot_path`, `snapshot_generations`,
`load_snapshots`); ``log.jsonl`` one JSON row per generation (`_log_upto` cuts it at a
checkpoint's generation); `code_version` the git commit the run was started from.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from anpolicy.store.weights import load_agent

SNAPSHOT_DIR = "snapshots"


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


def snapshot_path(run_dir, gen: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"gen_{gen:06d}.npz"


def snapshot_generations(run_dir) -> list[int]:
    """Generations of the snapshots a run directory holds, ascending."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    return sorted(int(p.stem[4:]) for p in folder.glob("gen_*.npz"))


def load_snapshots(run_dir) -> list[tuple[object, np.ndarray, dict]]:
    """``[(policy, params, meta), ...]`` of a run's snapshot series, by generation.
    ``meta`` holds ``generation``, ``episodes`` (training episodes seen), ``env_steps``,
    ``wall_s``, ``validation_mean`` and ``validation_se``."""
    return [load_agent(snapshot_path(run_dir, g)) for g in snapshot_generations(run_dir)]


def _log_upto(log_path: Path, step: int, key: str = "gen") -> str:
    """The log's lines up to ``step`` of column ``key`` (a checkpoint's), as text."""
    lines = log_path.read_text().splitlines() if log_path.exists() else []
    return "".join(ln + "\n" for ln in lines if ln.strip() and json.loads(ln)[key] <= step)
