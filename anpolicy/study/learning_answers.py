"""Answers from the learning curves' numbers: the learning chapter's questions, in words.

Each ``answer_*`` takes the `anpolicy.study.learning_curves.LearningCurves` of a run and
returns a sentence built from the measured shares (ratios of mean returns over the same
episodes, with 95 % CIs) and the thresholds of `anpolicy.study.thresholds` (trend by
Spearman's rho, memory dependence, early vs late, saturation change); `QUESTIONS` maps
each question to its answer; `beyond_the_study_rows` / `beyond_the_study_table` gather
them for the conclusions. Generations and snapshots are counted as the trainer counts
them.
"""

from __future__ import annotations

import numpy as np

from anpolicy.study.claims import (  # the book's thresholds, kept once
    EARLY,
    EQUIVALENCE,
    MEMORY_DEPENDENT,
    RELATIVE_TOLERANCE,
    SATURATED,
    SATURATION_CHANGE,
    TREND_RHO,
)
from anpolicy.study.learning_curves import LearningCurves


def _training(curves: LearningCurves) -> np.ndarray:
    """Indices of the run's snapshots (not the reference agent), in training order."""
    return np.array([i for i, g in enumerate(curves.generations) if g is not None], dtype=int)


def spearman(x, y) -> float:
    """Spearman rank correlation of two equal-length sequences (NaN for fewer than 3)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3:
        return float("nan")
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def _significantly_off(curves: LearningCurves, share: str, margin: float) -> list[int]:
    """Indices whose ``share`` CI excludes 100 % AND whose estimate is off 100 % by more
    than ``margin`` (a significant but round-off-sized difference does not count)."""
    lo, hi = curves.shares_ci[share]
    values = curves.shares[share]
    return [
        i
        for i in range(len(curves.labels))
        if np.isfinite(lo[i]) and not lo[i] <= 1.0 <= hi[i] and abs(values[i] - 1.0) > margin
    ]


def relative_check_failures(curves: LearningCurves) -> list[str]:
    """Labels of snapshots whose ``kept_relative`` share is off 100 % (see
    `RELATIVE_TOLERANCE`); should be none: moving each channel's state with it makes a
    reshuffle invisible to the layer."""
    off = _significantly_off(curves, "kept_relative", RELATIVE_TOLERANCE)
    return [curves.labels[i] for i in off]


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def answer_order(curves: LearningCurves) -> str:
    """When does the order of the inputs (fixed for the episode) stop mattering?"""
    idx = [i for i in _training(curves) if np.isfinite(curves.shares["order_kept"][i])]
    if not idx:
        return "No snapshot earns enough return to compare shuffled with unshuffled episodes."
    off = [
        curves.labels[i] for i in _significantly_off(curves, "order_kept", EQUIVALENCE) if i in idx
    ]
    shares = curves.shares["order_kept"][idx]
    lo_pct, hi_pct = _pct(shares.min()), _pct(shares.max())
    span = lo_pct if lo_pct == hi_pct else f"{lo_pct}–{hi_pct}"
    if not off:
        return (
            f"At no snapshot with a measurable return ({len(idx)} of them) does the return "
            f"shuffled once at reset differ from the unshuffled one by more than "
            f"{_pct(EQUIVALENCE)} with a 95 % CI that excludes equality (shares {span}): a "
            "fixed order never mattered, from the first generation on — by construction of "
            "the layer, not learnt."
        )
    return (
        f"At {len(off)} of {len(idx)} snapshots ({', '.join(off)}) the return shuffled at "
        f"reset differs from the unshuffled one by more than {_pct(EQUIVALENCE)}, beyond its "
        f"95 % CI (shares {span})."
    )


def answer_robustness(curves: LearningCurves, share: str = "kept_every25") -> str:
    """Does robustness to reshuffles grow with skill or against it?"""
    idx = [i for i in _training(curves) if np.isfinite(curves.shares[share][i])]
    if len(idx) < 3:
        return f"Too few snapshots ({len(idx)}) earn a measurable return to judge a trend."
    skill, kept = curves.returns["shuffled"][idx], curves.shares[share][idx]
    rho = spearman(skill, kept)
    first, last = curves.labels[idx[0]], curves.labels[idx[-1]]
    span = f"{_pct(kept[0])} at {first} to {_pct(kept[-1])} at {last}"
    if rho >= TREND_RHO:
        trend = "grows with skill"
    elif rho <= -TREND_RHO:
        trend = "falls as skill grows"
    else:
        trend = "shows no consistent trend with skill"
    return (
        f"The share of the return kept under reshuffles every {share[len('kept_every') :]} "
        f"steps {trend} (Spearman ρ = {rho:+.2f} against the shuffled return over "
        f"{len(idx)} snapshots; from {span})."
    )


def answer_memory(curves: LearningCurves) -> str:
    """Does the agent come to depend on its memory early or late in training?"""
    idx = [i for i in _training(curves) if np.isfinite(curves.shares["kept_without_memory"][i])]
    if not idx:
        return "No snapshot earns enough return to measure its reliance on memory."
    hi = curves.shares_ci["kept_without_memory"][1]
    total = curves.episodes[idx[-1]] or 1
    dependent = [i for i in idx if hi[i] < MEMORY_DEPENDENT]
    kept = curves.shares["kept_without_memory"]
    if not dependent:
        return (
            f"No snapshot is shown to depend on its memory (that would take a share kept "
            f"with h and c zeroed every step whose whole 95 % CI lies below "
            f"{_pct(MEMORY_DEPENDENT)}); the lowest share kept is "
            f"{_pct(np.nanmin(kept[idx]))}, at {curves.labels[idx[int(np.nanargmin(kept[idx]))]]}."
        )
    i = dependent[0]
    when = "early" if curves.episodes[i] <= EARLY * total else "late"
    return (
        f"The agent comes to depend on its memory {when}: from {curves.labels[i]} "
        f"({_pct(curves.episodes[i] / total)} of the run's training episodes) zeroing h "
        f"and c every step keeps only {_pct(kept[i])} of its return (whole 95 % CI below "
        f"{_pct(MEMORY_DEPENDENT)}); at {curves.labels[idx[-1]]} it keeps "
        f"{_pct(kept[idx[-1]])}."
    )


def answer_attention(curves: LearningCurves) -> str:
    """Does the attention saturate as the agent learns?"""
    idx = _training(curves)
    sat = curves.attention["saturated"]
    a, b = sat[idx[0]], sat[idx[-1]]
    if b - a >= SATURATION_CHANGE:
        verb = "saturates as it learns"
    elif a - b >= SATURATION_CHANGE:
        verb = "de-saturates as it learns"
    else:
        verb = "neither saturates nor de-saturates"
    text = (
        f"The attention {verb}: the share of entries with |A| > {SATURATED} goes from "
        f"{_pct(a)} at {curves.labels[idx[0]]} to {_pct(b)} at {curves.labels[idx[-1]]}"
    )
    ref = [i for i, g in enumerate(curves.generations) if g is None]
    if ref:
        text += f" (the {curves.labels[ref[0]]}: {_pct(sat[ref[0]])})"
    return text + "."


QUESTIONS = {
    "order": "When does a fixed order of the inputs stop mattering?",
    "robustness": "Does robustness to reshuffles grow with skill?",
    "memory": "When does the agent come to depend on its memory?",
    "attention": "Does the attention saturate as the agent learns?",
}


def beyond_the_study_rows(saved: dict) -> list[dict]:
    """Rows for the conclusions' "beyond the study" table, from the learning chapter's
    saved results (`anpolicy.store.results.load_results("learning")`): question, answer, and
    what was measured. A missing answer raises KeyError naming it."""
    run, answers = saved["run"], saved["answers"]
    measured = (
        f"{saved['n_snapshots']} snapshots of a {run['optimizer'].upper()} run (training "
        f"seed {run['seed']}), {saved['n_episodes']} episodes each (seed {saved['seed']})"
    )
    return [
        {"question": q, "answer": answers[key], "measured on": measured}
        for key, q in QUESTIONS.items()
    ]


def beyond_the_study_table():
    """The conclusions' "beyond the study" rows as a `pandas.DataFrame` indexed by question,
    or, where the learning chapter has not run in this build, a one-line note saying so."""
    import pandas as pd

    from anpolicy.store.results import load_results

    try:
        saved = load_results("learning")
    except FileNotFoundError:
        return "Not measured in this build: run book/learning.ipynb first."
    return pd.DataFrame(beyond_the_study_rows(saved)).set_index("question")
