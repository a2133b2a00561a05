"""How much could an FNN still gain on given starts? Per-start planning around it.

A policy's mean return on a set of episodes is capped twice: by the starts no policy can
keep on the track (`anpolicy.study.baselines`), and by how well the kept episodes could
be played. This module measures the second cap from below, start by start: for each
start it searches for a better action sequence than the policy's, near the policy's own.

The search (`planning_headroom`): the action at step t is ``tanh(z_t + delta_t)``, with
``z_t`` the FNN's pre-activation output for the current observation and ``delta_t`` a
per-start correction for the first ``horizon`` steps (none after). ``delta = 0`` is the
FNN itself, so the search starts from the FNN's own episode. Adam maximises the reward
earned over the first ``horizon`` steps while the cart stays on the track, by gradients
through the float64 dynamics. Because the FNN's feedback stays in the loop, the
gradients stay useful over hundreds of steps of the swing-up; gradients through an
open-loop action sequence do not (the uncontrolled swing-up is chaotic: 20 Adam steps of
1e-3 on the FNN's own 300 actions left 120 of 128 test episodes without the pole balanced
at step 300, and the search found nothing better).

Each result is the whole 1000-step episode of an actual action sequence (the best
corrections found, then the FNN alone), so ``planned`` is a lower bound on the best
return from that start, and ``planned - policy`` is the gain that per-start planning
finds. Planning knows the start; a policy does not. A small gain therefore means that a
better policy would have to find a different way to play, not a refinement of this one.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from anpolicy.sim import physics
from anpolicy.sim.policy import FNNPolicy

TRACK_MARGIN = 0.1  # m: the penalty keeps the cart this far inside the track's ends
PENALTY = 100.0  # weight of the squared distance beyond that margin, per step
RESTART_STEPS = 80  # a restart's random corrections cover the swing-up's first steps
RESTART_SCALE = 3.0  # and are this large (pre-activation units): full force either way


def _fnn_layers(policy, params) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The FNN's layers as float64 ``(weight (in, out), bias (out,))`` pairs."""
    if not isinstance(policy, FNNPolicy):
        raise ValueError(
            f"planning_headroom plans around an FNN; got a {getattr(policy, 'kind', policy)!r} "
            "policy (an Attention Neuron's LSTM state is not supported)"
        )
    if policy.obs_dim != physics.OBS_DIM:
        raise ValueError(
            f"this FNN takes {policy.obs_dim} inputs; the task observes {physics.OBS_DIM}"
        )
    weights = policy.prepare(params)  # shape and NaN checks: `check_params`
    if weights.population != 1:
        raise ValueError(
            f"params must have shape ({policy.n_params},): one FNN, got {weights.population}"
        )
    return [(w[0].double(), b[0, 0].double()) for w, b in zip(weights.ws, weights.bs, strict=True)]


def _pre_activation(layers, obs: torch.Tensor) -> torch.Tensor:
    """The FNN's output before its last tanh, (N,) for observations (N, obs_dim)."""
    x = obs
    for k, (weight, bias) in enumerate(layers):
        x = x @ weight + bias
        if k < len(layers) - 1:
            x = torch.tanh(x)
    return x.squeeze(-1)


def _episode(layers, s0: torch.Tensor, delta: torch.Tensor, steps: int):
    """Run the corrected FNN from starts ``s0`` (N, 4) for ``steps`` steps.

    ``delta`` (N, H) corrects the first H steps. Returns ``rewards`` (N, steps) (0 once
    the cart has left the track), ``on`` (N, steps) bool (still on the track after each
    step) and the track penalty (a scalar tensor)."""
    s, on = s0, torch.ones(s0.shape[0], dtype=torch.bool)
    rewards, alive, penalty = [], [], torch.zeros((), dtype=torch.float64)
    limit = physics.X_THRESHOLD - TRACK_MARGIN
    for t in range(steps):
        z = _pre_activation(layers, physics.observation(s))
        if t < delta.shape[1]:
            z = z + delta[:, t]
        s = physics.dynamics_step(s, physics.FORCE_MAG * torch.tanh(z))
        on = on & ~physics.out_of_track(s)
        alive.append(on)
        rewards.append(physics.reward(s) * on)
        penalty = penalty + (torch.relu(s[:, 0].abs() - limit) ** 2).sum()
    return torch.stack(rewards, 1), torch.stack(alive, 1), penalty


def _check_starts(starts) -> torch.Tensor:
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 4:
        raise ValueError(
            f"starts must have shape (N, 4) [x, x_dot, theta, theta_dot], got {starts.shape}"
        )
    if not np.isfinite(starts).all():
        raise ValueError("starts contain NaN or infinite values")
    return torch.as_tensor(starts)


def planning_headroom(
    policy,
    params,
    starts,
    horizon: int = 300,
    iters: int = 300,
    lr: float = 0.1,
    progress: bool | str = False,
    restarts: int = 0,
    seed: int = 0,
) -> dict:
    """Per-start planning around an FNN (see the module docstring).

    ``params`` (n_params,), ``starts`` (N, 4) float64 start states. ``horizon`` steps
    are corrected, for ``iters`` Adam steps of size ``lr`` (on the correction, in units of
    the FNN's pre-activation). Returns ``policy`` (N,) the FNN's own episode returns
    (float64 policy), ``planned`` (N,) the best whole-episode return found (at least
    ``policy``), ``kept_policy`` and ``kept_planned`` (N,) bool: the episode lasted all
    ``physics.MAX_STEPS`` steps.

    The search is local. ``restarts`` > 0 repeats it that many times from random
    corrections (standard normal times ``RESTART_SCALE`` on the first ``RESTART_STEPS``
    steps, drawn from ``seed``), which push the swing-up into other ways of playing; each
    start keeps the best episode of all searches.
    """
    layers = _fnn_layers(policy, params)
    s0 = _check_starts(starts)
    if not 1 <= int(horizon) <= physics.MAX_STEPS:
        raise ValueError(f"horizon must be 1..{physics.MAX_STEPS} steps, got {horizon}")
    if int(iters) < 0 or not lr > 0 or int(restarts) < 0:
        raise ValueError(
            f"iters and restarts must be >= 0 and lr > 0, got iters={iters}, "
            f"restarts={restarts}, lr={lr}"
        )
    n, horizon = s0.shape[0], int(horizon)
    none = torch.zeros(n, 0, dtype=torch.float64)
    with torch.no_grad():
        base_r, base_alive, _ = _episode(layers, s0, none, physics.MAX_STEPS)
    base_on, base_on_h = base_alive[:, -1], base_alive[:, horizon - 1]
    # a correction counts when it keeps the cart on the track for the horizon and earns
    # more over it than the FNN (or than nothing, where the FNN leaves the track)
    best = torch.where(base_on_h, base_r[:, :horizon].sum(1), torch.tensor(-np.inf))
    best_delta = torch.zeros(n, horizon, dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(seed))
    desc = progress if isinstance(progress, str) else "planning"
    bar = tqdm(total=int(iters) * (int(restarts) + 1), desc=desc, disable=not progress)
    for restart in range(int(restarts) + 1):
        delta = torch.zeros(n, horizon, dtype=torch.float64)
        if restart:
            k = min(RESTART_STEPS, horizon)
            noise = torch.randn(n, k, generator=gen, dtype=torch.float64)
            delta[:, :k] = RESTART_SCALE * noise
        delta.requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=lr)
        for _ in range(int(iters)):
            r, alive, penalty = _episode(layers, s0, delta, horizon)
            ret, on = r.sum(1), alive[:, -1]
            with torch.no_grad():
                better = on & (ret > best)
                best = torch.where(better, ret, best)
                best_delta[better] = delta[better]
            loss = -ret.sum() + PENALTY * penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update()
    bar.close()
    with torch.no_grad():
        plan_r, plan_alive, _ = _episode(layers, s0, best_delta, physics.MAX_STEPS)
    policy_ret, plan_ret, plan_on = base_r.sum(1), plan_r.sum(1), plan_alive[:, -1]
    use_plan = plan_ret > policy_ret
    return {
        "policy": policy_ret.numpy(),
        "planned": torch.where(use_plan, plan_ret, policy_ret).numpy(),
        "kept_policy": base_on.numpy(),
        "kept_planned": torch.where(use_plan, plan_on, base_on).numpy(),
    }


def kept_mean_needed(returns, kept, target: float) -> float:
    """The mean return the ``kept`` episodes (R,) bool would need for the whole sample's
    mean of ``returns`` (R,) to reach ``target``, the other episodes unchanged."""
    returns, kept = np.asarray(returns, dtype=np.float64), np.asarray(kept, dtype=bool)
    if returns.shape != kept.shape or returns.ndim != 1:
        raise ValueError(f"returns and kept must be (R,) alike, got {returns.shape}, {kept.shape}")
    if not kept.any():
        raise ValueError("no kept episode: nothing could reach the target")
    return float((target * returns.size - returns[~kept].sum()) / kept.sum())


def sample_headroom(returns, kept, lost, plans: dict, target: float) -> dict:
    """What per-start planning says of one sample of episodes against ``target``.

    ``returns`` (R,) are a policy's returns on the sample, ``kept`` (R,) bool its
    episodes that lasted the whole episode, ``lost`` (R,) bool the saveable starts
    (`anpolicy.study.baselines.doomed_starts`) it did not keep. ``plans["kept"]`` and
    ``plans["lost"]`` are `planning_headroom` results on random subsets of each. Returns
    the sample's ``mean``, ``kept_share``, ``kept_mean``, ``lost_share``,
    ``kept_needed`` (`kept_mean_needed` for ``target``), the planned gains per kept
    episode (``kept_gain``: an `anpolicy.stats.summarize`-style dict with ``mean``,
    ``ci95``, ``n``), the lost starts planning keeps (``saved``, of ``lost_planned``),
    and ``planned_mean``: the sample's mean with those gains extrapolated to every kept
    and lost episode. ``planned_range`` bounds it: below, the kept gain's 95 % CI low end
    (lost starts count nothing); above, its high end plus, for the lost starts, the Wilson
    95 % upper bound of the share planning saves times the most a saved start can gain
    (``physics.MAX_STEPS``), a deliberately generous bound.
    """
    from anpolicy.stats import proportion_ci, summarize

    returns = np.asarray(returns, dtype=np.float64)
    kept, lost = np.asarray(kept, dtype=bool), np.asarray(lost, dtype=bool)
    if (kept & lost).any():
        raise ValueError("an episode cannot be both kept and lost")
    n = returns.size
    gains = {k: np.asarray(p["planned"]) - np.asarray(p["policy"]) for k, p in plans.items()}
    kept_gain = summarize(gains["kept"])
    shares = {"kept": kept.sum() / n, "lost": lost.sum() / n}
    saved, m = int(np.asarray(plans["lost"]["kept_planned"]).sum()), int(gains["lost"].size)
    lost_mean = float(gains["lost"].mean()) if m else 0.0
    planned = returns.mean() + shares["kept"] * kept_gain["mean"] + shares["lost"] * lost_mean
    low = returns.mean() + shares["kept"] * max(kept_gain["ci95"][0], 0.0)
    # a lost start kept for the whole episode gains at most MAX_STEPS (reward <= 1 per
    # step): bound the lost starts' mean gain by the Wilson upper bound of the share saved
    saved_hi = proportion_ci(saved, m)[1] if m else 1.0
    high = (
        returns.mean()
        + shares["kept"] * kept_gain["ci95"][1]
        + shares["lost"] * max(saved_hi * physics.MAX_STEPS, lost_mean)
    )
    return {
        "n": n,
        "mean": float(returns.mean()),
        "kept_share": float(shares["kept"]),
        "kept_mean": float(returns[kept].mean()) if kept.any() else float("nan"),
        "lost_share": float(shares["lost"]),
        "kept_needed": kept_mean_needed(returns, kept, target),
        "kept_gain": kept_gain,
        "saved": saved,
        "lost_planned": m,
        "planned_mean": float(planned),
        "planned_range": [float(low), float(high)],
        "target": float(target),
    }


def headroom_sentence(h: dict, agent: str = "the FNN") -> str:
    """`sample_headroom`'s numbers ``h`` in words, with the verdict on its target."""
    lo, hi = h["kept_gain"]["ci95"]
    p_lo, p_hi = h["planned_range"]
    if p_hi < h["target"]:
        verdict = f"below {h['target']:.0f}: refining {agent}'s play does not reach it here"
    elif p_lo >= h["target"]:
        verdict = f"{h['target']:.0f} is within reach of refinements of {agent}"
    else:
        verdict = f"{h['target']:.0f} is not ruled out"
    return (
        f"On these {h['n']:,} episodes {agent} averages {h['mean']:.1f}. It keeps "
        f"{h['kept_share']:.1%} of the starts for the whole episode, earning "
        f"{h['kept_mean']:.1f} in each, and loses {h['lost_share']:.1%} that are not doomed "
        f"during the swing-up; {h['target']:.0f} would need {h['kept_needed']:.1f} per kept "
        f"episode. Planning finds {h['kept_gain']['mean']:+.1f} [{lo:+.1f}, {hi:+.1f}] per "
        f"kept episode ({h['kept_gain']['n']} starts) and keeps {h['saved']} of "
        f"{h['lost_planned']} lost starts. With those gains on every episode the sample "
        f"would average {h['planned_mean']:.1f} (at most {p_hi:.1f}): {verdict}."
    )
