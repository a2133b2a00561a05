"""Behaviour profiles (falls, per-step reward) and the simulator-gradient fine-tuner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anpolicy.sim import physics
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import PermutationSchedule
from anpolicy.store.weights import load_agent, save_agent
from anpolicy.study.diagnostics import (
    balance_gap_words,
    balanced_reward_rate,
    behaviour_profile,
    count_falls,
    profile_summary,
    swing_up_steps,
)
from anpolicy.training.apg import APGConfig, apg, train_iteration
from tests.conftest import run_cli as _cli

NAN = np.nan


def test_count_falls_needs_balance_then_a_drop_below_horizontal():
    traces = np.array(
        [
            [-1.0, 0.9, -0.5, 0.9, 0.95, -0.1, NAN, NAN],  # two falls
            [-1.0, -0.5, 0.5, -0.9, 0.7, -0.2, -1.0, NAN],  # never balanced: none
            [0.9, 0.5, 0.1, 0.85, 0.99, 0.9, 0.95, 0.9],  # dips but stays above 0: none
            [0.9, -0.1, -0.5, -0.9, -0.1, NAN, NAN, NAN],  # one fall, not counted twice
        ]
    )
    assert count_falls(traces).tolist() == [2, 0, 0, 1]
    assert count_falls(traces.reshape(2, 2, 8)).shape == (2, 2)


def test_behaviour_profile_matches_the_rollout_and_unpermutes_cos_theta():
    policy = AttentionNeuronPolicy()
    params = np.random.default_rng(3).normal(0, 0.5, policy.n_params).astype(np.float32)
    schedule = PermutationSchedule.at_reset()
    pr = behaviour_profile(policy, params, 6, seed=11, schedule=schedule)
    ref = rollout(policy, params, 6, seed=11, schedule=schedule, record_episodes=[(0, 2)])
    np.testing.assert_array_equal(pr["returns"], ref.returns[0])
    np.testing.assert_array_equal(pr["lengths"], ref.lengths[0])
    np.testing.assert_allclose(np.nansum(pr["reward"], axis=1), pr["returns"], rtol=1e-12)
    assert (np.sum(~np.isnan(pr["reward"]), axis=1) == pr["lengths"]).all()
    tr = ref.traces[(0, 2)]
    obs, perm = np.asarray(tr["obs"]), np.asarray(tr["perm"])
    cos_channel = np.argsort(perm, axis=1)[:, 2]
    cos_seen = obs[np.arange(len(obs)), cos_channel]
    np.testing.assert_allclose(pr["cos_theta"][2, : len(obs)], cos_seen, rtol=1e-6)
    assert ((pr["upright_share"] >= 0) & (pr["upright_share"] <= 1)).all()


def test_apg_iteration_changes_parameters_and_reports_the_batch():
    torch.manual_seed(0)
    model = ReferenceAttentionNeuron()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    before = model.flat().copy()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    starts = torch.as_tensor(physics.sample_start_states(np.random.default_rng(0), 4))
    row = train_iteration(model, opt, starts, window=50, grad_clip=1.0)
    assert np.isfinite([row["return"], row["length"], row["loss"]]).all()
    assert 1 <= row["length"] <= physics.MAX_STEPS
    assert not np.array_equal(model.flat(), before)


def test_apg_run_writes_an_agent_and_resumes(tmp_path):
    policy = AttentionNeuronPolicy()
    init = np.random.default_rng(0).normal(0, 0.3, policy.n_params)
    init_path = save_agent(tmp_path / "init.npz", policy, init, {"note": "test"})
    cfg = APGConfig(
        init_from=str(init_path),
        iterations=1,
        batch=3,
        window=200,
        validate_every=1,
        validate_episodes=4,
        test_episodes=4,
        threads=1,
        run_dir=str(tmp_path / "run"),
    )
    agent = apg(cfg, progress=False)
    _, params, meta = load_agent(agent)
    assert params.shape == (policy.n_params,) and meta["test"]["n"] == 4
    with pytest.raises(FileExistsError):
        apg(cfg, progress=False)
    out = _cli("apg", "--run-dir", cfg.run_dir, "--resume", "--iterations", "2")
    assert "agent written" in out.stdout
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert [__import__("json").loads(x)["iter"] for x in lines] == [0, 1, 2]


def test_cli_rejects_a_bad_boolean():
    out = _cli("apg", "--upright-only", "maybe", check=False)
    assert out.returncode == 2 and "expected true or false" in out.stderr


def _profile(lengths, returns, falls, upright, swing=None, rate=None):
    """A profile by hand: episode r's pole hangs down until step ``swing[r]`` (default
    100), then stands at cos 0.9 earning ``rate[r]`` (default 1) per step."""
    n, t = len(lengths), physics.MAX_STEPS
    swing = [100] * n if swing is None else swing
    rate = [1.0] * n if rate is None else rate
    steps = np.arange(t)
    cos = np.where(steps < np.array(swing)[:, None], -1.0, 0.9)
    reward = np.where(steps < np.array(swing)[:, None], 0.0, np.array(rate, float)[:, None])
    alive = steps < np.array(lengths)[:, None]
    return {
        "lengths": np.array(lengths),
        "returns": np.array(returns, dtype=float),
        "falls": np.array(falls),
        "upright_share": np.array(upright, dtype=float),
        "cos_theta": np.where(alive, cos, np.nan),
        "reward": np.where(alive, reward, np.nan),
    }


def test_swing_up_step_and_the_reward_rate_after_it():
    cos = np.array([[-1, 0.5, 0.81, 0.9, NAN], [-1, -1, 0.2, NAN, NAN], [0.95, 0.1, 0.9, 1, 1]])
    reward = np.array([[0, 0.1, 0.8, 1.0, NAN], [0, 0, 0.1, NAN, NAN], [1, 0.0, 0.5, 1, 1]])
    np.testing.assert_array_equal(swing_up_steps(cos), [2, NAN, 0])
    np.testing.assert_allclose(balanced_reward_rate(reward, cos), [0.9, NAN, 0.7])


def test_profile_summary_of_the_episodes_that_last_without_a_fall():
    full = physics.MAX_STEPS
    pr = _profile(
        [full, full, full, 40],
        [900, 800, 500, 2],
        [0, 0, 2, 0],
        [0.9, 0.8, 0.5, 0.0],
        swing=[100, 300, 50, 10],
        rate=[1.0, 0.5, 0.9, 0.3],
    )
    s = profile_summary(pr)
    assert s["no_fall_share"] == pytest.approx(2 / 3) and s["no_fall_return"] == 850
    assert s["no_fall_ci"][0] <= 850 <= s["no_fall_ci"][1]
    assert s["swing_up"] == 200 and s["balanced_rate"] == pytest.approx(0.75)
    never = profile_summary(_profile([full], [600], [1], [0.5]))
    assert np.isnan(never["no_fall_return"]) and never["no_fall_ci"] is None


def test_profile_summary_counts_only_full_length_episodes():
    full = physics.MAX_STEPS
    s = profile_summary(_profile([full, 12, full], [700, 3, 500], [1, 0, 3], [0.8, 0.0, 0.4]))
    assert s["episodes"] == 3 and s["full_share"] == pytest.approx(2 / 3)
    assert s["mean_return"] == pytest.approx(401)
    assert s["full_return"] == 600 and s["falls"] == 2 and s["balanced"] == pytest.approx(0.6)
    assert s["falls_ci"][0] <= 2 <= s["falls_ci"][1]
    none = profile_summary(_profile([5, 7], [1, 2], [0, 0], [0, 0]))
    assert np.isnan(none["falls"]) and none["falls_ci"] is None


def test_balance_gap_words_states_the_gap_or_why_not_measured():
    full = physics.MAX_STEPS
    lengths = [full] * 8 + [9, 9]

    def summary(returns, falls):
        return profile_summary(_profile(lengths, [*returns, 1, 1], [*falls, 0, 0], [0.6] * 10))

    ours = summary([700] * 8, [2, 2, 1, 2, 2, 1, 2, 2])
    theirs = summary([850] * 8, [0, 0, 1, 0, 0, 0, 0, 0])
    words = balance_gap_words(ours, theirs)
    assert "earns 850 against our 700" in words and "80% of them (ours: 80%)" in words
    assert words.endswith("The gap to the paper is in keeping the balanced pole up.")
    assert balance_gap_words(theirs, ours).endswith("less often than Tang & Ha's agent.")
    # ours falls more, but earns as much when the episode lasts: the falls are won back
    even = summary([850] * 8, [2, 2, 1, 2, 2, 1, 2, 2])
    assert balance_gap_words(even, theirs).endswith("in the episodes without one.")
    close = summary([850] * 8, [2, 1, 2, 1, 2, 1, 2, 2])  # overlapping falls CIs
    assert "do not separate" in balance_gap_words(ours, close)
    # no episode of ours lasts without a fall: the sentence on those is left out
    assert "without a fall" not in words


def test_balance_gap_words_say_when_falls_are_not_the_whole_gap():
    full = physics.MAX_STEPS
    lengths = [full] * 10

    def summary(returns, falls, swing, rate):
        pr = _profile(lengths, returns, falls, [0.7] * 10, [swing] * 10, [rate] * 10)
        return profile_summary(pr)

    theirs = summary([860] * 9 + [700], [0] * 9 + [1], 170, 0.99)
    # ours falls more and, without falls, still earns less: balanced later, less precisely
    ours = summary([800] * 5 + [700] * 5, [0] * 5 + [2] * 5, 250, 0.97)
    words = balance_gap_words(ours, theirs)
    assert "without a fall it earns 860 [860, 860] against our 800 [800, 800]" in words
    assert "first balanced at step 170 against our 250" in words
    assert "0.990 reward per step against our 0.970" in words
    assert words.endswith(
        "Falls are not the main gap: without one, ours still earns 60 less "
        "(all lasting episodes: 94), balanced later and less precisely."
    )
    # the same falls, but without them ours earns nearly as much: falls are the gap
    close = summary([855] * 5 + [700] * 5, [0] * 5 + [2] * 5, 250, 0.97)
    assert balance_gap_words(close, theirs).endswith("in keeping the balanced pole up.")
    assert balance_gap_words(ours, None, "run fetch-reference") == (
        "Tang & Ha's agent was not measured here: run fetch-reference."
    )
