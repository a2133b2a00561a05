"""The fused engine (anpolicy.sim.fused) against the PyTorch engine and the reference module."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

from anpolicy.sim import fused, physics
from anpolicy.sim.interventions import ZeroStateEveryStep
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.policy import AttentionNeuronPolicy, FNNPolicy
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.store.weights import load_agent


def test_tanh32_is_accurate_over_the_whole_float32_range():
    x = np.concatenate(
        [np.linspace(-12, 12, 400_001), np.geomspace(1e-30, 1e-3, 1000), [0.0, 9.0, -9.0, 50.0]]
    ).astype(np.float32)
    got = np.array([fused.tanh32(v) for v in x[::50]] + [fused.tanh32(v) for v in x[-1004:]])
    want = np.tanh(np.concatenate([x[::50], x[-1004:]]).astype(np.float64))
    assert np.abs(got - want).max() < 4e-7
    tiny = x[-1004:-4]
    assert np.allclose([fused.tanh32(v) for v in tiny], tiny, rtol=1e-6, atol=0)
    assert fused.tanh32(np.float32(50.0)) == 1.0 and fused.tanh32(np.float32(-50.0)) == -1.0


def test_tanh32_coefficients_are_the_fit_of_scripts_fit_tanh():
    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    import fit_tanh

    p, q = fit_tanh.fit()
    assert np.allclose(np.array(fused._P, np.float64), p, rtol=1e-6, atol=0)
    assert np.allclose(np.array(fused._Q, np.float64), q, rtol=1e-6, atol=0)
    assert fit_tanh.float32_error(p, q) < 4e-7


@pytest.mark.parametrize("n_channels", [5, 10])
def test_fused_one_step_map_matches_the_reference_module(random_an_params, n_channels):
    """From the reference module's own state at every step, the fused step gives the
    same action, h and c (to float32 round-off), for lane counts that are and are not
    whole SIMD vectors."""
    n_lanes = 11
    params = random_an_params(population=1, scale=0.5, seed=3 + n_channels)
    w = [a[0] for a in fused.fused_weights(AttentionNeuronPolicy(), params)]
    refs = [ReferenceAttentionNeuron().load_flat(params[0]) for _ in range(n_lanes)]
    rng = np.random.default_rng(1)
    for _ in range(25):
        obs = (2 * rng.normal(size=(n_lanes, n_channels))).astype(np.float32)
        if refs[0].hx is None:
            h = np.zeros((n_channels, 8, n_lanes), np.float32)
            c = np.zeros_like(h)
        else:
            h = np.stack([m.hx[0].numpy() for m in refs], axis=-1)
            c = np.stack([m.hx[1].numpy() for m in refs], axis=-1)
        a = np.array([m.prev_action.item() for m in refs], dtype=np.float32)
        fused._policy_step_batch(np.ascontiguousarray(obs.T), h, c, a, *w)
        for r, m in enumerate(refs):
            assert abs(m.act(obs[r]) - a[r]) < 1e-5
            assert np.allclose(h[..., r], m.hx[0].numpy(), atol=1e-5)
            assert np.allclose(c[..., r], m.hx[1].numpy(), atol=1e-5)


@pytest.mark.parametrize("n_channels", [5, 8])
def test_fused_one_step_map_matches_the_torch_engine_from_random_states(
    random_an_params, n_channels
):
    """From arbitrary (not reachable-only) states: h ~ N(0, 0.5^2), c ~ N(0, 3^2)."""
    pol = AttentionNeuronPolicy()
    rng = np.random.default_rng(n_channels)
    for seed in range(5):
        params = random_an_params(population=1, scale=0.5, seed=100 + seed)
        n = 24
        obs = (2 * rng.normal(size=(1, n, n_channels))).astype(np.float32)
        h0 = (0.5 * rng.normal(size=(1, n, n_channels, 8))).astype(np.float32)
        c0 = (3.0 * rng.normal(size=(1, n, n_channels, 8))).astype(np.float32)
        a0 = rng.uniform(-1, 1, size=(1, n)).astype(np.float32)
        state = pol.initial_state(1, n, n_channels)
        for key, value in (("h", h0), ("c", c0), ("prev_action", a0)):
            state[key].copy_(torch.from_numpy(value))
        action, new, _ = pol.step(pol.prepare(params), torch.from_numpy(obs), state)
        h = np.ascontiguousarray(h0[0].transpose(1, 2, 0))
        c = np.ascontiguousarray(c0[0].transpose(1, 2, 0))
        a = a0[0].copy()
        w = [x[0] for x in fused.fused_weights(pol, params)]
        fused._policy_step_batch(np.ascontiguousarray(obs[0].T), h, c, a, *w)
        assert np.abs(a - action[0].numpy()).max() < 1e-5
        assert np.abs(h.transpose(2, 0, 1) - new["h"][0].numpy()).max() < 1e-5
        assert np.abs(c.transpose(2, 0, 1) - new["c"][0].numpy()).max() < 1e-5


def _both(policy, params, n, **kw):
    return rollout(policy, params, n, engine="torch", **kw), rollout(
        policy, params, n, engine="fused", **kw
    )


@pytest.mark.parametrize(
    "schedule, channels",
    [
        (PermutationSchedule.none(), ObservationChannels()),
        (PermutationSchedule.at_reset(), ObservationChannels(n_copies=2)),
        (PermutationSchedule.parse("every:7"), ObservationChannels(n_noise=3)),
    ],
)
def test_fused_rollout_follows_the_torch_engine_over_short_horizons(
    random_an_params, schedule, channels
):
    """Same starts, permutations and noise: 30-step returns agree to round-off (45
    episodes = 2 blocks per member, neither a multiple of the SIMD width)."""
    pol = AttentionNeuronPolicy()
    params = random_an_params(population=3, scale=0.3, seed=7)
    a, b = _both(pol, params, 45, seed=5, schedule=schedule, channels=channels, max_steps=30)
    assert b.engine == "fused" and a.engine == "torch"
    assert np.array_equal(a.lengths, b.lengths)
    assert np.abs(a.returns - b.returns).max() < 1e-3
    # the one-step map is exact enough that one step gives the same return
    a1, b1 = _both(pol, params, 45, seed=5, schedule=schedule, channels=channels, max_steps=1)
    assert np.abs(a1.returns - b1.returns).max() < 1e-9


def test_fused_physics_follows_the_numpy_physics_over_whole_episodes():
    """With all weights zero the action is 0: the two engines differ only in sin/cos
    round-off (glibc vs PyTorch's kernels) over 1000 steps."""
    pol = AttentionNeuronPolicy()
    zero = np.zeros((1, pol.n_params), np.float32)
    a, b = _both(pol, zero, 64, seed=1)
    assert np.array_equal(a.lengths, b.lengths)
    assert np.abs(a.returns - b.returns).max() < 1e-9


def test_fused_episode_ends_like_the_environment():
    """Rewards stop at the first step with |x| > 2.4 (that step's reward counts), and
    episodes that never leave the track run exactly max_steps."""
    pol = AttentionNeuronPolicy()
    zero = np.zeros((1, pol.n_params), np.float32)
    starts = np.array([[2.39, 5.0, math.pi, 0.0], [0.0, 0.0, 0.0, 0.0], [-2.3, -3.0, 1.0, 0.0]])
    res = rollout(pol, zero, 3, plan=EpisodePlan.draw(0, 3).with_starts(starts), engine="fused")
    state, ret, length = starts.copy(), np.zeros(3), np.zeros(3, int)
    alive = np.ones(3, bool)
    for _ in range(physics.MAX_STEPS):
        state = physics.dynamics_step(state, np.zeros(3))
        ret += np.where(alive, physics.reward(state), 0.0)
        length += alive
        alive &= ~physics.out_of_track(state)
    assert list(res.lengths[0]) == list(length) and length[1] == physics.MAX_STEPS
    assert np.allclose(res.returns[0], ret, atol=1e-9)


def test_fused_engine_is_deterministic_and_independent_of_threads(random_an_params):
    pol = AttentionNeuronPolicy()
    params = random_an_params(population=4, scale=0.3, seed=2)
    kw = dict(seed=9, schedule=PermutationSchedule.parse("every:50"), engine="fused")
    before = numba.get_num_threads()
    try:
        fused.set_threads(1)
        one = rollout(pol, params, 70, **kw)
        fused.set_threads(2)
        two = rollout(pol, params, 70, **kw)
    finally:
        numba.set_num_threads(before)
    again = rollout(pol, params, 70, **kw)
    assert np.array_equal(one.returns, two.returns) and np.array_equal(two.returns, again.returns)
    assert np.array_equal(one.lengths, again.lengths)
    other = rollout(pol, params, 70, **{**kw, "seed": 10})
    assert not np.array_equal(other.returns, again.returns)


def test_fused_common_random_starts_across_the_population(random_an_params):
    pol = AttentionNeuronPolicy()
    params = random_an_params(population=1, scale=0.3, seed=4)
    res = rollout(pol, np.repeat(params, 3, axis=0), 40, seed=3, engine="fused")
    assert np.array_equal(res.returns[0], res.returns[1])
    assert np.array_equal(res.returns[0], res.returns[2])


def test_engine_choice_and_its_errors(random_an_params):
    pol = AttentionNeuronPolicy()
    params = random_an_params()
    hooked = dict(interventions=[ZeroStateEveryStep("c")], max_steps=5)
    with pytest.raises(ValueError, match="interventions"):
        rollout(pol, params, 2, engine="fused", **hooked)
    assert rollout(pol, params, 2, engine="auto", **hooked).engine == "torch"
    assert rollout(pol, params, 2, engine="auto", max_steps=5).engine == "fused"
    with pytest.raises(ValueError, match="record"):
        rollout(pol, params, 2, engine="fused", record_episodes=[(0, 0)], max_steps=5)
    with pytest.raises(ValueError, match="Attention Neuron only"):
        rollout(FNNPolicy(), np.zeros((1, 385), np.float32), 2, engine="fused", max_steps=5)
    with pytest.raises(ValueError, match="unknown engine"):
        rollout(pol, params, 2, engine="fast")
    bad = params.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        rollout(pol, bad, 2, engine="fused")
    with pytest.raises(ValueError, match="913"):
        rollout(pol, np.zeros((1, 900), np.float32), 2, engine="fused")


@pytest.mark.slow
def test_fused_engine_reproduces_the_authors_published_scores(authors_weights_path):
    """The conformance test of the PyTorch engine, on the fused engine (more episodes:
    it is several times faster)."""
    pol, params, _ = load_agent(authors_weights_path)
    n = 4000
    res = rollout(pol, params, n, seed=54321, schedule=PermutationSchedule.at_reset(),
                  engine="fused")  # fmt: skip
    mean, se = res.returns.mean(), res.returns.std(ddof=1) / math.sqrt(n)
    assert abs(mean - 491) <= 30, (mean, se)
    assert abs((res.lengths < 50).mean() - 0.35) <= 0.04


@pytest.mark.slow
def test_fused_and_torch_engines_agree_in_distribution():
    """The shipped agent, 1000 episodes with one permutation each, on both engines: the
    same starts, so the paired difference of returns is centred on 0 (chaos makes single
    episodes differ, not the mean)."""
    pol, params, _ = load_agent(Path(__file__).parents[1] / "data/agents/attention_neuron.npz")
    a, b = _both(pol, params, 1000, seed=77, schedule=PermutationSchedule.at_reset())
    diff = b.returns[0] - a.returns[0]
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    assert abs(diff.mean()) < 3.5 * se + 1e-9, (diff.mean(), se)
    assert np.median(np.abs(diff)) < 1.0  # most episodes do not diverge at all
    assert (torch.as_tensor(a.lengths) < 50).float().mean().item() == pytest.approx(
        (b.lengths < 50).mean(), abs=0.02
    )


def test_engine_agreement_reports_both_engines_on_the_same_episodes(random_an_params):
    from anpolicy.study.experiments import engine_agreement

    params = random_an_params(population=1, scale=0.3, seed=11)
    out = engine_agreement(AttentionNeuronPolicy(), params, 40, seed=2)
    assert out["torch"]["n"] == out["fused"]["n"] == 40
    assert out["diff"]["mean"] == pytest.approx(out["fused"]["mean"] - out["torch"]["mean"])
    assert 0.0 <= out["identical"]["frac_identical"] <= 1.0
    assert out["seconds"]["fused"] > 0 and out["env_steps"]["torch"] > 0


def test_fused_engine_reads_replaced_position_tables(random_an_params):
    """`experiments.with_positions` (one table for all, or one per member) reaches the
    fused engine's queries as it reaches the PyTorch engine's."""
    from anpolicy.study.experiments import shuffled_position_tables, with_positions

    pol = AttentionNeuronPolicy()
    params = np.repeat(random_an_params(population=1, scale=0.3, seed=12), 2, axis=0)
    tables = shuffled_position_tables(pol, 2, seed=3)
    moved = with_positions(pol, tables)
    a, b = _both(moved, params, 20, seed=4, max_steps=30)
    assert np.abs(a.returns - b.returns).max() < 1e-3
    plain = rollout(pol, params, 20, seed=4, max_steps=30, engine="fused")
    assert np.abs(plain.returns - b.returns).max() > 1e-3  # the tables changed something


def test_fused_engine_leaves_the_callers_floating_point_mode_alone(random_an_params):
    """The kernel flushes denormals to zero inside its blocks only: afterwards this
    thread (which runs blocks too) still computes denormals, as the PyTorch engine and
    numpy expect."""
    tiny = np.float32(1e-30)
    assert tiny * np.float32(1e-10) > 0  # denormal, not flushed
    for _ in range(3):
        rollout(AttentionNeuronPolicy(), random_an_params(population=4), 64, max_steps=20,
                engine="fused")  # fmt: skip
        assert tiny * np.float32(1e-10) > 0
        assert torch.tensor(1e-30) * torch.tensor(1e-10) > 0
