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

The judges (one function a claim, from one agent's measurement) live in
`anpolicy.study.judges`. Every threshold comes from `anpolicy.study.claims`; every
published number from `anpolicy.study.published`. A chapter's results whose fields do
not match the schema raise (`anpolicy.study.chapters.ResultSchemaError`): a renamed
field fails loudly, it does not turn a claim into "not measured".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

from anpolicy.store import authors
from anpolicy.study import claims
from anpolicy.study.chapters import AGENT_KEYS, load_study
from anpolicy.study.judges import (
    Judged,
    _attention_mismatch,
    _attention_zeroed,
    _every_step,
    _fnn_shuffled,
    _noise_claim,
    _noise_filter,
    _order_at_reset,
    _permute_state,
    _reset_at_reshuffle,
    _reshuffle_every_t,
    _single_reshuffle,
    _study_sweep,
    _zero_state,
)

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


def link(chapter: str) -> str:
    title = CHAPTER_TITLES.get(chapter, chapter)
    return f'<a href="{chapter}.html">{html.escape(title)}</a>'


# -------------------------------------------------------------------- claims
# Each judge takes one agent's record (and the chapter's StudyResult) and returns a
# Judged; the same rule is applied to both agents.


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


VERDICT_COLOURS = {
    "confirmed": "#d9f0d3",
    "refuted": "#f4cccc",
    "refined": "#fff2cc",
    "inconclusive": "#e8e8e8",
    "not measured": "#ffffff",
    NOT_APPLICABLE: "#ffffff",
}


def counts(verdicts: list[Verdict]) -> dict:
    """{verdict: number of claims} of the headline verdicts."""
    return {name: sum(v.verdict == name for v in verdicts) for name in VERDICTS}
