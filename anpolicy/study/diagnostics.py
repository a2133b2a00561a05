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


def swing_up_steps(cos_theta: np.ndarray) -> np.ndarray:
    """The step at which each episode's pole is first balanced (``cos theta >
    UPRIGHT_COS``), from traces (..., T) with NaN after the end: (...,) float, NaN for an
    episode whose pole never was."""
    above = np.nan_to_num(cos_theta, nan=-1.0) > UPRIGHT_COS
    first = above.argmax(axis=-1).astype(float)
    first[~above.any(axis=-1)] = np.nan
    return first


def balanced_reward_rate(reward: np.ndarray, cos_theta: np.ndarray) -> np.ndarray:
    """Mean reward per step (R,) from each episode's first balanced step to its end, from
    (R, T) traces with NaN after the end; NaN for an episode never balanced."""
    first = swing_up_steps(cos_theta)
    steps = np.arange(reward.shape[-1])
    after = (steps >= np.nan_to_num(first, nan=np.inf)[:, None]) & ~np.isnan(reward)
    total = np.where(after, np.nan_to_num(reward), 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(after.any(axis=-1), total / after.sum(axis=-1), np.nan)


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


def profile_summary(profile: dict, seed: int = 0) -> dict:
    """One agent's `behaviour_profile` in numbers: ``episodes`` (R), ``mean_return``,
    ``full_share`` (share of episodes lasting ``physics.MAX_STEPS``), and over those
    full-length episodes ``full_return``, ``falls`` (mean per episode) with
    ``falls_ci`` (95 % bootstrap CI, seeded by ``seed``) and ``balanced`` (share of
    steps with ``cos theta > UPRIGHT_COS``). NaN (``falls_ci`` None) when no episode
    lasted. Over the full-length episodes without a fall: ``no_fall_share`` (of the
    full-length ones), ``no_fall_return`` with ``no_fall_ci``, ``swing_up`` (mean step of
    the first balance, `swing_up_steps`) and ``balanced_rate`` (mean reward per step from
    then on, `balanced_reward_rate`); NaN (CI None) when there is none."""
    from anpolicy.stats import bootstrap_ci

    full = np.asarray(profile["lengths"]) == physics.MAX_STEPS
    nan = float("nan")
    falls = profile["falls"][full].astype(float)
    calm = full & (np.asarray(profile["falls"]) == 0)
    calm_returns = profile["returns"][calm]
    swing = swing_up_steps(profile["cos_theta"][calm])
    rate = balanced_reward_rate(profile["reward"][calm], profile["cos_theta"][calm])
    return {
        "no_fall_share": float(calm.sum() / full.sum()) if full.any() else nan,
        "no_fall_return": float(calm_returns.mean()) if calm.any() else nan,
        "no_fall_ci": bootstrap_ci(calm_returns, seed=seed) if calm.any() else None,
        "swing_up": float(np.nanmean(swing)) if calm.any() else nan,
        "balanced_rate": float(np.nanmean(rate)) if calm.any() else nan,
        "episodes": int(full.size),
        "mean_return": float(np.mean(profile["returns"])),
        "full_share": float(full.mean()),
        "full_return": float(profile["returns"][full].mean()) if full.any() else nan,
        "falls": float(falls.mean()) if full.any() else nan,
        "falls_ci": bootstrap_ci(falls, seed=seed) if full.any() else None,
        "balanced": float(profile["upright_share"][full].mean()) if full.any() else nan,
    }


def balance_gap_words(ours: dict, authors: dict | None, missing: str = "") -> str:
    """The sentence comparing our Attention Neuron's balance with Tang & Ha's agent on the
    same episodes, from two `profile_summary` dicts; without the authors' agent it says
    why it was not measured (``missing``)."""
    if authors is None:
        return f"Tang & Ha's agent was not measured here: {missing or 'not available'}."

    def falls(s: dict) -> str:
        lo, hi = s["falls_ci"] or (float("nan"), float("nan"))
        return f"{s['falls']:.2f} [{lo:.2f}, {hi:.2f}]"

    def fewer(a: dict, b: dict) -> bool:  # a falls less often than b: CIs apart
        return (
            a["falls_ci"] is not None
            and b["falls_ci"] is not None
            and (a["falls_ci"][1] < b["falls_ci"][0])
        )

    if fewer(authors, ours) and authors["full_return"] > ours["full_return"]:
        verdict = "The gap to the paper is in keeping the balanced pole up."
    elif fewer(authors, ours):
        verdict = (
            "Ours drops the balanced pole more often, yet earns at least as much over the "
            "episodes that last: it wins the falls' cost back in the episodes without one."
        )
    elif fewer(ours, authors):
        verdict = "Ours drops the balanced pole less often than Tang & Ha's agent."
    else:
        verdict = "Falls do not separate the two agents on these episodes."
    words = (
        f"On the same episodes, shuffled at reset, Tang & Ha's agent lasts the whole "
        f"episode in {authors['full_share']:.0%} of them (ours: {ours['full_share']:.0%}); "
        f"when it does, it earns {authors['full_return']:.0f} "
        f"against our {ours['full_return']:.0f}, with {falls(authors)} falls per episode "
        f"against our {falls(ours)}, balanced on {authors['balanced']:.0%} of its steps "
        f"against our {ours['balanced']:.0%}."
    )
    return f"{words} {no_fall_words(ours, authors, verdict)}"


def no_fall_words(ours: dict, authors: dict, verdict: str) -> str:
    """The episodes that last and never fall, compared (`profile_summary` fields), with
    ``verdict``; where Tang & Ha's agent still earns more on them (return CIs apart) and
    that gap is at least half of the full-length episodes', falls are not the main gap
    and the verdict says so instead."""
    if ours["no_fall_ci"] is None or authors["no_fall_ci"] is None:
        return verdict
    gap_calm = authors["no_fall_return"] - ours["no_fall_return"]
    gap_full = authors["full_return"] - ours["full_return"]
    calm_apart = authors["no_fall_ci"][0] > ours["no_fall_ci"][1]
    if calm_apart and gap_full > 0 and gap_calm >= gap_full / 2:
        how = (
            ", balanced later and less precisely"
            if authors["swing_up"] < ours["swing_up"]
            and authors["balanced_rate"] > ours["balanced_rate"]
            else ""
        )
        verdict = (
            f"Falls are not the main gap: without one, ours still earns {gap_calm:.0f} less "
            f"(all lasting episodes: {gap_full:.0f}){how}."
        )

    def calm(s: dict) -> str:
        lo, hi = s["no_fall_ci"]
        return f"{s['no_fall_return']:.0f} [{lo:.0f}, {hi:.0f}]"

    return (
        f"In the lasting episodes without a fall it earns {calm(authors)} against our "
        f"{calm(ours)}: first balanced at step {authors['swing_up']:.0f} against our "
        f"{ours['swing_up']:.0f}, then {authors['balanced_rate']:.3f} reward per step "
        f"against our {ours['balanced_rate']:.3f}. {verdict}"
    )
