"""The explorer as a user meets it: JupyterLab in headless Chromium, a live kernel.

`scripts/lab.sh --copy` starts JupyterLab on 127.0.0.1 with a token on an untracked copy
of book/explorer.ipynb; Playwright drives Debian's Chromium (``executable_path``; the
Playwright browser download is not available here) to Run All, then works every kind of
control: permutation (typed, with Enter), reshuffle mode, intervention, the step slider
(its readout), the attention/scores toggle, and an invalid permutation. After each it
checks the summary text and the figure. Then it shuts the server down.

Skipped only when the playwright package is missing or Chromium cannot be launched (the
reason is given). Timings are printed (``pytest -s``) and kept in the test's
``user_properties``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "scripts" / "lab.sh"
TOKEN = "anpolicy-explorer-test"
BUSY_S = 600  # ceiling per wait on a loaded 2-core machine; an idle one takes seconds


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -r requirements.txt)")
    path = _chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
    except Exception as e:  # noqa: BLE001 - any launch failure means: no usable browser
        pw.stop()
        pytest.skip(f"Chromium at {path} cannot be launched by Playwright: {e}".splitlines()[0])
    yield b
    b.close()
    pw.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - 127.0.0.1 only
        return r.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab from scripts/lab.sh --copy on 127.0.0.1; yields (base URL, play dir)."""
    tmp = tmp_path_factory.mktemp("lab")
    play = tmp / "play"
    env = dict(
        os.environ,
        ANPOLICY_PLAY_DIR=str(play),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
    )
    port = _free_port()
    log = open(tmp / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            "bash",
            str(LAB),
            "--copy",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=False",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(
                f"lab.sh exited {proc.returncode}:\n{(tmp / 'lab.log').read_text()[-3000:]}"
            )
        try:
            status = json.loads(_get(f"{base}/api/status?token={TOKEN}"))
            break
        except OSError:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"JupyterLab did not answer:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    assert "started" in status
    try:
        yield base, play
    finally:
        try:  # the server's own shutdown: kernels are stopped with it
            req = urllib.request.Request(
                f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {TOKEN}"}
            )
            urllib.request.urlopen(req, timeout=10).read()  # noqa: S310
            proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        with pytest.raises(OSError):
            _get(f"{base}/api/status?token={TOKEN}", timeout=2)


def _git_blob(path: str) -> str:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return ""
    return subprocess.run(
        ["git", "hash-object", path], cwd=ROOT, capture_output=True, text=True
    ).stdout


class Panel:
    """The explorer's widgets in the page, found by their `anp-*` classes."""

    def __init__(self, page):
        self.page = page

    def text(self, name: str) -> str:
        return self.page.locator(f".anp-{name}").first.inner_text()

    def figure(self) -> str | None:
        img = self.page.locator(".anp-figure img")
        return img.first.get_attribute("src") if img.count() else None

    def settled(self, old_figure: str | None, timeout_s: float = BUSY_S) -> float:
        """Wait until the status is final (no '…') and the figure differs from
        ``old_figure`` (or is gone, after an error); returns the seconds waited."""
        t0 = time.perf_counter()
        self.page.wait_for_function(
            """old => {
                const s = document.querySelector('.anp-status');
                if (!s || !s.innerText || s.innerText.includes('…')) return false;
                const img = document.querySelector('.anp-figure img');
                if (s.innerText.includes('Cannot run')) return !img;
                return img && img.getAttribute('src') !== old;
            }""",
            arg=old_figure,
            timeout=timeout_s * 1000,
            polling="raf",
        )
        return time.perf_counter() - t0

    def input(self, name: str):
        return self.page.locator(f".anp-{name} input").first

    def enter_text(self, name: str, value: str):
        box = self.input(name)
        box.click()
        box.press("Control+a")
        box.type(value, delay=30)

    def select(self, name: str, label: str):
        self.page.locator(f".anp-{name} select").first.select_option(label=label)


def test_explorer_in_jupyterlab(browser, lab, record_property):
    base, play = lab
    tracked_before = _git_blob("book/explorer.ipynb")
    # the quick profile, as `papermill -p quick True` would set it (fewer table rows)
    copy = play / "explorer.ipynb"
    nb = nbformat.read(copy, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "quick = False" in cell.source
    cell.source = cell.source.replace("quick = False", "quick = True")
    nbformat.write(nb, copy)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    times: dict[str, float] = {}

    page.goto(f"{base}/lab/tree/explorer.ipynb?token={TOKEN}", timeout=BUSY_S * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=BUSY_S * 1000)
    # a kernel is attached and idle before Run All
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle'",
        timeout=BUSY_S * 1000,
    )
    # the markdown reads as text: no raw MyST roles or directive fences
    markdown = page.locator(".jp-MarkdownOutput").all_inner_texts()
    joined = "\n".join(markdown)
    assert "Explorer: permute, reshuffle, intervene" in joined
    assert "{glue" not in joined and "```" not in joined and "{note}" not in joined
    assert page.locator(".jp-MarkdownOutput blockquote").count() >= 1
    assert not page.locator(".jp-mod-dirty").count(), "the notebook is marked modified on open"

    # ---- Run All on a fresh kernel
    t0 = time.perf_counter()
    # (not awaited: the command's promise settles only when every cell has run)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        "() => { const s = document.querySelector('.anp-status');"
        " return s && s.innerText.trim().length > 0; }",
        timeout=BUSY_S * 1000,
        polling="raf",
    )
    times["first_progress_s"] = time.perf_counter() - t0
    panel = Panel(page)
    first_status = panel.text("status")
    assert "…" in first_status, f"the first thing shown is not a progress message: {first_status}"
    panel.settled(None)
    times["panel_ready_s"] = time.perf_counter() - t0
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle' && !document.querySelector('.jp-InputPrompt')?.innerText.includes('*')"
        " && [...document.querySelectorAll('.jp-InputPrompt')]"
        ".every(p => !p.innerText.includes('*'))",
        timeout=BUSY_S * 1000,
        polling=200,
    )
    times["run_all_s"] = time.perf_counter() - t0

    caption, status, fig0 = panel.text("caption"), panel.text("status"), panel.figure()
    assert re.search(r"seed 0, episode \d+", caption) and "Default episode" in caption
    assert "stays on the track for all 1000 steps" in caption or "lasts longest" in caption
    assert status.startswith("Episode return") and "reshuffle" in status, status
    assert fig0 and fig0.startswith("data:image/png"), "no figure after Run All"
    assert re.search(r"\d+% of the attention entries at step \d+", panel.text("saturation"))
    # the panel knows it is live (its probe answered) and says only that
    page.wait_for_function(
        "() => document.querySelector('.anp-note').innerText.startsWith('Live')",
        timeout=30_000,
    )
    assert "saved default state" not in panel.text("note")
    # the table cell ran too
    assert page.locator(".jp-OutputArea-output table").count() >= 1

    # ---- permutation: nothing happens while typing; Enter runs the episode
    panel.enter_text("permutation", "4, 3, 2, 1, 0")
    page.wait_for_timeout(500)
    assert panel.text("status") == status and panel.figure() == fig0, "typing ran the episode"
    t = time.perf_counter()
    panel.input("permutation").press("Enter")
    panel.settled(fig0)
    times["permutation_s"] = time.perf_counter() - t
    s1, f1 = panel.text("status"), panel.figure()
    assert s1.startswith("Episode return") and f1 != fig0

    # ---- reshuffle mode: once, at step k (k = 200): one reshuffle if the cart stays on
    t = time.perf_counter()
    panel.select("reshuffle", "once, at step k")
    panel.settled(f1)
    times["reshuffle_s"] = time.perf_counter() - t
    s2, f2 = panel.text("status"), panel.figure()
    steps = int(re.search(r"(\d+) steps", s2).group(1))
    assert ("1 reshuffle;" in s2) == (steps > 200), s2
    assert "reshuffles;" not in s2 or steps <= 200

    # ---- intervention: the study's zero-c ablation
    t = time.perf_counter()
    panel.select("intervention", "zero c every step (the 2025 study's 'zero state')")
    panel.settled(f2)
    times["intervention_s"] = time.perf_counter() - t
    s3, f3 = panel.text("status"), panel.figure()
    assert "zero c every step" in s3 and f3 != f2

    # ---- step slider (typed into its readout): only redraws
    target = 5
    readout = page.locator(".anp-step .widget-readout").first
    t = time.perf_counter()
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(str(target))
    page.keyboard.press("Enter")
    panel.settled(f3)
    times["slider_s"] = time.perf_counter() - t
    f4 = panel.figure()
    assert panel.text("status") == s3, "the slider re-ran the episode"
    assert f"at step {target}" in panel.text("saturation")

    # ---- attention / scores toggle
    t = time.perf_counter()
    page.locator(".anp-view button", has_text="scores").first.click()
    panel.settled(f4)
    times["scores_toggle_s"] = time.perf_counter() - t
    f5 = panel.figure()
    assert f5 != f4

    # ---- an invalid permutation: a readable message, no figure, the kernel survives
    panel.enter_text("permutation", "0, 1, 1")
    panel.input("permutation").press("Enter")
    panel.settled(f5)
    bad = panel.text("status")
    assert "Cannot run" in bad and "5 numbers" in bad, bad
    assert "shape" not in bad and "(3,)" not in bad
    assert panel.figure() is None
    panel.enter_text("permutation", "0, 1, 1, 3, 4")
    panel.page.keyboard.press("Tab")  # focus loss also commits
    page.wait_for_function(
        "() => document.querySelector('.anp-status').innerText.includes('not a permutation')",
        timeout=BUSY_S * 1000,
    )
    still = panel.text("status")
    panel.enter_text("permutation", "2, 0, 1, 4, 3")
    panel.input("permutation").press("Enter")
    page.wait_for_function(  # the kernel has taken the new value (the old error is gone)
        "old => document.querySelector('.anp-status').innerText !== old",
        arg=still,
        timeout=BUSY_S * 1000,
    )
    panel.settled(None)
    # a commit by focus loss and one by Enter may queue two runs: wait for the last one
    page.wait_for_function(
        """() => {
            const s = document.querySelector('.anp-status').innerText;
            return s.startsWith('Episode return') && !s.includes('…');
        }""",
        timeout=BUSY_S * 1000,
    )
    assert panel.text("status").startswith("Episode return"), "no recovery after the bad input"
    assert panel.figure()

    assert not errors, f"page errors: {errors}"
    ctx.close()
    # the tracked notebook was not touched (lab.sh --copy played in a copy)
    assert _git_blob("book/explorer.ipynb") == tracked_before
    assert (play / "explorer.ipynb").is_file()
    for k, v in times.items():
        record_property(k, round(v, 2))
    print("\nexplorer live timings (s):", json.dumps({k: round(v, 2) for k, v in times.items()}))
    sys.stdout.flush()
