"""Per-start planning around an FNN (`anpolicy.study.headroom`): it starts from the FNN's
own episodes, only ever reports action sequences it ran, finds gains where a policy is
visibly poor, and refuses what it cannot plan around."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import anpolicy as ap
from anpolicy.sim import physics
from anpolicy.sim.plan import episode_randomness
from anpolicy.sim.policy import AttentionNeuronPolicy, FNNPolicy
from anpolicy.stats import proportion_ci, summarize
from anpolicy.study.headroom import (
    headroom_sentence,
    kept_mean_needed,
    planning_headroom,
    sample_headroom,
)

SEED, N = 11, 6


@pytest.fixture(scope="module")
def fnn():
    policy, params, _ = ap.load_shipped("fnn")
    return policy, params


@pytest.fixture(scope="module")
def weak_fnn(fnn):
    """The FNN with its output layer (16 weights and the bias) at 30 %: a timid pusher."""
    policy, params = fnn
    weak = params.copy()
    weak[-17:] *= 0.3
    return policy, weak


@pytest.fixture(scope="module")
def starts():
    return episode_randomness(SEED, N, ap.PermutationSchedule.none(), 5, physics.MAX_STEPS)[0]


def test_no_planning_is_the_fnn_itself_as_the_engines_run_it(fnn, starts):
    policy, params = fnn
    h = planning_headroom(policy, params, starts, horizon=50, iters=0)
    engine = ap.rollout(policy, params, N, seed=SEED, schedule=ap.PermutationSchedule.none())
    # float64 policy here, float32 in the engines: the same episodes to well under a point
    np.testing.assert_allclose(h["policy"], engine.returns[0], atol=0.05)
    np.testing.assert_array_equal(h["kept_policy"], engine.lengths[0] == physics.MAX_STEPS)
    np.testing.assert_array_equal(h["planned"], h["policy"])


def test_planning_finds_what_a_weakened_fnn_leaves(weak_fnn, starts):
    policy, weak = weak_fnn
    h = planning_headroom(policy, weak, starts, horizon=150, iters=30)
    gain = h["planned"] - h["policy"]
    assert (gain >= 0).all()
    assert gain.mean() > 5.0, gain
    again = planning_headroom(policy, weak, starts, horizon=150, iters=30)
    np.testing.assert_array_equal(again["planned"], h["planned"])  # deterministic


def test_restarts_search_other_ways_of_playing(weak_fnn, starts):
    policy, weak = weak_fnn
    one = planning_headroom(policy, weak, starts, horizon=150, iters=15)
    more = planning_headroom(policy, weak, starts, horizon=150, iters=15, restarts=2, seed=3)
    again = planning_headroom(policy, weak, starts, horizon=150, iters=15, restarts=2, seed=3)
    np.testing.assert_array_equal(again["planned"], more["planned"])
    # restart 0 is the search without restarts, so the best over all searches is no worse
    assert (more["planned"] >= one["planned"]).all()


def test_each_restart_runs_a_whole_search(fnn, starts, monkeypatch):
    from anpolicy.study import headroom

    calls, run = [], headroom._episode
    monkeypatch.setattr(headroom, "_episode", lambda *a: calls.append(a[2].clone()) or run(*a))
    planning_headroom(*fnn, starts, horizon=20, iters=3, restarts=2, seed=1)
    # the FNN's own episode, 3 searches of 3 steps, the planned episode
    assert len(calls) == 1 + 3 * 3 + 1
    firsts = [calls[1], calls[4], calls[7]]  # each search's first correction
    assert not firsts[0].any() and firsts[1].abs().max() > 1 and firsts[2].abs().max() > 1
    assert not torch.equal(firsts[1], firsts[2])


def test_bad_input_is_refused_with_a_reason(fnn, starts):
    policy, params = fnn
    an = AttentionNeuronPolicy()
    with pytest.raises(ValueError, match="plans around an FNN"):
        planning_headroom(an, np.zeros(an.n_params), starts)
    with pytest.raises(ValueError, match="shape"):
        planning_headroom(policy, params[:-1], starts)
    with pytest.raises(ValueError, match="one FNN, got 2"):
        planning_headroom(policy, np.stack([params, params]), starts)
    wide = FNNPolicy(obs_dim=7)
    with pytest.raises(ValueError, match="takes 7 inputs"):
        planning_headroom(wide, np.zeros(wide.n_params), starts)
    with pytest.raises(ValueError, match="NaN"):
        planning_headroom(policy, np.full_like(params, np.nan), starts)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        planning_headroom(policy, params, starts[:, :3])
    bad = starts.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        planning_headroom(policy, params, bad)
    for horizon in (0, physics.MAX_STEPS + 1):
        with pytest.raises(ValueError, match="horizon"):
            planning_headroom(policy, params, starts, horizon=horizon)
    with pytest.raises(ValueError, match="iters"):
        planning_headroom(policy, params, starts, iters=-1)
    with pytest.raises(ValueError, match="restarts"):
        planning_headroom(policy, params, starts, restarts=-1)
    with pytest.raises(ValueError, match="lr"):
        planning_headroom(FNNPolicy(), params, starts, lr=0.0)


def test_kept_mean_needed():
    assert kept_mean_needed([0.0, 100.0, 100.0], [False, True, True], 100.0) == 150.0
    with pytest.raises(ValueError, match="alike"):
        kept_mean_needed([1.0, 2.0], [True], 1.0)
    with pytest.raises(ValueError, match="no kept"):
        kept_mean_needed([1.0, 2.0], [False, False], 1.0)


def _plans(kept_gains, lost_gains, lost_kept):
    return {
        "kept": {"policy": np.zeros(len(kept_gains)), "planned": np.array(kept_gains)},
        "lost": {
            "policy": np.zeros(len(lost_gains)),
            "planned": np.array(lost_gains),
            "kept_planned": np.array(lost_kept),
        },
    }


def test_sample_headroom_extrapolates_the_gains_to_the_sample():
    returns = np.array([900.0, 900.0, 10.0, 20.0])
    kept = np.array([True, True, False, False])
    lost = np.array([False, False, True, False])
    plans = _plans([2.0, 4.0], [0.0, 900.0], [False, True])
    h = sample_headroom(returns, kept, lost, plans, target=500.0)
    assert h["mean"] == pytest.approx(457.5)
    assert h["kept_needed"] == pytest.approx((2000 - 30) / 2)
    # 457.5 + 0.5 * 3 (kept gain) + 0.25 * 450 (lost gain)
    assert h["planned_mean"] == pytest.approx(457.5 + 1.5 + 112.5)
    lo, hi = summarize([2.0, 4.0])["ci95"]
    wilson_hi = proportion_ci(1, 2)[1]
    assert h["planned_range"] == pytest.approx(
        [457.5 + 0.5 * max(lo, 0.0), 457.5 + 0.5 * hi + 0.25 * max(1000 * wilson_hi, 450.0)]
    )
    assert (h["saved"], h["lost_planned"]) == (1, 2)
    with pytest.raises(ValueError, match="both kept and lost"):
        sample_headroom(returns, kept, kept, plans, target=500.0)


@pytest.mark.parametrize(
    "gain, words",
    [(1.0, "does not reach it"), (200.0, "within reach"), (80.0, "not ruled out")],
)
def test_headroom_sentence_verdicts(gain, words):
    returns = np.array([900.0, 900.0, 880.0, 10.0])  # mean 672.5, no saveable start lost
    kept = np.array([True, True, True, False])
    plans = _plans([gain - 30, gain, gain + 30], [], [])
    h = sample_headroom(returns, kept, np.zeros(4, dtype=bool), plans, 750.0)
    assert words in headroom_sentence(h)
