"""The noise and attention chapters' measurements on both agents.

`noise_study`: duplicated inputs and extra noise channels (shuffled once per episode),
paired against the shuffled 5-input run, and the attention shares on the noise
channels (`noise_conditions`, `IndependentCopies`); `attention_study`: the attention
mismatch after a reshuffle (twin rollouts, `anpolicy.study.attention`). Each returns a
`anpolicy.study.chapter_results.StudyResult`. Shapes: n episodes per condition and
agent; T = 1000 steps.
"""

from __future__ import annotations

import time

import numpy as np

from anpolicy.stats import paired_difference, summarize
from anpolicy.study import claims
from anpolicy.study.chapter_agents import StudyAgents, _groups
from anpolicy.study.chapter_results import (
    AttentionAgent,
    NoiseAgent,
    StudyResult,
    _result,
    _rounded,
)


class IndependentCopies:
    """Duck-typed permutation schedule for duplicated inputs, "each copy placed
    independently": copy ``i`` of the 5 observations fills columns ``5i .. 5i+4`` in its
    own random order, drawn at reset (``PermutationSchedule.at_reset()`` instead permutes
    all 10 columns together). Samples (R, 1, 5 * copies) int64."""

    def change_steps(self, max_steps: int = 1000) -> np.ndarray:
        return np.zeros(0, dtype=np.int64)

    def sample(self, rng, n_episodes: int, n: int, max_steps: int = 1000) -> np.ndarray:
        if n % 5:
            raise ValueError(f"independent copies need a multiple of 5 columns, got {n}")
        keys = rng.random((n_episodes, 1, n // 5, 5))
        perms = np.argsort(keys, axis=-1) + 5 * np.arange(n // 5)[:, None]
        return perms.reshape(n_episodes, 1, n).astype(np.int64)

    def describe(self) -> str:
        return "each copy of the observation in its own random order, drawn at reset"


def noise_conditions(noise_levels=(5, 10, 15), large_noise_std: float = 1.0) -> dict:
    """{name: (schedule, channels)} of the noise chapter; ``duplicated`` permutes the 10
    columns together (one permutation of 10), ``duplicated_independent`` places each
    copy by its own permutation of 5 (`IndependentCopies`)."""
    from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

    shuffled = PermutationSchedule.at_reset()
    conds = {
        "unshuffled": (PermutationSchedule.none(), ObservationChannels()),
        "shuffled": (shuffled, ObservationChannels()),
        "duplicated": (shuffled, ObservationChannels(n_copies=2)),
        "duplicated_independent": (IndependentCopies(), ObservationChannels(n_copies=2)),
    }
    for k in noise_levels:
        conds[f"noise_{k}"] = (shuffled, ObservationChannels(n_noise=k))
    conds["noise_5_large"] = (shuffled, ObservationChannels(n_noise=5, noise_std=large_noise_std))
    return conds


def noise_study(
    agents: StudyAgents,
    n_episodes: int,
    seed: int = 0,
    noise_levels=(5, 10, 15),
    large_noise_std: float = 1.0,
    n_stats_episodes: int = 300,
    stats_every: int = 4,
    quick: bool = False,
) -> StudyResult:
    """Duplicated inputs and extra noise channels (shuffled once per episode) on both
    agents, paired against the shuffled 5-input run; attention shares on the noise."""
    from anpolicy.sim.rollout import rollout
    from anpolicy.study.attention import AttentionStats

    t_start = time.perf_counter()
    conds = noise_conditions(noise_levels, large_noise_std)
    raw = {k: {} for k in agents.keys}
    stats = {k: {} for k in agents.keys}
    for policy, keys in _groups(agents):
        params = np.stack([agents.params[k] for k in keys])
        for name, (schedule, channels) in conds.items():
            hook = AttentionStats(range(min(n_stats_episodes, n_episodes)), every=stats_every)
            r = rollout(
                policy, params, n_episodes, seed=seed, schedule=schedule, channels=channels,
                interventions=[hook],
            )  # fmt: skip
            st = hook.summary()
            for m, k in enumerate(keys):
                raw[k][name] = (r.returns[m], r.lengths[m])
                stats[k][name] = _noise_attention(st, m, channels)
    per = {}
    for k in agents.keys:
        c = {name: summarize(*v) for name, v in raw[k].items()}
        base = raw[k]["shuffled"][0]
        paired = {
            name: paired_difference(v[0], base) for name, v in raw[k].items() if name != "shuffled"
        }
        if "duplicated_independent" in raw[k]:  # the two duplication protocols, paired
            paired["independent_minus_together"] = paired_difference(
                raw[k]["duplicated_independent"][0], raw[k]["duplicated"][0]
            )
        per[k] = NoiseAgent(c, paired, stats[k], {n: _rounded(v[0]) for n, v in raw[k].items()})
    shared = {"noise_levels": list(noise_levels), "large_noise_std": large_noise_std}
    return _result("noise", quick, seed, n_episodes, agents, per, shared, t_start)


def _noise_attention(st: dict, m: int, channels) -> dict:
    """Shares of the noise columns in the attention magnitude and in the terms |A o|."""
    n_real = channels.n_permuted
    att_real = float(st["att_abs"][m, :, :5].mean())
    out = {"att_abs_real": att_real, "n_noise": channels.n_noise, "n_real": n_real}
    out["saturated_real"] = float(st["saturated"][m, :, :5].mean())
    if "noise" in st["groups"]:
        att_noise = float(st["att_abs"][m, :, 5].mean())
        mass_r, mass_n = att_real * n_real, att_noise * channels.n_noise
        term_r = float(st["contrib_abs"][m, :, :5].mean()) * n_real
        term_n = float(st["contrib_abs"][m, :, 5].mean()) * channels.n_noise
        out.update(
            att_abs_noise=att_noise,
            column_share=channels.n_noise / (channels.n_noise + n_real),
            attention_share=mass_n / (mass_r + mass_n),
            term_share=term_n / (term_r + term_n),
        )
    return out


TWIN_STUDY_CONDITIONS = ("none", "absolute", "reset", "zero_hc", "relative")


def attention_study(
    agents: StudyAgents,
    n_episodes: int,
    seed: int = 0,
    t_shuffle: int = 100,
    window: int = 200,
    quick: bool = False,
) -> StudyResult:
    """The attention mismatch e_t after a reshuffle (twin rollouts, `anpolicy.study.attention`)
    for the study's conditions, and the saturated share of the attention, on both
    agents (same start states and orders)."""
    from anpolicy.study.attention import error_bands, steps_below, summarize_or_none, twin_rollout

    t_start = time.perf_counter()
    per = {}
    for key in agents.keys:
        pol, par = agents.policies[key], agents.params[key]
        errors, n_at = {}, 0
        for c in TWIN_STUDY_CONDITIONS:
            r = twin_rollout(pol, par, n_episodes, seed=seed, condition=c, t_shuffle=t_shuffle,
                             window=window)  # fmt: skip
            bands = error_bands(r)
            after = r.error[r.t_shuffle :]
            e = {f"after_{k}": summarize_or_none(r.after(k)) for k in (0, 10, 50) if k < window}
            e.update(
                before_max=float(np.nanmax(r.error[: r.t_shuffle])),
                max_after=float(np.nanmax(after)),
                mean_after=float(np.nanmean(after)),
                at_reshuffle_max=float(np.nanmax(r.error[r.t_shuffle])),
                steps_below_faded=steps_below(bands, claims.FADED),
                action_diff_after_0=summarize_or_none(r.action_diff[r.t_shuffle]),
            )
            errors[c] = e
            if c == "none":
                n_at = int(np.isfinite(r.error[t_shuffle]).sum())
        sat = _saturated_share(pol, par, min(n_episodes, 200), seed, t_shuffle + window)
        per[key] = AttentionAgent(errors, sat, n_at)
    shared = {"t_shuffle": t_shuffle, "window": window, "conditions": list(TWIN_STUDY_CONDITIONS)}
    return _result("attention", quick, seed, n_episodes, agents, per, shared, t_start)


def _saturated_share(policy, params, n: int, seed: int, max_steps: int) -> float:
    """Share of attention entries with |A| > `claims.SATURATED` over ``n`` episodes
    shuffled at reset (every 2nd step, up to ``max_steps``)."""
    from anpolicy.sim.rollout import rollout
    from anpolicy.sim.schedules import PermutationSchedule
    from anpolicy.study.attention import AttentionStats

    hook = AttentionStats(every=2)
    rollout(policy, params, n, seed=seed, schedule=PermutationSchedule.at_reset(),
            interventions=[hook], max_steps=max_steps)  # fmt: skip
    return float(hook.summary()["saturated"][0].mean())
