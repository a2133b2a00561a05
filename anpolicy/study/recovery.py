"""Recovery from one reshuffle: how long the agent's reward stays down after its inputs
are permuted mid-episode.

`pre_level` (the reward level before the reshuffle), `recovery_times` (steps until the
reward is back near that level for good; definition there), `disturbance_onsets`,
`summarize_recovery` (medians with bootstrap CIs, shares with Wilson CIs),
`recovery_analysis` of paired runs without and with one reshuffle at ``t0``, and
`recovery_experiment`, which runs them (`single_reshuffle_conditions`).

Shapes: rewards (N, T) per-step rewards (NaN after an episode's end), N episodes, T =
``max_steps`` steps; times in steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anpolicy.sim.schedules import PermutationSchedule
from anpolicy.stats import bootstrap_indices, proportion_ci
from anpolicy.study.conditions import Condition, ConditionResult, run_conditions


def pre_level(rewards, t0: int, window: int = 50) -> np.ndarray:
    """Mean per-step reward over the ``window`` steps before ``t0``: (N, T) -> (N,)
    (NaN where the episode did not run through all of them)."""
    r = np.asarray(rewards, dtype=np.float64)
    if not window <= t0 <= r.shape[1]:
        raise ValueError(f"need window <= t0 <= T, got window={window}, t0={t0}, T={r.shape[1]}")
    return r[:, t0 - window : t0].mean(axis=1)


def recovery_times(rewards, t0: int, level, tol: float = 0.1, hold: int = 50) -> np.ndarray:
    """Steps from ``t0`` until the reward is back near its level *for good*.

    ``rewards`` (N, T) per-step rewards, NaN after the episode's end; ``level`` (N,) the
    reference level (e.g. `pre_level`). A step t >= t0 is *low* when ``rewards[i, t] <
    level[i] - tol`` (or the episode has ended). The recovery time of episode i is
    ``tau = 1 + (last low step) - t0`` (0 if no step from t0 on is low): from step
    ``t0 + tau`` to the end of the horizon the reward never leaves the band again. It is
    ``inf`` (never recovered) when the episode ended early (the cart left the track)
    or the recovery came less than ``hold`` steps before the horizon T (not confirmed).
    Returns (N,) float.
    """
    r, level = _check_traces(rewards, level, t0)
    if hold < 1:
        raise ValueError(f"hold must be >= 1, got {hold}")
    low = _low(r, t0, level, tol)
    n_after = low.shape[1]
    any_low = low.any(axis=1)
    last = n_after - 1 - np.argmax(low[:, ::-1], axis=1)
    tau = np.where(any_low, last + 1, 0).astype(np.float64)
    tau[tau > n_after - hold] = np.inf
    return tau


def disturbance_onsets(rewards, t0: int, level, tol: float = 0.1) -> np.ndarray:
    """Steps from ``t0`` to the first *low* step (see `recovery_times`); ``inf`` if the
    reward never leaves the band. (N, T) -> (N,) float."""
    r, level = _check_traces(rewards, level, t0)
    low = _low(r, t0, level, tol)
    return np.where(low.any(axis=1), np.argmax(low, axis=1), np.inf).astype(np.float64)


def _check_traces(rewards, level, t0):
    r = np.asarray(rewards, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64).reshape(-1)
    if r.ndim != 2 or level.shape[0] != r.shape[0]:
        raise ValueError(f"rewards must be (N, T) and level (N,), got {r.shape}, {level.shape}")
    if not 0 <= t0 < r.shape[1]:
        raise ValueError(f"need 0 <= t0 < T, got t0={t0}, T={r.shape[1]}")
    return r, level


def _low(r, t0, level, tol):
    with np.errstate(invalid="ignore"):
        return ~(r[:, t0:] >= (level - tol)[:, None])  # NaN (ended) counts as low


def _quantile(x, q: float) -> float:
    return float(np.quantile(x, q, method="inverted_cdf"))


def _finite_or_none(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def median_ci(x, n_boot: int = 2000, seed: int = 0) -> tuple[float, list[float]]:
    """Median of ``x`` (a sample value: the inverted-CDF quantile, so ``inf`` entries
    are allowed) and its percentile-bootstrap 95 % CI."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return float("nan"), [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    boots = np.quantile(
        x[bootstrap_indices(x.size, n_boot, rng)], 0.5, axis=1, method="inverted_cdf"
    )
    lo, hi = np.quantile(boots, [0.025, 0.975], method="inverted_cdf")
    return _quantile(x, 0.5), [float(lo), float(hi)]


def summarize_recovery(tau, n_boot: int = 2000, seed: int = 0) -> dict:
    """Summary of recovery times ``tau`` (N,) from `recovery_times` (``inf`` = never).

    ``median``/``median_ci95``: over all N (``None`` where infinite, i.e. when more than
    half never recover); ``undisturbed_frac`` (tau = 0: the reward never left the band),
    ``never_frac`` (tau = inf), each with a Wilson 95 % CI; ``disturbed_median`` with
    its CI and quartiles: over the episodes with tau > 0 that did recover. JSON-ready.
    """
    tau = np.asarray(tau, dtype=np.float64).reshape(-1)
    n = int(tau.size)
    n_never, n_zero = int(np.isinf(tau).sum()), int((tau == 0).sum())
    out = {
        "n": n,
        "never_frac": n_never / n if n else None,
        "never_ci95": proportion_ci(n_never, n),
        "n_never": n_never,
        "undisturbed_frac": n_zero / n if n else None,
        "undisturbed_ci95": proportion_ci(n_zero, n),
        "n_undisturbed": n_zero,
    }
    med, ci = median_ci(tau, n_boot, seed) if n else (None, [None, None])
    out["median"], out["median_ci95"] = _finite_or_none(med), [_finite_or_none(v) for v in ci]
    rec = tau[(tau > 0) & np.isfinite(tau)]
    out["n_disturbed_recovered"] = int(rec.size)
    if rec.size:
        m, c = median_ci(rec, n_boot, seed)
        out["disturbed_median"], out["disturbed_median_ci95"] = m, c
        out["disturbed_q25"], out["disturbed_q75"] = _quantile(rec, 0.25), _quantile(rec, 0.75)
    else:
        out["disturbed_median"], out["disturbed_median_ci95"] = None, [None, None]
        out["disturbed_q25"] = out["disturbed_q75"] = None
    return out


def recovery_analysis(
    none: ConditionResult,
    shuffled: ConditionResult,
    t0: int,
    window: int = 50,
    min_level: float = 0.8,
    tol: float = 0.1,
    hold: int = 50,
    member: int = 0,
) -> dict:
    """Recovery from one reshuffle at ``t0``, from paired runs with recorded rewards.

    ``none`` and ``shuffled`` are results of the same episodes (same seed) without and
    with a single reshuffle at ``t0``, both starting unshuffled
    (``PermutationSchedule.at_steps([t0], initial_identity=True)`` vs ``none()``), so the
    runs are identical up to ``t0``. Episodes are *eligible* when they run past ``t0``
    and their mean reward over the ``window`` steps before ``t0`` (`pre_level`) is at
    least ``min_level`` (the pole is up). For those, the recovery time and the onset of
    the disturbance (`recovery_times`, `disturbance_onsets`, reference level = the
    pre-reshuffle mean) are measured in the reshuffled run and, as a control, in the
    run without reshuffle.

    Returns a dict: settings; ``eligible`` (n,) bool; for the N eligible episodes
    ``level`` (N,), ``rewards_none``, ``rewards_shuffled`` (N, T), ``tau_none``,
    ``tau_shuffled`` (N,) recovery times, ``onset_none``, ``onset_shuffled`` (N,); and
    ``returns_none``, ``returns_shuffled`` (n,) of all episodes.
    """
    if none.rewards is None or shuffled.rewards is None:
        raise ValueError("recovery_analysis needs results run with record_rewards=True")
    r_none, r_shuf = none.rewards[member], shuffled.rewards[member]
    alive_at_t0 = none.lengths[member] > t0
    level = np.where(alive_at_t0, pre_level(np.nan_to_num(r_none, nan=-1.0), t0, window), -1.0)
    eligible = alive_at_t0 & (level >= min_level)
    lv = level[eligible]
    return {
        "t0": t0,
        "window": window,
        "min_level": min_level,
        "tol": tol,
        "hold": hold,
        "seed": none.seed,
        "n_episodes": int(r_none.shape[0]),
        "eligible": eligible,
        "level": lv,
        "rewards_none": r_none[eligible],
        "rewards_shuffled": r_shuf[eligible],
        "tau_none": recovery_times(r_none[eligible], t0, lv, tol, hold),
        "tau_shuffled": recovery_times(r_shuf[eligible], t0, lv, tol, hold),
        "onset_none": disturbance_onsets(r_none[eligible], t0, lv, tol),
        "onset_shuffled": disturbance_onsets(r_shuf[eligible], t0, lv, tol),
        "returns_none": none.returns[member],
        "returns_shuffled": shuffled.returns[member],
    }


def single_reshuffle_conditions(t0s: Sequence[int]) -> list[Condition]:
    """``none`` plus one condition ``f"at_{t0}"`` per step: a single reshuffle at t0,
    unshuffled before (``at_steps([t0], initial_identity=True)``)."""
    return [Condition("none")] + [
        Condition(f"at_{int(t)}", PermutationSchedule.at_steps([int(t)], initial_identity=True))
        for t in t0s
    ]


def recovery_experiment(
    policy, params, n_episodes: int, t0: int = 300, seed: int = 0, **kw
) -> dict:
    """Run the paired episodes (no reshuffle / one at ``t0``, rewards recorded) and
    return `recovery_analysis` of them (``kw``: its settings)."""
    params = np.asarray(params)
    if params.ndim != 1:
        raise ValueError("recovery_experiment takes one parameter vector (n_params,)")
    res = run_conditions(
        policy, params, single_reshuffle_conditions([t0]), n_episodes, seed=seed,
        record_rewards=True,
    )  # fmt: skip
    return recovery_analysis(res["none"], res[f"at_{t0}"], t0, **kw)
