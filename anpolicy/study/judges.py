"""The judges of the verdict table: one function a claim, from one agent's measurement.

Each judge takes one agent's typed record of a chapter (``rec``: e.g.
`anpolicy.study.chapter_results.PermutationsAgent`) and the chapter's
`anpolicy.study.chapter_results.StudyResult` (``res``), and returns a `Judged`: the
measurement in words with its numbers (mean returns with 95 % CIs, shares of the
unshuffled return kept) and the verdict under the claim's rule (the thresholds of
`anpolicy.study.thresholds`). `anpolicy.study.verdicts` pairs each claim with its judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from anpolicy.study import claims
from anpolicy.study.claims import above, below, ci, pct, within
from anpolicy.study.published import STUDY_2025, TANG_HA_2021


@dataclass
class Judged:
    """One agent's cell: what was measured and the verdict."""

    measured: str = ""
    verdict: str = "not measured"


def fmt(s: dict, digits: int = 0, sign: bool = False) -> str:
    """'164 [156, 172] (n=2000)'."""
    return f"{ci(s, digits, sign)} (n={s['n']})"


def _kept(rec, cond) -> dict:
    k = rec.conditions[cond]["kept"]
    return {"mean": k["ratio"], "ci95": k["ci95"], "n": k["n"]}


def _pct_kept(k: dict) -> str:
    return pct(k["mean"], *k["ci95"])


def _order_at_reset(rec, res) -> Judged:
    none, reset = rec.conditions["none"], rec.conditions["reset"]
    cls = claims.change_class(reset["diff"], none["mean"])
    verdict = {"none": "confirmed", "lower": "refuted", "higher": "refuted"}.get(
        cls, "inconclusive"
    )
    return Judged(
        f"unshuffled {fmt(none)}, shuffled at reset {fmt(reset)}: "
        + claims.change_words(reset["diff"], none["mean"]),
        verdict,
    )


def _fnn_shuffled(res) -> Judged:
    fnn = res.shared.get("fnn")
    if not fnn:
        return Judged("not measured (no FNN in this build)")
    none, reset = fnn["conditions"]["none"], fnn["conditions"]["reset"]
    ok = below(reset, claims.COLLAPSE * none["ci95"][0])
    return Judged(
        f"our FNN unshuffled {fmt(none)}, shuffled {fmt(reset)}", "confirmed" if ok else "refuted"
    )


def _reshuffle_every_t(rec, res) -> Judged:
    k25, k500 = _kept(rec, "every_25"), _kept(rec, "every_500")
    th = TANG_HA_2021["an"]
    measured = (
        f"kept {_pct_kept(k25)} every 25 steps, {_pct_kept(k500)} every 500 (Tang & Ha: "
        f"{pct(th['every_25'][0] / th['none'][0])}, {pct(th['every_500'][0] / th['none'][0])})"
    )
    if below(k25, 1.0) and k25["ci95"][1] < k500["ci95"][0]:
        return Judged(measured, "confirmed")
    if above(k25, 1 - claims.EQUIVALENCE):
        return Judged(measured, "refuted")
    return Judged(measured, "inconclusive")


def _every_step(rec, res) -> Judged:
    k = _kept(rec, "every_1")
    measured = f"{fmt(rec.conditions['every_1'])}, kept {_pct_kept(k)}"
    return Judged(measured, "confirmed" if below(k, claims.COLLAPSE) else "refuted")


def _study_sweep(rec, res) -> Judged:
    ks = STUDY_2025["k"]
    lo, hi = _kept(rec, f"every_{max(ks)}"), _kept(rec, f"every_{min(ks)}")
    measured = (
        f"kept {_pct_kept(lo)} at k={max(ks)}, {_pct_kept(hi)} at k={min(ks)}; ends differ by "
        f"{fmt(rec.study_gap, 1, True)} (paired; the study: 30 episodes per point)"
    )
    return Judged(measured, "refined" if below(hi, 1.0) else "refuted")


def _single_reshuffle(rec, res) -> Judged:
    rv = rec.recovery
    cost = rec.single_cost.get(str(rv["t0"]))
    if cost is None or rv["n_eligible"] == 0:
        return Judged("not measured (no episode ran past the reshuffle)")
    never = (rv["reshuffle"]["n_never"], rv["reshuffle"]["n"])
    control = (rv["fixed"]["n_never"], rv["fixed"]["n"])
    text = claims.reshuffle_disturbance_words(cost, cost["reference_mean"], never, control)
    sep = claims.shares_separate(never, control)
    cls = claims.change_class(cost, cost["reference_mean"])
    verdict = (
        "confirmed"
        if (cls == "lower" or sep > 0)
        else "refuted"
        if cls == "none"
        else "inconclusive"
    )
    return Judged(text, verdict)


def _zero_state(rec, res) -> Judged:
    c = rec.conditions
    base, zc, zhc = c["baseline"], c["zero_c"], c["zero_hc"]
    half = claims.COLLAPSE * base["ci95"][0]
    measured = f"baseline {fmt(base)}, zero c only {fmt(zc)}, zero h and c {fmt(zhc)}"
    a, b = below(zc, half), below(zhc, half)
    return Judged(measured, "confirmed" if a and b else "refined" if a or b else "refuted")


def _reset_at_reshuffle(rec, res) -> Judged:
    ks = [k for k in STUDY_2025["k"] if str(k) in rec.reset_vs_nothing]
    diffs = {k: rec.reset_vs_nothing[str(k)] for k in ks}
    words = claims.reset_words(diffs, rec.sweep["none"]["mean"])
    kmin = min(ks)
    measured = f"{words} (k = {kmin}: reset − nothing {fmt(diffs[kmin], 1, True)}, paired)"
    better = sum(above(d, 0.0) for d in diffs.values())
    worse = sum(below(d, 0.0) for d in diffs.values())
    if better and not worse:
        verdict = "confirmed"
    elif worse and not better:
        verdict = "refuted"
    elif better or worse:
        verdict = "refined"
    else:
        verdict = "inconclusive"
    return Judged(measured, verdict)


def _permute_state(rec, res) -> Judged:
    ks = res.shared["k"]
    none = rec.sweep["none"]
    rel = rec.sweep["relative"]
    tol = claims.EQUIVALENCE * none["mean"]
    same = all(within(s["diff"], -tol, tol) for s in rel)
    i = ks.index(min(STUDY_2025["k"]))
    absr = rec.sweep["absolute_random_start"][i]
    text = claims.exact_recovery_words(
        tuple(rec.identical["relative"]), tuple(rec.identical["control"]), rec.one_step_max
    )
    measured = (
        f"relative permutation − unshuffled at k={ks[i]}: {fmt(rel[i]['diff'], 1, True)}; "
        f"the study's absolute index: {fmt(absr['diff'], 1, True)}; {text}"
    )
    if same:
        return Judged(measured, "refuted")
    if all(below(s["diff"], -tol) for s in rel):
        return Judged(measured, "confirmed")
    return Judged(measured, "inconclusive")


def _attention_mismatch(rec, res) -> Judged:
    e = rec.errors["none"]
    window = res.shared["window"]
    measured = (
        f"state untouched: e = {fmt(e['after_0'], 3)} at the reshuffle; "
        f"{claims.transient_words(e['steps_below_faded'], window)}; "
        f"{claims.saturation_words(rec.saturated_frac)}"
    )
    return Judged(measured, "confirmed" if above(e["after_0"], claims.MISMATCH) else "refuted")


def _attention_zeroed(rec, res) -> Judged:
    e = rec.errors["zero_hc"]
    untouched = rec.errors["none"]["after_0"]["mean"]
    text = claims.roundoff_words(e["at_reshuffle_max"], e["mean_after"], untouched)
    ok = e["at_reshuffle_max"] < claims.ROUNDOFF_MAX and e["mean_after"] < claims.ROUNDOFF_MEAN
    return Judged(text, "confirmed" if ok else "refuted")


def _noise_claim(key: str, what: str):
    def judge(rec, res) -> Judged:
        base = rec.conditions["shuffled"]["mean"]
        d = rec.paired[key]
        robust = above(d, -claims.ROBUST_DROP * base)
        text = f"{fmt(rec.conditions[key])}; " + claims.noise_words(d, base, what)
        return Judged(text, "confirmed" if robust else "refuted")

    return judge


def _noise_filter(rec, res) -> Judged:
    d = rec.paired["noise_5_large"]
    a = rec.attention["noise_5"]
    std = res.shared["large_noise_std"]
    measured = (
        f"5 noise channels of sd {std:g}: minus shuffled {fmt(d, 1, True)}; at sd 0.1 the "
        f"noise takes {pct(a['attention_share'])} of the attention (its share of columns: "
        f"{pct(a['column_share'])}) and {pct(a['term_share'])} of the terms |A o|"
    )
    blind = abs(a["attention_share"] - a["column_share"]) < claims.FILTER_MARGIN
    return Judged(measured, "refined" if blind and below(d, 0.0) else "inconclusive")
