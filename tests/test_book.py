"""The book pipeline: committed notebooks, the quick build, and the built HTML.

The session fixture builds the whole book once in the quick profile (as CI
does) into a temporary folder; the tests then read the HTML. A headless
Chromium loads the chapter with the widget and checks that the widget and the
maths are actually rendered (skipped only where Chromium is not installed).
"""

from __future__ import annotations

import ast
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build_book.py"
sys.path.insert(0, str(ROOT / "scripts"))

import build_book  # noqa: E402
import vendor  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _nb_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ------------------------------------------------------------ committed sources


def test_book_has_notebooks():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{_nb_id(path)}: cells {dirty} have outputs or execution counts"
    assert "widgets" not in nb.metadata, f"{_nb_id(path)}: widget state committed"
    assert "papermill" not in nb.metadata, f"{_nb_id(path)}: papermill metadata committed"


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_nb_id)
def test_notebook_has_one_parameters_cell_of_literals(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{_nb_id(path)}: {len(tagged)} cells tagged `parameters`"
    cell = tagged[0]
    assert cell.cell_type == "code"
    tree = ast.parse(cell.source)
    assert tree.body, "the parameters cell is empty"
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign), f"not an assignment: {ast.unparse(stmt)}"
        assert len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name), (
            f"assign one plain name per line: {ast.unparse(stmt)}"
        )
        assert _is_literal(stmt.value), f"not a literal: {ast.unparse(stmt)}"
    names = {s.targets[0].id for s in tree.body}
    assert "quick" in names, "every chapter takes `quick` (the CI profile)"


def test_toc_lists_every_notebook():
    listed = {p.as_posix() for p in build_book.toc_chapters()}
    on_disk = {_nb_id(p) for p in NOTEBOOKS}
    assert on_disk - listed == set(), "notebooks in book/ missing from _toc.yml"
    assert build_book.toc_files()[0] == Path("book/intro.md")


# ------------------------------------------------------------- the quick build


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page: Path) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(page.read_text(encoding="utf8"))
    return parser.tags


def _pages(html: Path) -> dict[str, Path]:
    return {
        f.with_suffix("").as_posix(): html / f.with_suffix(".html") for f in build_book.toc_files()
    }


def test_a_page_per_toc_entry(built):
    for entry, page in _pages(built).items():
        assert page.is_file(), f"no page for {entry}"
    assert (built / "index.html").is_file()


def _output_blocks(text: str, kind: str) -> list[str]:
    """The text of myst-nb output blocks of one kind (e.g. traceback, stderr)."""
    blocks = re.split(r'<div class="output ', text)[1:]
    return [b[:5000] for b in blocks if b.startswith(kind)]


def test_no_errors_in_pages(built):
    for entry, page in _pages(built).items():
        text = page.read_text(encoding="utf8")
        assert "Traceback (most recent call last)" not in text, f"{entry}: a traceback"
        assert not _output_blocks(text, "traceback"), f"{entry}: an error output"
        for block in _output_blocks(text, "stderr"):
            assert not re.search(r"Traceback|\w+Error\b", block), f"{entry}: {block[:500]}"


def test_images_exist(built):
    n = 0
    for entry, page in _pages(built).items():
        for tag, attrs in _tags(page):
            if tag != "img" or not attrs.get("src"):
                continue
            src = attrs["src"]
            if urlparse(src).scheme in ("data",):
                continue
            assert not urlparse(src).scheme, f"{entry}: remote image {src}"
            target = (page.parent / unquote(src.split("#")[0].split("?")[0])).resolve()
            assert target.is_file(), f"{entry}: missing image {src}"
            n += 1
    # the placeholder chapter draws a matplotlib figure: it must reach the page
    assert n >= 1, "no image in the book: figures are not rendered"


def _widget_pages(built: Path) -> list[Path]:
    return [p for p in _pages(built).values() if _scripts(p, WIDGET_VIEW)]


def _scripts(page: Path, mime: str) -> list[str]:
    text = page.read_text(encoding="utf8")
    return re.findall(rf'<script type="{re.escape(mime)}">(.*?)</script>', text, re.S)


def test_widget_state_embedded(built):
    pages = _widget_pages(built)
    assert pages, "no page displays a widget"
    for page in pages:
        states = _scripts(page, WIDGET_STATE)
        assert len(states) == 1, f"{page.name}: widget views but no embedded widget state"
        state = json.loads(states[0])["state"]
        views = [json.loads(v) for v in _scripts(page, WIDGET_VIEW)]
        assert views
        for view in views:
            assert view["model_id"] in state, f"{page.name}: view of a model with no state"


def test_no_cdn_scripts_when_vendored(built):
    if not vendor.vendor_ready():
        pytest.skip("vendor/ not fetched (npm unavailable): the build used the CDNs")
    pages = list(_pages(built).values()) + [built / "search.html"]
    loaded: set[str] = set()
    for page in pages:
        for tag, attrs in _tags(page):
            url = {"script": attrs.get("src"), "link": attrs.get("href")}.get(tag)
            if not url:
                continue
            remote = urlparse(url).scheme in ("http", "https") or url.startswith("//")
            assert not remote, f"{page.name}: loads {url} from the network"
            target = (page.parent / urlparse(url).path).resolve()
            if "_vendor" in target.parts:
                assert target.is_file(), f"{page.name}: {url} is not in the HTML"
                loaded.add(target.relative_to(built.resolve()).as_posix())
    expected = {
        "_vendor/mathjax/tex-mml-chtml.js",
        "_vendor/require/require.js",
        "_vendor/html-manager/embed-amd.js",
    }
    assert expected <= loaded, f"pages do not load the vendored {expected - loaded}"


# ------------------------------------------------------------ headless Chromium


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served(built):
    """Serve the built HTML on a free localhost port."""
    handler = partial(_QuietHandler, directory=str(built))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _dump_dom(url: str, tmp_path: Path) -> str:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000", "--dump-dom", url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_widget_renders_in_chromium(served, built, tmp_path):
    page = _widget_pages(built)[0]
    dom = _dump_dom(f"{served}/{page.relative_to(built).as_posix()}", tmp_path)
    assert "<body" in dom, "Chromium returned no document"
    # the HTML manager replaced each view placeholder with the widget's DOM
    rendered = re.findall(r'<div class="[^"]*\bjupyter-widgets\b[^"]*\bwidget-slider\b', dom)
    assert rendered, "the IntSlider was not rendered (widget JavaScript missing or broken?)"
    assert "widget-readout" in dom


MATH = re.compile(r'<(span|div) class="math notranslate nohighlight"')


def test_maths_typeset_in_chromium(served, built, tmp_path):
    with_math = [p for p in _pages(built).values() if MATH.search(p.read_text(encoding="utf8"))]
    assert with_math, "no page has maths"
    page = with_math[0]
    n_math = len(MATH.findall(page.read_text(encoding="utf8")))
    dom = _dump_dom(f"{served}/{page.relative_to(built).as_posix()}", tmp_path)
    n_typeset = dom.count("<mjx-container")
    assert n_typeset >= n_math, f"MathJax typeset {n_typeset} of {n_math} formulas"
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"


# ---------------------------------------------------- failure and stall handling


def _mini_book(tmp_path: Path, cells: list[str]) -> Path:
    """A one-chapter book beside the repo's config; returns its _toc.yml."""
    (tmp_path / "book").mkdir()
    shutil.copy2(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapter\n"
    )
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("quick = False", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_markdown_cell("Some text.")]
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "book" / "chapter.ipynb")
    return tmp_path / "_toc.yml"


def _build(toc: Path, *extra: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BUILD), "--quick", "--execute-only", "--toc", str(toc),
         "--path-output", str(toc.parent / "out"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_failing_cell_fails_the_build_and_names_it(tmp_path):
    toc = _mini_book(tmp_path, ["x = 1", "assert quick\nraise ValueError('boom 42')"])
    proc = _build(toc)
    assert proc.returncode != 0
    err = proc.stderr
    assert "book/chapter.ipynb" in err
    assert "cell 3" in err and "assert quick" in err  # index in the source notebook
    assert "ValueError: boom 42" in err
    assert "retrying" not in proc.stdout, "a cell error is not retried"


def test_cell_timeout_is_retried(tmp_path):
    marker = tmp_path / "first-attempt"
    toc = _mini_book(
        tmp_path,
        [
            f"""
        import pathlib, time
        p = pathlib.Path({str(marker)!r})
        if not p.exists():
            p.touch()
            time.sleep(120)
        """
        ],
    )
    proc = _build(toc, "--cell-timeout", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retrying" in proc.stdout and "2 attempts" in proc.stdout


def test_hang_after_last_cell_is_a_success(tmp_path):
    toc = _mini_book(tmp_path, ["import ipywidgets\nipywidgets.IntSlider(3)"])
    env = dict(os.environ, ANPOLICY_BUILD_TEST_HANG_AFTER_CELLS="600")
    proc = _build(toc, "--shutdown-grace", "3", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "results are complete" in proc.stdout
    executed = nbformat.read(tmp_path / "out" / "_build" / "executed" / "book" / "chapter.ipynb", 4)
    assert WIDGET_STATE in executed.metadata["widgets"]


# ------------------------------------------------ two agents, words from numbers


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def _page_text(page: Path) -> str:
    parser = _Text()
    parser.feed(page.read_text(encoding="utf8"))
    text = "".join(parser.parts)
    for curly, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(curly, plain)  # Sphinx's smart quotes
    return re.sub(r"\s+", " ", text)


def test_sentences_rederived_from_saved_results(built):
    """Every sentence a chapter states about its numbers, derived again from the saved
    results by `anpolicy.study.claims`, stands verbatim on the built page."""
    from anpolicy.study import chapters as study
    from anpolicy.study import claims

    results = built.parent / "results"
    words = {
        "permutations": claims.permutations_words,
        "ablations": claims.ablations_words,
        "attention": claims.attention_words,
        "noise": claims.noise_chapter_words,
        "environment": claims.conformance_words,
    }
    for chapter, derive in words.items():
        res = study.load_study(chapter, results)
        text = _page_text(built / "book" / f"{chapter}.html")
        for name, sentence in derive(res).items():
            want = re.sub(r"\s+", " ", sentence)
            assert want in text, f"{chapter}: sentence {name!r} not on the page: {want[:200]}"


def test_verdict_table_has_both_agents(built):
    from anpolicy.store import authors

    text = _page_text(built / "book" / "conclusions.html")
    heads = ("Tang & Ha's agent: verdict, measured", "our agent: verdict, measured", "same verdict")
    for head in heads:
        assert head in text
    if authors.available():
        assert "weights are missing" not in text, "the authors' column should be filled"


def test_build_without_the_authors_weights_says_so(tmp_path):
    """Point the resolver at missing places and the fetch at a closed port: the book
    still builds and its pages name what is missing and the command."""
    import socket

    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    shutil.copy2(ROOT / "_config.yml", src / "_config.yml")
    (src / "book" / "index.md").write_text("# Without the authors' agent\n")
    for ch in ("noise", "conclusions"):
        shutil.copy2(ROOT / "book" / f"{ch}.ipynb", src / "book" / f"{ch}.ipynb")
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n"
        "  - file: book/noise\n  - file: book/conclusions\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "ANPOLICY_AUTHORS_STORE": str(tmp_path / "no-store"),
        "ANPOLICY_REFERENCE": str(tmp_path / "no-shared"),
        "ANPOLICY_AUTHORS_URL": f"http://127.0.0.1:{port}/model.npz",
    }
    env.pop("ANPOLICY_RESULTS", None)
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--quick", "--toc", str(src / "_toc.yml"),
         "--path-output", str(tmp_path / "out"), "--no-vendor", "--allow-warnings"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "MISSING" in proc.stdout and "fetch-reference" in proc.stdout
    html = tmp_path / "out" / "_build" / "html" / "book"
    noise = _page_text(html / "noise.html")
    assert "MISSING" in noise and "fetch-reference" in noise
    concl = _page_text(html / "conclusions.html")
    assert "not measured" in concl and "fetch-reference" in concl


def test_learning_chapter_engine_check_holds_and_its_answers_stand_on_the_page(built):
    """The relative state permutation keeps 100 % of the return at every snapshot of the
    quick profile, and each answer, derived again from the saved curves, is on the page."""
    from anpolicy.study import learning

    curves = learning.LearningCurves.load(built.parent / "results" / "learning_curves.json")
    assert learning.relative_check_failures(curves) == []
    assert len(curves.labels) >= 3  # snapshots of the run, and more than one
    text = _page_text(built / "book" / "learning.html")
    for answer in (
        learning.answer_order,
        learning.answer_robustness,
        learning.answer_memory,
        learning.answer_attention,
    ):
        want = re.sub(r"\s+", " ", answer(curves))
        assert want in text, f"learning: answer not on the page: {want[:200]}"
