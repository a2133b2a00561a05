"""Check the built book as a reader's browser shows it.

    python scripts/page_check.py _build/html                 # every page of the toc
    python scripts/page_check.py _build/html --json out.json --screenshots shots/

Opens every page listed in ``_toc.yml`` (served from a local HTTP server) at
1400 px width in headless Chromium driven by Playwright. Playwright's own browser
download is not available here, so it launches Debian's ``chromium`` through
``executable_path``. For each page it waits until the page, MathJax and the
widgets have settled, then records:

- ``height``: the page's height in px (``document.documentElement.scrollHeight``);
- ``console_errors``: console errors and uncaught exceptions from the book's own
  scripts (resources served by the book; a missing ``favicon.ico`` is not one);
- ``broken_images``: images that did not load (``naturalWidth == 0``);
- ``math_errors``: MathJax error nodes (``mjx-merror``) and their TeX;
- ``raw_math``: text runs that still hold ``$``, ``\\(`` or ``\\[`` (maths left
  untypeset), outside code;
- ``too_wide``: elements that stick out of the content column, and scroll boxes
  in the column whose content is wider than the box (a reader would have to
  scroll sideways), except code input cells;
- ``working_material``: strings that belong to the workshop, not the page: file
  paths, ``PosixPath``, SHA-256 hashes, design notes, issues, ``--init-from``,
  raw result JSON (see `WORKING_MATERIAL`).

A page "passes" when every list is empty. The exit status is 1 when a page
fails (``--heights-only`` reports heights and always exits 0).
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import shutil
import sys
import threading
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1400
HEIGHT = 900  # the viewport's height: what a reader sees first
MAX_HEIGHT = 6000  # px at WIDTH: the longest a chapter may be

# (name, pattern) pairs searched in the page's visible text. Case-sensitive unless
# the pattern says otherwise.
WORKING_MATERIAL: tuple[tuple[str, str], ...] = (
    ("file path", r"(?<![\w.])/(?:work|tmp|home|root|usr)/[\w./-]*"),
    ("PosixPath", r"\b(?:Posix|Windows)?Path\('"),
    ("SHA-256 hash", r"\b[0-9a-f]{64}\b"),
    ("design note", r"\bDESIGN\b|design card|design note"),
    ("issue reference", r"(?i)\bissues?\b(?:\s*#?\d+)?"),
    ("command-line flag", r"--init-from|--resume\b|--run-dir\b"),
    ("raw result JSON", r'\{\s*"[A-Za-z_][\w ]*"\s*:\s*[\[{"\d-]'),
    ("results section", r"Results saved for the conclusions"),
)

# Console messages that are not the book's own scripts', each with the reason.
IGNORED_CONSOLE = (
    # the browser asks every site for an icon the book does not have
    re.compile(r"favicon\.ico"),
    # sphinx-thebe (a jupyter-book extension; launch buttons are off) declares its
    # configuration twice in every page's head under Sphinx 7
    re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
    # the vendored widget manager asks for its icon font (Font Awesome) at a path relative
    # to the page, where no build puts it; the widgets render without the icons
    re.compile(r"404 .*/@jupyter-widgets/(?:html-manager/dist/)?[0-9a-f]{20}\.(?:woff2?|ttf|eot)"),
)

# Runs inside the page: the measurements (one round trip).
MEASURE_JS = r"""
() => {
  const q = (sel) => document.querySelector(sel);
  const col = q('article.bd-article') || q('main') || document.body;
  const colBox = col.getBoundingClientRect();
  const out = {
    height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
    column: [Math.round(colBox.left), Math.round(colBox.right)],
    broken_images: [], math_errors: [], raw_math: [], too_wide: [], text: '',
  };
  for (const img of document.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0) out.broken_images.push(img.getAttribute('src'));
  }
  for (const e of document.querySelectorAll('mjx-merror, [data-mjx-error]')) {
    out.math_errors.push((e.getAttribute('data-mjx-error') || e.textContent).slice(0, 200));
  }
  const visible = (el) => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
      if (a.tagName === 'DETAILS' && !a.open && a !== el && !(el.closest('summary'))) return false;
    }
    return true;
  };
  const isCode = (el) => !!el.closest(
    'pre, code, .cell_input, .highlight, mjx-container, script, style, .MathJax, textarea, input');
  // literal maths delimiters left in the text (outside code and typeset maths)
  const walker = document.createTreeWalker(col, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || isCode(el) || !visible(el)) continue;
    const t = n.textContent;
    if (/\$|\\\(|\\\[/.test(t)) out.raw_math.push(t.trim().slice(0, 120));
  }
  // elements sticking out of the column, unless a scroll box inside the column clips them
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== col; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox !== 'visible') return true;
    }
    return false;
  };
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.classList.length) s += '.' + [...el.classList].slice(0, 3).join('.');
    const cell = el.closest('.cell');
    const label = (el.textContent || el.getAttribute('src') || '').trim().slice(0, 60);
    return s + (cell ? ' in cell ' + [...document.querySelectorAll('.cell')].indexOf(cell) : '')
      + (label ? ' "' + label + '"' : '');
  };
  for (const el of col.querySelectorAll('*')) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > colBox.right + 2 || r.left < colBox.left - 2) && !clipped(el)) {
      const w = Math.round(r.width);
      out.too_wide.push(`${describe(el)}: ${w} px, column ${Math.round(colBox.width)} px`);
      continue;
    }
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 2
        && !el.closest('.cell_input, mjx-container')) {
      const w = el.scrollWidth;
      out.too_wide.push(`${describe(el)}: content ${w} px in a ${el.clientWidth} px box`);
    }
  }
  // the visible text of the column (code included: a path in shown code is on the page)
  const parts = [];
  const w2 = document.createTreeWalker(col, NodeFilter.SHOW_TEXT);
  for (let n = w2.nextNode(); n; n = w2.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('script, style, mjx-assistive-mml') || !visible(el)) continue;
    parts.push(n.textContent);
  }
  out.text = parts.join(' ');
  return out;
}
"""


@dataclass
class PageReport:
    page: str
    height: int = 0
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    math_errors: list[str] = field(default_factory=list)
    raw_math: list[str] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)
    working_material: list[str] = field(default_factory=list)

    DEFECTS = (
        "console_errors",
        "broken_images",
        "math_errors",
        "raw_math",
        "too_wide",
        "working_material",
    )

    def defects(self) -> dict[str, list[str]]:
        return {k: getattr(self, k) for k in self.DEFECTS if getattr(self, k)}

    @property
    def ok(self) -> bool:
        return not self.defects()


def working_material(text: str) -> list[str]:
    """Each working-material match in ``text``: ``"<kind>: …context…"``."""
    found = []
    for name, pattern in WORKING_MATERIAL:
        for m in re.finditer(pattern, text):
            a, b = max(0, m.start() - 40), min(len(text), m.end() + 40)
            context = " ".join(text[a:b].split())
            found.append(f"{name}: …{context}…")
    return found


def toc_pages(html: Path, toc: Path = ROOT / "_toc.yml") -> list[str]:
    """The HTML pages of the toc, relative to ``html`` (root first)."""
    import yaml

    spec = yaml.safe_load(toc.read_text())
    files = [spec["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))
            for part in e.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(spec.get("chapters"))
    for part in spec.get("parts", []) or []:
        walk(part.get("chapters"))
    pages = []
    for f in files:
        stem = re.sub(r"\.(md|ipynb)$", "", f)
        pages.append(f"{stem}.html")
    return pages


def chromium_path() -> str | None:
    """Debian's Chromium (Playwright cannot download its own browser here)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server:
    """The built HTML on a free port of 127.0.0.1 (a context manager)."""

    def __init__(self, html: Path):
        handler = partial(_Quiet, directory=str(html))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def check_page(browser, base: str, rel: str, screenshots: Path | None = None) -> PageReport:
    """Open one page at `WIDTH` px and measure it."""
    report = PageReport(rel)
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()

    def own(url: str) -> bool:
        return not url or url.startswith(base)

    def on_console(msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        text = f"{msg.text} ({where})" if where else msg.text
        if own(where) and not any(p.search(text) for p in IGNORED_CONSOLE):
            report.console_errors.append(text[:300])

    page.on("console", on_console)

    def on_error(exc):
        text = f"uncaught: {exc}"
        if not any(p.search(text) for p in IGNORED_CONSOLE):
            report.console_errors.append(text[:300])

    page.on("pageerror", on_error)
    page.goto(f"{base}/{rel}", wait_until="load", timeout=120_000)
    try:
        page.wait_for_load_state("networkidle", timeout=30_000)
    except Exception:  # noqa: BLE001 - a page that keeps polling is measured as it is
        pass
    page.evaluate(
        "() => (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        " ? MathJax.startup.promise.then(() => true) : true"
    )
    page.wait_for_timeout(500)  # widgets render after require.js resolves
    data = page.evaluate(MEASURE_JS)
    report.height = int(data["height"])
    report.broken_images = data["broken_images"]
    report.math_errors = data["math_errors"]
    report.raw_math = data["raw_math"]
    report.too_wide = data["too_wide"]
    report.working_material = working_material(data["text"])
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
        stem = rel.replace("/", "__").removesuffix(".html")
        page.screenshot(path=str(screenshots / f"{stem}.first-screen.png"))
    context.close()
    return report


def check_book(
    html: Path, pages: list[str] | None = None, screenshots: Path | None = None
) -> list[PageReport]:
    """Check each page (default: the toc's) of the built book at ``html``."""
    from playwright.sync_api import sync_playwright

    html = Path(html)
    pages = pages or toc_pages(html)
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    reports = []
    with Server(html) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            for rel in pages:
                reports.append(check_page(browser, server.url, rel, screenshots))
        finally:
            browser.close()
    return reports


def format_reports(reports: list[PageReport]) -> str:
    lines = [f"{'page':<28} {'height (px)':>11}  defects"]
    for r in reports:
        d = r.defects()
        summary = ", ".join(f"{k} {len(v)}" for k, v in d.items()) or "none"
        lines.append(f"{r.page:<28} {r.height:>11}  {summary}")
        for k, v in d.items():
            for item in v[:8]:
                lines.append(f"    {k}: {item}")
            if len(v) > 8:
                lines.append(f"    {k}: … {len(v) - 8} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("html", type=Path, help="the built HTML folder (e.g. _build/html)")
    p.add_argument("--page", action="append", help="check only this page (repeatable)")
    p.add_argument("--json", type=Path, help="write the reports here as JSON")
    p.add_argument("--screenshots", type=Path, help="save each page's first screen here")
    p.add_argument("--heights-only", action="store_true", help="exit 0 whatever the defects")
    opts = p.parse_args(argv)
    reports = check_book(opts.html, opts.page, opts.screenshots)
    print(format_reports(reports))
    if opts.json:
        opts.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    return 0 if opts.heights_only or all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
