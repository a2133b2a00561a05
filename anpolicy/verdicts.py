"""The verdict table: every claim tested in the book, our measurement, the verdict.

`build_verdicts` reads the results the experiment chapters saved with
`anpolicy.results.save_results` (``permutations``, ``ablations``, ``attention``,
``noise``, ``training``) and returns one `Verdict` per claim. A claim whose chapter
has not been run (or whose results lack a key) is reported as *not measured*, with the
chapter to run; nothing here raises on missing results.

Each claim states its source (Tang & Ha 2021; the 2025 study's text; what the 2025
study's code did), what was reported, our measurement (mean with 95 % CI and n), the
verdict and the rule that decided it:

- ``confirmed``: our measurement supports the claim as stated;
- ``refuted``: it contradicts the claim;
- ``refined``: the effect is real but its cause, size or scope differs from the claim;
- ``inconclusive``: the intervals do not decide;
- ``not measured``: the chapter's results are missing.

`verdict_frame` turns the verdicts into a `pandas.DataFrame`; `verdict_html` into the
HTML table the conclusions chapter glues (and the introduction displays).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

from anpolicy.analysis import Z95
from anpolicy.results import load_results

CHAPTERS = ("permutations", "ablations", "attention", "noise", "training")
VERDICTS = ("confirmed", "refuted", "refined", "inconclusive", "not measured")
CHAPTER_TITLES = {
    "permutations": "Permutations",
    "ablations": "Ablations",
    "attention": "Attention matrices",
    "noise": "Extra and noisy channels",
    "training": "Training",
}


class Missing(LookupError):
    """A chapter's results, or a key inside them, are absent."""


@dataclass
class Verdict:
    """One row of the verdict table."""

    claim: str
    source: str
    reported: str
    chapter: str
    key: str = ""
    measured: str = ""
    verdict: str = "not measured"
    rule: str = ""
    note: str = ""
    needs: tuple = ()
    missing: list = field(default_factory=list)

    def as_row(self) -> dict:
        return {
            "claim": self.claim,
            "source": self.source,
            "reported": self.reported,
            "our measurement": self.measured,
            "verdict": self.verdict,
            "why": self.rule + (f" {self.note}" if self.note else ""),
            "chapter": self.chapter,
        }


# ------------------------------------------------------------------- helpers


def load_all(chapters=CHAPTERS, loader: Callable[[str], dict] = load_results):
    """``(results, missing)``: the results of every chapter that has them, and
    ``{chapter: reason}`` for those that do not (never raises for a missing file)."""
    results, missing = {}, {}
    for ch in chapters:
        try:
            results[ch] = loader(ch)
        except FileNotFoundError:
            missing[ch] = f"not measured (run book/{ch}.ipynb)"
        except ValueError as exc:  # unreadable JSON
            missing[ch] = f"unreadable results ({exc}); re-run book/{ch}.ipynb"
    return results, missing


def get(results: dict, chapter: str, *keys):
    """``results[chapter][k1][k2]...``; raises `Missing` naming what is absent."""
    if chapter not in results or results[chapter] is None:
        raise Missing(f"not measured (run book/{chapter}.ipynb)")
    node = results[chapter]
    for i, key in enumerate(keys):
        if isinstance(node, dict) and key in node and node[key] is not None:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            path = ".".join(str(k) for k in keys[: i + 1])
            raise Missing(f"not measured ({chapter} results have no `{path}`)")
    return node


def summary(results, chapter, *keys) -> dict:
    """A `summarize` dict (mean, ci95, n) at the given place, or `Missing`."""
    s = get(results, chapter, *keys)
    if not (isinstance(s, dict) and {"mean", "ci95", "n"} <= set(s)):
        path = ".".join(str(k) for k in keys)
        raise Missing(f"not measured ({chapter} results: `{path}` is not a summary)")
    return s


def has(results, chapter, *keys) -> bool:
    try:
        get(results, chapter, *keys)
    except Missing:
        return False
    return True


def fmt(s: dict, digits: int = 0, sign: bool = False) -> str:
    """'164 [156, 172] (n=2000)'; tiny values in scientific notation."""
    mean, (lo, hi) = s["mean"], s["ci95"]
    big = max(abs(mean), abs(lo), abs(hi))
    if 0 < big < 10 ** (-digits) / 2 or (digits == 0 and 0 < big < 1):
        spec = "+.2g" if sign else ".2g"
    else:
        spec = f"{'+' if sign else ''}.{digits}f"

    def f(v):
        text = format(v, spec)
        return format(0.0, spec.replace("+", "")) if float(text) == 0 else text

    return f"{f(mean)} [{f(lo)}, {f(hi)}] (n={s['n']})"


def difference(a: dict, b: dict) -> dict:
    """a - b with a normal 95 % CI from the two standard errors (unpaired; use the
    chapters' paired differences where they exist, they are tighter)."""
    se = (a["se"] ** 2 + b["se"] ** 2) ** 0.5
    d = a["mean"] - b["mean"]
    return {"mean": d, "se": se, "ci95": [d - Z95 * se, d + Z95 * se], "n": min(a["n"], b["n"])}


def paired_or_unpaired(cond: dict, base: dict) -> tuple[dict, str]:
    """The chapter's paired difference (``cond["diff"]``) if saved, else unpaired."""
    if isinstance(cond.get("diff"), dict) and "ci95" in cond["diff"]:
        return cond["diff"], "paired"
    return difference(cond, base), "unpaired"


def below(s: dict, level: float) -> bool:
    """The whole 95 % CI lies below ``level``."""
    return s["ci95"][1] < level


def above(s: dict, level: float) -> bool:
    return s["ci95"][0] > level


def within(s: dict, lo: float, hi: float) -> bool:
    return lo < s["ci95"][0] and s["ci95"][1] < hi


def link(chapter: str) -> str:
    """HTML link to a chapter page (pages of book/ link to each other by file name)."""
    title = CHAPTER_TITLES.get(chapter, chapter)
    return f'<a href="{chapter}.html">{html.escape(title)}</a>'


# -------------------------------------------------------------------- claims
# Each function fills in measured / verdict / rule of its Verdict from `results`;
# a `Missing` raised anywhere leaves the row "not measured".


def _order_at_reset(v: Verdict, r: dict):
    none, reset = (
        summary(r, "permutations", "an", "none"),
        summary(r, "permutations", "an", "reset"),
    )
    d, kind = paired_or_unpaired(reset, none)
    tol = 0.05 * none["mean"]
    v.measured = f"our AN unshuffled {fmt(none)}, shuffled at reset {fmt(reset)}; " + (
        f"difference ({kind}) {fmt(d, 1, True)}"
    )
    if has(r, "permutations", "reference", "reset"):
        v.measured += (
            f"; authors' weights shuffled {fmt(summary(r, 'permutations', 'reference', 'reset'))}"
        )
    v.rule = "Confirmed if the CI of the difference lies within ±5 % of the unshuffled mean."
    if within(d, -tol, tol):
        v.verdict = "confirmed"
    elif below(d, -tol):
        v.verdict = "refuted"
    else:
        v.verdict = "inconclusive"


def _fnn_shuffled(v: Verdict, r: dict):
    none, reset = (
        summary(r, "permutations", "fnn", "none"),
        summary(r, "permutations", "fnn", "reset"),
    )
    v.measured = f"our FNN unshuffled {fmt(none)}, shuffled {fmt(reset)}"
    v.rule = "Confirmed if the shuffled CI lies below half the unshuffled CI's lower end."
    v.verdict = "confirmed" if below(reset, 0.5 * none["ci95"][0]) else "refuted"


def _agent_for_claims(r: dict) -> tuple[str, str]:
    """The claims about the authors' agent are judged on the authors' weights when the
    permutations chapter measured them, otherwise on our AN."""
    if has(r, "permutations", "reference", "none"):
        return "reference", "authors' weights"
    return "an", "our AN"


def _kept(r, who, cond) -> dict:
    none, s = summary(r, "permutations", who, "none"), summary(r, "permutations", who, cond)
    if isinstance(s.get("kept"), dict) and "ratio" in s["kept"]:
        k = s["kept"]
        return {"mean": k["ratio"], "ci95": k["ci95"], "n": k.get("n", s["n"])}
    d = difference(s, none)
    m = none["mean"]
    return {"mean": 1 + d["mean"] / m, "ci95": [1 + x / m for x in d["ci95"]], "n": d["n"]}


def _pct(k: dict) -> str:
    return (
        f"{100 * k['mean']:.0f} % [{100 * k['ci95'][0]:.0f}, {100 * k['ci95'][1]:.0f}] (n={k['n']})"
    )


def _reshuffle_every_t(v: Verdict, r: dict):
    who, name = _agent_for_claims(r)
    k25 = _kept(r, who, "every_25")
    k500 = _kept(r, who, "every_500")
    v.measured = (
        f"{name}: every 25 steps {fmt(summary(r, 'permutations', who, 'every_25'))}, every 500 "
        f"{fmt(summary(r, 'permutations', who, 'every_500'))}; share of the unshuffled "
        f"return kept: {_pct(k25)} at 25, {_pct(k500)} at 500"
    )
    if who == "reference":
        ours = _kept(r, "an", "every_25")
        v.note = f"Our AN keeps {_pct(ours)} at 25 steps."
    v.rule = "Confirmed if the kept share at t=25 is below 1 and below that at t=500 (CIs)."
    if below(k25, 1.0) and k25["ci95"][1] < k500["ci95"][0]:
        v.verdict = "confirmed"
    elif above(k25, 0.95):
        v.verdict = "refuted"
    else:
        v.verdict = "inconclusive"


def _every_step(v: Verdict, r: dict):
    parts, collapsed = [], []
    for who, name in (("an", "our AN"), ("reference", "authors' weights")):
        if not has(r, "permutations", who, "every_1"):
            continue
        k = _kept(r, who, "every_1")
        parts.append(f"{name}: {fmt(summary(r, 'permutations', who, 'every_1'))}, kept {_pct(k)}")
        collapsed.append(below(k, 0.5))
    if not parts:
        raise Missing("not measured (permutations results have no `an.every_1`)")
    v.measured = "; ".join(parts)
    v.rule = "Confirmed if less than half of the unshuffled return is kept (CI)."
    v.verdict = "confirmed" if all(collapsed) else ("refined" if any(collapsed) else "refuted")


def _study_sweep(v: Verdict, r: dict):
    who, name = _agent_for_claims(r)
    ks = get(r, "permutations", "study_sweep", "k")
    kmin = min(ks)
    k_hi = _kept(r, who, f"every_{kmin}")
    k_lo = _kept(r, who, f"every_{max(ks)}")
    v.measured = (
        f"{name}: kept {_pct(k_lo)} at k={max(ks)}, {_pct(k_hi)} at k={kmin} "
        f"(n per point as shown; the study: 30 episodes)"
    )
    if who == "reference" and has(r, "permutations", "an", f"every_{kmin}"):
        v.note = f"Our AN keeps {_pct(_kept(r, 'an', f'every_{kmin}'))} at k={kmin}."
    v.rule = (
        "Refined: the code's sweep (k = 143 ... 500) measures a graded loss, not the "
        "text's every-step collapse; confirmed as a loss if the kept share at the "
        "smallest k is below 1 (CI)."
    )
    v.verdict = "refined" if below(k_hi, 1.0) else "refuted"


def agent_label(r, chapter: str, *keys) -> str:
    """How to name the agent a chapter measured (``agent.name`` or ``agents.an.name``):
    "our AN" for a shipped agent, "authors' weights" for the reference file."""
    for path in (keys, ("agent",), ("agents", "an")):
        if not path:
            continue
        try:
            node = get(r, chapter, *path)
        except Missing:
            continue
        name = node.get("name", "") if isinstance(node, dict) else str(node)
        if name.endswith(".npz"):
            return "authors' weights" if "tang-ha" in name else f"weights {name}"
        return "our AN"
    return "our AN"


def _ablation_agents(r) -> list[tuple[tuple, str]]:
    """Where the ablation summaries sit: the chapter's agent at the top level, the
    authors' weights under ``reference`` (when the chapter ran them)."""
    out = [((), agent_label(r, "ablations"))]
    if has(r, "ablations", "reference", "baseline"):
        out.append((("reference",), "authors' weights"))
    return out


def _zero_state(v: Verdict, r: dict):
    parts, verdicts = [], []
    for prefix, name in _ablation_agents(r):
        base = summary(r, "ablations", *prefix, "baseline")
        zc = summary(r, "ablations", *prefix, "zero_c")
        zhc = summary(r, "ablations", *prefix, "zero_hc")
        parts.append(
            f"{name}: baseline {fmt(base)}, zero c only {fmt(zc)}, zero h and c {fmt(zhc)}"
        )
        half = 0.5 * base["ci95"][0]
        verdicts.append((below(zc, half), below(zhc, half)))
    v.measured = "; ".join(parts)
    v.rule = "Collapse: the CI lies below half the baseline's lower end."
    c_collapses, hc_collapses = verdicts[-1]  # the authors' weights when run (the claim's agent)
    if c_collapses and hc_collapses:
        v.verdict = "confirmed"
        v.note = (
            "The study's code zeroed only c (its text: the state); zeroing h and c collapses too."
        )
    elif c_collapses or hc_collapses:
        v.verdict = "refined"
        v.note = "Only one of the two variants collapses."
    else:
        v.verdict = "refuted"


def _sweep_point(r, variant) -> tuple[dict, int]:
    """The ablations sweep's summary of ``variant`` at the study's most frequent
    reshuffle (k = 143) if measured, else at the smallest k."""
    ks = get(r, "ablations", "at_reshuffle", "k")
    k = 143 if 143 in ks else min(ks)
    return summary(r, "ablations", "at_reshuffle", variant, ks.index(k)), k


def _reset_at_reshuffle(v: Verdict, r: dict):
    none = summary(r, "ablations", "at_reshuffle", "none")
    reset, k = _sweep_point(r, "reset")
    nothing, _ = _sweep_point(r, "nothing")
    d, kind = paired_or_unpaired(reset, none)
    lost, _ = paired_or_unpaired(nothing, none)
    tol = 0.05 * none["mean"]
    v.measured = (
        f"{agent_label(r, 'ablations')}, reshuffled every {k} steps: reset {fmt(reset)}, "
        f"no intervention {fmt(nothing)}, unshuffled {fmt(none)}; reset minus unshuffled "
        f"({kind}) {fmt(d, 1, True)}"
    )
    v.rule = (
        "Testable only if reshuffling without intervention loses > 5 % (CI); then "
        "confirmed if reset minus unshuffled also lies below −5 %."
    )
    if not below(lost, -tol):
        v.verdict = "inconclusive"
        v.note = (
            f"This agent loses nothing measurable to a reshuffle every {k} steps "
            f"({fmt(lost, 1, True)}), so there is nothing to recover."
        )
    elif below(d, -tol):
        v.verdict = "confirmed"
    elif within(d, -tol, tol):
        v.verdict = "refuted"
    else:
        v.verdict = "inconclusive"
    if v.verdict != "inconclusive" or not v.note:
        gain = difference(reset, nothing)
        v.note = f"Reset vs no intervention (unpaired): {fmt(gain, 1, True)}."


def _permute_state(v: Verdict, r: dict):
    none = summary(r, "ablations", "at_reshuffle", "none")
    rel, k = _sweep_point(r, "relative")
    d, kind = paired_or_unpaired(rel, none)
    parts = [
        f"{agent_label(r, 'ablations')}, reshuffled every {k} steps: relative permutation "
        f"{fmt(rel)} vs unshuffled "
        f"{fmt(none)}, difference ({kind}) {fmt(d, 1, True)}"
    ]
    for variant, label in (("absolute_random_start", "absolute index"), ("absolute", None)):
        if has(r, "ablations", "at_reshuffle", variant):
            parts.append(f"{label or variant} (study's code) {fmt(_sweep_point(r, variant)[0])}")
            break
    frac = get(r, "ablations", "relative_identical_fraction")
    parts.append(f"{100 * float(frac):.0f} % of episodes identical to unshuffled")
    v.measured = "; ".join(parts)
    tol = 0.05 * none["mean"]
    v.rule = "Refuted if relative minus unshuffled lies within ±5 % of the unshuffled mean (CI)."
    if within(d, -tol, tol):
        v.verdict = "refuted"
        v.note = (
            "The study's code used the absolute index; its shortfall is that bug "
            "(episodes that are not bit-identical part only by float round-off)."
        )
    elif below(d, -tol):
        v.verdict = "confirmed"
    else:
        v.verdict = "inconclusive"


def _roundoff(r, cond) -> tuple[float, float]:
    """(largest error at the reshuffle step, mean error over the window) of a condition;
    older results without these keys fall back to the largest error after the reshuffle."""
    e = get(r, "attention", "error", cond)
    mx = e.get("max_after")
    at0 = e.get("at_reshuffle_max", mx)
    mean = e.get("mean_after", mx)
    if at0 is None or mean is None:
        raise Missing(f"not measured (attention results have no `error.{cond}.mean_after`)")
    return float(at0), float(mean)


def _attention_mismatch(v: Verdict, r: dict):
    e = summary(r, "attention", "error", "none", "after_0")
    rel_t0, rel_mean = _roundoff(r, "relative")
    steps = get(r, "attention", "error", "none").get("steps_below_1pct")
    v.measured = (
        f"state untouched: e = {fmt(e, 3)} at the reshuffle; relative permutation: "
        f"max e {rel_t0:.1g} at the reshuffle, mean {rel_mean:.1g} after"
    )
    v.rule = "Confirmed if e > 1e-3 (CI) with the state untouched."
    v.verdict = "confirmed" if above(e, 1e-3) else "refuted"
    v.note = "Cause: the state stays with the position; " + (
        f"mean e below 1 % from {steps} steps after the reshuffle."
        if steps is not None
        else "the mismatch does not fade within the window."
    )


def _attention_zeroed(v: Verdict, r: dict):
    e = summary(r, "attention", "error", "zero_hc", "after_0")
    at0, mean = _roundoff(r, "zero_hc")
    v.measured = f"e = {fmt(e, 3)} at the reshuffle (max {at0:.1g}); mean {mean:.1g} after"
    v.rule = "Confirmed if the error is round-off: max < 1e-6 at the reshuffle, mean < 1e-4 after."
    v.verdict = "confirmed" if at0 < 1e-6 and mean < 1e-4 else "refuted"
    v.note = "The relative state permutation gives the same without losing the memory."


def _noise_claim(key: str, label: str, caveat: str = ""):
    def judge(v: Verdict, r: dict):
        rule_frac = 0.10
        parts, robust = [], []
        for who, name, pkey in (
            ("an", "our AN", "paired_vs_shuffled"),
            ("reference", "authors' weights", "reference_paired_vs_shuffled"),
        ):
            if not has(r, "noise", pkey, key):
                continue
            s, base = summary(r, "noise", who, key), summary(r, "noise", who, "shuffled")
            d = summary(r, "noise", pkey, key)
            parts.append(f"{name}: {fmt(s)}, minus shuffled (paired) {fmt(d, 1, True)}")
            robust.append(above(d, -rule_frac * base["mean"]))
        if not parts:
            raise Missing(f"not measured (noise results have no `{key}`)")
        v.measured = "; ".join(parts)
        v.rule = (
            "Robust if the paired difference's CI stays above −10 % of the shuffled mean "
            f"({label})."
        )
        v.verdict = "confirmed" if robust[-1] else "refuted"
        if len(robust) == 2 and robust[0] != robust[1]:
            v.note = "Judged on the authors' weights (the claim's agent); our AN differs."
        elif len(robust) == 1:
            v.note = "Judged on our AN (the authors' weights were not run)."
        else:
            v.note = "Judged on the authors' weights (the claim's agent)."
        if caveat:
            v.note += " " + caveat

    return judge


def _noise_scale(v: Verdict, r: dict):
    d = summary(r, "noise", "paired_vs_shuffled", "noise_5_large")
    std = get(r, "noise", "large_noise_std")
    share = get(r, "noise", "attention", "our AN", "noise_5")
    v.measured = (
        f"our AN, 5 noise channels of sd {std:g}: minus shuffled {fmt(d, 1, True)}; "
        f"at sd 0.1 the noise takes {100 * share['attention_share']:.0f} % of the attention, "
        f"{100 * share['term_share']:.0f} % of the terms"
    )
    v.rule = (
        "Refined if the attention on noise ≈ the noise's share of columns and large noise hurts."
    )
    attention_blind = abs(share["attention_share"] - share["column_share"]) < 0.1
    v.verdict = "refined" if attention_blind and below(d, 0.0) else "inconclusive"


CLAIMS: list[tuple[Verdict, Callable]] = [
    (
        Verdict(
            "The AN's return does not depend on the order of its inputs",
            "Tang & Ha 2021",
            "472 ± 426 unshuffled, 471 ± 426 shuffled (n=1000)",
            "permutations",
            needs=("permutations",),
            key="order_at_reset",
        ),
        _order_at_reset,
    ),
    (
        Verdict(
            "An FNN fails when its inputs are shuffled",
            "Tang & Ha 2021",
            "593 ± 433 unshuffled, 38 ± 120 shuffled",
            "permutations",
            needs=("permutations",),
            key="fnn_shuffled",
        ),
        _fnn_shuffled,
    ),
    (
        Verdict(
            "The AN's return falls as reshuffles become more frequent",
            "Tang & Ha 2021",
            "107 ± 146 every 25 steps … 407 ± 380 every 500",
            "permutations",
            needs=("permutations",),
            key="reshuffle_every_t",
        ),
        _reshuffle_every_t,
    ),
    (
        Verdict(
            "Reshuffling every time step makes the AN fail: it is not truly permutation invariant",
            "2025 study, text",
            "reshuffles 'every time step'",
            "permutations",
            needs=("permutations",),
            key="every_step",
        ),
        _every_step,
    ),
    (
        Verdict(
            "Return vs reshuffle interval (what the study's figure measured)",
            "2025 study, code",
            "k ∈ {500, 333, 250, 200, 167, 143}, 30 episodes, one seed, mean ± s.e.m.",
            "permutations",
            needs=("permutations",),
            key="study_sweep",
        ),
        _study_sweep,
    ),
    (
        Verdict(
            "Zeroing the LSTM state collapses the AN's return",
            "2025 study, text (code: c only)",
            "49 vs 425 (c zeroed each step)",
            "ablations",
            needs=("ablations",),
            key="zero_state",
        ),
        _zero_state,
    ),
    (
        Verdict(
            "Resetting the LSTM state at each reshuffle does not recover the return",
            "2025 study",
            "h and c zeroed at each reshuffle (previous action kept)",
            "ablations",
            needs=("ablations",),
            key="reset_at_reshuffle",
        ),
        _reset_at_reshuffle,
    ),
    (
        Verdict(
            "Permuting the LSTM state with the observation does not fully recover the return",
            "2025 study, text (code: absolute index)",
            "'does not fully recover'",
            "ablations",
            needs=("ablations",),
            key="permute_state",
        ),
        _permute_state,
    ),
    (
        Verdict(
            "After a reshuffle the attention matrices do not match the permuted originals",
            "2025 study, Figure 3",
            "heatmaps, single episodes",
            "attention",
            needs=("attention",),
            key="attention_mismatch",
        ),
        _attention_mismatch,
    ),
    (
        Verdict(
            "With the state zeroed every step, attention columns permute exactly with the input",
            "2025 study, Figure 4",
            "heatmaps, single episodes",
            "attention",
            needs=("attention",),
            key="attention_zeroed",
        ),
        _attention_zeroed,
    ),
    (
        Verdict(
            "The AN is robust to duplicated inputs (10 inputs)",
            "Tang & Ha 2021",
            "471 ± 425",
            "noise",
            needs=("noise",),
            key="duplicated",
        ),
        _noise_claim(
            "duplicated",
            "duplicated inputs",
            "Their duplication protocol is not published; ours permutes the 10 copies "
            "together, which gives each copy identical state and attention (every term "
            "counted twice).",
        ),
    ),
    (
        Verdict(
            "The AN is robust to 5 extra noise channels",
            "Tang & Ha 2021",
            "461 ± 410",
            "noise",
            needs=("noise",),
            key="noise_5",
        ),
        _noise_claim("noise_5", "5 noise channels, sd 0.1"),
    ),
    (
        Verdict(
            "The attention filters out noise channels",
            "reading of Tang & Ha's noise test",
            "(implied, not measured there)",
            "noise",
            needs=("noise",),
            key="noise_filter",
        ),
        _noise_scale,
    ),
]


def build_verdicts(results: dict) -> list[Verdict]:
    """Judge every claim against ``results`` ({chapter: saved results}); claims whose
    results are missing come back ``not measured`` with the reason."""
    out = []
    for template, judge in CLAIMS:
        fields = ("claim", "source", "reported", "chapter", "key")
        v = Verdict(**{k: getattr(template, k) for k in fields})
        v.needs = template.needs
        absent = [c for c in v.needs if not isinstance(results.get(c), dict)]
        if absent:
            v.measured = "; ".join(f"not measured (run book/{c}.ipynb)" for c in absent)
            v.missing = absent
            out.append(v)
            continue
        try:
            judge(v, results)
        except Missing as exc:
            v.measured, v.verdict, v.rule, v.note = str(exc), "not measured", "", ""
            v.missing = [c for c in v.needs if c not in results] or list(v.needs)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
            v.measured = f"not measured (results of {v.chapter} malformed: {exc!r})"
            v.verdict, v.rule, v.note = "not measured", "", ""
            v.missing = [v.chapter]
        out.append(v)
    return out


def verdict_frame(verdicts: list[Verdict]):
    """A `pandas.DataFrame`, one row per claim (chapter as an HTML link)."""
    import pandas as pd

    rows = [v.as_row() for v in verdicts]
    df = pd.DataFrame(rows)
    df["chapter"] = [link(v.chapter) for v in verdicts]
    return df


VERDICT_COLOURS = {
    "confirmed": "#d9f0d3",
    "refuted": "#f4cccc",
    "refined": "#fff2cc",
    "inconclusive": "#e8e8e8",
    "not measured": "#ffffff",
}


def verdict_html(verdicts: list[Verdict], caption: str = "") -> str:
    """A self-contained HTML table (no external CSS) of the verdicts."""
    head = ["claim", "source", "reported", "our measurement (mean [95% CI] (n))", "verdict", "why"]
    head.append("chapter")
    esc = html.escape
    rows = []
    for v in verdicts:
        r = v.as_row()
        colour = VERDICT_COLOURS.get(v.verdict, "#ffffff")
        cells = [esc(r["claim"]), esc(r["source"]), esc(r["reported"]), esc(r["our measurement"])]
        cells.append(f'<b style="background:{colour};padding:0 0.3em">{esc(v.verdict)}</b>')
        cells.append(esc(r["why"]))
        cells.append(link(v.chapter))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        '<table class="table verdict-table" style="font-size:0.85em">'
        + cap
        + "<thead><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def counts(verdicts: list[Verdict]) -> dict:
    """{verdict: number of claims} over `VERDICTS`."""
    return {name: sum(v.verdict == name for v in verdicts) for name in VERDICTS}
