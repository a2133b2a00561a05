"""Figures of the chapter "How the Attention Neuron learns": drawing only; the numbers
come from `anpolicy.study.learning.LearningCurves`.

Every figure puts training episodes (millions) on the x axis, one marker per snapshot
with its 95 % CI, and the reference agent (a point without a generation) as a dashed
horizontal line with its CI as a band.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from anpolicy.study.learning import LearningCurves

# question -> (title, y label, [(kind, key, legend label), ...]); kind: returns|shares|attention
FIGURES = {
    "order": (
        "Does the order of the inputs matter?",
        "mean return",
        [("returns", "unshuffled", "unshuffled"), ("returns", "shuffled", "shuffled at reset")],
    ),
    "robustness": (
        "Share of the return kept under reshuffles",
        "share of the shuffled-at-reset return",
        [
            ("shares", "kept_every25", "reshuffled every 25 steps"),
            ("shares", "kept_every100", "reshuffled every 100 steps"),
            ("shares", "kept_relative", "every 25 steps, state moved along (check: 1)"),
        ],
    ),
    "memory": (
        "Reliance on memory",
        "share kept with h, c zeroed every step",
        [("shares", "kept_without_memory", "h and c zeroed every step")],
    ),
    "attention": (
        "The attention as the agent learns",
        "share",
        [
            ("attention", "saturated", "entries with |A| > 0.99"),
            ("attention", "entropy", "entropy of |A| over channels (1 = uniform)"),
            ("attention", "noise_share", "attention mass on 5 noise channels (0.5 = even)"),
        ],
    ),
}


def _series(curves: LearningCurves, kind: str, key: str):
    values = np.asarray(getattr(curves, kind)[key], dtype=float)
    ci = getattr(curves, kind + "_ci", {}).get(key) if kind != "attention" else None
    return values, (None if ci is None else np.asarray(ci, dtype=float))


def figure(curves: LearningCurves, question: str, caption_agent: str = ""):
    """One figure for ``question`` (a key of ``FIGURES``); returns the matplotlib figure."""
    if question not in FIGURES:
        raise ValueError(f"unknown question {question!r}; expected one of {sorted(FIGURES)}")
    title, ylabel, series = FIGURES[question]
    train = [i for i, g in enumerate(curves.generations) if g is not None]
    ref = [i for i, g in enumerate(curves.generations) if g is None]
    x = np.array([curves.episodes[i] for i in train], dtype=float) / 1e6
    fig, ax = plt.subplots(figsize=(7.5, 3.6), constrained_layout=True)
    for k, (kind, key, label) in enumerate(series):
        values, ci = _series(curves, kind, key)
        color = f"C{k}"
        if ci is not None:
            lo, hi = ci[0][train], ci[1][train]
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
        ax.plot(x, values[train], "o-", color=color, label=label, markersize=4)
        for r in ref:
            ax.axhline(values[r], color=color, linestyle="--", linewidth=1)
            if ci is not None and np.isfinite(ci[0][r]):
                ax.axhspan(ci[0][r], ci[1][r], color=color, alpha=0.08, linewidth=0)
    if ref:
        ax.plot([], [], "k--", linewidth=1, label=f"{curves.labels[ref[0]]} (dashed)")
    if question == "robustness" or question == "memory":
        ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("training episodes (millions)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f" — {caption_agent}" if caption_agent else ""), fontsize=11)
    ax.legend(fontsize=9, loc="best")
    ax.grid(alpha=0.3)
    return fig
