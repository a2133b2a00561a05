"""Words from numbers (both directions), and the chapters hold no thresholds, published
numbers, function definitions or long code cells."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from anpolicy.study import claims
from anpolicy.study.published import STUDY_2025, TANG_HA_2021

ROOT = Path(__file__).resolve().parents[1]
STUDY_CHAPTERS = ["permutations", "ablations", "attention", "noise", "conclusions"]


def _s(mean, half=5.0, n=1000, sd=None):
    return {"mean": mean, "sd": sd or half * 10, "se": half / 1.96,
            "ci95": [mean - half, mean + half], "n": n}  # fmt: skip


# ------------------------------------------------------------------ sentences


def test_change_words_both_directions():
    assert claims.change_words(_s(1.0, 2.0), 500).startswith("no measurable change")
    # within the margin but the interval excludes 0 (the authors' agent with 5 noise
    # channels: -14.3 [-18.8, -9.9] against 487): small, not "no measurable change"
    small = claims.change_words(_s(-14.3, 4.5), 487)
    assert small.startswith("a small change of the return, -3 %"), small
    assert "harmless" not in claims.noise_words(_s(-14.3, 4.5), 487, "noise")
    assert "is harmless here" in claims.noise_words(_s(1.0, 2.0), 487, "noise")
    assert "lower by 20 %" in claims.change_words(_s(-100.0, 10.0), 500)
    assert "higher by 20 %" in claims.change_words(_s(100.0, 10.0), 500)
    assert "undecided" in claims.change_words(_s(-20.0, 30.0), 500)  # CI crosses 0 and margin


def test_single_reshuffle_barely_only_when_cost_and_never_share_allow():
    small, big = _s(-1.0, 3.0), _s(-76.0, 11.0)
    assert claims.reshuffle_disturbance_words(small, 400, (37, 100), (37, 100)).startswith(
        "A single reshuffle barely disturbs"
    )
    # the case: a large cost and 63 % never recovering (control 37 %) is not "barely"
    text = claims.reshuffle_disturbance_words(big, 400, (63, 100), (37, 100))
    assert text.startswith("A single reshuffle hurts") and "barely" not in text
    # no cost, but many more never recover than in the control: still hurts
    assert claims.reshuffle_disturbance_words(small, 400, (80, 100), (10, 100)).startswith(
        "A single reshuffle hurts"
    )


def test_recovery_time_words_few_dozen_only_below_threshold():
    assert "few dozen" in claims.recovery_time_words(30, [20, 40], 10)
    assert "few dozen" not in claims.recovery_time_words(452, [400, 500], 10)
    assert "452" in claims.recovery_time_words(452, [400, 500], 10)
    assert "do not recover" in claims.recovery_time_words(None, None, 0)


def test_reset_words_says_where_reset_is_worse():
    text = claims.reset_words({143: _s(-30.0, 10.0), 500: _s(20.0, 5.0), 250: _s(0.0, 5.0)}, 400)
    assert "worse than doing nothing at k = 143" in text
    assert "recovers part of the loss at k = 500" in text
    assert "no measurable difference at k = 250" in text


def test_transient_roundoff_saturation_noise_exact_tolerance_both_ways():
    assert "does not fade" in claims.transient_words(None, 200)
    assert "transient" in claims.transient_words(12, 200)
    assert claims.roundoff_words(1e-8, 1e-9, 0.3).startswith("round-off only")
    far = claims.roundoff_words(0.5, 1.0, 0.3)
    assert far.startswith("more than round-off") and "orders of magnitude" not in far
    assert "orders of magnitude" in claims.roundoff_words(1e-3, 1e-4, 0.3)
    assert "says little" in claims.saturation_words(0.95)
    assert "can still move" in claims.saturation_words(0.2)
    assert "harmless" in claims.noise_words(_s(-2.0, 3.0), 400, "noise")
    costly = claims.noise_words(_s(-120.0, 10.0), 400, "noise")
    assert "harmless" not in costly and "costs 30 %" in costly and "beyond" in costly
    assert "within the 10 %" in claims.noise_words(_s(-28.0, 4.0), 400, "noise")
    exact = claims.exact_recovery_words((106, 1000), (398, 1000), 1e-7)
    assert "fewer than" in exact and "exact up to round-off in one step" in exact
    ok = claims.exact_recovery_words((400, 1000), (398, 1000), 1e-7)
    assert "as many as" in ok and "not exact" not in ok
    bad = claims.exact_recovery_words((400, 1000), (398, 1000), 1e-3)
    assert "not exact" in bad and "exact up to" not in bad
    assert "rounding" in claims.tolerance_words(1.1e-2, 3e-13)
    assert "more than rounding" in claims.tolerance_words(1.1e-2, 1e-3)


def test_agreement_column():
    assert claims.agreement("confirmed", "confirmed") == "yes"
    assert claims.agreement("confirmed", "refuted") == "no"
    assert claims.agreement("not measured", "refuted") == "—"


# ------------------------------------------------------------------ chapters


def _code_cells(chapter):
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def _all_text(chapter):
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells)


@pytest.mark.parametrize("chapter", STUDY_CHAPTERS)
def test_chapter_defines_no_function_and_has_short_cells(chapter):
    for cell in _code_cells(chapter):
        tree = ast.parse(cell.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.Lambda)]
        assert not defs, f"{chapter}: a function is defined in a chapter:\n{cell.source[:200]}"
        assert len(cell.source.splitlines()) <= 25, f"{chapter}: code cell over 25 lines"


@pytest.mark.parametrize("chapter", STUDY_CHAPTERS)
def test_chapter_types_no_threshold(chapter):
    code = "\n".join(c.source for c in _code_cells(chapter))
    for name, value in claims.THRESHOLDS.items():
        literals = {repr(value), f"{value:g}"}
        for lit in literals:
            pattern = rf"(?<![\w.]){re.escape(lit)}(?![\w.])"
            assert not re.search(pattern, code), f"{chapter}: threshold {name}={lit} typed in"
    assert "0.03 *" not in code and "0.05 *" not in code and "0.1 *" not in code


@pytest.mark.parametrize("chapter", STUDY_CHAPTERS + ["environment"])
def test_chapter_types_no_published_number(chapter):
    text = _all_text(chapter)
    numbers = {v for pair in TANG_HA_2021["an"].values() for v in pair}
    numbers |= {v for pair in TANG_HA_2021["fnn"].values() for v in pair}
    numbers |= set(STUDY_2025["zero_state"].values()) | {516.6, 516.57, 489.93}
    if chapter == "environment":  # its physics has small numbers of its own
        numbers = {516.6, 516.57, 471.0, 472.0, 426.0}
    for v in numbers:
        lit = f"{v:g}"
        assert not re.search(rf"(?<![\w.]){re.escape(lit)}(?![\w.%])", text), (
            f"{chapter}: published number {lit} typed in (read it from anpolicy.study.published)"
        )


#: the modules that measure and judge claims: every module of study/ and these (other
#: modules, e.g. the explorer's, may keep display constants of their own)
STUDY_MODULES = ["stats", "report/plots", "store/results", "store/authors"]


def test_thresholds_defined_once_in_the_package():
    pkg = ROOT / "anpolicy"
    files = [pkg / f"{m}.py" for m in STUDY_MODULES] + sorted((pkg / "study").glob("*.py"))
    for name in claims.THRESHOLDS:
        defs = [
            p.name for p in files if re.search(rf"^{name}\s*=", p.read_text(), flags=re.MULTILINE)
        ]
        assert defs == ["thresholds.py"], f"{name} defined in {defs}"
    for name in ("TANG_HA_2021", "STUDY_2025"):
        defs = [
            p.name
            for p in pkg.rglob("*.py")
            if re.search(rf"^{name}\s*=", p.read_text(), flags=re.MULTILINE)
        ]
        assert defs == ["published.py"], f"{name} defined in {defs}"
