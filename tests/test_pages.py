"""Every page of the built book as a reader's browser shows it (scripts/page_check.py).

The check itself is tested first on a small hand-made site holding one of each defect
(and a clean page), so that a pass on the book means something. Then every page of the
quick build (the session fixture `built` of conftest.py) is opened at 1400 px in
headless Chromium: no console errors, every image loaded, no MathJax error, no literal
``$``/``\\(``, nothing wider than the content column, no working material; and no page
taller than `page_check.MAX_HEIGHT`.

Skipped, with the reason, where Playwright or Chromium is missing (.ci/run installs
Chromium).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import page_check  # noqa: E402  (scripts/page_check.py)


def _need_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -r requirements.txt)")
    if page_check.chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; }} article.bd-article {{ width: 700px; margin-left: 100px; }}
</style></head><body><article class="bd-article">{body}</article></body></html>"""

CLEAN = r"""<h1>A clean page</h1><p>The agent keeps 93 % of its return.</p>
<pre>print("$HOME", r"\(x\)")  # maths delimiters in code are code</pre>
<div style="overflow-x: auto; width: 600px"><div style="width: 500px">fits</div></div>
<img src="ok.png" alt="a pixel">"""

# one defect of each kind the check knows
DEFECTS = {
    "broken_images": '<img src="missing.png" alt="gone">',
    "raw_math": "<p>The angle $\\dot\\theta$ was not typeset.</p>",
    "too_wide": '<div style="width: 1200px; height: 10px">wide</div>',
    "console_errors": "<script>console.error('the book broke');</script>",
    "working_material": "<p>Saved to /work/main/_build/results (see DESIGN §3).</p>",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.imsave(root / "ok.png", np.zeros((4, 4, 3)))
    (root / "clean.html").write_text(PAGE.format(body=CLEAN))
    for kind, body in DEFECTS.items():
        (root / f"{kind}.html").write_text(PAGE.format(body=CLEAN + body))
    return root


def test_page_check_passes_a_clean_page(site):
    _need_browser()
    (report,) = page_check.check_book(site, ["clean.html"])
    assert report.ok, report.defects()
    assert report.height > 0


def test_page_check_finds_each_defect(site):
    _need_browser()
    reports = page_check.check_book(site, [f"{k}.html" for k in DEFECTS])
    for kind, report in zip(DEFECTS, reports, strict=True):
        found = set(report.defects())
        # the browser also logs the failed request of a missing image
        also = {"console_errors"} if kind == "broken_images" else set()
        assert kind in found and found <= {kind} | also, f"{kind}.html: found {found}"


@pytest.mark.parametrize(
    "text, kind",
    [
        ("PosixPath('/x/y')", "PosixPath"),
        ("sha256 " + "ab12" * 16, "SHA-256 hash"),
        ("see the issue's budget", "issue reference"),
        ("train --init-from best.npz", "command-line flag"),
        ('{"agent": "ours", "n": 3}', "raw result JSON"),
        ("read /tmp/run/log.jsonl", "file path"),
    ],
)
def test_working_material_patterns(text, kind):
    found = page_check.working_material(f"Some prose. {text} More prose.")
    assert any(f.startswith(kind + ":") for f in found), found


def test_working_material_leaves_prose_alone():
    prose = (
        "The agent (ours, 1000 episodes, seed 0) keeps 93 % of its return; "
        "Tang & Ha's agent keeps 88 %. See Figure 2 and the ablations chapter."
    )
    assert page_check.working_material(prose) == []


@pytest.fixture(scope="session")
def page_reports(built):
    _need_browser()
    return page_check.check_book(built)


@pytest.mark.slow
def test_book_pages(built, page_reports):
    """Every page of the quick build passes the check."""
    assert len(page_reports) == len(page_check.toc_pages(built))
    bad = [r for r in page_reports if not r.ok]
    assert not bad, page_check.format_reports(bad)


@pytest.mark.slow
def test_book_pages_fit_max_height(page_reports):
    tall = [f"{r.page}: {r.height} px" for r in page_reports if r.height > page_check.MAX_HEIGHT]
    assert not tall, f"pages taller than {page_check.MAX_HEIGHT} px at 1400 px: {tall}"
