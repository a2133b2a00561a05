"""Verdict thresholds and words from numbers (the one place both live).

Every sentence of the book that states a direction or a size ("no measurable change",
"worse than doing nothing", "transient", "round-off", "exactly", "harmless") comes
from a function here, from the measured numbers and the explicit thresholds below. A
test derives each sentence in both directions, and another re-derives the sentences
of a build from its saved results; chapters never type such words next to a number.

Inputs are `anpolicy.stats.summarize`-like dicts (``mean``, ``ci95``, ``n``) and
Wilson proportions ``(k, n)``; outputs are plain strings (Markdown allowed).
"""

from __future__ import annotations

import math

from anpolicy.stats import format_ci, proportion_ci

#: a paired change of the mean return counts as "no measurable change" when its 95 %
#: CI lies within +-EQUIVALENCE of the reference condition's mean return
EQUIVALENCE = 0.05
#: a condition "collapses" the return when its CI lies below COLLAPSE x the baseline's
#: lower CI end
COLLAPSE = 0.5
#: "robust" to extra channels: the paired difference's CI stays above -ROBUST_DROP x
#: the shuffled mean
ROBUST_DROP = 0.10
#: an attention entry is saturated when |A| > SATURATED
SATURATED = 0.99
#: the attention mismatch e_t is "present" when its CI lies above MISMATCH
MISMATCH = 1e-3
#: the mismatch has "faded" once the mean e_t is below FADED (1 % of the norm)
FADED = 1e-2
#: float32 round-off: largest e_t at the reshuffle below ROUNDOFF_MAX and mean below
#: ROUNDOFF_MEAN
ROUNDOFF_MAX = 1e-6
ROUNDOFF_MEAN = 1e-4
#: one step of the layer recomputed with its channels in another order: float32
#: round-off of sums over 16 x C terms of size up to ~1 (about 100 x float32's 1.2e-7)
ONE_STEP_ROUNDOFF = 1e-5
#: float64 check of the layer's exact properties: differences below FLOAT64_EXACT
FLOAT64_EXACT = 1e-9
#: the attention "filters" noise when its share of the attention magnitude lies more
#: than FILTER_MARGIN below the noise's share of columns
FILTER_MARGIN = 0.1
#: a recovery "within a few dozen steps" means a median below FEW_DOZEN steps
FEW_DOZEN = 50
#: episodes count as "the same" when their returns differ by at most IDENTICAL_ATOL
IDENTICAL_ATOL = 1e-3
#: the reward band of the recovery measure (per-step reward, in [-1, 1])
RECOVERY_TOL = 0.1
#: how an agent learns (`anpolicy.study.learning`): |Spearman rho| across snapshots at
#: or above TREND_RHO is a trend
TREND_RHO = 0.5
#: zeroing h, c keeps less than MEMORY_DEPENDENT of the return (whole CI below): the
#: snapshot depends on its memory
MEMORY_DEPENDENT = 0.5
#: "early": within this share of the run's training episodes
EARLY = 1 / 3
#: a change of the saturated share by SATURATION_CHANGE or more is a change
SATURATION_CHANGE = 0.10
#: the relative-permutation check fails on a share off 100 % by more than
#: RELATIVE_TOLERANCE, with its CI excluding 100 % (round-off alone moves paired returns
#: a little)
RELATIVE_TOLERANCE = 0.01

THRESHOLDS = {
    "EQUIVALENCE": EQUIVALENCE,
    "COLLAPSE": COLLAPSE,
    "ROBUST_DROP": ROBUST_DROP,
    "SATURATED": SATURATED,
    "MISMATCH": MISMATCH,
    "FADED": FADED,
    "ROUNDOFF_MAX": ROUNDOFF_MAX,
    "ROUNDOFF_MEAN": ROUNDOFF_MEAN,
    "FLOAT64_EXACT": FLOAT64_EXACT,
    "ONE_STEP_ROUNDOFF": ONE_STEP_ROUNDOFF,
    "FEW_DOZEN": FEW_DOZEN,
    "FILTER_MARGIN": FILTER_MARGIN,
    "IDENTICAL_ATOL": IDENTICAL_ATOL,
    "RECOVERY_TOL": RECOVERY_TOL,
    "TREND_RHO": TREND_RHO,
    "MEMORY_DEPENDENT": MEMORY_DEPENDENT,
    "EARLY": EARLY,
    "SATURATION_CHANGE": SATURATION_CHANGE,
    "RELATIVE_TOLERANCE": RELATIVE_TOLERANCE,
}


# ---------------------------------------------------------------- formatting


def ci(s: dict, digits: int = 0, sign: bool = False) -> str:
    """'164 [156, 172]' from a summary dict."""
    return format_ci(s, f"{'+' if sign else ''}.{digits}f")


def pct(frac: float, lo: float | None = None, hi: float | None = None, digits: int = 0) -> str:
    """'63 % [60, 66]' (or '63 %' without an interval)."""
    text = f"{100 * frac:.{digits}f} %"
    if lo is not None and hi is not None:
        text += f" [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return text


def share(k: int, n: int, digits: int = 1) -> str:
    """'10.6 % [9.3, 12.0] (212 of 2000)': a proportion with its Wilson 95 % CI."""
    lo, hi = proportion_ci(k, n)
    if n == 0:
        return "no episodes"
    return f"{pct(k / n, lo, hi, digits)} ({k} of {n})"


# ---------------------------------------------------------------- decisions


def below(s: dict, level: float) -> bool:
    """The whole 95 % CI lies below ``level``."""
    return s["ci95"][1] < level


def above(s: dict, level: float) -> bool:
    return s["ci95"][0] > level


def excludes_zero(s: dict) -> bool:
    """The whole 95 % CI lies on one side of 0."""
    return below(s, 0.0) or above(s, 0.0)


def within(s: dict, lo: float, hi: float) -> bool:
    return lo < s["ci95"][0] and s["ci95"][1] < hi


def change_class(diff: dict, reference_mean: float, margin: float = EQUIVALENCE) -> str:
    """'none' (CI within +-margin x reference), 'lower' / 'higher' (CI excludes 0 and
    the margin's side), or 'undecided'."""
    tol = margin * abs(reference_mean)
    if within(diff, -tol, tol):
        return "none"
    if below(diff, 0.0):
        return "lower"
    if above(diff, 0.0):
        return "higher"
    return "undecided"


def shares_separate(a: tuple[int, int], b: tuple[int, int]) -> int:
    """-1 if share a lies below share b (Wilson CIs do not overlap), +1 above, 0 else."""
    la, ha = proportion_ci(*a)
    lb, hb = proportion_ci(*b)
    if None in (la, lb):
        return 0
    if ha < lb:
        return -1
    if la > hb:
        return 1
    return 0


# ---------------------------------------------------------------- sentences


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


# ------------------------------------------------------- chapter sentences
# Each takes a chapter's `anpolicy.study.chapters.StudyResult` and returns {glue name: text}:
# every sentence a chapter shows about its numbers. Plain text (no Markdown markup), so
# a test can find each sentence verbatim on the built page.

NAMES = {"authors": "Tang & Ha's agent", "ours": "our agent"}


def _per_agent(res, sentence) -> str:
    """'On Tang & Ha's agent: ... On our agent: ...' (missing agents say so)."""
    parts = []
    for key in ("authors", "ours"):
        rec = res.per_agent.get(key)
        if rec is None:
            parts.append(f"{NAMES[key]}: not measured ({res.authors_missing}).")
        else:
            text = sentence(rec)
            parts.append(f"{NAMES[key]}: {text[0].lower() + text[1:]}")
    return " ".join(p if p.endswith(".") else p + "." for p in parts)


def resolution_words(gap: dict, sd_a: float, sd_b: float, n_per_point: int) -> str:
    """Could a study with ``n_per_point`` independent episodes per point separate two
    points that differ by ``gap`` (paired measurement here)?"""
    from anpolicy.stats import Z95

    se = math.hypot(sd_a, sd_b) / math.sqrt(n_per_point)
    can = abs(gap["mean"]) > Z95 * se
    return (
        f"the two ends of the sweep differ by {ci(gap, 1, True)}; with {n_per_point} "
        f"independent episodes per point that difference has a standard error of about "
        f"{se:.0f}, so such a study {'can' if can else 'cannot'} separate its extreme points"
    )


def permutations_words(res) -> dict:
    from anpolicy.study.published import STUDY_2025

    def q1(r):
        return change_words(r.conditions["reset"]["diff"], r.conditions["none"]["mean"])

    def q2(r):
        k = {t: r.conditions[f"every_{t}"]["kept"] for t in (25, 100, 500)}
        return (
            "reshuffled every 500, 100 and 25 steps it keeps "
            + ", ".join(pct(k[t]["ratio"], *k[t]["ci95"]) for t in (500, 100, 25))
            + " of its unshuffled return"
        )

    def sweep(r):
        hi, lo = max(STUDY_2025["k"]), min(STUDY_2025["k"])
        return resolution_words(
            r.study_gap, r.conditions[f"every_{hi}"]["sd"], r.conditions[f"every_{lo}"]["sd"],
            STUDY_2025["episodes_per_point"],
        )  # fmt: skip

    def every1(r):
        k = r.conditions["every_1"]["kept"]
        return f"a new permutation at every step leaves it {pct(k['ratio'], *k['ci95'])}"

    def q3(r):
        rv = r.recovery
        cost = r.single_cost.get(str(rv["t0"]))
        if cost is None or not rv["n_eligible"]:
            return "no episode ran with the pole up at the reshuffle"
        s = rv["reshuffle"]
        head = reshuffle_disturbance_words(
            cost, cost["reference_mean"], (s["n_never"], s["n"]),
            (rv["fixed"]["n_never"], rv["fixed"]["n"]),
        )  # fmt: skip
        ident = rv["identity"]
        return (
            f"{head} Of the {rv['n_eligible']} episodes with the pole up at step {rv['t0']}, "
            + recovery_time_words(
                s["disturbed_median"], s["disturbed_median_ci95"], s["n_disturbed_recovered"]
            )
            + f"; an identity reshuffle leaves {share(ident['n'] - ident['n_never'], ident['n'])} "
            "within the band"
        )

    return {
        "perm_q1": _per_agent(res, q1),
        "perm_q2": _per_agent(res, q2),
        "perm_sweep": _per_agent(res, sweep),
        "perm_every1": _per_agent(res, every1),
        "perm_q3": _per_agent(res, q3),
    }


def ablations_words(res) -> dict:
    from anpolicy.study.published import STUDY_2025

    def zero(r):
        c = r.conditions
        base = c["baseline"]["mean"]
        return (
            f"zeroing h and c every step: {change_words(c['zero_hc']['diff'], base)}; zeroing "
            f"only c (the study's code): {change_words(c['zero_c']['diff'], base)}"
        )

    def reset(r):
        ks = [k for k in STUDY_2025["k"] if str(k) in r.reset_vs_nothing]
        return reset_words({k: r.reset_vs_nothing[str(k)] for k in ks}, r.sweep["none"]["mean"])

    def exact(r):
        return exact_recovery_words(
            tuple(r.identical["relative"]), tuple(r.identical["control"]), r.one_step_max
        )

    def absolute(r):
        i = res.shared["k"].index(min(STUDY_2025["k"]))
        d = r.sweep["absolute_random_start"][i]["diff"]
        return (
            f"the study's absolute index at k = {res.shared['k'][i]}, from a shuffled start: "
            + change_words(d, r.sweep["none"]["mean"])
        )

    return {
        "abl_zero": _per_agent(res, zero),
        "abl_reset": _per_agent(res, reset),
        "abl_exact": _per_agent(res, exact),
        "abl_absolute": _per_agent(res, absolute),
    }


def attention_words(res) -> dict:
    window = res.shared["window"]

    def mismatch(r):
        e = r.errors["none"]
        return (
            f"with the state untouched the mismatch at the reshuffle is "
            f"{ci(e['after_0'], 3)}; {transient_words(e['steps_below_faded'], window)}; "
            f"{saturation_words(r.saturated_frac)}"
        )

    def roundoff(condition, label):
        def words(r):
            e, u = r.errors[condition], r.errors["none"]["after_0"]["mean"]
            return label + roundoff_words(e["at_reshuffle_max"], e["mean_after"], u)

        return words

    return {
        "att_mismatch": _per_agent(res, mismatch),
        "att_zeroed": _per_agent(res, roundoff("zero_hc", "zeroed every step: ")),
        "att_relative": _per_agent(res, roundoff("relative", "relative permutation: ")),
        "att_absolute": _per_agent(res, roundoff("absolute", "the study's absolute index: ")),
    }


def noise_chapter_words(res) -> dict:
    std = res.shared["large_noise_std"]
    most = f"noise_{max(res.shared['noise_levels'])}"

    def cond(key, what):
        def f(r):
            return noise_words(r.paired[key], r.conditions["shuffled"]["mean"], what)

        return f

    def protocols(r):
        a, b = r.paired["duplicated"], r.paired.get("duplicated_independent")
        d = r.paired.get("independent_minus_together")
        if b is None or d is None:
            return "the second duplication protocol was not run"
        same = change_class(d, r.conditions["duplicated"]["mean"]) == "none"
        return (
            f"the 10 columns permuted together: {ci(a, 1, True)}; each copy placed "
            f"independently: {ci(b, 1, True)} (both against the shuffled 5 inputs); "
            f"independent minus together, paired: {ci(d, 1, True)}: "
            + ("the two protocols give the same return (within the equivalence margin)"
               if same else "the two protocols are not shown to be equivalent")
        )  # fmt: skip

    def filt(r):
        a = r.attention["noise_5"]
        singled = a["attention_share"] < a["column_share"] - FILTER_MARGIN
        return (
            f"at sd 0.1 the 5 noise channels take {pct(a['attention_share'])} of the "
            f"attention magnitude ({pct(a['column_share'])} of the columns) and "
            f"{pct(a['term_share'])} of the terms |A o|: the attention "
            + ("gives the noise less weight than its share of columns" if singled
               else "does not give the noise less weight than its share of columns")
            + f" (margin {FILTER_MARGIN:g}); the noise's terms are small because its values are"
        )  # fmt: skip

    return {
        "noise_order": _per_agent(res, cond("unshuffled", "unshuffling the inputs")),
        "noise_dup": _per_agent(res, cond("duplicated", "duplicating the inputs")),
        "noise_dup_protocols": _per_agent(res, protocols),
        "noise_5": _per_agent(res, cond("noise_5", "adding 5 noise channels (sd 0.1)")),
        "noise_most": _per_agent(res, cond(most, f"adding {most.split('_')[1]} noise channels")),
        "noise_large": _per_agent(
            res, cond("noise_5_large", f"adding 5 noise channels of sd {std:g}")
        ),
        "noise_filter": _per_agent(res, filt),
    }


def conformance_words(res) -> dict:
    from anpolicy.study.published import AUTHORS_TEST_LOGS, TANG_HA_2021

    def f(r):
        s = r.shuffled
        return f"one random permutation per episode: {ci(s)} (n = {s['n']})"

    th = TANG_HA_2021["an"]["reset"][0]
    log = AUTHORS_TEST_LOGS["shuffled"]["mean"]
    return {
        "env_conformance": _per_agent(res, f)
        + f" Published for Tang & Ha's agent: {th:.0f} (their paper), {log:.1f} (their log)."
    }


BOTTOM_LINE = (
    "The Attention Neuron layer is exactly permutation-equivariant when each channel's "
    "LSTM state moves with its channel; the agent is not invariant to reshuffles within "
    "an episode, because the state stays with the input slot while the channel moves. "
    "Both statements hold at once: a permutation fixed for the episode changes nothing "
    "but the order of float additions, and a mid-episode reshuffle pairs each channel "
    "with another channel's history until the LSTM overwrites it."
)


#: the explorer's single-episode comparison: two returns within SAME_RETURN of each other
#: are "the same" (episode returns are sums of 1000 rewards in [-1, 1]; 0.5 is far below
#: what any intervention changes and above float32 round-off of a repeated episode)
SAME_RETURN = 0.5


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
