"""Population evaluation on Ray (anpolicy.sim.distributed): the chunking alone (no Ray),
then a real local cluster on 127.0.0.1 with 2 CPUs, started once for this module and
torn down after it. The cluster tests skip only where Ray is not installed."""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from anpolicy.sim import distributed
from anpolicy.sim.distributed import Job, evaluate_chunk, plan_chunks
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.training.bench import bench_params
from tests.conftest import REPO

STEPS = 200  # episode length cap: long enough for the closed loop to diverge on round-off
EVERY = PermutationSchedule.parse("every:60")


def assemble(job: Job, chunks) -> tuple[np.ndarray, np.ndarray]:
    """The chunks evaluated one by one in this process, put back in place."""
    n_pop = job.params.shape[0]
    returns = np.full((n_pop, job.n_episodes), np.nan)
    lengths = np.zeros((n_pop, job.n_episodes), dtype=np.int64)
    for chunk in chunks:
        r0, r1, e0, e1 = chunk
        assert np.isnan(returns[r0:r1, e0:e1]).all(), "a chunk overlaps another"
        returns[r0:r1, e0:e1], lengths[r0:r1, e0:e1], _ = evaluate_chunk(job, chunk)
    return returns, lengths


@pytest.fixture(scope="module")
def params() -> np.ndarray:
    """(7, 913): the shipped agent perturbed (long, diverse episodes)."""
    return bench_params(seed=3, population=7)[0]


def test_plan_chunks_covers_the_grid_once():
    for args in [(256, 16, 4, False), (7, 100, 4, True), (1, 2000, 8, True), (5, 3, 64, True)]:
        chunks = plan_chunks(*args)
        cover = np.zeros(args[:2], dtype=int)
        for r0, r1, e0, e1 in chunks:
            cover[r0:r1, e0:e1] += 1
        assert (cover == 1).all(), args
    assert len(plan_chunks(256, 16, 4, False)) == 4
    # one member, many episodes: split into pieces of >= one fused block
    pieces = plan_chunks(1, 2000, 8, True)
    assert len(pieces) == 8 and min(e1 - e0 for *_, e0, e1 in pieces) >= 32
    with pytest.raises(ValueError, match="episodes can be split only"):
        plan_chunks(4, 100, 2, False, episodes=50)


@pytest.mark.parametrize(
    "chunking", [dict(rows=1), dict(rows=3), dict(rows=7, episodes=32), dict(rows=2, episodes=23)]
)
def test_chunks_reassemble_bit_identical_to_one_rollout(params, chunking):
    """The property the Ray evaluator rests on, checked in this process: on the fused
    engine, any split of members and episodes gives the whole call's returns bit for bit
    (reshuffles every 60 steps; episode splits need no noise channels)."""
    policy = AttentionNeuronPolicy()
    opts = dict(schedule=EVERY, max_steps=STEPS, engine="fused")
    whole = rollout(policy, params, 100, seed=11, **opts)
    chunks = plan_chunks(len(params), 100, 4, True, **chunking)
    returns, lengths = assemble(Job(policy, params, 100, 11, opts), chunks)
    assert np.array_equal(returns, whole.returns) and np.array_equal(lengths, whole.lengths)
    assert np.unique(whole.lengths).size > 3  # episodes of many lengths, not all capped


def test_row_chunks_with_noise_channels_and_given_starts_are_identical(params):
    policy = AttentionNeuronPolicy()
    starts = np.random.default_rng(0).uniform(-1, 1, (24, 4))
    opts = dict(
        channels=ObservationChannels(n_noise=2), max_steps=STEPS, engine="fused",
        plan=EpisodePlan.draw(5, 24, max_steps=STEPS).with_starts(starts),
    )  # fmt: skip
    whole = rollout(policy, params, 24, seed=5, **opts)
    returns, _ = assemble(Job(policy, params, 24, 5, opts), plan_chunks(7, 24, 3, False))
    assert np.array_equal(returns, whole.returns)


def test_read_only_parameters_as_ray_delivers_them(params):
    policy = AttentionNeuronPolicy()
    frozen = params.copy()
    frozen.setflags(write=False)
    opts = dict(max_steps=50, engine="fused")
    whole = rollout(policy, params, 40, seed=2, **opts)
    returns, _ = assemble(Job(policy, frozen, 40, 2, opts), plan_chunks(7, 40, 4, True))
    assert np.array_equal(returns, whole.returns)


def test_parse_address():
    assert distributed.parse_address("auto") is None
    assert distributed.parse_address("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert distributed.parse_address("ray://head:10001") == ("head", 10001)
    for bad in ("head", "head:port", ":6379", "head:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            distributed.parse_address(bad)


# --- a real cluster ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster (127.0.0.1, 2 CPUs) through the project's own start."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    t0 = time.perf_counter()
    assert distributed.connect("local", num_cpus=2)  # imports Ray (loopback only)
    import ray

    started = time.perf_counter() - t0
    yield {"ray": ray, "start_s": started}
    ray.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_cluster_is_on_localhost_with_two_cpus(cluster):
    ray = cluster["ray"]
    assert ray.cluster_resources()["CPU"] == 2
    assert {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} == {"127.0.0.1"}


def test_one_actor_equals_the_local_engine(cluster, params):
    policy = AttentionNeuronPolicy()
    whole = rollout(policy, params, 48, seed=4, schedule=EVERY, max_steps=STEPS, engine="auto")
    with distributed.RayEvaluator(actors=1) as ev:
        assert ev.n_actors == 1 and ev.actor_info[0]["warmup_s"] > 0
        res = ev.rollout(policy, params, 48, seed=4, schedule=EVERY, max_steps=STEPS, engine="auto")
    assert res.engine == "fused"
    assert np.array_equal(res.returns, whole.returns) and np.array_equal(res.lengths, whole.lengths)


@pytest.fixture(scope="class")
def ev(cluster):
    """Two one-thread actors (all the cluster's CPUs), stopped after the class."""
    with distributed.RayEvaluator(actors=2) as ev:
        yield ev


class TestTwoActors:
    @pytest.mark.parametrize(
        "n_pop, n_episodes, chunking",
        [(7, 48, {}), (7, 48, dict(chunk_rows=1)), (7, 48, dict(chunk_rows=3)),
         (1, 150, {}), (2, 150, dict(chunk_rows=1, chunk_episodes=40))],
    )  # fmt: skip
    def test_equals_the_local_engine(self, ev, params, n_pop, n_episodes, chunking):
        policy = AttentionNeuronPolicy()
        opts = dict(seed=9, schedule=EVERY, max_steps=STEPS, engine="auto")
        whole = rollout(policy, params[:n_pop], n_episodes, **opts)
        res = ev.rollout(policy, params[:n_pop], n_episodes, **opts, **chunking)
        assert np.array_equal(res.returns, whole.returns)
        assert np.array_equal(res.lengths, whole.lengths)
        assert ev.last.chunks > 1 and ev.last.resubmitted == 0

    def test_a_bad_argument_raises_the_engines_error(self, ev, params):
        with pytest.raises(ValueError, match="record_episodes"):
            ev.rollout(AttentionNeuronPolicy(), params, 4, record_episodes=[0])
        with pytest.raises(ValueError, match="the plan has 3 episodes"):
            ev.rollout(AttentionNeuronPolicy(), params, 4, plan=EpisodePlan.draw(0, 3))

    def test_a_killed_actor_mid_generation_loses_nothing(self, ev, params, caplog):
        """Kill actor 0 when the first chunk is in: its queued chunks are re-submitted to a
        new actor, the result is complete and identical, and the log says so."""
        policy = AttentionNeuronPolicy()
        opts = dict(seed=21, schedule=EVERY, max_steps=STEPS, engine="auto")
        whole = rollout(policy, params, 48, **opts)
        killed = []

        def kill_once(chunk, actor):
            if not killed:
                killed.append(ev._actors[0])
                ev.kill_actor(0)

        ev.after_chunk = kill_once
        try:
            with caplog.at_level(logging.WARNING, logger="anpolicy.sim.distributed"):
                res = ev.rollout(policy, params, 48, **opts, chunk_rows=1)
        finally:
            ev.after_chunk = None
        assert killed and ev._actors[0] is not killed[0]  # replaced
        assert ev.last.resubmitted >= 1 and ev.last.lost_actors == [0]
        assert "died" in caplog.text and "re-submitting" in caplog.text
        assert np.array_equal(res.returns, whole.returns)
        assert np.array_equal(res.lengths, whole.lengths)
        # the replacement works on the next call
        again = ev.rollout(policy, params, 48, **opts)
        assert np.array_equal(again.returns, whole.returns) and ev.last.resubmitted == 0


def test_training_on_ray_resumes_with_the_same_optimizer_state(cluster, tmp_path):
    """4 generations in this process == 2 on Ray + a resume to 4 on Ray: same log rows,
    same centre (the optimizer state travels in the checkpoint; the cluster does not)."""
    from anpolicy.training.train import TrainConfig, train

    base = dict(
        policy="attention_neuron", optimizer="pgpe", popsize=8, rollouts=3,
        validate_every=2, validate_episodes=8, test_episodes=8, threads=1,
        checkpoint_minutes=0.0, snapshot_every=0,
    )  # fmt: skip
    train(TrainConfig(generations=4, run_dir=str(tmp_path / "local"), **base), progress=False)
    ray_run = dict(run_dir=str(tmp_path / "ray"), ray_address="local", **base)
    train(TrainConfig(generations=2, **ray_run), progress=False)
    train(TrainConfig(generations=4, **ray_run), resume=True, progress=False)

    def rows(name):
        lines = (tmp_path / name / "log.jsonl").read_text().splitlines()
        return [json.loads(x) for x in lines if '"gen"' in x]

    local, on_ray = rows("local"), rows("ray")
    assert [r["gen"] for r in on_ray] == [1, 2, 3, 4]
    for a, b in zip(local, on_ray, strict=True):
        for key in ("fit_max", "fit_mean", "fit_min", "env_steps", "step_size"):
            assert a[key] == b[key], key
        assert b["ray_resubmitted"] == 0 and "ray_resubmitted" not in a
    a = np.load(tmp_path / "local" / "agent.npz")["params"]
    b = np.load(tmp_path / "ray" / "agent.npz")["params"]
    assert np.array_equal(a, b)


def test_unreachable_address_fails_fast_with_one_line():
    """`--ray HOST:PORT` with nothing listening: the check answers at once (not after
    Ray's own retries), and the command line exits 2 with one line naming the address."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    address = f"127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(distributed.ClusterUnavailable, match="no Ray cluster reachable"):
        distributed.check_reachable(address)
    assert time.perf_counter() - t0 < 5
    agent = REPO / "data" / "agents" / "attention_neuron.npz"
    out = subprocess.run(
        [sys.executable, "-m", "anpolicy", "evaluate", str(agent), "--episodes", "4",
         "--ray", address],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "ray start --head" in lines[0], lines
