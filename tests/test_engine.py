"""Environment, policies, rollout engine: faithfulness, invariances, bad inputs."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from anpolicy.sim import physics
from anpolicy.sim.env import ENV_ID, CartPoleSwingUpHarderEnv, register
from anpolicy.sim.interventions import (
    PermuteStateAtReshuffle,
    StepContext,
    ZeroStateEveryStep,
    relative_permutation,
)
from anpolicy.sim.policy import AttentionNeuronPolicy, FNNPolicy
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule, validate_permutation
from anpolicy.store.weights import CheckpointError, load_agent, save_agent

# ----------------------------------------------------------------------------- env


def original_step(state, action):
    """The original CartPoleSwingUp step, transcribed from the published equations."""
    x, x_dot, theta, theta_dot = state
    m_c, m_p, l_, g, b, dt = 0.5, 0.5, 0.6, 9.82, 0.1, 0.01
    total_m = m_p + m_c
    force = 10.0 * np.clip(action, -1.0, 1.0)
    s, c = math.sin(theta), math.cos(theta)
    xdot_update = (
        -2 * m_p * l_ * theta_dot**2 * s + 3 * m_p * g * s * c + 4 * force - 4 * b * x_dot
    ) / (4 * total_m - 3 * m_p * c**2)
    thetadot_update = (
        -3 * m_p * l_ * theta_dot**2 * s * c + 6 * total_m * g * s + 6 * (force - b * x_dot) * c
    ) / (4 * l_ * total_m - 3 * m_p * l_ * c**2)
    x = x + x_dot * dt
    theta = theta + theta_dot * dt
    x_dot = x_dot + xdot_update * dt
    theta_dot = theta_dot + thetadot_update * dt
    reward = (math.cos(theta) + 1.0) / 2.0 * math.cos(x / 2.4 * math.pi / 2.0)
    return np.array([x, x_dot, theta, theta_dot]), reward, abs(x) > 2.4


def test_env_passes_gymnasium_checker():
    check_env(CartPoleSwingUpHarderEnv(render_mode="rgb_array"), skip_render_check=False)


def test_env_is_registered_and_renders_without_display():
    register()
    env = gym.make(ENV_ID, render_mode="rgb_array")
    obs, _ = env.reset(seed=3)
    assert obs.shape == (5,) and obs.dtype == np.float32
    frame = env.render()
    assert frame.shape == (240, 480, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 3  # something is drawn


def test_env_one_step_map_is_the_original_bit_for_bit():
    env = CartPoleSwingUpHarderEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(500):
        state = physics.sample_start_states(rng)
        action = rng.uniform(-1.5, 1.5)
        env.state = state.copy()
        obs, reward, terminated, _, _ = env.step(np.array([action], dtype=np.float32))
        want, want_r, want_done = original_step(state, float(np.float32(action)))
        assert np.array_equal(env.state, want)
        assert reward == want_r and terminated == want_done
        assert np.allclose(obs, physics.observation(want).astype(np.float32), atol=0)


def test_single_and_batched_one_step_maps_agree():
    rng = np.random.default_rng(2)
    states = physics.sample_start_states(rng, 256)
    actions = rng.uniform(-1.5, 1.5, 256)
    env = CartPoleSwingUpHarderEnv()
    env.reset(seed=0)
    single = []
    for s, a in zip(states, actions, strict=True):
        env.state = s.copy()
        env.step([a])
        single.append(env.state)
    batched = physics.dynamics_step(
        torch.as_tensor(states), physics.force_from_action(torch.as_tensor(actions))
    )
    assert np.abs(np.array(single) - batched.numpy()).max() <= 1e-12


def test_env_episode_ends_and_truncates():
    env = CartPoleSwingUpHarderEnv()
    env.reset(seed=0)
    env.state = np.array([2.39, 5.0, math.pi, 0.0])
    _, reward, terminated, truncated, _ = env.step([1.0])
    assert terminated and not truncated and reward < 0.05  # the last reward counts
    env.reset(seed=0)
    env.state = np.array([0.0, 0.0, 0.0, 0.0])
    for _ in range(999):
        _, _, terminated, truncated, _ = env.step([0.0])
        assert not truncated
    _, _, terminated, truncated, _ = env.step([0.0])
    assert truncated and not terminated


def test_env_rejects_bad_actions():
    env = CartPoleSwingUpHarderEnv()
    with pytest.raises(RuntimeError):
        env.step([0.0])
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step([float("nan")])
    with pytest.raises(ValueError):
        env.step([0.1, 0.2])


# -------------------------------------------------------------------------- policy


def test_attention_neuron_has_913_parameters_in_the_authors_layout():
    pol = AttentionNeuronPolicy()
    assert pol.n_params == 913
    flat = torch.arange(913, dtype=torch.float32)[None]
    named = pol.unflatten(flat)
    assert named["lstm.weight_ih"].shape == (1, 32, 2)
    assert named["out.bias"].item() == 912.0
    assert torch.equal(pol.flatten(named), flat)
    assert FNNPolicy().n_params == 5 * 16 + 16 + 16 * 16 + 16 + 16 + 1


@pytest.mark.parametrize("n_channels", [5, 10])
def test_batched_policy_one_step_map_matches_plain_torch_module(random_an_params, n_channels):
    """One-step maps compared from the same state at every step (closed loops of a
    chaotic policy diverge from round-off alone, so only the one-step map is exact)."""
    n_pop, n_ep = 3, 4
    params = random_an_params(population=n_pop, scale=0.5, seed=n_channels)
    pol = AttentionNeuronPolicy()
    weights = pol.prepare(params)
    refs = [
        [ReferenceAttentionNeuron().load_flat(params[p]) for _ in range(n_ep)] for p in range(n_pop)
    ]
    rng = np.random.default_rng(0)
    for t in range(30):
        obs = rng.normal(size=(n_pop, n_ep, n_channels)).astype(np.float32) * 2
        state = pol.initial_state(n_pop, n_ep, n_channels)
        if t > 0:  # start from the reference's state
            state = {
                "h": torch.stack([torch.stack([m.hx[0] for m in row]) for row in refs]),
                "c": torch.stack([torch.stack([m.hx[1] for m in row]) for row in refs]),
                "prev_action": torch.tensor([[m.prev_action.item() for m in row] for row in refs]),
            }
        action, new_state, att = pol.step(weights, torch.from_numpy(obs), state)
        for p in range(n_pop):
            for r in range(n_ep):
                ref = refs[p][r]
                a_ref = ref.act(obs[p, r])
                assert abs(a_ref - action[p, r].item()) < 1e-5
                assert torch.allclose(new_state["h"][p, r], ref.hx[0], atol=1e-5)
                assert torch.allclose(new_state["c"][p, r], ref.hx[1], atol=1e-5)
                # Q K^T is computed as (Q W_k) h: same maths, other rounding
                assert torch.allclose(att[p, r], ref.attention, atol=5e-5)


def test_bad_policy_inputs_are_rejected(random_an_params):
    pol = AttentionNeuronPolicy()
    with pytest.raises(ValueError, match="913"):
        pol.prepare(np.zeros(900, dtype=np.float32))
    bad = random_an_params()
    bad[0, 5] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        pol.prepare(bad)
    w = pol.prepare(random_an_params(population=2))
    with pytest.raises(ValueError, match="observations"):
        pol.step(w, torch.zeros(3, 4, 5), pol.initial_state(3, 4, 5))
    fnn = FNNPolicy()
    wf = fnn.prepare(np.zeros(fnn.n_params, dtype=np.float32))
    with pytest.raises(ValueError, match="5 observation channels"):
        fnn.step(wf, torch.zeros(1, 2, 7), {"prev_action": torch.zeros(1, 2)})


# ------------------------------------------------------------------- weight files


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_agent(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_agent(corrupt)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, params=np.zeros(385, dtype=np.float32))  # an FNN-sized vector
    with pytest.raises(CheckpointError, match="913"):
        load_agent(wrong)
    nokey = tmp_path / "nokey.npz"
    np.savez(nokey, weights=np.zeros(913))
    with pytest.raises(CheckpointError, match="no 'params'"):
        load_agent(nokey)


def test_save_and_load_round_trip(tmp_path):
    fnn = FNNPolicy()
    params = np.random.default_rng(0).normal(size=fnn.n_params).astype(np.float32)
    path = save_agent(tmp_path / "a" / "fnn.npz", fnn, params, {"seed": 7})
    pol, loaded, meta = load_agent(path)
    assert pol.kind == "fnn" and np.array_equal(loaded, params) and meta["seed"] == 7
    assert not list((tmp_path / "a").glob("*.tmp*"))


def test_authors_weights_load(authors_weights_path):
    pol, params, meta = load_agent(authors_weights_path)
    assert pol.kind == "attention_neuron" and params.shape == (913,)
    assert meta == {"source": "authors"}


# ------------------------------------------------------------------- conformance


@pytest.mark.slow
def test_authors_weights_reproduce_published_scores(authors_weights_path):
    pol, params, _ = load_agent(authors_weights_path)
    res = rollout(pol, params, 2000, seed=12345, schedule=PermutationSchedule.at_reset())
    mean = res.returns.mean()
    frac_short = (res.lengths < 50).mean()
    se = res.returns.std(ddof=1) / math.sqrt(2000)
    # a faithful implementation measured 491.4 +- 4.2 s.e. over 10,000 episodes
    assert abs(mean - 491) <= 30, (mean, se)
    assert abs(frac_short - 0.35) <= 0.04, frac_short


# --------------------------------------------------------------- schedules, noise


def test_invalid_permutations_are_rejected():
    with pytest.raises(ValueError, match="length 5"):
        validate_permutation([0, 1, 2, 3], 5)
    with pytest.raises(ValueError, match="not a permutation"):
        validate_permutation([0, 1, 1, 3, 4], 5)
    with pytest.raises(ValueError, match="integers"):
        validate_permutation([0, 1, 2.5, 3, 4], 5)
    with pytest.raises(ValueError, match="not a permutation"):
        PermutationSchedule.given([[0, 1, 2, 3, 3]])
    with pytest.raises(ValueError, match="bad schedule"):
        PermutationSchedule.parse("every:zero")
    with pytest.raises(ValueError, match="interval"):
        PermutationSchedule.every(0)
    with pytest.raises(ValueError, match="length"):
        rollout(
            AttentionNeuronPolicy(),
            np.zeros(913, np.float32),
            2,
            schedule=PermutationSchedule.given([[1, 0, 2]]),
            max_steps=5,
        )


def test_schedule_change_steps():
    assert PermutationSchedule.every(250).change_steps().tolist() == [250, 500, 750]
    assert PermutationSchedule.at_reset().change_steps().size == 0
    perms = PermutationSchedule.every(400).sample(np.random.default_rng(0), 7, 5)
    assert perms.shape == (7, 3, 5)
    assert all(sorted(p) == list(range(5)) for p in perms.reshape(-1, 5).tolist())


def test_noise_channels_are_fresh_shared_and_scaled(random_an_params):
    params = np.repeat(random_an_params(), 2, axis=0)  # two identical members
    res = rollout(
        AttentionNeuronPolicy(),
        params,
        3,
        seed=1,
        max_steps=200,
        channels=ObservationChannels(n_noise=5),
        record_episodes=[0, 1],
    )
    tr = res.traces
    noise = tr[(0, 0)]["obs"][:, 5:]
    assert noise.shape[1] == 5
    assert 0.08 < noise.std() < 0.12 and abs(noise.mean()) < 0.02
    assert not np.allclose(noise[0], noise[1])  # fresh each step
    assert np.array_equal(tr[(0, 0)]["obs"], tr[(1, 0)]["obs"])  # common across members
    assert not np.array_equal(tr[(0, 0)]["obs"][:, 5:], tr[(0, 1)]["obs"][:, 5:])


# ---------------------------------------------------------------------- rollout


def test_rollout_is_deterministic_and_compaction_free_of_side_effects(random_an_params):
    pol = AttentionNeuronPolicy()
    params = random_an_params(population=3, scale=0.3)
    kw = dict(seed=5, schedule=PermutationSchedule.every(100), max_steps=400)
    a = rollout(pol, params, 40, **kw)
    b = rollout(pol, params, 40, **kw)
    c = rollout(pol, params, 40, compact_below=0.0, **kw)  # never compacts
    d = rollout(pol, params, 40, **{**kw, "seed": 6})
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.lengths, b.lengths)
    assert np.allclose(a.returns, c.returns, atol=1e-9) and np.array_equal(a.lengths, c.lengths)
    assert not np.array_equal(a.returns, d.returns)


def test_common_random_starts_across_the_population(random_an_params):
    params = np.repeat(random_an_params(scale=0.3), 4, axis=0)
    res = rollout(AttentionNeuronPolicy(), params, 16, seed=3, max_steps=300)
    assert np.allclose(res.returns, res.returns[0:1], atol=1e-9)
    assert res.lengths.min() >= 1 and res.lengths.max() <= 300


def test_rewards_stop_at_the_end_of_each_episode():
    # a constant full-right push drives every cart off the track; each return must equal
    # the sum of rewards up to and including the step that leaves the track
    fnn = FNNPolicy()
    named = {n: torch.zeros(1, *s) for n, s in fnn.shapes}
    named["out.bias"] += 10.0  # tanh(10) ~ 1: push right
    params = fnn.flatten(named)
    res = rollout(fnn, params, 20, seed=0)
    starts = physics.sample_start_states(
        np.random.default_rng(np.random.SeedSequence(0).spawn(3)[0]), 20
    )
    for r in range(20):
        s, total, steps = starts[r], 0.0, 0
        a = float(torch.tanh(torch.tensor(10.0)))
        while True:
            s, rew, done = original_step(s, a)
            total, steps = total + rew, steps + 1
            if done or steps == 1000:
                break
        assert res.lengths[0, r] == steps
        assert abs(res.returns[0, r] - total) < 1e-6


# ------------------------------------------------------------------- invariances


def _stream(rng, steps, n_ep):
    return [
        torch.from_numpy(rng.normal(size=(1, n_ep, 5)).astype(np.float32) * 2) for _ in range(steps)
    ]


def _run(pol, weights, stream, perms_at, hooks=(), n_ep=8):
    """Step the policy on a stream, permuting with perms_at(t) (1, n_ep, 5)."""
    state = pol.initial_state(1, n_ep, 5)
    episode = torch.arange(n_ep)[None]
    prev_perm = perms_at(0)
    actions, atts = [], []
    for t, obs in enumerate(stream):
        perm = perms_at(t)
        ctx = StepContext(t, episode, state, prev_perm, torch.ones(1, n_ep, dtype=torch.bool))
        if t > 0 and not torch.equal(perm, prev_perm):
            for h in hooks:
                h.on_reshuffle(ctx, prev_perm, perm)
        ctx.perm = perm
        ctx.obs = torch.gather(obs, -1, perm)
        for h in hooks:
            h.before_policy(ctx)
        a, state, att = pol.step(weights, ctx.obs, ctx.state)
        actions.append(a)
        atts.append(att)
        prev_perm = perm
    return torch.stack(actions), torch.stack(atts)


@pytest.fixture
def invariance_setup(random_an_params):
    pol = AttentionNeuronPolicy()
    weights = pol.prepare(random_an_params(scale=0.7, seed=11))
    rng = np.random.default_rng(4)
    stream = _stream(rng, 60, 8)
    gen = torch.Generator().manual_seed(0)
    p1 = torch.stack([torch.randperm(5, generator=gen) for _ in range(8)])[None]
    p2 = torch.stack([torch.randperm(5, generator=gen) for _ in range(8)])[None]
    ident = torch.arange(5).expand(1, 8, 5)
    return pol, weights, stream, ident, p1, p2


def test_a_fixed_permutation_leaves_actions_unchanged(invariance_setup):
    pol, w, stream, ident, p1, _ = invariance_setup
    base, _ = _run(pol, w, stream, lambda t: ident)
    perm, _ = _run(pol, w, stream, lambda t: p1)
    assert (base - perm).abs().max() < 1e-5
    assert base.abs().mean() > 0.05  # the policy does act


def test_b_relative_state_permutation_makes_a_reshuffle_invisible(invariance_setup):
    pol, w, stream, ident, p1, p2 = invariance_setup
    base, _ = _run(pol, w, stream, lambda t: ident)
    moved, _ = _run(
        pol, w, stream, lambda t: p1 if t < 30 else p2, hooks=[PermuteStateAtReshuffle("relative")]
    )
    assert (base - moved).abs().max() < 1e-5


def test_c_a_reshuffle_without_moving_the_state_changes_actions(invariance_setup):
    pol, w, stream, ident, p1, p2 = invariance_setup
    base, _ = _run(pol, w, stream, lambda t: ident)
    shuffled, _ = _run(pol, w, stream, lambda t: p1 if t < 30 else p2)
    assert (base[:30] - shuffled[:30]).abs().max() < 1e-5
    assert (base[30:] - shuffled[30:]).abs().max() > 1e-2


def test_d_with_state_zeroed_attention_columns_permute_with_the_observation(invariance_setup):
    pol, w, stream, ident, p1, p2 = invariance_setup
    zero = [ZeroStateEveryStep(("h", "c"))]
    _, att_base = _run(pol, w, stream, lambda t: ident, hooks=zero)
    # identical previous actions are needed for exact equality: zeroing h and c leaves
    # a_{t-1} as the only history, and it is itself invariant
    _, att_perm = _run(pol, w, stream, lambda t: p1 if t < 30 else p2, hooks=zero)
    for t in (0, 29, 30, 59):
        perm = (p1 if t < 30 else p2)[0]  # (n_ep, 5)
        for r in range(8):
            expected = att_base[t, 0, r][:, perm[r]]
            assert torch.allclose(att_perm[t, 0, r], expected, atol=1e-5)


def test_e_absolute_variant_differs_unless_previous_permutation_is_identity():
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        old = torch.randperm(5, generator=gen)
        new = torch.randperm(5, generator=gen)
        rel = relative_permutation(old, new)
        if torch.equal(old, torch.arange(5)):
            assert torch.equal(rel, new)
        elif not torch.equal(rel, new):
            continue
        # rel == new can only happen when old is the identity
        assert torch.equal(old, torch.arange(5))
    old, new = torch.tensor([1, 0, 2, 3, 4]), torch.tensor([2, 3, 4, 0, 1])
    assert not torch.equal(relative_permutation(old, new), new)
    assert torch.equal(relative_permutation(torch.arange(5), new), new)


def test_e_absolute_variant_changes_actions_in_an_episode(invariance_setup):
    pol, w, stream, ident, p1, p2 = invariance_setup
    assert not torch.equal(p1, ident)
    rel, _ = _run(
        pol, w, stream, lambda t: p1 if t < 30 else p2, hooks=[PermuteStateAtReshuffle("relative")]
    )
    ab, _ = _run(
        pol, w, stream, lambda t: p1 if t < 30 else p2, hooks=[PermuteStateAtReshuffle("absolute")]
    )
    differs = (rel[30:] - ab[30:]).abs().amax(dim=0)[0]  # per episode
    moved_differently = (relative_permutation(p1, p2) != p2).any(-1)[0]
    assert (differs[moved_differently] > 1e-3).all()
    assert (differs[~moved_differently] < 1e-5).all()


def test_relative_permutation_in_a_full_rollout_reproduces_unshuffled_returns(
    random_an_params,
):
    pol = AttentionNeuronPolicy()
    params = random_an_params(scale=0.4, seed=3)
    kw = dict(seed=9, max_steps=300)
    base = rollout(pol, params, 24, schedule=PermutationSchedule.none(), **kw)
    moved = rollout(
        pol,
        params,
        24,
        schedule=PermutationSchedule.every(50, initial_identity=True),
        interventions=[PermuteStateAtReshuffle("relative")],
        **kw,
    )
    assert np.allclose(base.returns, moved.returns, atol=1e-3)
