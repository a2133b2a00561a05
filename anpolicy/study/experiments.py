"""Experiments of the permutation and ablation chapters: conditions, sweeps, recovery.

A *condition* is a permutation schedule plus a list of interventions (hooks on the
LSTM state, see `anpolicy.sim.interventions`). `run_conditions` runs several conditions of
one agent on the same ``n_episodes`` random episodes (paired: episode ``i`` has the
same start state in every condition, and conditions with the same schedule also share
its permutations). Conditions are merged into one batched rollout (the engine is
2-3x faster per env-step on a large batch than on many small ones): each condition's
`anpolicy.sim.plan.EpisodePlan` is drawn from the seed and the plans are stacked
(`EpisodePlan.stack`), which gives the same episodes as separate
`anpolicy.sim.rollout.rollout` calls with the same seed.

`reward_traces` / `recovery_times` / `recovery_experiment` measure how long the agent
needs to recover from a single reshuffle (definition in `recovery_times`).

Policy-level ablations: `uniform_attention` (an ``attention_transform``),
`with_positions` with `shuffled_position_tables` / `random_position_tables` (the
positional queries; a (P, 16, 8) table gives each population member its own table).

Shapes: P population members (parameter vectors), n episodes per condition, T =
``max_steps`` steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from anpolicy.sim import physics
from anpolicy.sim.interventions import Intervention, StepContext
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.stats import bootstrap_indices, paired_difference, proportion_ci, summarize
from anpolicy.study.published import STUDY_2025, TANG_HA_2021, TANG_HA_INTERVALS, published_summary

__all__ = [
    "TANG_HA_2021",
    "TANG_HA_INTERVALS",
    "STUDY_2025",
    "published_summary",
    "paired_ratio",
    "schedule_permutations",
    "Condition",
    "ConditionResult",
    "RewardTrace",
    "run_conditions",
    "sweep_conditions",
    "summaries",
    "identical_fraction",
    "pre_level",
    "recovery_times",
    "disturbance_onsets",
    "recovery_analysis",
    "recovery_experiment",
    "single_reshuffle_conditions",
    "summarize_recovery",
    "median_ci",
    "proportion_ci",
    "uniform_attention",
    "with_positions",
    "shuffled_position_tables",
    "random_position_tables",
]


# ----------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Condition:
    """One experimental condition: a schedule and interventions.

    ``interventions`` are templates: every run deep-copies them (hooks may keep state)
    and restricts them to the condition's own episodes. An intervention that already
    has an ``episodes`` subset keeps it (indices 0..n-1 within the condition).
    """

    name: str
    schedule: PermutationSchedule = field(default_factory=PermutationSchedule.none)
    interventions: tuple[Intervention, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "interventions", tuple(self.interventions))


@dataclass
class ConditionResult:
    """Outcome of one condition: ``returns`` (P, n) float64, ``lengths`` (P, n) int64,
    and, when recorded, ``rewards`` (P, n, T) float32 per-step rewards (NaN after the
    episode's last step)."""

    name: str
    returns: np.ndarray
    lengths: np.ndarray
    seed: int
    rewards: np.ndarray | None = None

    def summary(self, member: int = 0) -> dict:
        """`anpolicy.stats.summarize` of one member's returns (with lengths)."""
        return summarize(self.returns[member], self.lengths[member])

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


class RewardTrace(Intervention):
    """Record every episode's per-step reward (cheap: one scatter per step).

    ``rewards`` (P, n_episodes, max_steps) float32; NaN where the episode has ended.
    """

    name = "reward_trace"

    def __init__(self, population: int, n_episodes: int, max_steps: int = physics.MAX_STEPS):
        super().__init__(None)
        self.rewards = torch.full((population, n_episodes, max_steps), float("nan"))

    def after_env_step(self, ctx: StepContext) -> None:
        r = torch.where(ctx.alive, ctx.reward, torch.full_like(ctx.reward, float("nan")))
        members = torch.arange(r.shape[0])[:, None].expand_as(ctx.episode)
        self.rewards[members, ctx.episode, ctx.t] = r.to(torch.float32).cpu()


class _Block(Intervention):
    """Run ``inner`` only on episodes [offset, offset + n) of a merged rollout, and
    its ``on_reshuffle`` only at the condition's own change steps (other conditions'
    change steps leave this block's permutation unchanged and must not trigger it)."""

    def __init__(self, inner: Intervention, offset: int, n: int, own_steps):
        inner = copy.deepcopy(inner)
        if inner.episodes is None:
            inner.episodes = torch.arange(offset, offset + n)
        else:
            sub = inner.episodes[(inner.episodes >= 0) & (inner.episodes < n)]
            inner.episodes = sub + offset
        super().__init__(inner.episodes.tolist())
        self.inner = inner
        self.own_steps = {int(s) for s in own_steps}
        self.name = inner.name

    def on_reshuffle(self, ctx, old_perm, new_perm):
        if ctx.t in self.own_steps:
            self.inner.on_reshuffle(ctx, old_perm, new_perm)

    def before_policy(self, ctx):
        self.inner.before_policy(ctx)

    def after_policy(self, ctx):
        self.inner.after_policy(ctx)

    def after_env_step(self, ctx):
        self.inner.after_env_step(ctx)


def _plans(conditions, n, seed, n_perm, max_steps) -> list[EpisodePlan]:
    """Each condition's episodes: the same seed, so the same starts (and the same
    permutations where the schedules are the same)."""
    return [EpisodePlan.draw(seed, n, c.schedule, n_perm, max_steps) for c in conditions]


def _chunks(conditions, n, channels, max_steps, max_batch, max_perm_bytes=2**28):
    """Group consecutive conditions into merged rollouts: at most ``max_batch``
    episodes, and a merged permutation table (episodes x union of change steps) of at
    most ``max_perm_bytes``; with noise channels every condition runs alone."""
    chunks, cur, steps = [], [], set()
    for cond in conditions:
        new_steps = steps | set(cond.schedule.change_steps(max_steps).tolist())
        size = (len(cur) + 1) * n * (len(new_steps) + 1) * channels.n_permuted * 8
        if cur and (channels.n_noise or (len(cur) + 1) * n > max_batch or size > max_perm_bytes):
            chunks.append(cur)
            cur, new_steps = [], set(cond.schedule.change_steps(max_steps).tolist())
        cur.append(cond)
        steps = new_steps
    return chunks + [cur] if cur else chunks


def run_conditions(
    policy,
    params,
    conditions: Sequence[Condition],
    n_episodes: int,
    seed: int = 0,
    channels: ObservationChannels | None = None,
    max_steps: int = physics.MAX_STEPS,
    record_rewards: bool = False,
    max_batch: int = 24_000,
    progress: bool | str = False,
) -> dict[str, ConditionResult]:
    """Run every condition on the same ``n_episodes`` episodes (seed ``seed``).

    ``params`` (n_params,) or (P, n_params). Conditions are merged into rollouts of at
    most ``max_batch`` episodes; the results equal separate ``rollout(policy, params,
    n_episodes, seed, schedule, interventions=...)`` calls up to float round-off (the
    policy is chaotic, so a few long episodes may differ; statistics do not). With
    noise channels every condition runs separately (the noise stream is per rollout).
    Returns ``{condition.name: ConditionResult}`` in the order given.
    """
    names = [c.name for c in conditions]
    if len(set(names)) != len(names):
        raise ValueError(f"condition names must be unique, got {names}")
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    channels = channels or ObservationChannels()
    out: dict[str, ConditionResult] = {}
    for chunk in _chunks(conditions, n_episodes, channels, max_steps, max_batch):
        plans = _plans(chunk, n_episodes, seed, channels.n_permuted, max_steps)
        n_total = len(chunk) * n_episodes
        hooks: list[Intervention] = []
        for j, cond in enumerate(chunk):
            own = plans[j].change_steps
            hooks += [_Block(h, j * n_episodes, n_episodes, own) for h in cond.interventions]
        trace = None
        if record_rewards:
            n_pop = np.atleast_2d(np.asarray(params)).shape[0]
            trace = RewardTrace(n_pop, n_total, max_steps)
            hooks.append(trace)
        res = rollout(
            policy,
            params,
            n_total,
            seed=seed,
            channels=channels,
            interventions=hooks,
            max_steps=max_steps,
            plan=EpisodePlan.stack(plans),  # one plan: the same as rollout(..., seed, schedule)
            progress=progress,
        )
        for j, cond in enumerate(chunk):
            sl = slice(j * n_episodes, (j + 1) * n_episodes)
            out[cond.name] = ConditionResult(
                cond.name,
                res.returns[:, sl],
                res.lengths[:, sl],
                seed,
                None if trace is None else trace.rewards[:, sl].numpy(),
            )
    return out


def sweep_conditions(
    ks: Sequence[int],
    variants: dict[str, Callable[[], Sequence[Intervention]]] | None = None,
    initial_identity: bool = False,
) -> list[Condition]:
    """Conditions "reshuffle every k" for each k and variant, named ``f"{variant}@{k}"``.

    ``variants`` maps a name to a factory of interventions (default: ``{"nothing": ...}``
    with no intervention). Conditions with the same k share their permutations.
    """
    variants = variants or {"nothing": lambda: ()}
    return [
        Condition(
            f"{name}@{int(k)}",
            PermutationSchedule.every(int(k), initial_identity=initial_identity),
            tuple(make()),
        )
        for name, make in variants.items()
        for k in ks
    ]


def summaries(
    results: dict[str, ConditionResult], baseline: str | None = None, member: int = 0
) -> dict[str, dict]:
    """``{name: summarize(...)}`` for each condition; with ``baseline``, each entry also
    has ``"diff"``: the paired difference of returns (condition - baseline)."""
    out = {}
    for name, res in results.items():
        s = res.summary(member)
        if baseline is not None and name != baseline:
            s["diff"] = paired_difference(res.returns[member], results[baseline].returns[member])
        out[name] = s
    return out


def identical_fraction(a, b, atol: float = 1e-3) -> dict:
    """How far two paired sets of returns are from identical.

    Returns ``{"max_abs_diff", "frac_identical" (|a - b| <= atol), "n_identical", "n",
    "atol"}``.
    """
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(-1)
    return {
        "max_abs_diff": float(d.max()),
        "frac_identical": float((d <= atol).mean()),
        "n_identical": int((d <= atol).sum()),
        "n": int(d.size),
        "atol": float(atol),
    }


def engine_agreement(
    policy, params, n_episodes: int, seed: int = 0, schedule=None, plan=None
) -> dict:
    """The same episodes on the PyTorch and the fused engine (`anpolicy.sim.rollout`).

    Returns ``{"torch": summary, "fused": summary, "diff": paired difference fused -
    torch, "identical": identical_fraction (|diff| <= 1e-3), "seconds": {engine: s}}``
    (wall-clock of each call, after a warm-up that compiles the fused engine).
    """
    import time

    rollout(policy, params, 2, seed=seed, max_steps=5, engine="fused")  # compile/load cache
    runs, seconds = {}, {}
    for engine in ("torch", "fused"):
        t0 = time.perf_counter()
        runs[engine] = rollout(
            policy, params, n_episodes, seed=seed, schedule=schedule, plan=plan,
            engine=engine,
        )  # fmt: skip
        seconds[engine] = time.perf_counter() - t0
    out = {e: summarize(r.returns[0], r.lengths[0]) for e, r in runs.items()}
    out["diff"] = paired_difference(runs["fused"].returns[0], runs["torch"].returns[0])
    out["identical"] = identical_fraction(runs["fused"].returns[0], runs["torch"].returns[0])
    out["seconds"] = seconds
    out["env_steps"] = {e: r.env_steps for e, r in runs.items()}
    return out


def paired_ratio(a, b, n_boot: int = 2000, seed: int = 0) -> dict:
    """``mean(a) / mean(b)`` over paired episodes with a paired percentile-bootstrap 95 %
    CI (episodes resampled together): e.g. the share of the unshuffled return kept."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired samples need equal non-empty shapes, got {a.shape}, {b.shape}")
    idx = bootstrap_indices(a.size, n_boot, np.random.default_rng(seed))
    boots = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"ratio": float(a.mean() / b.mean()), "ci95": [float(lo), float(hi)], "n": int(a.size)}


def schedule_permutations(
    schedule: PermutationSchedule, n_episodes: int, seed: int = 0, n_permuted: int = 5,
    max_steps: int = physics.MAX_STEPS,
) -> np.ndarray:  # fmt: skip
    """The permutations a rollout with this seed uses: (n_episodes, E + 1, n_permuted),
    index 0 from step 0, index i from the schedule's i-th change step."""
    return EpisodePlan.draw(seed, n_episodes, schedule, n_permuted, max_steps).perms


# ------------------------------------------------------------------- recovery


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


# ---------------------------------------------------------- policy-level ablations


def uniform_attention(att: torch.Tensor) -> torch.Tensor:
    """Replace the attention (P, R, 16, C) by uniform weights over channels: each query
    weighs every channel with its mean weight (the per-query scale is kept, the
    selection of channels is removed). Use as ``AttentionNeuronPolicy(attention_transform=
    uniform_attention)``."""
    return att.mean(dim=-1, keepdim=True).expand_as(att).contiguous()


def with_positions(policy: AttentionNeuronPolicy, table) -> AttentionNeuronPolicy:
    """A copy of ``policy`` whose positional table (the queries' inputs) is ``table``:
    (16, 8) for every member, or (P, 16, 8), one per population member (then run with
    P parameter vectors). The original policy is not modified."""
    t = torch.as_tensor(np.asarray(table), dtype=torch.float32)
    shape = tuple(policy.positions.shape)
    if t.shape[-2:] != shape or t.ndim not in (2, 3):
        raise ValueError(f"position table must be {shape} or (P, *{shape}), got {tuple(t.shape)}")
    new = copy.copy(policy)
    new.positions = t
    return new


def shuffled_position_tables(policy: AttentionNeuronPolicy, n: int, seed: int = 0) -> np.ndarray:
    """``n`` copies of the policy's table with rows (queries) randomly permuted, each
    with a permutation that moves at least one row: (n, 16, 8) float32."""
    base = policy.positions.numpy()
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        p = rng.permutation(base.shape[0])
        if (p != np.arange(base.shape[0])).any():
            out.append(base[p])
    return np.stack(out).astype(np.float32)


def random_position_tables(policy: AttentionNeuronPolicy, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random tables N(0, s^2) with s the RMS of the policy's table: (n, 16, 8)."""
    base = policy.positions.numpy()
    s = float(np.sqrt((base.astype(np.float64) ** 2).mean()))
    rng = np.random.default_rng(seed)
    return (s * rng.standard_normal((n, *base.shape))).astype(np.float32)
