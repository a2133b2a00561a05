"""The reshuffle chapters' measurements on both agents: permutations, ablations, conformance.

`permutations_study` (Tang & Ha's Table 1, the study's sweep of return vs reshuffle
interval, one reshuffle at several steps, recovery), `ablations_study` (state ablations
every step and the reshuffle sweep with the study's interventions) and
`conformance_study` (the environment chapter: one random permutation per episode, the
authors' agent as the conformance check of our engine). Each returns a
`anpolicy.study.chapter_results.StudyResult`. Shapes: n episodes per condition and
agent; T = 1000 steps; times in steps.
"""

from __future__ import annotations

import time

import numpy as np

from anpolicy.stats import paired_difference, proportion_ci
from anpolicy.study import claims
from anpolicy.study.chapter_agents import StudyAgents, run_agents
from anpolicy.study.chapter_results import (
    AblationsAgent,
    EnvironmentAgent,
    PermutationsAgent,
    StudyResult,
    _result,
    _returns,
)
from anpolicy.study.published import STUDY_2025, TANG_HA_INTERVALS


def twin_recovery_times(r_cond, r_ref, t0: int, tol: float = claims.RECOVERY_TOL, hold: int = 50):
    """Steps after ``t0`` until the per-step reward of a run is back within ``tol`` of
    the same episode's reference run, for good. (N, T) NaN-padded rewards -> (N,) float:
    0 if never outside the band from t0 on; ``inf`` if it is outside within ``hold``
    steps of the horizon, or one run ended while the other kept going."""
    a, b = np.asarray(r_cond, np.float64), np.asarray(r_ref, np.float64)
    if a.shape != b.shape or a.ndim != 2 or not 0 <= t0 < a.shape[1]:
        raise ValueError(f"need two (N, T) arrays and 0 <= t0 < T, got {a.shape}, {b.shape}")
    a, b = a[:, t0:], b[:, t0:]
    both_ended = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        low = ~(np.abs(a - b) <= tol) & ~both_ended
    n_after = low.shape[1]
    last = n_after - 1 - np.argmax(low[:, ::-1], axis=1)
    tau = np.where(low.any(axis=1), last + 1, 0).astype(np.float64)
    tau[tau > n_after - hold] = np.inf
    return tau


def _recovery_block(res: dict, t0: int, tol: float, hold: int, min_level=0.8, window=50):
    """Eligible episodes (running at t0, mean reward >= min_level over the window before)
    and the twin-recovery times of the reshuffle and its two controls."""
    from anpolicy.study.experiments import pre_level, summarize_recovery

    none = res["none"]
    r_none = none.rewards[0]
    alive = none.lengths[0] > t0
    level = np.where(alive, pre_level(np.nan_to_num(r_none, nan=-1.0), t0, window), -1.0)
    eligible = alive & (level >= min_level)
    out = {"t0": t0, "tol": tol, "hold": hold, "min_level": min_level, "window": window}
    out["n_eligible"] = int(eligible.sum())
    taus = {}
    for key, cond in (("reshuffle", f"at_{t0}"), ("identity", "identity"), ("fixed", "fixed")):
        tau = twin_recovery_times(res[cond].rewards[0][eligible], r_none[eligible], t0, tol, hold)
        taus[key] = tau
        out[key] = summarize_recovery(tau)
    out["onset_median"] = None
    return out, eligible, taus


def permutations_study(
    agents: StudyAgents,
    n_episodes: int,
    n_single: int,
    seed: int = 0,
    recovery_t0: int = 300,
    tol: float = claims.RECOVERY_TOL,
    hold: int = 50,
    fnn: str | None = "fnn",
    quick: bool = False,
) -> StudyResult:
    """Table 1 of Tang & Ha and the study's sweep (return vs reshuffle interval), one
    reshuffle at several steps, and recovery, on both agents (same episodes)."""
    from anpolicy.sim.schedules import PermutationSchedule as PS
    from anpolicy.store.data import load_shipped
    from anpolicy.study.experiments import (
        Condition,
        paired_ratio,
        run_conditions,
        schedule_permutations,
        summaries,
    )

    t_start = time.perf_counter()
    intervals = sorted(set(TANG_HA_INTERVALS) | set(STUDY_2025["k"]))
    main = (
        [Condition("none"), Condition("reset", PS.at_reset())]
        + [Condition(f"every_{k}", PS.every(k)) for k in intervals]
        + [Condition("every_1", PS.every(1))]
    )
    runs = run_agents(agents, main, n_episodes, seed)
    t0s = sorted({50, 100, 200, 500, recovery_t0})
    ident = list(range(5))
    single = [Condition("none")] + [
        Condition(f"at_{t}", PS.at_steps([t], initial_identity=True)) for t in t0s
    ]
    single += [
        Condition("identity", PS.given([ident, ident], steps=[recovery_t0])),
        Condition("fixed", PS.at_reset()),
    ]
    singles = run_agents(agents, single, n_single, seed, record_rewards=True)
    new_perm = schedule_permutations(
        PS.at_steps([recovery_t0], initial_identity=True), n_single, seed
    )[:, 1]
    per = {}
    k_hi, k_lo = max(STUDY_2025["k"]), min(STUDY_2025["k"])
    for key, res in runs.items():
        s = summaries(res, baseline="none")
        for name in s:
            s[name]["kept"] = paired_ratio(res[name].returns[0], res["none"].returns[0])
        gap = paired_difference(res[f"every_{k_hi}"].returns[0], res[f"every_{k_lo}"].returns[0])
        sres = singles[key]
        none = sres["none"]
        cost = {}
        for t in t0s:
            alive = none.lengths[0] > t
            if alive.sum() >= 2:
                d = paired_difference(sres[f"at_{t}"].returns[0][alive], none.returns[0][alive])
                ended = int((sres[f"at_{t}"].lengths[0][alive] < none.lengths[0][alive]).sum())
                d["ended_early_frac"] = ended / int(alive.sum())
                d["ended_early_ci95"] = proportion_ci(ended, int(alive.sum()))
                d["reference_mean"] = float(none.returns[0][alive].mean())
                cost[str(t)] = d
        rec, eligible, taus = _recovery_block(sres, recovery_t0, tol, hold)
        disturbed = taus["reshuffle"] > 0
        moved_perm = new_perm[eligible]
        by_channel = {}
        for c, name in enumerate(("x", "x_dot", "cos_theta", "sin_theta", "theta_dot")):
            stayed = moved_perm[:, c] == c
            by_channel[name] = {
                part: {
                    "k": int(disturbed[m].sum()),
                    "n": int(m.sum()),
                    "ci95": proportion_ci(int(disturbed[m].sum()), int(m.sum())),
                }
                for part, m in (("stayed", stayed), ("moved", ~stayed))
            }
        per[key] = PermutationsAgent(s, gap, cost, rec, by_channel, _returns(res))
    shared = {"intervals": intervals, "t0s": t0s, "n_single": n_single}
    if fnn:
        fpol, fpar, _ = load_shipped(fnn)
        fconds = [Condition("none"), Condition("reset", PS.at_reset())] + [
            Condition(f"every_{k}", PS.every(k)) for k in TANG_HA_INTERVALS
        ]
        fres = run_conditions(fpol, fpar, fconds, n_episodes, seed=seed)
        shared["fnn"] = {"name": fnn, "conditions": summaries(fres, baseline="none")}
    return _result("permutations", quick, seed, n_episodes, agents, per, shared, t_start)


def _one_step_relative_max(policy, params, seed: int = 0, n: int = 256, t_steps: int = 50) -> float:
    """Largest |action difference| at the step after a reshuffle between a run whose
    state rows are moved by the relative permutation and the unshuffled run, from
    states reached by ``t_steps`` steps of random observations (float32, one step)."""
    import torch

    from anpolicy.sim.interventions import relative_permutation

    rng = np.random.default_rng(seed)
    p = torch.as_tensor(np.asarray(params, np.float32)).reshape(1, -1)
    w = policy.prepare(p)
    st = policy.initial_state(1, n, 5)
    for _ in range(t_steps):
        obs = torch.as_tensor(rng.standard_normal((1, n, 5)).astype(np.float32))
        _, st, _ = policy.step(w, obs, st)
    obs = torch.as_tensor(rng.standard_normal((1, n, 5)).astype(np.float32))
    a_ref, _, _ = policy.step(w, obs, {k: v.clone() for k, v in st.items()})
    perm = torch.as_tensor(np.argsort(rng.random((1, n, 5)), axis=-1))
    ident = torch.arange(5).expand(1, n, 5)
    rel = relative_permutation(ident, perm)
    moved = {}
    for k, v in st.items():
        if v.dim() == 4:  # (P, R, C, H) per-channel rows
            moved[k] = torch.gather(v, 2, rel[..., None].expand_as(v))
        else:
            moved[k] = v.clone()
    a_perm, _, _ = policy.step(w, torch.gather(obs, -1, perm), moved)
    return float((a_perm - a_ref).abs().max())


def _identical(a, b) -> list[int]:
    """[episodes whose returns agree to `claims.IDENTICAL_ATOL`, episodes] (paired)."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return [int((d <= claims.IDENTICAL_ATOL).sum()), int(d.size)]


def ablations_study(
    agents: StudyAgents,
    n_episodes: int,
    n_sweep: int,
    seed: int = 0,
    ks=None,
    quick: bool = False,
) -> StudyResult:
    """State ablations every step, and the reshuffle sweep with the study's three
    interventions (nothing / reset / permute: relative and the study's absolute index),
    paired on the same episodes for every k, on both agents."""
    from anpolicy.sim.interventions import (
        PermuteStateAtReshuffle,
        ResetStateAtReshuffle,
        ZeroPreviousAction,
        ZeroStateEveryStep,
    )
    from anpolicy.sim.schedules import PermutationSchedule as PS
    from anpolicy.study.experiments import Condition, summaries, sweep_conditions

    t_start = time.perf_counter()
    ks = sorted(ks or set(STUDY_2025["k"]) | {25, 50, 100})
    abl = [
        Condition("baseline"),
        Condition("zero_hc", interventions=[ZeroStateEveryStep(("h", "c"))]),
        Condition("zero_c", interventions=[ZeroStateEveryStep(("c",))]),
        Condition("zero_h", interventions=[ZeroStateEveryStep(("h",))]),
        Condition("prev_action", interventions=[ZeroPreviousAction()]),
    ]
    abl_runs = run_agents(agents, abl, n_episodes, seed)
    variants = {
        "nothing": lambda: [],
        "reset": lambda: [ResetStateAtReshuffle()],
        "relative": lambda: [PermuteStateAtReshuffle("relative")],
        "absolute": lambda: [PermuteStateAtReshuffle("absolute")],
    }
    conds = [Condition("none"), Condition("fixed_permutation", PS.at_reset())]
    conds += sweep_conditions(ks, variants, initial_identity=True)
    conds += [
        Condition(f"absolute_random_start@{k}", c.schedule, c.interventions)
        for k, c in zip(ks, sweep_conditions(ks, {"a": variants["absolute"]}), strict=True)
    ]
    sweep_runs = run_agents(agents, conds, n_sweep, seed)
    names = ["nothing", "reset", "relative", "absolute", "absolute_random_start"]
    per = {}
    for key in agents.keys:
        res = sweep_runs[key]
        sw = summaries(res, baseline="none")
        sweep = {"none": sw["none"], "fixed_permutation": sw["fixed_permutation"]}
        sweep.update({v: [sw[f"{v}@{k}"] for k in ks] for v in names})
        reset_vs = {
            str(k): paired_difference(res[f"reset@{k}"].returns[0], res[f"nothing@{k}"].returns[0])
            for k in ks
        }

        def pooled(variant, res=res):
            a, b = [], []
            for k in ks:
                running = res["none"].lengths[0] > k
                a.append(res[f"{variant}@{k}"].returns[0][running])
                b.append(res["none"].returns[0][running])
            return _identical(np.concatenate(a), np.concatenate(b))

        running = res["none"].lengths[0] > min(ks)
        identical = {v: pooled(v) for v in names}
        identical["control"] = _identical(
            res["fixed_permutation"].returns[0][running], res["none"].returns[0][running]
        )
        one = _one_step_relative_max(agents.policies[key], agents.params[key], seed)
        per[key] = AblationsAgent(
            summaries(abl_runs[key], baseline="baseline"), sweep, reset_vs, identical, one,
            _returns(abl_runs[key]),
        )  # fmt: skip
    shared = {"k": ks, "n_sweep": n_sweep, "study_zero_state": dict(STUDY_2025["zero_state"])}
    return _result("ablations", quick, seed, n_episodes, agents, per, shared, t_start)


def conformance_study(agents: StudyAgents, n_episodes: int, seed: int = 0, quick: bool = False):
    """Both agents on the same episodes, one random permutation per episode (Tang &
    Ha's test protocol): the authors' agent is the conformance check of our engine."""
    from anpolicy.sim.schedules import PermutationSchedule as PS
    from anpolicy.study.experiments import Condition

    t_start = time.perf_counter()
    runs = run_agents(agents, [Condition("shuffled", PS.at_reset())], n_episodes, seed)
    per = {k: EnvironmentAgent(r["shuffled"].summary()) for k, r in runs.items()}
    return _result("environment", quick, seed, n_episodes, agents, per, {}, t_start)
