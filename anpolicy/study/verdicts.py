"""The verdict table: every claim, judged on Tang & Ha's agent and on ours.

`build_verdicts` reads the `anpolicy.study.chapters.StudyResult` of each experiment chapter
(``permutations``, ``ablations``, ``attention``, ``noise``) and returns one `Verdict`
per claim with, for each agent, the measurement and the verdict under the claim's
rule. The headline verdict is the one on the authors' agent (the subject of both
papers); a column says whether ours agrees. Without the authors' file their column
reads "not measured" and names the command that fetches it.

Verdicts:

- ``confirmed``: the measurement supports the claim as stated;
- ``refuted``: it contradicts the claim;
- ``refined``: the effect is real but its cause, size or scope differs from the claim;
- ``inconclusive``: the intervals do not decide;
- ``not measured``: the chapter did not run (or the agent's file is missing).

Every threshold comes from `anpolicy.study.claims`; every published number from
`anpolicy.study.published`. A chapter's results whose fields do not match the schema raise
(`anpolicy.study.chapters.ResultSchemaError`): a renamed field fails loudly, it does not turn a
claim into "not measured".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

from anpolicy.store import authors
from anpolicy.study import claims
from anpolicy.study.chapters import AGENT_KEYS, load_study
from anpolicy.study.claims import above, below, ci, pct, within
from anpolicy.study.published import STUDY_2025, TANG_HA_2021

CHAPTERS = ("permutations", "ablations", "attention", "noise")
VERDICTS = ("confirmed", "refuted", "refined", "inconclusive", "not measured")
CHAPTER_TITLES = {
    "permutations": "Permutations",
    "ablations": "Ablations",
    "attention": "Attention matrices",
    "noise": "Extra and noisy channels",
}
NOT_APPLICABLE = "not applicable"


@dataclass
class Judged:
    """One agent's cell: what was measured and the verdict."""

    measured: str = ""
    verdict: str = "not measured"


@dataclass
class Verdict:
    """One row of the verdict table."""

    key: str
    claim: str
    source: str
    reported: str
    chapter: str
    rule: str = ""
    by_agent: dict = field(default_factory=dict)  # "authors"/"ours" -> Judged
    note: str = ""

    @property
    def verdict(self) -> str:
        """The headline: the authors' agent's verdict (ours where the claim concerns an
        agent the authors did not publish)."""
        a = self.by_agent.get("authors")
        if a is None or a.verdict == NOT_APPLICABLE:
            return self.by_agent["ours"].verdict
        return a.verdict

    @property
    def agrees(self) -> str:
        a, o = self.by_agent.get("authors"), self.by_agent.get("ours")
        if a is None or o is None or NOT_APPLICABLE in (a.verdict, o.verdict):
            return "—"
        return claims.agreement(a.verdict, o.verdict)

    def as_row(self) -> dict:
        a, o = self.by_agent["authors"], self.by_agent["ours"]
        return {
            "claim": self.claim,
            "source": self.source,
            "reported": self.reported,
            "Tang & Ha's agent": a.measured,
            "verdict (Tang & Ha's agent)": a.verdict,
            "our agent": o.measured,
            "verdict (our agent)": o.verdict,
            "ours agrees": self.agrees,
            "rule": self.rule + (f" {self.note}" if self.note else ""),
            "chapter": self.chapter,
        }


# ------------------------------------------------------------------- helpers


def load_all(chapters=CHAPTERS, loader: Callable = load_study):
    """``(results, missing)``: each chapter's `StudyResult` where saved, and
    ``{chapter: reason}`` where not. Schema errors propagate."""
    results, missing = {}, {}
    for ch in chapters:
        try:
            results[ch] = loader(ch)
        except FileNotFoundError:
            missing[ch] = f"not measured (run book/{ch}.ipynb)"
    return results, missing


def fmt(s: dict, digits: int = 0, sign: bool = False) -> str:
    """'164 [156, 172] (n=2000)'."""
    return f"{ci(s, digits, sign)} (n={s['n']})"


def _kept(rec, cond) -> dict:
    k = rec.conditions[cond]["kept"]
    return {"mean": k["ratio"], "ci95": k["ci95"], "n": k["n"]}


def _pct_kept(k: dict) -> str:
    return pct(k["mean"], *k["ci95"])


def link(chapter: str) -> str:
    title = CHAPTER_TITLES.get(chapter, chapter)
    return f'<a href="{chapter}.html">{html.escape(title)}</a>'


# -------------------------------------------------------------------- claims
# Each judge takes one agent's record (and the chapter's StudyResult) and returns a
# Judged; the same rule is applied to both agents.


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


_EQ = f"±{100 * claims.EQUIVALENCE:.0f} %"
CLAIMS: list[tuple[Verdict, Callable | None]] = [
    (Verdict("order_at_reset", "The AN's return does not depend on the order of its inputs",
             "Tang & Ha 2021", "472 ± 426 unshuffled, 471 ± 426 shuffled (n=1000)",
             "permutations",
             f"Confirmed if the paired difference's CI lies within {_EQ} of the unshuffled mean."),
     _order_at_reset),
    (Verdict("fnn_shuffled", "An FNN fails when its inputs are shuffled", "Tang & Ha 2021",
             "593 ± 433 unshuffled, 38 ± 120 shuffled", "permutations",
             f"Confirmed if the shuffled CI lies below {claims.COLLAPSE:g} × the unshuffled "
             "CI's lower end (our FNN; no FNN weights were published)."),
     None),
    (Verdict("reshuffle_every_t", "The AN's return falls as reshuffles become more frequent",
             "Tang & Ha 2021", "107 ± 146 every 25 steps … 407 ± 380 every 500",
             "permutations",
             "Confirmed if the kept share at t=25 is below 1 and below that at t=500 (CIs)."),
     _reshuffle_every_t),
    (Verdict("every_step",
             "Reshuffling every time step makes the AN fail: it is not truly permutation invariant",
             "2025 study, text", "reshuffles 'every time step'", "permutations",
             f"Confirmed if less than {claims.COLLAPSE:g} of the unshuffled return is kept (CI)."),
     _every_step),
    (Verdict("study_sweep", "Return vs reshuffle interval (what the study's figure measured)",
             "2025 study, code",
             "k ∈ {500, 333, 250, 200, 167, 143}, 30 episodes, one seed, mean ± s.e.m.",
             "permutations",
             "Refined: the code's sweep measures a graded loss, not the text's every-step "
             "collapse; a loss if the kept share at the smallest k is below 1 (CI)."),
     _study_sweep),
    (Verdict("single_reshuffle", "One reshuffle mid-episode disturbs the agent",
             "2025 study (its explanation: the LSTM state)",
             "not measured there (inferred from the sweep)", "permutations",
             f"Confirmed if the paired return change lies below −{_EQ} or more episodes never "
             "recover (twin band) than in the fixed-permutation control (Wilson CIs)."),
     _single_reshuffle),
    (Verdict("zero_state", "Zeroing the LSTM state collapses the AN's return",
             "2025 study, text (code: c only)", "49 vs 425 (c zeroed each step)", "ablations",
             f"Collapse: the CI lies below {claims.COLLAPSE:g} × the baseline's lower end."),
     _zero_state),
    (Verdict("reset_at_reshuffle",
             "Resetting the LSTM state at each reshuffle recovers some of the performance",
             "2025 study", "h and c zeroed at each reshuffle (previous action kept)",
             "ablations",
             "Reset vs no intervention, paired on the same episodes, at every k of the "
             "study's sweep: confirmed if reset is higher (CI) somewhere and never lower, "
             "refuted if lower somewhere and never higher."),
     _reset_at_reshuffle),
    (Verdict("permute_state",
             "Permuting the LSTM state with the observation does not fully recover the return",
             "2025 study, text (code: absolute index)", "'does not fully recover'",
             "ablations",
             f"Refuted if relative − unshuffled lies within {_EQ} of the unshuffled mean at "
             "every k (CI)."),
     _permute_state),
    (Verdict("attention_mismatch",
             "After a reshuffle the attention matrices do not match the permuted originals",
             "2025 study, Figure 3", "heatmaps, single episodes", "attention",
             f"Confirmed if e > {claims.MISMATCH:g} (CI) with the state untouched."),
     _attention_mismatch),
    (Verdict("attention_zeroed",
             "With the state zeroed every step, attention columns permute exactly with the input",
             "2025 study, Figure 4", "heatmaps, single episodes", "attention",
             f"Confirmed if the error is round-off: max < {claims.ROUNDOFF_MAX:g} at the "
             f"reshuffle, mean < {claims.ROUNDOFF_MEAN:g} after."),
     _attention_zeroed),
    (Verdict("duplicated", "The AN is robust to duplicated inputs (10 inputs)",
             "Tang & Ha 2021", "471 ± 425", "noise",
             f"Robust if the paired difference's CI stays above −{100 * claims.ROBUST_DROP:.0f} % "
             "of the shuffled mean.",
             note="Judged on the 10 columns permuted together; the noise chapter also places "
             "each copy independently (the layer sums over columns: the two differ only in "
             "the order of float additions). Tang & Ha's footnote scaled the layer's output "
             "by 0.5 for this column; the released code does not."),
     _noise_claim("duplicated", "duplicating the inputs")),
    (Verdict("noise_5", "The AN is robust to 5 extra noise channels", "Tang & Ha 2021",
             "461 ± 410", "noise",
             f"Robust if the paired difference's CI stays above −{100 * claims.ROBUST_DROP:.0f} % "
             "of the shuffled mean."),
     _noise_claim("noise_5", "5 noise channels (sd 0.1)")),
    (Verdict("noise_filter", "The attention filters out noise channels",
             "reading of Tang & Ha's noise test", "(implied, not measured there)", "noise",
             "Refined if the attention on noise ≈ the noise's share of columns (within 0.1) "
             "and large noise hurts (CI)."),
     _noise_filter),
]  # fmt: skip


def _missing_authors(res) -> str:
    why = getattr(res, "authors_missing", "") or f"run `{authors.COMMAND}`"
    return f"not measured: {why}"


def build_verdicts(results: dict) -> list[Verdict]:
    """Judge every claim on both agents from ``{chapter: StudyResult}``."""
    out = []
    for template, judge in CLAIMS:
        fields = ("key", "claim", "source", "reported", "chapter", "rule", "note")
        v = Verdict(**{k: getattr(template, k) for k in fields})
        res = results.get(v.chapter)
        for key in AGENT_KEYS:
            if res is None:
                v.by_agent[key] = Judged(f"not measured (run book/{v.chapter}.ipynb)")
            elif judge is None:  # a claim about our FNN only
                v.by_agent[key] = (
                    Judged("no published FNN", NOT_APPLICABLE)
                    if key == "authors"
                    else _fnn_shuffled(res)
                )
            elif res.agent(key) is None:
                v.by_agent[key] = Judged(_missing_authors(res))
            else:
                v.by_agent[key] = judge(res.agent(key), res)
        out.append(v)
    return out


def verdict_frame(verdicts: list[Verdict]):
    """A `pandas.DataFrame`, one row per claim (chapter as an HTML link)."""
    import pandas as pd

    df = pd.DataFrame([v.as_row() for v in verdicts])
    df["chapter"] = [link(v.chapter) for v in verdicts]
    return df


VERDICT_COLOURS = {
    "confirmed": "#d9f0d3",
    "refuted": "#f4cccc",
    "refined": "#fff2cc",
    "inconclusive": "#e8e8e8",
    "not measured": "#ffffff",
    NOT_APPLICABLE: "#ffffff",
}


def _badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#ffffff")
    return f'<b style="background:{colour};padding:0 0.3em">{html.escape(verdict)}</b>'


def verdict_html(verdicts: list[Verdict], caption: str = "") -> str:
    """A self-contained HTML table (no external CSS): per claim the headline verdict
    (Tang & Ha's agent), each agent's measurement and verdict, and the agreement."""
    head = [
        "claim", "verdict (Tang & Ha's agent)", "Tang & Ha's agent: measured",
        "our agent: measured", "verdict (our agent)", "ours agrees", "chapter",
    ]  # fmt: skip
    esc = html.escape
    rows = []
    for v in verdicts:
        a, o = v.by_agent["authors"], v.by_agent["ours"]
        # the claim's source, the number it reported and the verdict's rule fold into
        # the claim's cell (one click away), so that the table fits the page
        rule = esc(v.rule + (f" {v.note}" if v.note else ""))
        claim = (
            f"{esc(v.claim)}<details><summary>source, rule</summary>{esc(v.source)}; "
            f"reported: {esc(v.reported)}. <i>Rule:</i> {rule}</details>"
        )
        cells = [
            claim, _badge(a.verdict), esc(a.measured), esc(o.measured), _badge(o.verdict),
            esc(v.agrees), link(v.chapter),
        ]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        # seven columns share the content column and wrap; none is cut
        '<table class="table verdict-table" style="font-size:0.8em;width:100%;'
        'overflow-wrap:anywhere">'
        + cap
        + "<thead><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def verdict_markdown(verdicts: list[Verdict]) -> str:
    """A plain-text table (claim, headline, ours, agrees) for the report."""
    lines = ["| claim | Tang & Ha's agent | our agent | agree |", "|---|---|---|---|"]
    for v in verdicts:
        a, o = v.by_agent["authors"], v.by_agent["ours"]
        lines.append(f"| {v.claim} | {a.verdict} | {o.verdict} | {v.agrees} |")
    return "\n".join(lines)


def counts(verdicts: list[Verdict]) -> dict:
    """{verdict: number of claims} of the headline verdicts."""
    return {name: sum(v.verdict == name for v in verdicts) for name in VERDICTS}
