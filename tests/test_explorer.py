"""The explorer without a browser: its computations (anpolicy.study.explorer_model), the panel's
behaviour (anpolicy.report.widgets), and the git filter that keeps notebook outputs out of git.
The browser test is tests/test_explorer_live.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from anpolicy.sim import physics  # noqa: E402
from anpolicy.study.explorer_model import (  # noqa: E402
    ExplorerEpisode,
    attention_scores,
    first_full_episode,
    parse_permutation,
    run_explorer_episode,
    saturated_share,
)

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ computations


@pytest.mark.parametrize("text", ["0, 1, 2", "0 1 2 3 4 0", "[3]"])
def test_wrong_length_message_speaks_to_people(text):
    with pytest.raises(ValueError) as e:
        parse_permutation(text)
    msg = str(e.value)
    assert "5 numbers" in msg and "shape" not in msg and ",)" not in msg


def test_attention_scores_are_the_pre_tanh_attention(an):
    pol, params = an
    res = run_explorer_episode(pol, params, [2, 0, 1, 4, 3], "every", 30, "none", 3, 1)
    s = attention_scores(pol, params, res.trace["h"])
    assert s.shape == res.trace["attention"].shape
    assert np.allclose(np.tanh(s), res.trace["attention"], atol=1e-4)
    assert not np.allclose(s, res.trace["attention"], atol=1e-2), "scores equal A: no tanh?"


def test_saturated_share():
    a = np.array([[0.995, -0.999, 0.5], [0.0, 1.0, -0.98]])
    assert saturated_share(a) == pytest.approx(3 / 6)
    assert saturated_share(a, threshold=0.9) == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        saturated_share(np.zeros((0, 5)))


def _ep(length, ret=0.0):
    return ExplorerEpisode(None, ret, length, [])


def test_first_full_episode_returns_the_first_full_one_and_its_result():
    lengths = [40, 999, 1000, 1000]
    calls = []

    def run(e):
        calls.append(e)
        return _ep(lengths[e], ret=e)

    e, res, tried, full = first_full_episode(run, max_tries=4)
    assert (e, tried, full) == (2, 3, True) and res.length == physics.MAX_STEPS
    assert calls == [0, 1, 2], "ran past the first full episode"
    e, res, tried, full = first_full_episode(lambda e: _ep([5, 70, 70][e], ret=e), max_tries=3)
    assert (e, tried, full) == (2, 3, False), "the longest, ties broken by the return"


def test_progress_callback_counts_the_steps(an):
    pol, params = an
    seen = []
    res = run_explorer_episode(
        pol, params, [0, 1, 2, 3, 4], "none", 200, "none", 0, 0, on_step=seen.append, every=10
    )
    assert seen == list(range(10, res.length + 1, 10))


def test_same_inputs_same_numbers(an):
    pol, params = an
    a = run_explorer_episode(pol, params, [4, 3, 2, 1, 0], "at", 17, "zero_c", 5, 4)
    b = run_explorer_episode(pol, params, [4, 3, 2, 1, 0], "at", 17, "zero_c", 5, 4, record=False)
    assert (a.ret, a.length) == (b.ret, b.length)


# ------------------------------------------------------------------------- panel


def test_importing_the_panel_does_not_import_torch():
    code = "import sys, anpolicy.report.widgets; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_text_boxes_act_on_enter_only(explorer):
    for box in (explorer.perm_text, explorer.k, explorer.seed, explorer.episode):
        assert box.continuous_update is False, box.description


def test_panel_says_live_only_after_its_frontend_answers(explorer):
    from anpolicy.report.widgets import LIVE_NOTE, STATIC_NOTE

    note = explorer.note.value
    assert "Live" not in note and "anp-static-note" in note and "<style>" in note
    assert explorer._probe.playing, "the probe was not started"
    explorer._probe.value = 3  # what a browser's Play model sends back
    assert explorer.live and not explorer._probe.playing
    assert LIVE_NOTE in explorer.note.value and STATIC_NOTE not in explorer.note.value


def test_saturation_is_reported_and_scores_view_draws(explorer):
    now, overall = explorer.saturation()
    att = explorer._result.trace["attention"]
    assert now == saturated_share(att[explorer.step.value]) and overall == saturated_share(att)
    assert f"{now:.0%} of the attention entries at step 5" in explorer.att_note.value
    png = explorer.output.outputs[0]["data"]["image/png"]
    explorer.view.value = "scores"
    assert explorer.output.outputs[0]["data"]["image/png"] != png
    assert explorer.scores().shape == att.shape


def test_errors_hide_the_figure_and_the_saturation(explorer):
    explorer.perm_text.value = "1, 2, 3"
    assert "Cannot run" in explorer.status.value and "5 numbers" in explorer.status.value
    assert explorer.output.outputs == () and explorer.att_note.value == ""
    assert explorer.progress.layout.display == "none"


def test_default_episode_is_chosen_under_the_default_settings(an):
    from anpolicy.report.widgets import Explorer

    pol, params = an
    settings = dict(permutation="1, 0, 2, 3, 4", reshuffle="every", k=50, intervention="zero_c")
    ex = Explorer(pol, params, agent="random", seed=2, episode=-1, default_tries=3, **settings)
    e = ex.episode.value
    assert f"episode {e} of seed 2" in ex.caption.value.replace("Default episode", "episode")
    rerun = run_explorer_episode(pol, params, [1, 0, 2, 3, 4], "every", 50, "zero_c", 2, e, False)
    assert (rerun.ret, rerun.length) == (ex._result.ret, ex._result.length)
    tried = [
        run_explorer_episode(pol, params, [1, 0, 2, 3, 4], "every", 50, "zero_c", 2, i, False)
        for i in range(3 if rerun.length < physics.MAX_STEPS else e)
    ]
    if rerun.length >= physics.MAX_STEPS:
        assert "stays on the track" in ex.caption.value
        assert all(r.length < physics.MAX_STEPS for r in tried), "an earlier episode was full"
    else:
        assert "lasts longest" in ex.caption.value
        assert max(r.length for r in tried) == rerun.length
    plt.close("all")


# ---------------------------------------------------------------- the git filter


def _git(cwd, *args, check=True):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def test_setup_configured_the_output_filter():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    attrs = (ROOT / ".gitattributes").read_text()
    assert "*.ipynb filter=nbstripout" in attrs
    clean = _git(ROOT, "config", "--get-all", "filter.nbstripout.clean", check=False).stdout
    assert clean.strip(), "no nbstripout filter in .git/config: run bash scripts/setup.sh"
    assert len(clean.strip().splitlines()) == 1, "the setup added the filter twice"
    out = _git(ROOT, "check-attr", "filter", "book/explorer.ipynb").stdout
    assert out.strip().endswith("nbstripout")


def test_a_notebook_saved_with_outputs_is_stripped_on_git_add(tmp_path):
    """In a temporary repository with this project's .gitattributes and filter config
    (the same command strings scripts/setup.sh writes), `git add` of a notebook with
    outputs stores it without them; the working file keeps them."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clean = _git(ROOT, "config", "--get", "filter.nbstripout.clean", check=False).stdout.strip()
    if not clean:
        pytest.fail("no nbstripout filter in .git/config: run bash scripts/setup.sh")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    for key in (
        "filter.nbstripout.clean",
        "filter.nbstripout.smudge",
        "filter.nbstripout.required",
    ):
        value = _git(ROOT, "config", "--get", key).stdout.strip()
        _git(repo, "config", key, value)
    os.symlink(ROOT / ".venv", repo / ".venv")  # the filter names .venv relative to the top
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")

    nb = nbformat.read(ROOT / "book" / "explorer.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, c in enumerate(code, 1):
        c.execution_count = i
        c.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {i}\n")]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["papermill"] = {"duration": 1.0}
    (repo / "book").mkdir()
    path = repo / "book" / "explorer.ipynb"
    nbformat.write(nb, path)
    _git(repo, "add", "book/explorer.ipynb")

    staged = json.loads(_git(repo, "show", ":book/explorer.ipynb").stdout)
    cells = [c for c in staged["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells)
    assert "widgets" not in staged["metadata"] and "papermill" not in staged["metadata"]
    original = nbformat.read(ROOT / "book" / "explorer.ipynb", as_version=4)
    assert ["".join(c["source"]) for c in staged["cells"]] == [c.source for c in original.cells]
    assert [c.get("id") for c in staged["cells"]] == [c.get("id") for c in original.cells]
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells), "tags stripped"
    # the user's file is untouched, and git sees no change left to add
    assert nbformat.read(path, as_version=4).cells[1].outputs
    assert _git(repo, "status", "--porcelain", "book").stdout.startswith("A ")
