"""The trainer's snapshot series: every ``snapshot_every`` generations (and generation 0),
validated, with episodes seen; no gap or duplicate after a SIGKILL and a resume; SIGTERM
checkpoints and exits; the step-size stopping rule; ``ship`` carries the series."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from anpolicy.store.data import load_shipped_snapshots, ship_run
from anpolicy.training.train import TrainConfig, load_snapshots, snapshot_generations, train
from tests.conftest import REPO

TINY = dict(
    policy="fnn",
    optimizer="pgpe",
    popsize=8,
    rollouts=2,
    validate_every=3,
    validate_episodes=8,
    test_episodes=8,
    threads=1,
    checkpoint_minutes=0.0,
    snapshot_every=2,
)


def _cli_args(run_dir, generations: int) -> list[str]:
    args = [sys.executable, "-m", "anpolicy", "train", "--run-dir", str(run_dir)]
    for k, v in {**TINY, "generations": generations}.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return args


def _log_rows(run_dir) -> list[dict]:
    path = run_dir / "log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x] if path.exists() else []


def _start_and_wait(run_dir, generations: int, rows: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        _cli_args(run_dir, generations),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 180
    while len(_log_rows(run_dir)) < rows:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the run never got going"
        time.sleep(0.05)
    return proc


def test_snapshot_series_survives_a_kill_and_a_resume(tmp_path):
    full = TrainConfig(**TINY, generations=8, run_dir=str(tmp_path / "full"))
    train(full, progress=False)
    assert snapshot_generations(tmp_path / "full") == [0, 2, 4, 6, 8]

    # a run killed with SIGKILL after its 5th generation (between snapshots 4 and 6),
    # then resumed to the same budget
    proc = _start_and_wait(tmp_path / "killed", generations=1000, rows=5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert snapshot_generations(tmp_path / "killed")[-1] < 8
    resumed = TrainConfig(**TINY, generations=8, run_dir=str(tmp_path / "killed"))
    train(resumed, resume=True, progress=False)

    assert [r["gen"] for r in _log_rows(tmp_path / "killed")] == list(range(1, 9))
    series_full = load_snapshots(tmp_path / "full")
    series_resumed = load_snapshots(tmp_path / "killed")
    assert [m["generation"] for _, _, m in series_resumed] == [0, 2, 4, 6, 8]
    for (_, p_full, m_full), (_, p_res, m_res) in zip(series_full, series_resumed, strict=True):
        assert np.array_equal(p_full, p_res)  # same seed, same centres: nothing lost or redone
        assert m_res["episodes"] == m_res["generation"] * 8 * 2
        assert m_res["validation_mean"] == m_full["validation_mean"]
    # the best validated centre so far is kept beside the series
    best = np.load(tmp_path / "killed/best.npz")
    assert json.loads(str(best["meta"]))["validation_mean"] == max(
        m["validation_mean"] for _, _, m in series_resumed
    )


def test_sigterm_checkpoints_and_says_how_to_resume(tmp_path):
    proc = _start_and_wait(tmp_path / "r", generations=1000, rows=3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "--resume" in err and "Traceback" not in err
    last = _log_rows(tmp_path / "r")[-1]["gen"]
    # the checkpoint holds the last logged generation: resuming redoes nothing
    train(
        TrainConfig(**TINY, generations=last + 1, run_dir=str(tmp_path / "r")),
        resume=True,
        progress=False,
    )
    assert [r["gen"] for r in _log_rows(tmp_path / "r")] == list(range(1, last + 2))


def test_step_size_rule_stops_the_run_and_says_so(tmp_path):
    cma = {**TINY, "optimizer": "cma", "sigma0": 2.0}  # too wide a start: sigma shrinks
    train(TrainConfig(**cma, generations=12, run_dir=str(tmp_path / "free")), progress=False)
    sigmas = [r["step_size"] for r in _log_rows(tmp_path / "free")]
    # a threshold the free run first crosses at generation `first`, within its first half
    threshold = min(sigmas[:6]) * (1 + 1e-9)
    assert threshold < 2.0, "this set-up should shrink its step size at first"
    first = next(i for i, x in enumerate(sigmas, start=1) if x < threshold)
    cfg = TrainConfig(**cma, generations=12, stop_step_size=threshold, run_dir=str(tmp_path / "s"))
    train(cfg, progress=False)
    meta = json.loads((tmp_path / "s/result.json").read_text())
    rows = _log_rows(tmp_path / "s")
    assert [r["step_size"] for r in rows] == sigmas[:first]  # the same run, cut short
    assert first <= 6 and meta["generations"] == first and meta["stop_reason"] == "step_size"


def test_resume_may_switch_snapshots_on(tmp_path):
    cfg = TrainConfig(**{**TINY, "snapshot_every": 0}, generations=3, run_dir=str(tmp_path / "o"))
    train(cfg, progress=False)
    assert snapshot_generations(tmp_path / "o") == []
    cfg = TrainConfig(**{**TINY, "snapshot_every": 2}, generations=6, run_dir=str(tmp_path / "o"))
    train(cfg, resume=True, progress=False)
    assert snapshot_generations(tmp_path / "o") == [4, 6]


def test_ship_carries_the_snapshot_series(tmp_path):
    train(TrainConfig(**TINY, generations=4, run_dir=str(tmp_path / "run")), progress=False)
    data = tmp_path / "data"
    entry = ship_run(tmp_path / "run", "tiny", data_dir=data)
    assert entry["snapshots"] == "snapshots/tiny"
    shipped = load_shipped_snapshots("tiny", data_dir=data)
    assert [m["generation"] for _, _, m in shipped] == [0, 2, 4]


def test_ipop_restarts_with_a_doubled_population_and_resumes_exactly(tmp_path):
    ipop = {**TINY, "optimizer": "ipop", "sigma0": 0.1, "restart_step_size": 0.0999}
    budget = 8 * 2 * 12  # episodes: room for a restart with the doubled population
    full = TrainConfig(**ipop, generations=100, max_episodes=budget, run_dir=str(tmp_path / "f"))
    train(full, progress=False)
    rows = _log_rows(tmp_path / "f")
    sizes = [r["popsize"] for r in rows]
    assert sizes[0] == 8 and 16 in sizes, sizes  # at least one restart happened
    first_big = sizes.index(16)
    assert rows[first_big]["restarts"] == 1 and rows[first_big - 1]["restarts"] == 0
    assert rows[-1]["episodes"] == sum(s * 2 for s in sizes) >= budget > rows[-2]["episodes"]
    meta = json.loads((tmp_path / "f/result.json").read_text())
    assert meta["stop_reason"] == "episodes"

    half = TrainConfig(**ipop, generations=first_big + 1, run_dir=str(tmp_path / "p"))
    train(half, progress=False)
    resumed = TrainConfig(**ipop, generations=100, max_episodes=budget, run_dir=str(tmp_path / "p"))
    train(resumed, resume=True, progress=False)
    again = _log_rows(tmp_path / "p")
    assert [r["fit_mean"] for r in again] == [r["fit_mean"] for r in rows]
    assert [r["popsize"] for r in again] == sizes
