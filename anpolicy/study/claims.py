"""Verdict thresholds and words from numbers (the one place both live).

Every sentence of the book that states a direction or a size ("no measurable change",
"worse than doing nothing", "transient", "round-off", "exactly", "harmless") comes
from a function here, from the measured numbers and the explicit thresholds below. A
test derives each sentence in both directions, and another re-derives the sentences
of a build from its saved results; chapters never type such words next to a number.

Inputs are `anpolicy.stats.summarize`-like dicts (``mean``, ``ci95``, ``n``) and
Wilson proportions ``(k, n)``; outputs are plain strings (Markdown allowed).

The code lives by job and this module re-exports it: the thresholds, the tests
against them and the number formats in `anpolicy.study.thresholds`, the sentences of
one measurement in `anpolicy.study.sentences`, each chapter's sentences in
`anpolicy.study.chapter_sentences`.
"""

from __future__ import annotations

from anpolicy.study.chapter_sentences import (
    BOTTOM_LINE,
    NAMES,
    ablations_words,
    attention_words,
    conformance_words,
    noise_chapter_words,
    permutations_words,
    resolution_words,
)
from anpolicy.study.sentences import (
    agreement,
    change_words,
    exact_recovery_words,
    noise_words,
    recovery_time_words,
    relative_state_sentence,
    reset_words,
    reshuffle_disturbance_words,
    roundoff_words,
    saturation_words,
    tolerance_words,
    transient_words,
)
from anpolicy.study.thresholds import (
    COLLAPSE,
    EARLY,
    EQUIVALENCE,
    FADED,
    FEW_DOZEN,
    FILTER_MARGIN,
    FLOAT64_EXACT,
    IDENTICAL_ATOL,
    MEMORY_DEPENDENT,
    MISMATCH,
    ONE_STEP_ROUNDOFF,
    RECOVERY_TOL,
    RELATIVE_TOLERANCE,
    ROBUST_DROP,
    ROUNDOFF_MAX,
    ROUNDOFF_MEAN,
    SAME_RETURN,
    SATURATED,
    SATURATION_CHANGE,
    THRESHOLDS,
    TREND_RHO,
    above,
    below,
    change_class,
    ci,
    excludes_zero,
    pct,
    share,
    shares_separate,
    within,
)

__all__ = [
    "BOTTOM_LINE",
    "COLLAPSE",
    "EARLY",
    "EQUIVALENCE",
    "FADED",
    "FEW_DOZEN",
    "FILTER_MARGIN",
    "FLOAT64_EXACT",
    "IDENTICAL_ATOL",
    "MEMORY_DEPENDENT",
    "MISMATCH",
    "NAMES",
    "ONE_STEP_ROUNDOFF",
    "RECOVERY_TOL",
    "RELATIVE_TOLERANCE",
    "ROBUST_DROP",
    "ROUNDOFF_MAX",
    "ROUNDOFF_MEAN",
    "SAME_RETURN",
    "SATURATED",
    "SATURATION_CHANGE",
    "THRESHOLDS",
    "TREND_RHO",
    "ablations_words",
    "above",
    "agreement",
    "attention_words",
    "below",
    "change_class",
    "change_words",
    "ci",
    "conformance_words",
    "exact_recovery_words",
    "excludes_zero",
    "noise_chapter_words",
    "noise_words",
    "pct",
    "permutations_words",
    "recovery_time_words",
    "relative_state_sentence",
    "reset_words",
    "reshuffle_disturbance_words",
    "resolution_words",
    "roundoff_words",
    "saturation_words",
    "share",
    "shares_separate",
    "tolerance_words",
    "transient_words",
    "within",
]
