"""Where an agent earns and loses its return: per-step reward and pole angle profiles.

`behaviour_profile` runs one agent on R episodes with the batched engine and records, for
every episode and step, the reward and the pole's ``cos(theta)`` (read from the channel
the policy saw it on, so it works with any permutation schedule). From them it counts
*falls*: the pole was balanced (``cos theta > 0.8``) and then dropped below the
horizontal (``cos theta < 0``) within the same episode.
"""

from __future__ import annotations

import numpy as np
import torch

from anpolicy.sim import physics
from anpolicy.sim.interventions import Intervention, StepContext
from anpolicy.sim.rollout import rollout

UPRIGHT_COS = 0.8  # "balanced": within about 37 degrees of upright
DOWN_COS = 0.0  # "fallen": below the horizontal


class StepProfile(Intervention):
    """Record reward and cos(theta) of every step: arrays (P, R, T), NaN after the end."""

    name = "step profile"

    def __init__(self, population: int, n_episodes: int, max_steps: int = physics.MAX_STEPS):
        super().__init__(None)
        shape = (population, n_episodes, max_steps)
        self.reward = np.full(shape, np.nan)
        self.cos_theta = np.full(shape, np.nan)
        self._cos = None

    def before_policy(self, ctx: StepContext) -> None:
        # the physical channel 2 (cos theta) sits where perm == 2
        where = torch.argsort(ctx.perm, dim=-1)[..., 2:3]
        self._cos = torch.gather(ctx.obs, -1, where)[..., 0].double()

    def after_env_step(self, ctx: StepContext) -> None:
        live = ctx.alive.cpu().numpy()
        p_idx = np.broadcast_to(np.arange(live.shape[0])[:, None], live.shape)[live]
        e_idx = ctx.episode.cpu().numpy()[live]
        self.reward[p_idx, e_idx, ctx.t] = ctx.reward.cpu().numpy()[live]
        self.cos_theta[p_idx, e_idx, ctx.t] = self._cos.cpu().numpy()[live]


def count_falls(cos_theta: np.ndarray) -> np.ndarray:
    """Falls per episode from cos(theta) traces (..., T) (NaN after the end): the number
    of times the pole, having been above ``UPRIGHT_COS``, drops below ``DOWN_COS``."""
    flat = cos_theta.reshape(-1, cos_theta.shape[-1])
    falls = np.zeros(len(flat), dtype=np.int64)
    for i, trace in enumerate(flat):
        balanced = False
        for c in trace[~np.isnan(trace)]:
            if c > UPRIGHT_COS:
                balanced = True
            elif c < DOWN_COS and balanced:
                falls[i] += 1
                balanced = False
    return falls.reshape(cos_theta.shape[:-1])


def behaviour_profile(policy, params, n_episodes: int, seed: int, schedule=None) -> dict:
    """Run one agent (``params`` (n_params,)) on ``n_episodes`` episodes.

    Returns ``returns`` (R,), ``lengths`` (R,), ``reward`` and ``cos_theta`` (R, T) with
    NaN after each episode's end, ``falls`` (R,) and ``upright_share`` (R,): the share of
    an episode's steps with ``cos theta > UPRIGHT_COS``.
    """
    profile = StepProfile(1, n_episodes)
    res = rollout(policy, params, n_episodes, seed=seed, schedule=schedule, interventions=[profile])
    cos = profile.cos_theta[0]
    with np.errstate(invalid="ignore"):
        upright = np.nansum(cos > UPRIGHT_COS, axis=1) / res.lengths[0]
    return {
        "returns": res.returns[0],
        "lengths": res.lengths[0],
        "reward": profile.reward[0],
        "cos_theta": cos,
        "falls": count_falls(cos),
        "upright_share": upright,
    }
