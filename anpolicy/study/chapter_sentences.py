"""Each chapter's sentences about its numbers, on both agents.

Each ``*_words`` function takes a chapter's `anpolicy.study.chapter_results.StudyResult`
and returns {glue name: text}: every sentence a chapter shows about its numbers, built
from `anpolicy.study.sentences`. Plain text (no Markdown markup), so a test can find
each sentence verbatim on the built page. `BOTTOM_LINE`: the conclusions' summary.
"""

from __future__ import annotations

import math

from anpolicy.study.sentences import (
    change_words,
    exact_recovery_words,
    noise_words,
    recovery_time_words,
    reset_words,
    reshuffle_disturbance_words,
    roundoff_words,
    saturation_words,
    transient_words,
)
from anpolicy.study.thresholds import FILTER_MARGIN, change_class, ci, pct, share

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
