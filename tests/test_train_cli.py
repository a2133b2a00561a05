"""Training (resumable, logged), shipped agents, and the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from anpolicy.store.data import load_shipped, read_manifest, ship_run
from anpolicy.store.weights import CheckpointError
from anpolicy.training.es import PGPE, centered_ranks
from anpolicy.training.train import TrainConfig, train
from tests.conftest import REPO
from tests.conftest import run_cli as _cli


def tiny_config(run_dir, **kw) -> TrainConfig:
    base = dict(
        policy="fnn",
        optimizer="pgpe",
        generations=4,
        popsize=8,
        rollouts=2,
        validate_every=2,
        validate_episodes=8,
        test_episodes=16,
        threads=1,
        checkpoint_minutes=0.0,
        run_dir=str(run_dir),
    )
    return TrainConfig(**{**base, **kw})


def test_centered_ranks():
    r = centered_ranks(np.array([3.0, -1.0, 10.0, 0.0]))
    assert np.allclose(r, [1 / 6, -0.5, 0.5, -1 / 6])


def test_pgpe_climbs_a_quadratic():
    opt = PGPE(10, popsize=32, seed=0, center_lr=0.05, init_stdev=0.3)
    target = np.linspace(-1, 1, 10)
    for _ in range(300):
        pop = opt.ask()
        opt.tell(-((pop - target) ** 2).sum(axis=1))
    assert np.abs(opt.center - target).max() < 0.15


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    full = train(tiny_config(tmp_path / "full"), progress=False)
    part = tiny_config(tmp_path / "part", generations=2)
    train(part, progress=False)
    resumed = train(tiny_config(tmp_path / "part", generations=4), resume=True, progress=False)
    log_full = [json.loads(x) for x in (tmp_path / "full/log.jsonl").read_text().splitlines()]
    log_res = [json.loads(x) for x in (tmp_path / "part/log.jsonl").read_text().splitlines()]
    assert [r["gen"] for r in log_res] == [1, 2, 3, 4]
    for a, b in zip(log_full, log_res, strict=True):
        assert a["fit_mean"] == b["fit_mean"] and a["env_steps"] == b["env_steps"]
    p1 = np.load(full)["params"]
    p2 = np.load(resumed)["params"]
    assert np.array_equal(p1, p2)
    meta = json.loads((tmp_path / "full/result.json").read_text())
    assert meta["test"]["n"] == 16 and meta["generations"] == 4
    # config.json names the budget in force after the resume
    assert json.loads((tmp_path / "part/config.json").read_text())["generations"] == 4


def test_a_copied_run_folder_resumes_as_the_original_would(tmp_path):
    train(tiny_config(tmp_path / "a", generations=2), progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    train(tiny_config(tmp_path / "a", generations=4), resume=True, progress=False)
    train(tiny_config(tmp_path / "b", generations=4), resume=True, progress=False)
    pa, pb = (np.load(tmp_path / d / "agent.npz")["params"] for d in "ab")
    assert np.array_equal(pa, pb)
    assert json.loads((tmp_path / "b/config.json").read_text())["run_dir"] == str(tmp_path / "b")


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny_config(tmp_path / "r", generations=2), progress=False)
    with pytest.raises(ValueError, match="differs"):
        train(tiny_config(tmp_path / "r", generations=3, popsize=16), resume=True, progress=False)
    with pytest.raises(FileExistsError):
        train(tiny_config(tmp_path / "r"), progress=False)


def test_attention_neuron_training_runs_on_the_fused_engine_and_resumes_exactly(tmp_path):
    kw = dict(policy="attention_neuron", generations=3, popsize=6, validate_every=3)
    full = train(tiny_config(tmp_path / "full", **kw), progress=False)
    train(tiny_config(tmp_path / "part", **{**kw, "generations": 1}), progress=False)
    resumed = train(tiny_config(tmp_path / "part", **kw), resume=True, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "full/log.jsonl").read_text().splitlines()]
    assert {r["engine"] for r in rows if "gen" in r and "engine" in r} == {"fused"}
    assert np.array_equal(np.load(full)["params"], np.load(resumed)["params"])


def test_runs_saved_before_the_engine_field_resume_on_torch(tmp_path):
    cfg = tiny_config(tmp_path / "old", policy="attention_neuron", generations=1, popsize=4)
    saved = {k: v for k, v in cfg.__dict__.items() if k != "engine"}
    assert TrainConfig.from_saved(saved).engine == "torch"
    assert TrainConfig.from_saved({**saved, "engine": "fused"}).engine == "fused"
    assert TrainConfig().engine == "fused"  # new runs
    with pytest.raises(ValueError, match="unknown engine"):
        train(tiny_config(tmp_path / "bad", engine="gpu"), progress=False)


def test_ship_and_load_shipped(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(run, generations=2), progress=False)
    data = tmp_path / "data"
    entry = ship_run(run, "tiny", data_dir=data)
    assert entry["test"]["n"] == 16
    policy, params, meta = load_shipped("tiny", data_dir=data)
    assert policy.kind == "fnn" and params.shape == (policy.n_params,)
    with pytest.raises(KeyError, match="unknown agent"):
        load_shipped("nope", data_dir=data)
    (data / "agents/tiny.npz").write_bytes(b"corrupted")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_shipped("tiny", data_dir=data)


def test_the_repository_ships_both_agents():
    agents = read_manifest()["agents"]
    assert {"attention_neuron", "fnn"} <= set(agents)
    for name, entry in agents.items():
        policy, params, meta = load_shipped(name)
        assert entry["test"]["n"] >= 1000
        assert meta["test"] == entry["test"]
        assert (REPO / "data" / entry["log"]).is_file()


def test_cli_help():
    for cmd in ([], ["evaluate"], ["bench"], ["train"], ["ship"]):
        out = _cli(*cmd, "--help")
        assert "usage" in out.stdout


def test_cli_evaluate_json_shipped_agent():
    path = REPO / "data/agents/fnn.npz"
    out = _cli(
        "evaluate", str(path), "--episodes", "40", "--schedule", "none", "--json", "--threads", "1"
    )
    s = json.loads(out.stdout)
    assert {"mean", "sd", "se", "n", "frac_short", "ci95"} <= set(s)
    assert s["n"] == 40 and 0 <= s["frac_short"] <= 1


def test_cli_evaluate_authors_weights(authors_weights_path):
    out = _cli(
        "evaluate",
        str(authors_weights_path),
        "--episodes",
        "30",
        "--json",
        "--noise",
        "5",
        "--intervention",
        "zero_c",
        "--threads",
        "1",
    )
    s = json.loads(out.stdout)
    assert s["n"] == 30 and s["noise_channels"] == 5


def test_cli_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, params=np.zeros(10, dtype=np.float32))
    out = _cli("evaluate", str(bad), "--episodes", "5", check=False)
    assert out.returncode == 2 and "913" in out.stderr and "Traceback" not in out.stderr
    out = _cli(
        "evaluate", str(REPO / "data/agents/fnn.npz"), "--schedule", "sometimes", check=False
    )
    assert out.returncode == 2 and "bad schedule" in out.stderr
    out = _cli(
        "evaluate", str(REPO / "data/agents/fnn.npz"), "--intervention", "magic", check=False
    )
    assert out.returncode == 2 and "unknown intervention" in out.stderr
    out = _cli(
        "evaluate",
        str(REPO / "data/agents/fnn.npz"),
        "--noise",
        "5",
        "--episodes",
        "3",
        check=False,
    )
    assert out.returncode == 2 and "FNN" in out.stderr
    an = str(REPO / "data/agents/attention_neuron.npz")
    out = _cli("evaluate", an, "--engine", "fused", "--intervention", "zero_c", check=False)
    assert out.returncode == 2 and "PyTorch engine" in out.stderr and "Traceback" not in out.stderr


def test_cli_evaluate_names_the_engine_it_used():
    an = str(REPO / "data/agents/attention_neuron.npz")
    base = ("evaluate", an, "--episodes", "30", "--json", "--threads", "1", "--max-steps", "60")
    assert json.loads(_cli(*base).stdout)["engine"] == "fused"
    hooked = json.loads(_cli(*base, "--intervention", "zero_hc").stdout)
    assert hooked["engine"] == "torch"
    torch_run = json.loads(_cli(*base, "--engine", "torch").stdout)
    assert torch_run["engine"] == "torch" and torch_run["n"] == 30


def test_cli_bench_prints_both_figures_and_ratio():
    out = _cli(
        "bench",
        "--population",
        "8",
        "--episodes",
        "4",
        "--loop-seconds",
        "1",
        "--json",
        "--threads",
        "1",
    )
    r = json.loads(out.stdout)
    loop = r["per_episode_loop"]["steps_per_s"]
    assert loop > 0 and r["batched"]["steps_per_s"] > 0
    assert r["batched"]["engine"] == "fused"
    assert r["batched_torch_engine"]["engine"] == "torch"
    assert r["ratio"] == pytest.approx(r["batched"]["steps_per_s"] / loop)
    assert r["ratio_torch_engine"] == pytest.approx(r["batched_torch_engine"]["steps_per_s"] / loop)
    assert r["fused_threads"] == 1 and r["torch_threads"] == 1
    floor = r["kernel_floor"]
    assert floor["steps_per_s"] == pytest.approx(8 * 4 / floor["seconds_per_step"])


def test_cpu_seconds_counts_threads_per_generation():
    from anpolicy.store.data import cpu_seconds

    log = {"wall_s": np.array([10.0, 20.0, 25.0, 30.0]), "threads": np.array([np.nan, 1, 2, 2])}
    assert cpu_seconds(log, default_threads=1) == pytest.approx(10 + 10 + 10 + 10)
    assert cpu_seconds({"wall_s": np.array([5.0, 8.0])}, default_threads=2) == 16.0


def test_upright_curriculum_starts(tmp_path):
    from anpolicy.training.train import training_starts

    assert training_starts(TrainConfig(rollouts=8), 5) is None
    cfg = TrainConfig(rollouts=8, upright_starts=0.5)
    starts = training_starts(cfg, 5)
    assert starts.shape == (8, 4)
    np.testing.assert_array_equal(starts, training_starts(cfg, 5))  # a function of the seed
    assert (np.abs(starts[:4, 2]) <= 0.3).all()  # upright: theta near 0
    assert (np.abs(starts[4:, 2] - np.pi) <= np.pi / 2).all()  # the task's: hanging down
    with pytest.raises(ValueError, match="upright_starts"):
        training_starts(TrainConfig(upright_starts=1.5), 5)


def test_ipop_cmaes_restarts_when_converged_and_grows_the_population():
    from anpolicy.training.es import IPOPCMAES

    opt = IPOPCMAES(4, popsize=6, sigma0=0.5, seed=3, restart_step_size=0.05)
    sizes = []
    for _ in range(400):
        pop = opt.ask()
        sizes.append(len(pop))
        opt.tell(-(pop**2).sum(axis=1))  # a sphere: each run converges to 0 quickly
    assert opt.restarts >= 2 and opt.history[:3] == [(0, 6), (1, 12), (2, 24)]
    assert sizes[0] == 6 and max(sizes) == min(6 * 2**opt.restarts, opt.max_popsize)
    with pytest.raises(ValueError):
        IPOPCMAES(4, popsize=6, sigma0=0.5, seed=3, restart_step_size=0.0)


def test_cma_step_rule_chooses_pycmas_step_size_adaptation(tmp_path):
    """pycma 4.5 picks TPA at n >= 300; "csa" restores the rule of pycma 3.0-4.4 (the
    authors' 2021 set-up) with pycma 3.0.3's constants at n = 913, population 256."""
    from cma.sigma_adaptation import CMAAdaptSigmaCSA, CMAAdaptSigmaTPA

    from anpolicy.training.es import CMAES, IPOPCMAES

    assert isinstance(CMAES(913, 256, 0.1, 0).es.adapt_sigma, CMAAdaptSigmaTPA)
    csa = CMAES(913, 256, 0.1, 0, step_rule="csa").es.adapt_sigma
    assert isinstance(csa, CMAAdaptSigmaCSA)
    # pycma 3.0.3 (numpy 1.26, same options) computes cs = 0.07005875711509713 and
    # damps = 1.0700587571150972 after one tell at n = 913, population 256
    assert csa.cs == pytest.approx(0.07005875711509713, rel=1e-12)
    assert csa.damps == pytest.approx(1.0700587571150972, rel=1e-12)
    assert isinstance(CMAES(8, 6, 0.1, 0, step_rule="tpa").es.adapt_sigma, CMAAdaptSigmaTPA)
    ipop = IPOPCMAES(913, popsize=8, sigma0=0.1, seed=0, step_rule="csa")
    assert isinstance(ipop._run.es.adapt_sigma, CMAAdaptSigmaCSA)
    with pytest.raises(ValueError, match="step-size rule"):
        IPOPCMAES(4, popsize=6, sigma0=0.5, seed=3, step_rule="cumulative")
    with pytest.raises(ValueError, match="step-size rule"):
        train(tiny_config(tmp_path / "bad", optimizer="cma", cma_step_rule="x"), progress=False)
    # runs saved before the option ran pycma's default
    saved = {k: v for k, v in tiny_config(tmp_path).__dict__.items() if k != "cma_step_rule"}
    assert TrainConfig.from_saved(saved).cma_step_rule == "pycma"


def test_training_holds_numpys_blas_to_its_threads():
    """pycma's eigendecomposition runs in numpy's BLAS; unlimited, two runs side by side
    spin on each other's cores."""
    from threadpoolctl import ThreadpoolController, threadpool_info

    from anpolicy.training.train import limit_threads

    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas, "numpy has no BLAS thread pool to limit"
    controller = ThreadpoolController()
    with controller.limit(limits=None, user_api="blas"):  # restores the limits afterwards
        limit_threads(1)
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {1}


def test_shipping_over_a_shipped_name_needs_a_name_to_retire_it_to(tmp_path):
    data = tmp_path / "data"
    first, second = tmp_path / "first", tmp_path / "second"
    train(tiny_config(first, generations=2, snapshot_every=1), progress=False)
    old = ship_run(first, "tiny", data_dir=data)
    agent_bytes = (data / "agents/tiny.npz").read_bytes()
    # the second run starts from the shipped agent's file: it is that agent's child
    train(
        tiny_config(second, generations=2, init_from=str(data / "agents/tiny.npz")),
        progress=False,
    )
    with pytest.raises(FileExistsError, match="already shipped.*--retire-as"):
        ship_run(second, "tiny", data_dir=data)
    assert (data / "agents/tiny.npz").read_bytes() == agent_bytes  # nothing changed
    with pytest.raises(FileExistsError, match="already shipped"):
        ship_run(second, "tiny", data_dir=data, retire_as="tiny")
    new = ship_run(second, "tiny", data_dir=data, retire_as="tiny_old")
    agents = read_manifest(data)["agents"]
    assert set(agents) == {"tiny", "tiny_old"}
    assert (data / "agents/tiny_old.npz").read_bytes() == agent_bytes
    assert agents["tiny_old"]["sha256"] == old["sha256"] and load_shipped("tiny_old", data)
    assert (data / agents["tiny_old"]["snapshots"]).name == "tiny_old"
    assert (data / "logs/tiny_old.jsonl").is_file()
    assert new["parent"]["agent"] == "tiny_old" and new["parent"]["sha256"] == old["sha256"]
    assert load_shipped("tiny", data)[2]["test"] == new["test"]
    # renaming the parent again follows it in the child's entry
    from anpolicy.store.data import rename_shipped

    rename_shipped("tiny_old", "tiny_first", data)
    assert read_manifest(data)["agents"]["tiny"]["parent"]["agent"] == "tiny_first"
    with pytest.raises(KeyError, match="unknown agent"):
        rename_shipped("tiny_old", "x", data)
    with pytest.raises(ValueError, match="bad agent name"):
        ship_run(second, "../escape", data_dir=data)


def test_cli_evaluate_against_another_agent_pairs_the_same_episodes():
    fnn, old = str(REPO / "data/agents/fnn.npz"), str(REPO / "data/agents/fnn_565.npz")
    base = ("--episodes", "40", "--schedule", "none", "--json", "--threads", "1")
    both = json.loads(_cli("evaluate", fnn, "--against", old, *base).stdout)
    alone = json.loads(_cli("evaluate", old, *base).stdout)
    assert both["against"]["mean"] == alone["mean"]  # the same episodes as its own run
    assert both["against"]["weights"] == old
    d = both["paired_difference"]
    assert d["mean"] == pytest.approx(both["mean"] - alone["mean"])
    assert d["ci95"][0] <= d["mean"] <= d["ci95"][1] and d["n"] == 40
    same = json.loads(_cli("evaluate", fnn, "--against", fnn, *base).stdout)
    assert same["paired_difference"]["mean"] == 0 and same["paired_difference"]["sd"] == 0
    out = _cli("evaluate", fnn, "--against", "/nonexistent/x.npz", *base, check=False)
    assert out.returncode == 2 and "/nonexistent/x.npz" in out.stderr
