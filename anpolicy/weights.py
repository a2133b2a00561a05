"""Reading and writing trained agents.

Our format is an ``.npz`` with ``params`` (n_params,) float32, ``spec`` (JSON of the
policy's `spec()`), and ``meta`` (JSON: training config, seed, scores, ...). The original
authors' ``model.npz`` holds only ``params`` (913 values, their layout) and loads as the
default Attention Neuron. Anything else is an error that says what is wrong.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from anpolicy.policy import AttentionNeuronPolicy, make_policy


class CheckpointError(ValueError):
    """A weights file that cannot be used: missing, corrupt, or mismatched."""


def load_agent(path) -> tuple[object, np.ndarray, dict]:
    """Load ``(policy, params (n_params,) float32, meta)`` from a weights file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            files = dict(f)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path} is not a readable .npz weights file ({e})") from None
    if "params" not in files:
        raise CheckpointError(f"{path} has no 'params' array (keys: {sorted(files)})")
    params = np.asarray(files["params"])
    if "spec" in files:
        try:
            spec = json.loads(str(files["spec"]))
            policy = make_policy(spec)
        except (json.JSONDecodeError, ValueError) as e:
            raise CheckpointError(f"{path}: bad policy spec ({e})") from None
    else:
        policy = AttentionNeuronPolicy()  # the original authors' file
    meta = json.loads(str(files["meta"])) if "meta" in files else {"source": "authors"}
    if params.ndim != 1 or params.shape[0] != policy.n_params:
        raise CheckpointError(
            f"{path}: params has shape {params.shape}, but a {policy.kind} policy "
            f"{policy.spec()} needs ({policy.n_params},)"
        )
    if not np.isfinite(params).all():
        raise CheckpointError(f"{path}: params contain NaN or inf")
    return policy, params.astype(np.float32), meta


def save_agent(path, policy, params, meta: dict | None = None) -> Path:
    """Write an agent atomically (temporary file + rename); returns the path."""
    params = np.asarray(params, dtype=np.float32).reshape(-1)
    if params.shape[0] != policy.n_params or not np.isfinite(params).all():
        raise ValueError(f"params must be {policy.n_params} finite values, got {params.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(
            tmp,
            params=params,
            spec=np.array(json.dumps(policy.spec())),
            meta=np.array(json.dumps(meta or {}, default=str)),
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
