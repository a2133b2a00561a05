"""Library code of the architecture, environment and explorer chapters:
anpolicy.study.streams, anpolicy.study.baselines, anpolicy.report.plots, anpolicy.report.widgets."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from anpolicy.sim import physics  # noqa: E402
from anpolicy.sim.interventions import PermuteStateAtReshuffle, ZeroStateEveryStep  # noqa: E402
from anpolicy.sim.policy import FNNPolicy  # noqa: E402
from anpolicy.sim.rollout import episode_randomness, rollout  # noqa: E402
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule  # noqa: E402
from anpolicy.stats import SHORT_EPISODE  # noqa: E402
from anpolicy.study.baselines import (  # noqa: E402
    BrakingPolicy,
    DoomedStarts,
    braking_distance,
    braking_lengths,
    doomed_starts,
    open_loop_rescue,
    return_ceiling,
)
from anpolicy.study.streams import (  # noqa: E402
    closed_loop_stream,
    explain_step,
    invariance_properties,
    random_permutations,
    random_stream,
    run_stream,
)

# ------------------------------------------------------------------ baselines


def _starts(n, seed=0):
    starts, _, _, _ = episode_randomness(seed, n, PermutationSchedule.none(), 5, 1000)
    return starts


def test_braking_force_always_opposes_the_velocity():
    pol = BrakingPolicy()
    w = pol.prepare(np.zeros(0))
    obs = torch.randn(1, 500, 5)
    obs[0, :10, 1] = 0.0
    action, _, att = pol.step(w, obs, pol.initial_state(1, 500, 5))
    assert att is None
    assert (action * obs[..., 1] <= 0).all(), "braking pushed along the velocity"
    assert (action[obs[..., 1] != 0].abs() == 1).all(), "braking is not full force"
    assert (action[0, :10] == 0).all()


def test_braking_policy_pushes_against_the_cart_velocity_along_trajectories():
    """`BrakingPolicy` driven on its own observations along 60-step trajectories: every
    force it applies opposes the cart's velocity in the state (at full force while the
    cart moves), and the trajectories agree with `braking_lengths`' direct physics."""
    pol = BrakingPolicy()
    w = pol.prepare(np.zeros(0))
    s = torch.as_tensor(_starts(300))
    state = pol.initial_state(1, s.shape[0], physics.OBS_DIM)
    alive = torch.ones(s.shape[0], dtype=torch.bool)
    length = torch.zeros(s.shape[0], dtype=torch.int64)
    for _ in range(60):
        obs = physics.observation(s).to(torch.float32)[None]
        action, state, _ = pol.step(w, obs, state)
        force = physics.force_from_action(action[0].to(torch.float64))
        assert (force * s[:, 1] <= 0).all(), "braking pushed the cart along its velocity"
        moving = s[:, 1] != 0
        assert (force[moving].abs() == physics.FORCE_MAG).all(), "braking is not full force"
        s = physics.dynamics_step(s, force)
        length += alive
        alive &= ~physics.out_of_track(s)
    assert np.array_equal(length.numpy(), braking_lengths(_starts(300), horizon=60))


@pytest.mark.parametrize("v0", [5.0, -10.0])
def test_braking_distance_lies_between_the_cart_and_the_whole_system_bounds(v0):
    """With the pole hanging still, full force first decelerates the cart alone at
    4F / (4M - 3 m_p); in the long run it must stop the whole system of mass M (F / M).
    The stopping distance lies between the two constant-deceleration distances."""
    dist, steps = braking_distance([0.0, v0, np.pi, 0.0])
    m = physics.CART_MASS + physics.POLE_MASS
    fast = 4 * physics.FORCE_MAG / (4 * m - 3 * physics.POLE_MASS)
    slow = physics.FORCE_MAG / m
    assert v0**2 / (2 * fast) < dist < v0**2 / (2 * slow)
    assert abs(v0) / fast / physics.DT < steps < abs(v0) / slow / physics.DT + 2
    assert braking_distance([1.0, 0.0, np.pi, 0.0]) == (0.0, 0)


def test_braking_policy_in_the_engine_matches_the_direct_physics():
    n = 400
    res = rollout(BrakingPolicy(), np.zeros(0), n, seed=3, max_steps=200)
    assert np.array_equal(res.lengths[0], braking_lengths(_starts(n, 3), horizon=200))
    with pytest.raises(ValueError):
        BrakingPolicy().prepare(np.zeros(3))
    with pytest.raises(ValueError):
        rollout(BrakingPolicy(), np.zeros(0), 4, channels=ObservationChannels(n_noise=1))


def test_obviously_doomed_and_obviously_saveable_starts():
    starts = np.array(
        [
            [2.3, 10.0, np.pi, 0.0],  # at the right end, rushing outwards: doomed
            [-2.3, -10.0, np.pi, 0.0],  # the mirror image
            [0.0, 0.0, np.pi, 0.0],  # at rest in the centre: saveable
            [-2.0, 6.0, np.pi, 0.0],  # moving inwards: saveable
        ]
    )
    d = doomed_starts(starts, rescue_iters=5)
    assert d.doomed.tolist() == [True, True, False, False]
    assert (d.braking_length[:2] < 10).all()
    assert (d.braking_length[2:] == physics.MAX_STEPS).all()


def test_open_loop_rescue_is_never_worse_than_braking():
    starts = _starts(300, seed=5)
    lost = braking_lengths(starts, SHORT_EPISODE) < SHORT_EPISODE
    best = open_loop_rescue(starts[lost], iters=5)
    assert (best >= braking_lengths(starts[lost], SHORT_EPISODE)).all()
    assert best.max() <= SHORT_EPISODE


def test_doomed_share_is_about_what_design_measured_and_ci_covers_it():
    d = doomed_starts(_starts(3000, seed=1), rescue_iters=0, horizon=SHORT_EPISODE)
    lo, hi = d.share_ci()
    assert lo < d.share < hi
    assert 0.24 < d.share < 0.34  # measured 0.285 over 10,000 starts


def test_return_ceiling_arithmetic():
    d = DoomedStarts(
        starts=np.zeros((4, 4)),
        braking_length=np.array([10, 30, 1000, 1000]),
        rescued=np.zeros(4, bool),
        doomed=np.array([True, True, False, False]),
    )
    c = return_ceiling(d)
    assert c["ceiling"] == pytest.approx((10 + 30 + 1000 + 1000) / 4)
    assert c["doomed_share"] == 0.5 and c["doomed_mean_steps"] == 20


# -------------------------------------------------------------------- streams


def test_run_stream_equals_a_manual_loop_of_policy_step(an):
    pol, params = an
    x = random_stream(30, 3, seed=1)
    perm = random_permutations(3, seed=2)
    run = run_stream(pol, params, x, perms=perm)
    w = pol.prepare(params)
    state = pol.initial_state(1, 3, 5)
    for t in range(30):
        obs = torch.gather(x[t], -1, perm)[None]
        a, state, att = pol.step(w, obs, state)
        assert np.array_equal(run.actions[t], a.numpy())
        assert np.array_equal(run.attention[t], att.numpy())
    assert np.array_equal(run.h[-1], state["h"].numpy())


def test_run_stream_reproduces_a_closed_loop_rollout_with_reshuffles_and_hooks(an):
    pol, params = an
    p0, p1 = [3, 0, 4, 1, 2], [1, 2, 0, 4, 3]
    schedule = PermutationSchedule.given([p0, p1], steps=[40])
    hook = [PermuteStateAtReshuffle("absolute")]
    res = rollout(
        pol,
        params,
        1,
        seed=4,
        schedule=schedule,
        interventions=hook,
        record_episodes=[0],
        max_steps=120,
    )
    tr = res.traces[(0, 0)]
    phys = np.empty_like(tr["obs"])
    np.put_along_axis(phys, tr["perm"], tr["obs"], axis=1)  # undo the permutation
    run = run_stream(
        pol,
        params,
        phys[:, None],
        perms=[p0, p1],
        change_steps=[40],
        interventions=[PermuteStateAtReshuffle("absolute")],
    )
    assert np.array_equal(run.actions[:, 0, 0], tr["action"])
    assert np.array_equal(run.perm[:, 0], tr["perm"])


def test_run_stream_rejects_bad_input(an):
    pol, params = an
    x = random_stream(5, 2)
    with pytest.raises(ValueError, match="permutation"):
        run_stream(pol, params, x, perms=[0, 1, 1, 3, 4])
    with pytest.raises(ValueError):
        run_stream(pol, params, x, perms=[[0, 1, 2, 3, 4]] * 3, change_steps=[2])
    with pytest.raises(ValueError):
        run_stream(pol, params, x[0])
    with pytest.raises(ValueError):
        run_stream(pol, params, x, change_steps=[0])


def test_explain_step_matches_the_batched_policy(an):
    pol, params = an
    o = np.random.default_rng(3).standard_normal(5).astype(np.float32)
    parts = explain_step(pol, params, o, prev_action=-0.4)
    state = pol.initial_state(1, 1, 5)
    state["prev_action"] = torch.full((1, 1), -0.4)
    a, new, att = pol.step(pol.prepare(params), torch.as_tensor(o)[None, None], state)
    assert parts["A"].shape == (16, 5) and parts["K"].shape == (5, 32)
    assert parts["Q"].shape == (16, 32) and parts["m"].shape == (16,)
    assert abs(parts["action"][0] - float(a)) < 1e-5
    assert np.abs(parts["h"] - new["h"][0, 0].numpy()).max() < 1e-5
    assert np.abs(parts["A"] - att[0, 0].numpy()).max() < 1e-5


def test_invariance_properties_on_random_parameters(an):
    pol, params = an
    r = invariance_properties(pol, params, n_steps=60, n_streams=6, reshuffle_step=30)
    for key in ("a_fixed", "b_relative", "d_zero_state"):
        assert r[key]["max_abs_diff"] < 1e-4, key
    assert r["c_no_intervention"]["before"] < 1e-4
    assert r["c_no_intervention"]["max_abs_diff"] > 1e-2
    e = r["e_absolute"]
    assert e["p1_identity"][0] and e["max_abs_diff_identity"] == 0.0
    assert e["max_state_diff_identity"] == 0.0
    assert e["min_state_diff_non_identity"] > 1e-3
    assert e["max_abs_diff"] > 1e-2


def test_invariance_properties_would_catch_a_broken_state_permutation(an, monkeypatch):
    """If the relative permutation were the absolute one, property (b) must fail."""
    pol, params = an
    import anpolicy.sim.interventions as iv

    monkeypatch.setattr(iv, "relative_permutation", lambda old, new: new)
    r = invariance_properties(pol, params, n_steps=60, n_streams=6, reshuffle_step=30)
    assert r["b_relative"]["max_abs_diff"] > 1e-2


def test_zeroed_state_makes_attention_columns_follow_the_observation(an):
    pol, params = an
    x = random_stream(20, 2, seed=5)
    perm = torch.tensor([[4, 3, 2, 1, 0], [1, 0, 3, 2, 4]])
    zero = [ZeroStateEveryStep(("h", "c"))]
    base = run_stream(pol, params, x, interventions=zero)
    moved = run_stream(pol, params, x, perms=perm, interventions=zero)
    for r in range(2):
        assert np.allclose(
            moved.attention[:, 0, r], base.attention[:, 0, r][..., perm[r]], atol=1e-5
        )


def test_fnn_is_not_permutation_invariant():
    fnn = FNNPolicy()
    params = (0.5 * np.random.default_rng(1).standard_normal(fnn.n_params)).astype(np.float32)
    x = random_stream(10, 1, seed=1)
    a = run_stream(fnn, params, x).actions
    b = run_stream(fnn, params, x, perms=[4, 3, 2, 1, 0]).actions
    assert np.abs(a - b).max() > 1e-2


def test_closed_loop_stream_keeps_only_surviving_episodes(an):
    pol, params = an
    x, keep = closed_loop_stream(pol, params, 12, 40, seed=2)
    res = rollout(pol, params, 12, seed=2, max_steps=40)
    assert keep.tolist() == np.flatnonzero(res.lengths[0] >= 40).tolist()
    assert x.shape == (40, len(keep), 5) and not torch.isnan(x).any()
    assert len(keep) >= 1, "no episode survived 40 steps: the stream check below needs one"
    # the stream reproduces the episode's actions
    run = run_stream(pol, params, x[:, :1])
    rec = rollout(
        pol, params, int(keep[0]) + 1, seed=2, max_steps=40, record_episodes=[int(keep[0])]
    )
    # (batch sizes differ, so float32 sums may round differently)
    assert np.allclose(run.actions[:, 0, 0], rec.traces[(0, int(keep[0]))]["action"], atol=1e-5)


# ---------------------------------------------------------------------- plots


def test_plots_draw(an):
    from anpolicy.report.plots import (
        draw_attention_neuron,
        filmstrip,
        plot_invariance,
        states_from_trace,
    )

    ax = draw_attention_neuron()
    assert len(ax.patches) == 9
    plt.close("all")
    pol, params = an
    r = invariance_properties(pol, params, n_steps=30, n_streams=3, reshuffle_step=15)
    plot_invariance({"random": r})
    plt.close("all")
    state = np.array([[0.5, -1.0, 0.3, 2.0], [0.4, -1.0, -3.0, 2.0]])
    obs = physics.observation(state)
    perm = np.array([[3, 0, 4, 1, 2], [1, 2, 0, 4, 3]])
    trace = {"obs": np.take_along_axis(obs, perm, axis=1), "perm": perm}
    back = states_from_trace(trace)
    assert np.allclose(back, state)
    fig = filmstrip(back, [0, 1], ncols=2)
    assert len(fig.axes) == 2
    plt.close("all")


# -------------------------------------------------------------------- widgets


def test_parse_permutation():
    from anpolicy.report.widgets import parse_permutation

    assert parse_permutation("3, 0, 4, 1, 2").tolist() == [3, 0, 4, 1, 2]
    assert parse_permutation("[4 3 2 1 0]").tolist() == [4, 3, 2, 1, 0]
    for bad in ("", "0,1,2,3", "0,1,1,3,4", "a,b,c,d,e", "0,1,2,3,5", "1.5,0,2,3,4"):
        with pytest.raises(ValueError):
            parse_permutation(bad)


def test_explorer_schedule():
    from anpolicy.report.widgets import explorer_schedule

    s = explorer_schedule([1, 0, 2, 3, 4], "every", 300, seed=0)
    assert s.change_steps().tolist() == [300, 600, 900]
    assert list(s.perms[0]) == [1, 0, 2, 3, 4] and len(s.perms) == 4
    assert explorer_schedule([0, 1, 2, 3, 4], "at", 10, 0).change_steps().tolist() == [10]
    assert explorer_schedule([0, 1, 2, 3, 4], "none", 10, 0).change_steps().tolist() == []
    with pytest.raises(ValueError):
        explorer_schedule([0, 1, 2, 3, 4], "every", 0, 0)
    with pytest.raises(ValueError):
        explorer_schedule([0, 1, 2, 3, 4], "sometimes", 10, 0)


def test_explorer_builds_and_reports_the_episode(explorer):
    assert "return" in explorer.status.value and "Cannot" not in explorer.status.value
    trace, ret, length, _ = explorer._result
    assert explorer.step.max == length - 1
    assert np.isclose(trace["reward"].sum(), ret)
    outputs = explorer.output.outputs
    assert len(outputs) == 1 and "image/png" in outputs[0]["data"], "no figure in the panel"
    assert explorer.figure() is not None


def test_explorer_rejects_a_bad_permutation_with_a_message(explorer):
    explorer.perm_text.value = "0, 1, 1, 3, 4"  # must not raise
    assert "Cannot run" in explorer.status.value
    assert "not a permutation" in explorer.status.value
    assert explorer._result is None and explorer.figure() is None
    assert explorer.output.outputs == (), "a stale figure is still shown"
    explorer.perm_text.value = "hello"
    assert "whole numbers" in explorer.status.value
    explorer.perm_text.value = "4, 3, 2, 1, 0"  # recovers
    assert "Cannot run" not in explorer.status.value and explorer._result is not None


def test_explorer_random_button(explorer):
    explorer.random_button.click()
    perm = [int(v) for v in explorer.perm_text.value.split(",")]
    assert sorted(perm) == [0, 1, 2, 3, 4]
    assert "Cannot run" not in explorer.status.value


def test_explorer_relative_state_permutation_reproduces_the_unshuffled_return(an):
    from anpolicy.report.widgets import Explorer

    pol, params = an
    ex = Explorer(
        pol,
        params,
        seed=1,
        episode=2,
        permutation="2, 0, 1, 4, 3",
        reshuffle="every",
        k=20,
        intervention="permute_relative",
    )
    _, ret_moved, len_moved, changes = ex._result
    assert changes[:2] == [20, 40]
    ex.mode.value = "none"
    assert ex.k.disabled
    _, ret_plain, len_plain, _ = ex._result
    assert len_moved == len_plain and ret_moved == pytest.approx(ret_plain, abs=1e-3)
    plt.close("all")


def test_episode_animation_loads_nothing_from_the_network():
    import re

    from anpolicy.report.plots import episode_animation_html

    html = episode_animation_html(np.zeros((6, 4)), [0, 3, 5])
    assert "<img" in html or "frames" in html
    assert not re.search(r"<(link|script)[^>]*(href|src)=\"(https?:)?//", html)
    plt.close("all")
