"""Each chapter's measurement, on Tang & Ha's agent and on ours, as one call.

Both papers measured the agent Tang & Ha published; this book judges every claim on
it (resolved by `anpolicy.store.authors.resolve`) and on its own trained agent, on the same
episodes (same seed: same start states, permutations and noise). Where the two
agents share a policy layout they run as one batched population (member 0: authors',
member 1: ours), so "same episodes" holds by construction.

Each ``*_study`` function runs one chapter's conditions and returns a `StudyResult`:
a dataclass with a schema version, saved to and loaded from JSON
(`StudyResult.save`, `load_study`). Its ``per_agent`` maps ``"authors"`` and
``"ours"`` to the chapter's typed per-agent record (`PermutationsAgent`, ...), or to
None for the authors' agent when its file is missing (``authors_missing`` says why
and names the command). Loading checks every field: a renamed or missing field
raises `ResultSchemaError` instead of turning a claim into "not measured".

Shapes: n episodes per condition and agent; T = 1000 steps.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anpolicy.stats import paired_difference, proportion_ci, summarize
from anpolicy.store import authors
from anpolicy.store.files import write_atomic
from anpolicy.store.results import _plain, results_dir
from anpolicy.study import claims
from anpolicy.study.published import STUDY_2025, TANG_HA_INTERVALS

SCHEMA_VERSION = 1
AGENT_KEYS = ("authors", "ours")
AGENT_LABELS = {"authors": "Tang & Ha's agent", "ours": "our agent"}


class ResultSchemaError(ValueError):
    """Saved results whose fields do not match the current schema."""


# ----------------------------------------------------------------- agents


@dataclass
class StudyAgents:
    """The agents of a study: ``policies[key]``, ``params[key]`` (n_params,) float32,
    ``names[key]``; ``missing``: why the authors' agent is absent ("" if present)."""

    policies: dict
    params: dict
    names: dict
    missing: str = ""

    @property
    def keys(self) -> list[str]:
        return [k for k in AGENT_KEYS if k in self.params]

    def info(self) -> dict:
        return {k: {"name": self.names[k], "label": AGENT_LABELS[k]} for k in self.keys}


def load_agents(ours: str = "attention_neuron", with_authors: bool = True) -> StudyAgents:
    """Tang & Ha's agent (when `anpolicy.store.authors.resolve` finds it) and our shipped
    agent ``ours`` (a manifest name, or a path ending in .npz)."""
    from anpolicy.store.data import load_shipped
    from anpolicy.store.weights import load_agent

    policies, params, names, missing = {}, {}, {}, ""
    if with_authors:
        try:
            path = authors.resolve()
            policies["authors"], params["authors"], _ = load_agent(path)
            names["authors"] = f"Tang & Ha 2021 ({path.name}, sha256 {authors.SHA256[:12]})"
        except authors.AuthorsWeightsMissing as e:
            missing = str(e)
    else:
        missing = f"the authors' agent was not requested; run `{authors.COMMAND}`"
    if ours.endswith(".npz"):
        policies["ours"], params["ours"], _ = load_agent(ours)
    else:
        policies["ours"], params["ours"], _ = load_shipped(ours)
    names["ours"] = ours
    return StudyAgents(policies, params, names, missing)


def _groups(agents: StudyAgents) -> list[tuple[object, list[str]]]:
    """Agents that can run as one population (same policy layout): [(policy, keys)]."""
    groups: list[tuple[object, list[str]]] = []
    for k in agents.keys:
        pol = agents.policies[k]
        for gp, keys in groups:
            if gp.spec() == pol.spec():
                keys.append(k)
                break
        else:
            groups.append((pol, [k]))
    return groups


def run_agents(agents: StudyAgents, conditions, n_episodes: int, seed: int, **kw) -> dict:
    """`anpolicy.study.experiments.run_conditions` on every agent, same episodes and seed.
    Returns ``{agent_key: {condition: ConditionResult}}`` with member 0 each."""
    from anpolicy.study.experiments import ConditionResult, run_conditions

    out = {}
    for policy, keys in _groups(agents):
        params = np.stack([agents.params[k] for k in keys])
        res = run_conditions(policy, params, conditions, n_episodes, seed=seed, **kw)
        for m, k in enumerate(keys):
            out[k] = {
                name: ConditionResult(
                    name,
                    r.returns[m : m + 1],
                    r.lengths[m : m + 1],
                    r.seed,
                    None if r.rewards is None else r.rewards[m : m + 1],
                )
                for name, r in res.items()
            }
    return out


# ----------------------------------------------------------------- results


def _rounded(returns) -> list[float]:
    """Per-episode returns kept in a result (0.1 is far below any difference reported)."""
    return [round(float(r), 1) for r in np.asarray(returns).ravel()]


def _returns(runs: dict) -> dict:
    """{condition: per-episode returns} of one agent's runs (the distributions' figures)."""
    return {name: _rounded(r.returns[0]) for name, r in runs.items()}


@dataclass
class PermutationsAgent:
    """One agent in the permutations chapter. ``conditions``: {name: summary + ``diff``
    (paired vs none) + ``kept`` (share of the unshuffled return, paired bootstrap)};
    ``study_gap``: paired every_500 - every_143; ``single_cost``: {t0: paired change of
    one reshuffle at t0 over episodes running then, with ``ended_early_frac``};
    ``recovery``: the twin-recovery measure at ``t0`` with its two controls;
    ``by_channel``: disturbed share by whether a channel moved."""

    conditions: dict
    study_gap: dict
    single_cost: dict
    recovery: dict
    by_channel: dict
    returns: dict = field(default_factory=dict)  # {condition: per-episode returns}


@dataclass
class AblationsAgent:
    """One agent in the ablations chapter. ``conditions``: state ablations every step;
    ``sweep``: {variant: [summary + diff vs none per k]} plus ``none`` and
    ``fixed_permutation``; ``reset_vs_nothing``: {k: paired reset - nothing};
    ``identical``: bit-identical shares (relative, control, others) as (k, n);
    ``one_step_max``: largest |action difference| of one relative-permuted step."""

    conditions: dict
    sweep: dict
    reset_vs_nothing: dict
    identical: dict
    one_step_max: float
    returns: dict = field(default_factory=dict)  # {ablation: per-episode returns}


@dataclass
class NoiseAgent:
    """One agent in the noise chapter: ``conditions`` {name: summary}, ``paired``
    {name: paired difference vs shuffled}, ``attention`` {name: shares}."""

    conditions: dict
    paired: dict
    attention: dict
    returns: dict = field(default_factory=dict)  # {condition: per-episode returns}


@dataclass
class AttentionAgent:
    """One agent in the attention chapter: ``errors`` {condition: e_t statistics},
    ``saturated_frac`` (share of |A| > 0.99 around the reshuffle), ``n_at_reshuffle``."""

    errors: dict
    saturated_frac: float
    n_at_reshuffle: int


@dataclass
class EnvironmentAgent:
    """One agent's conformance run: ``shuffled`` summary (one permutation per episode)."""

    shuffled: dict


AGENT_TYPES = {
    "permutations": PermutationsAgent,
    "ablations": AblationsAgent,
    "noise": NoiseAgent,
    "attention": AttentionAgent,
    "environment": EnvironmentAgent,
}


@dataclass
class StudyResult:
    """A chapter's measurement on both agents (see the module docstring)."""

    chapter: str
    quick: bool
    seed: int
    n_episodes: int
    agents: dict
    authors_missing: str
    per_agent: dict
    shared: dict = field(default_factory=dict)
    seconds: float = 0.0
    schema_version: int = SCHEMA_VERSION

    def agent(self, key: str):
        """The per-agent record, or None when that agent was not measured."""
        return self.per_agent.get(key)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["per_agent"] = {
            k: None if v is None else dataclasses.asdict(v) for k, v in self.per_agent.items()
        }
        return _plain(d)

    def save(self, folder: Path | None = None) -> Path:
        folder = Path(folder or results_dir())
        text = json.dumps(self.to_dict(), indent=1)
        return write_atomic(folder / f"{self.chapter}.study.json", text)

    @classmethod
    def from_dict(cls, d: dict) -> StudyResult:
        names = {f.name for f in dataclasses.fields(cls)}
        if set(d) != names:
            raise ResultSchemaError(
                f"study result fields {sorted(set(d) ^ names)} do not match the schema"
            )
        if d["schema_version"] != SCHEMA_VERSION:
            raise ResultSchemaError(
                f"schema version {d['schema_version']} != {SCHEMA_VERSION}: rebuild the book"
            )
        kind = AGENT_TYPES.get(d["chapter"])
        if kind is None:
            raise ResultSchemaError(f"unknown chapter {d['chapter']!r}")
        per = {}
        for k, v in d["per_agent"].items():
            if v is None:
                per[k] = None
                continue
            want = {f.name for f in dataclasses.fields(kind)}
            if set(v) != want:
                raise ResultSchemaError(
                    f"{d['chapter']} results of {k}: fields {sorted(set(v) ^ want)} do not "
                    f"match {kind.__name__}"
                )
            per[k] = kind(**v)
        return cls(**{**d, "per_agent": per})


def load_study(chapter: str, folder: Path | None = None) -> StudyResult:
    """Read a chapter's `StudyResult`; FileNotFoundError names the chapter to run."""
    path = Path(folder or results_dir()) / f"{chapter}.study.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no study results of {chapter!r} at {path}: run book/{chapter}.ipynb"
        )
    return StudyResult.from_dict(json.loads(path.read_text()))


def _result(chapter, quick, seed, n, agents: StudyAgents, per, shared, t0) -> StudyResult:
    per = {k: per.get(k) for k in AGENT_KEYS}
    return StudyResult(
        chapter, bool(quick), int(seed), int(n), agents.info(), agents.missing, per,
        shared, time.perf_counter() - t0,
    )  # fmt: skip


# ------------------------------------------------------------- recovery


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


# ------------------------------------------------------------- ablations


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


# ------------------------------------------------------------- noise


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


# ------------------------------------------------------------- attention


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


# ------------------------------------------------------------- environment


def conformance_study(agents: StudyAgents, n_episodes: int, seed: int = 0, quick: bool = False):
    """Both agents on the same episodes, one random permutation per episode (Tang &
    Ha's test protocol): the authors' agent is the conformance check of our engine."""
    from anpolicy.sim.schedules import PermutationSchedule as PS
    from anpolicy.study.experiments import Condition

    t_start = time.perf_counter()
    runs = run_agents(agents, [Condition("shuffled", PS.at_reset())], n_episodes, seed)
    per = {k: EnvironmentAgent(r["shuffled"].summary()) for k, r in runs.items()}
    return _result("environment", quick, seed, n_episodes, agents, per, {}, t_start)


def agents_notice(res: StudyResult) -> str:
    """Markdown naming the agents a chapter measured; a loud warning when the authors'
    agent is missing (what is missing and the command that fetches it)."""
    n = res.n_episodes
    if res.per_agent.get("authors") is None:
        return (
            "> **⚠ Tang & Ha's agent is MISSING from this build: its column reads "
            f'"not measured".** {res.authors_missing}. Every number below is on our agent '
            f"only ({n} episodes per condition, seed {res.seed})."
        )
    return (
        f"Agents: **Tang & Ha's published agent** (the subject of both papers; "
        f"{authors.CITATION}) and **our agent** `{res.agents['ours']['name']}`, on the "
        f"same {n} episodes per condition (seed {res.seed}: same starts, permutations "
        "and noise)."
    )
