"""Conditions and paired runs: several conditions of one agent on the same episodes.

A *condition* (`Condition`) is a permutation schedule plus a list of interventions (hooks
on the LSTM state, see `anpolicy.sim.interventions`). `run_conditions` runs several
conditions of one agent on the same ``n_episodes`` random episodes (paired: episode ``i``
has the same start state in every condition, and conditions with the same schedule also
share its permutations): each condition's `anpolicy.sim.plan.EpisodePlan` is drawn from
the seed and the plans are stacked into one batched rollout (`EpisodePlan.stack`; the
engine is 2-3x faster per env-step on a large batch than on many small ones), which
gives the same episodes as separate `anpolicy.sim.rollout.rollout` calls with the same
seed. Also: summaries and paired comparisons of the results (`summaries`,
`identical_fraction`, `paired_ratio`), the engines side by side (`engine_agreement`).

Shapes: P population members (parameter vectors), n episodes per condition, T =
``max_steps`` steps; returns are per-episode sums of rewards (one per step).
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
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.stats import bootstrap_indices, paired_difference, summarize


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
