"""The agents this project trained and ships in ``data/`` (see ``data/manifest.json``).

``load_shipped("attention_neuron")`` returns ``(policy, params, meta)`` after checking
the file against the manifest's SHA-256; `ship_run` copies a finished training run
(agent, config, log) into ``data/`` and records it in the manifest, with its parent (the
shipped agent its ``--init-from`` file was, by SHA-256, or else the training run whose
folder that file came from, with that run's cost up to the file's generation: a fork of a
run that was never shipped). A name already shipped is never
overwritten: `ship_run` refuses it unless ``retire_as`` names where the shipped agent
goes (`rename_shipped`), so no earlier agent is lost.
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


def rename_shipped(old: str, new: str, data_dir: Path = DATA_DIR) -> dict:
    """Move the shipped agent ``old`` to the name ``new``: its agent file, log and
    snapshots, its manifest entry, and every other entry's ``parent`` that named it.
    Refuses an unknown ``old`` (KeyError) and a ``new`` already taken (FileExistsError).
    Returns the moved entry."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    agents = manifest["agents"]
    if old not in agents:
        raise KeyError(f"unknown agent {old!r}; shipped agents: {sorted(agents)}")
    _check_name(new)
    if new in agents or (data_dir / "agents" / f"{new}.npz").exists():
        raise FileExistsError(f"an agent named {new!r} is already shipped; pick another name")
    entry = agents.pop(old)
    moves = {"file": f"agents/{new}.npz", "log": f"logs/{new}.jsonl"}
    if "snapshots" in entry:
        moves["snapshots"] = f"snapshots/{new}"
    for key, dest in moves.items():
        (data_dir / entry[key]).rename(data_dir / dest)
        entry[key] = dest
    agents[new] = entry
    for other in agents.values():
        parent = other.get("parent")
        for key in ("agent", "from_agent"):  # a shipped parent, or a parent run's start
            if isinstance(parent, dict) and parent.get(key) == old:
                parent[key] = new
    _write_manifest(data_dir, manifest)
    return entry


def ship_run(
    run_dir, name: str, data_dir: Path = DATA_DIR, note: str = "", retire_as: str | None = None
) -> dict:
    """Copy ``run_dir``'s agent, config, log and snapshots into ``data_dir`` as ``name``
    and record it in the manifest. Where ``name`` is already shipped, ``retire_as`` must
    name where that agent goes (`rename_shipped`); without it, FileExistsError and nothing
    changes. A run started from a file (``init_from``) whose SHA-256 is a shipped agent's
    records that agent as its ``parent`` (name, sha256, generations, wall_s, env_steps);
    one started from a file in another run's folder (its agent.npz, best.npz or a
    snapshot) records that run instead (`_run_parent`)."""
    run, data_dir = Path(run_dir), Path(data_dir)
    _check_name(name)
    agent = run / "agent.npz"
    if not agent.is_file() and (run / "checkpoint.pkl").is_file():
        raise FileNotFoundError(
            f"{run} has not finished (no agent.npz, a checkpoint): finish it (resume it with "
            "--minutes 1) or ship its last checkpoint with --from-checkpoint"
        )
    _, _, meta = load_agent(agent)  # refuses a broken file
    init_sha = _init_sha(meta["config"].get("init_from", ""))  # before a retirement moves it
    manifest_path = data_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"agents": {}}
    if name in manifest["agents"]:
        if not retire_as:
            test = manifest["agents"][name].get("test", {})
            raise FileExistsError(
                f"an agent named {name!r} is already shipped (test mean "
                f"{test.get('mean', float('nan')):.1f}); ship under another name, or keep the "
                "shipped one under a new name with --retire-as NEW_NAME"
            )
        rename_shipped(name, retire_as, data_dir)
        manifest = read_manifest(data_dir)
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
    parent = _shipped_with_sha(manifest["agents"], init_sha)
    if parent:
        e = manifest["agents"][parent]
        cost = {k: e[k] for k in ("generations", "wall_s", "env_steps") if k in e}
        entry["parent"] = {"agent": parent, "sha256": init_sha, **cost}
    elif init_sha:
        parent_run = _run_parent(meta["config"]["init_from"], init_sha, manifest["agents"])
        if parent_run:
            entry["parent"] = parent_run
    manifest["agents"][name] = entry
    _write_manifest(data_dir, manifest)
    return entry


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-." for c in name) or name.startswith("."):
        raise ValueError(f"bad agent name {name!r}: use letters, digits, '_', '-' and '.'")


def _start_file(init_from: str) -> Path | None:
    """A run's starting file (``init_from`` as its config gives it, relative to the working
    folder or the repository); None for x0 = 0 or a file no longer there."""
    found = [p for p in (Path(init_from), DATA_DIR.parent / init_from) if p.is_file()]
    return found[0] if init_from and found else None


def _init_sha(init_from: str) -> str | None:
    """SHA-256 of a run's starting file (`_start_file`); None where there is none."""
    file = _start_file(init_from)
    return file_sha256(file) if file else None


def _shipped_with_sha(agents: dict, sha: str | None) -> str | None:
    """The name of the shipped agent whose file has SHA-256 ``sha`` (None: none)."""
    return next((n for n, e in agents.items() if sha and e.get("sha256") == sha), None)


def _run_parent(init_from: str, init_sha: str, agents: dict) -> dict | None:
    """``init_from`` (SHA-256 ``init_sha``) as a file in a training run's folder
    (``<run>/agent.npz``, ``best.npz`` or ``snapshots/gen_G.npz``, a run that may never
    have been shipped): the parent record ``{"run", "file", "sha256", "generations",
    "wall_s", "env_steps", "cpu_hours"}``, its cost counted from the run's log up to the
    file's generation (`cpu_seconds`), plus ``from_agent`` where that run itself started
    from a shipped agent. None when the file is gone or not in a run folder."""
    import numpy as np

    file = _start_file(init_from)
    if file is None:
        return None
    run = file.parent.parent if file.parent.name == "snapshots" else file.parent
    if not ((run / "config.json").is_file() and (run / "log.jsonl").is_file()):
        return None
    _, _, meta = load_agent(file)
    gen = int(meta.get("generation", meta.get("generations", 0)))
    cfg = json.loads((run / "config.json").read_text())
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x]
    rows = [r for r in rows if r["gen"] <= gen]
    log = {
        "wall_s": np.array([r["wall_s"] for r in rows], dtype=np.float64),
        "threads": np.array([r.get("threads", np.nan) for r in rows], dtype=np.float64),
    }
    parent = {
        "run": run.name,
        "file": init_from,
        "sha256": init_sha,
        "generations": gen,
        "wall_s": rows[-1]["wall_s"] if rows else 0.0,
        "env_steps": rows[-1].get("env_steps", 0) if rows else 0,
        "cpu_hours": cpu_seconds(log, default_threads=cfg.get("threads", 1)) / 3600,
    }
    start = _shipped_with_sha(agents, _init_sha(cfg.get("init_from", "")))
    if start:
        parent["from_agent"] = start
    return parent


def _write_manifest(data_dir: Path, manifest: dict) -> None:
    from anpolicy.store.files import write_atomic

    write_atomic(Path(data_dir) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


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
