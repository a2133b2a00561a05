"""The episode plan (anpolicy/sim/plan.py): what it refuses, what a rollout does with it,
and how stacked plans reproduce separate rollouts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

EVERY = PermutationSchedule.every(30)


@pytest.fixture(scope="module")
def params():
    pol = AttentionNeuronPolicy()
    return np.random.default_rng(3).normal(0, 0.3, (2, pol.n_params)).astype(np.float32)


def _good():
    return EpisodePlan.draw(4, 6, EVERY, 5, 100)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(starts=np.zeros((6, 3))), "starts must be"),
        (dict(starts=np.full((6, 4), np.nan)), "NaN or inf"),
        (dict(change_steps=[0, 30, 60]), "strictly increasing"),
        (dict(change_steps=[60, 30, 90]), "strictly increasing"),
        (dict(change_steps=[30.5, 60, 90]), "integers"),
        (dict(change_steps=[30, 60]), "perms must be"),
        (dict(perms=np.zeros((6, 4, 5), np.int64)), "permutation of 0..4"),
        (dict(perms=np.full((6, 4, 5), 0.5)), "integers"),
        (dict(noise_seed=-1), "noise_seed"),
        (dict(noise_seed=True), "noise_seed"),
    ],
)
def test_a_bad_plan_is_refused_with_what_is_wrong(change, message):
    good = _good()
    fields = dict(
        starts=good.starts, perms=good.perms, change_steps=good.change_steps,
        noise_seed=good.noise_seed,
    )  # fmt: skip
    with pytest.raises(ValueError, match=message):
        EpisodePlan(**{**fields, **change})


def test_a_plan_copies_its_arrays_and_survives_pickling():
    starts = np.zeros((2, 4))
    plan = EpisodePlan(starts, np.tile(np.arange(5), (2, 1, 1)), [], 7)
    starts[:] = 1.0
    assert (plan.starts == 0).all() and plan.perms.dtype == np.int64
    back = pickle.loads(pickle.dumps(plan))
    assert np.array_equal(back.perms, plan.perms) and back.noise_seed == 7


@pytest.mark.parametrize("engine", ["torch", "fused"])
def test_the_drawn_plan_is_what_a_rollout_draws_from_its_seed(params, engine):
    channels = ObservationChannels(n_copies=2, n_noise=1)
    kw = dict(channels=channels, max_steps=100, engine=engine)
    a = rollout(AttentionNeuronPolicy(), params, 12, seed=9, schedule=EVERY, **kw)
    plan = EpisodePlan.draw(9, 12, EVERY, channels.n_permuted, 100)
    b = rollout(AttentionNeuronPolicy(), params, 12, seed=9, plan=plan, **kw)
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.lengths, b.lengths)


def test_the_plan_decides_the_episodes_not_the_seed(params):
    plan = EpisodePlan.draw(1, 8, EVERY, 5, 100)
    a = rollout(AttentionNeuronPolicy(), params, 8, seed=1, plan=plan, max_steps=100)
    b = rollout(AttentionNeuronPolicy(), params, 8, seed=2, plan=plan, max_steps=100)
    c = rollout(AttentionNeuronPolicy(), params, 8, seed=2, schedule=EVERY, max_steps=100)
    assert np.array_equal(a.returns, b.returns)
    assert not np.array_equal(b.returns, c.returns)


def test_stacked_plans_change_each_block_only_at_its_own_steps():
    a = EpisodePlan.draw(0, 3, PermutationSchedule.at_steps([10]), 5, 100)
    b = EpisodePlan.draw(0, 2, PermutationSchedule.at_steps([20, 40]), 5, 100)
    s = EpisodePlan.stack([a, b])
    assert s.change_steps.tolist() == [10, 20, 40] and s.n_episodes == 5
    # block a: its second permutation from step 10 on, unchanged at 20 and 40
    assert np.array_equal(s.perms[:3], a.perms[:, [0, 1, 1, 1]])
    assert np.array_equal(s.perms[3:], b.perms[:, [0, 0, 1, 2]])
    assert np.array_equal(s.starts[:2], s.starts[3:])  # same seed: same starts
    assert np.array_equal(s.episodes(3, 5).perms, s.perms[3:])
    with pytest.raises(ValueError, match="noise seeds"):
        EpisodePlan.stack([a, EpisodePlan.draw(1, 2, None, 5, 100)])
    with pytest.raises(ValueError, match="channel counts"):
        EpisodePlan.stack([a, EpisodePlan.draw(0, 2, None, 10, 100)])
