"""Words from numbers: the sentence of one measurement, from its numbers and a threshold.

Every sentence of the book that states a direction or a size ("no measurable change",
"worse than doing nothing", "transient", "round-off", "exactly", "harmless") comes
from a function here and the thresholds of `anpolicy.study.thresholds`. Inputs are
`anpolicy.stats.summarize`-like dicts (``mean``, ``ci95``, ``n``), Wilson proportions
``(k, n)`` and plain numbers (returns, steps, shares in [0, 1]); outputs are plain
strings (Markdown allowed).
"""

from __future__ import annotations

import math

from anpolicy.study.thresholds import (
    EQUIVALENCE,
    FADED,
    FEW_DOZEN,
    FLOAT64_EXACT,
    IDENTICAL_ATOL,
    ONE_STEP_ROUNDOFF,
    ROBUST_DROP,
    ROUNDOFF_MAX,
    ROUNDOFF_MEAN,
    SAME_RETURN,
    SATURATED,
    above,
    below,
    change_class,
    ci,
    excludes_zero,
    pct,
    share,
    shares_separate,
)


def change_words(diff: dict, reference_mean: float, what: str = "the return") -> str:
    """How a paired difference moves ``what``: 'no measurable change', 'lower by ...',
    'higher by ...' or 'undecided', with the CI and the rule."""
    cls = change_class(diff, reference_mean)
    rel = 100 * diff["mean"] / reference_mean if reference_mean else float("nan")
    body = f"{ci(diff, 1, True)}"
    if cls == "none" and excludes_zero(diff):
        # inside the margin, yet the interval excludes 0: a real change, a small one
        return (
            f"a small change of {what}, {rel:+.0f} % ({body}: the interval excludes 0 but "
            f"lies within ±{100 * EQUIVALENCE:.0f} % of {reference_mean:.0f})"
        )
    if cls == "none":
        return (
            f"no measurable change of {what} ({body}, within ±{100 * EQUIVALENCE:.0f} % "
            f"of {reference_mean:.0f})"
        )
    if cls == "lower":
        return f"{what} is lower by {-rel:.0f} % ({body})"
    if cls == "higher":
        return f"{what} is higher by {rel:.0f} % ({body})"
    return f"an undecided change of {what} ({body}: the interval includes 0)"


def reshuffle_disturbance_words(
    cost: dict, reference_mean: float, never: tuple[int, int], control: tuple[int, int]
) -> str:
    """The headline of a single reshuffle: its paired cost and the share of episodes
    that never recover against the control's share. 'Barely disturbs' only when the
    cost is within the equivalence margin and the never-recovered share does not exceed
    the control's."""
    cls = change_class(cost, reference_mean)
    sep = shares_separate(never, control)
    if cls == "none" and sep <= 0:
        return (
            f"A single reshuffle barely disturbs this agent: the return changes by "
            f"{ci(cost, 1, True)} and {share(*never)} of the episodes never recover "
            f"(control {share(*control)})."
        )
    if cls == "lower" or sep > 0:
        lead = "A single reshuffle hurts this agent"
        if sep > 0:
            tail = (
                f"{share(*never)} of the episodes never recover, against {share(*control)} "
                "in the control"
            )
        else:
            tail = f"{share(*never)} never recover (control {share(*control)})"
        return f"{lead}: the return changes by {ci(cost, 1, True)}; {tail}."
    return (
        f"A single reshuffle has no clear effect at this sample size: the return changes by "
        f"{ci(cost, 1, True)}; {share(*never)} never recover (control {share(*control)})."
    )


def recovery_time_words(median: float | None, ci95=None, n_recovered: int = 0) -> str:
    """'within a few dozen steps' only when the median is below `FEW_DOZEN`."""
    if median is None or n_recovered == 0:
        return "most episodes do not recover within the episode"
    rng = ""
    if ci95 and None not in ci95:
        rng = f" [{ci95[0]:.0f}, {ci95[1]:.0f}]"
    if median < FEW_DOZEN:
        return f"those that recover do so within a few dozen steps (median {median:.0f}{rng})"
    return f"those that recover need a median of {median:.0f} steps{rng}"


def reset_words(diff_by_k: dict, reference_mean: float) -> str:
    """Resetting h and c at each reshuffle vs doing nothing, paired, for every k:
    where it helps, where it is worse, where it makes no measurable difference.
    ``diff_by_k``: {k: paired summary of reset - nothing}."""
    worse = [k for k, d in diff_by_k.items() if below(d, 0.0)]
    better = [k for k, d in diff_by_k.items() if above(d, 0.0)]
    same = [k for k in diff_by_k if k not in worse and k not in better]
    parts = []

    def ks(v):
        return ", ".join(str(k) for k in sorted(v))

    if better:
        parts.append(f"resetting recovers part of the loss at k = {ks(better)}")
    if worse:
        parts.append(f"resetting is worse than doing nothing at k = {ks(worse)}")
    if same:
        parts.append(f"resetting makes no measurable difference at k = {ks(same)}")
    return "; ".join(parts) if parts else "no reshuffle interval was measured"


def transient_words(steps_below: int | None, window: int, level: float = FADED) -> str:
    """Whether the attention mismatch fades within the measured window."""
    if steps_below is None:
        return (
            f"the mean mismatch stays above {100 * level:.0f} % of the attention's norm for "
            f"the whole window of {window} steps: it does not fade within it"
        )
    return (
        f"the mismatch is transient: its mean falls below {100 * level:.0f} % of the "
        f"attention's norm {steps_below} steps after the reshuffle"
    )


def roundoff_words(max_at_reshuffle: float, mean_after: float, untouched: float) -> str:
    """Whether a mismatch is float32 round-off, compared with the untouched state's."""
    if max_at_reshuffle < ROUNDOFF_MAX and mean_after < ROUNDOFF_MEAN:
        return (
            f"round-off only (largest error at the reshuffle {max_at_reshuffle:.1g}, mean "
            f"{mean_after:.1g} after; untouched state: {untouched:.2g})"
        )
    ratio = untouched / mean_after if mean_after > 0 else math.inf
    size = (
        "orders of magnitude below the untouched state's"
        if ratio >= 100
        else "comparable to the untouched state's"
        if ratio < 10
        else "below the untouched state's"
    )
    return (
        f"more than round-off (largest error at the reshuffle {max_at_reshuffle:.2g}, mean "
        f"{mean_after:.2g} after, {size} {untouched:.2g})"
    )


def saturation_words(frac: float) -> str:
    """What a saturated share means for a difference of attention matrices."""
    if frac >= 0.5:
        return (
            f"{pct(frac)} of the attention entries are saturated (|A| > {SATURATED}): where "
            "both matrices sit at ±1 their difference is zero whatever the state does, so a "
            "small difference says little"
        )
    return (
        f"{pct(frac)} of the attention entries are saturated (|A| > {SATURATED}): most "
        "entries can still move, so the difference measures the state's effect"
    )


def noise_words(diff: dict, shuffled_mean: float, what: str) -> str:
    """'harmless' only when the paired difference is within the equivalence margin and
    its CI includes 0 ('costs little' when it excludes 0);
    'robust' (a loss under ROBUST_DROP) otherwise named as a cost."""
    cls = change_class(diff, shuffled_mean)
    rel = 100 * diff["mean"] / shuffled_mean if shuffled_mean else float("nan")
    if cls == "none":
        small = "costs little here" if excludes_zero(diff) else "is harmless here"
        return f"{what} {small}: {change_words(diff, shuffled_mean)}"
    if cls == "lower":
        robust = above(diff, -ROBUST_DROP * shuffled_mean)
        verdict = (
            f"within the {100 * ROBUST_DROP:.0f} % robustness margin"
            if robust
            else f"beyond the {100 * ROBUST_DROP:.0f} % robustness margin"
        )
        return f"{what} costs {-rel:.0f} % of the return ({ci(diff, 1, True)}; {verdict})"
    if cls == "higher":
        return f"{what} raises the return by {rel:.0f} % ({ci(diff, 1, True)})"
    return f"{what}: an undecided change ({ci(diff, 1, True)})"


def exact_recovery_words(
    identical: tuple[int, int], control: tuple[int, int], one_step_max: float
) -> str:
    """'Exact' recovery: the one-step agreement decides (a step of the layer with the
    state moved must equal the unshuffled step up to float32 round-off); the share of
    bit-identical episodes is reported against the round-off control, since the chaotic
    closed loop amplifies any round-off into a different trajectory."""
    sep = shares_separate(identical, control)
    rel = "fewer than" if sep < 0 else "more than" if sep > 0 else "as many as"
    counts = (
        f"{share(*identical)} of the episodes end with the unshuffled return to within "
        f"{IDENTICAL_ATOL:g}, {rel} the fixed-permutation control ({share(*control)}, a run "
        "that differs only in the order of float additions)"
    )
    if one_step_max < ONE_STEP_ROUNDOFF:
        return (
            f"one step of the layer with the state moved agrees with the unshuffled step to "
            f"{one_step_max:.1g}, so the recovery is exact up to round-off in one step; over "
            f"1000 steps the chaotic closed loop amplifies round-off: {counts}"
        )
    return (
        f"one step of the layer with the state moved differs from the unshuffled step by up "
        f"to {one_step_max:.2g}: the recovery is not exact; {counts}"
    )


def tolerance_words(max32: float, max64: float) -> str:
    """The invariance check in float32 and float64: where the float32 residual comes from."""
    if max64 < FLOAT64_EXACT:
        return (
            f"In float64 the properties hold to {max64:.1g}, so the float32 residual of "
            f"{max32:.1g} is rounding carried forward by the recurrence, not a failure of "
            "the property."
        )
    return (
        f"In float64 the properties still differ by {max64:.2g} (float32: {max32:.2g}): more "
        "than rounding."
    )


def agreement(authors: str, ours: str) -> str:
    """The table's agreement column: do the two agents' verdicts agree?"""
    if authors == "not measured" or ours == "not measured":
        return "—"
    return "yes" if authors == ours else "no"


def relative_state_sentence(relative: float, reference: float) -> str:
    """The explorer's sentence on one episode: the return with the state moved by the
    relative permutation at each reshuffle against the episode without any reshuffle."""
    text = f"Moving the state with the relative permutation returns {relative:.1f}, "
    if abs(relative - reference) < SAME_RETURN:
        return text + f"the same as the episode without any reshuffle ({reference:.1f})"
    return text + (
        f"against {reference:.1f} without any reshuffle (the actions agree to float32 "
        "rounding, but the closed loop can amplify such differences)"
    )
