"""The agents this project trained and ships in ``data/`` (see ``data/manifest.json``).

``load_shipped("attention_neuron")`` returns ``(policy, params, meta)`` after checking
the file against the manifest's SHA-256; `ship_run` copies a finished training run
(agent, config, log) into ``data/`` and records it in the manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from anpolicy.store.weights import CheckpointError, load_agent

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(data_dir: Path = DATA_DIR) -> dict:
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no agent manifest at {path}")
    return json.loads(path.read_text())


def load_shipped(name: str, data_dir: Path = DATA_DIR):
    """``(policy, params, meta)`` of a shipped agent, verified against the manifest."""
    entry = read_manifest(data_dir)["agents"].get(name)
    if entry is None:
        raise KeyError(
            f"unknown agent {name!r}; shipped agents: {sorted(read_manifest(data_dir)['agents'])}"
        )
    path = Path(data_dir) / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"agent file {path} listed in the manifest is missing")
    if file_sha256(path) != entry["sha256"]:
        raise CheckpointError(f"{path} does not match its SHA-256 in the manifest (corrupt?)")
    return load_agent(path)


def ship_run(run_dir, name: str, data_dir: Path = DATA_DIR, note: str = "") -> dict:
    """Copy ``run_dir``'s agent, config and log into ``data_dir``; update the manifest."""
    run, data_dir = Path(run_dir), Path(data_dir)
    agent = run / "agent.npz"
    _, _, meta = load_agent(agent)  # refuses a broken file
    (data_dir / "agents").mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(agent, data_dir / "agents" / f"{name}.npz")
    shutil.copyfile(run / "log.jsonl", data_dir / "logs" / f"{name}.jsonl")
    snapshots = sorted((run / "snapshots").glob("gen_*.npz"))
    if snapshots:  # the run's history of centres travels with the agent
        dest = data_dir / "snapshots" / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in snapshots:
            shutil.copyfile(f, dest / f.name)
    manifest_path = data_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"agents": {}}
    entry = {
        "file": f"agents/{name}.npz",
        "sha256": file_sha256(data_dir / "agents" / f"{name}.npz"),
        "log": f"logs/{name}.jsonl",
        "policy": meta["config"]["policy"],
        "optimizer": meta["config"]["optimizer"],
        "seed": meta["seed"],
        "code_version": meta["code_version"],
        "wall_s": meta["wall_s"],
        "env_steps": meta["env_steps"],
        "generations": meta["generations"],
        "test": meta["test"],
        "test_protocol": meta["test_protocol"],
        "config": meta["config"],
        "note": note,
    }
    if snapshots:
        entry["snapshots"] = f"snapshots/{name}"
    manifest["agents"][name] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry


def load_shipped_snapshots(name: str, data_dir: Path = DATA_DIR) -> list:
    """``[(policy, params, meta), ...]`` of a shipped agent's snapshot series, ascending
    in generation (see `anpolicy.training.train.load_snapshots`); empty when it has none."""
    entry = read_manifest(data_dir)["agents"].get(name)
    if entry is None:
        raise KeyError(f"unknown agent {name!r}")
    if "snapshots" not in entry:
        return []
    files = sorted((Path(data_dir) / entry["snapshots"]).glob("gen_*.npz"))
    return [load_agent(f) for f in files]


def load_log(name: str, data_dir: Path = DATA_DIR) -> dict:
    """A shipped agent's training log as arrays: ``{column: (n_rows,) array}``.

    Validation columns (``val_mean``, ``val_se``) are NaN on generations without one.
    Text columns (``engine``) are object arrays, None where a row lacks them.
    """
    import numpy as np

    entry = read_manifest(data_dir)["agents"].get(name)
    if entry is None:
        raise KeyError(f"unknown agent {name!r}")
    rows = [json.loads(x) for x in (Path(data_dir) / entry["log"]).read_text().splitlines() if x]
    keys = sorted({k for r in rows for k in r})
    out = {}
    for k in keys:
        if any(isinstance(r.get(k), str) for r in rows):
            out[k] = np.array([r.get(k) for r in rows], dtype=object)
        else:
            out[k] = np.array([r.get(k, np.nan) for r in rows], dtype=np.float64)
    return out


def cpu_seconds(log: dict, default_threads: int) -> float:
    """CPU time of a training log (from `load_log`): the sum over generations of the
    wall-clock since the previous row times that row's ``threads`` (rows written before
    the field existed count ``default_threads``, the run config's)."""
    import numpy as np

    wall = log["wall_s"]
    threads = log.get("threads", np.full_like(wall, np.nan))
    threads = np.where(np.isnan(threads), default_threads, threads)
    return float(np.sum(np.diff(wall, prepend=0.0) * threads))
