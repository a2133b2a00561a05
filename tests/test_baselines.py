"""The environment chapter's baselines (anpolicy.study.baselines): the braking policy, doomed
and saveable starts, the open-loop rescue search, the return ceiling."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from anpolicy.sim import physics  # noqa: E402
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
