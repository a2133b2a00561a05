"""Attention analysis (anpolicy.study.attention), the verdict table (anpolicy.study.verdicts) and
the build's run-last ordering (scripts/build_book.py) that the conclusions rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from anpolicy.sim.interventions import relative_permutation
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.study.attention import (
    AttentionStats,
    align_attention,
    column_map,
    format_ci,
    invariance_error,
    steps_below,
    twin_rollout,
    value_bands,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_book  # noqa: E402

# ------------------------------------------------------------------ attention


def _one_step(policy, weights, obs, h, c):
    state = {"h": h, "c": c, "prev_action": torch.zeros(1, 1)}
    _, _, att = policy.step(weights, obs, state)
    return att[0, 0]


def test_invariance_error_zero_for_relative_permutation_and_not_otherwise(random_an_params):
    policy = AttentionNeuronPolicy()
    weights = policy.prepare(random_an_params(1, scale=0.8, seed=3))
    g = torch.Generator().manual_seed(0)
    phys = torch.randn(1, 1, 5, generator=g)
    h, c = torch.randn(1, 1, 5, 8, generator=g), 3 * torch.randn(1, 1, 5, 8, generator=g)
    old = torch.tensor([2, 0, 4, 1, 3])  # the order before the reshuffle (not the identity)
    new = torch.tensor([1, 3, 0, 4, 2])  # after; a 5-cycle relative to `old`: no involution
    att_ref = _one_step(policy, weights, phys[..., old], h, c)
    rows = relative_permutation(old, new)
    assert not torch.equal(rows[rows], torch.arange(5)), "test needs a non-involution"
    moved = _one_step(policy, weights, phys[..., new], h[:, :, rows], c[:, :, rows])
    stuck = _one_step(policy, weights, phys[..., new], h, c)
    absolute = _one_step(policy, weights, phys[..., new], h[:, :, new], c[:, :, new])
    assert invariance_error(att_ref, moved, old, new) < 1e-6
    assert invariance_error(att_ref, stuck, old, new) > 1e-2
    assert invariance_error(att_ref, absolute, old, new) > 1e-2
    # the other direction of P is wrong for a permutation that is not its own inverse
    wrong = torch.gather(att_ref, -1, torch.argsort(rows).expand(16, 5))
    assert float(torch.linalg.matrix_norm(moved - wrong)) > 1e-2


def test_align_attention_columns_follow_physical_channels():
    a = torch.arange(16 * 7, dtype=torch.float64).reshape(16, 7)  # 5 permuted + 2 noise
    p = np.array([3, 1, 4, 0, 2])
    q = np.array([0, 2, 1, 4, 3])
    out = align_attention(a, p, q)
    for j in range(5):  # column j of order q carries channel q[j], at column p^-1(q[j])
        assert torch.equal(out[:, j], a[:, int(np.argsort(p)[q[j]])])
    assert torch.equal(out[:, 5:], a[:, 5:]), "noise columns are not permuted"
    assert column_map(p, p, 7).tolist() == list(range(7))


def test_twin_rollout_relative_and_zeroed_are_exact_untouched_is_not(random_an_params):
    policy = AttentionNeuronPolicy()
    params = random_an_params(1, scale=0.6, seed=1)[0]
    kw = dict(n_episodes=12, seed=5, t_shuffle=4, window=8)
    out = {
        c: twin_rollout(policy, params, condition=c, **kw)
        for c in ("none", "zero_hc", "relative", "absolute")
    }
    for c, r in out.items():
        assert np.nanmax(np.abs(r.error[: r.t_shuffle])) == 0.0, f"{c}: runs differ before"
        assert np.isfinite(r.error[r.t_shuffle]).any(), "no episode reaches the reshuffle"
    assert np.nanmax(out["relative"].error[4:]) < 1e-4
    assert np.nanmax(out["zero_hc"].error[4:]) < 1e-4
    assert np.nanmean(out["none"].after(0)) > 1e-3
    assert np.nanmean(out["absolute"].after(0)) > 1e-3  # random order before: wrong rows
    # the same seed gives the same episodes and orders in every condition
    assert np.array_equal(out["none"].perms, out["relative"].perms)
    assert (out["none"].perms[:, 0] != out["none"].perms[:, 1]).any(axis=-1).all()


def test_twin_rollout_rejects_bad_input(random_an_params):
    policy = AttentionNeuronPolicy()
    params = random_an_params(1)[0]
    with pytest.raises(ValueError, match="unknown condition"):
        twin_rollout(policy, params, 2, condition="sideways")
    with pytest.raises(ValueError, match="orders"):
        twin_rollout(policy, params, 2, orders=np.zeros((2, 2, 4), dtype=int))


def test_attention_stats_do_not_depend_on_the_input_order(random_an_params):
    policy = AttentionNeuronPolicy()
    params = random_an_params(1, scale=0.5, seed=2)
    summaries = []
    for schedule in (PermutationSchedule.none(), PermutationSchedule.at_reset()):
        hook = AttentionStats()
        rollout(policy, params, 6, seed=0, schedule=schedule, interventions=[hook], max_steps=40)
        summaries.append(hook.summary())
    a, b = summaries
    assert a["groups"] == b["groups"] == ["x", "x_dot", "cos_theta", "sin_theta", "theta_dot"]
    np.testing.assert_allclose(a["att"], b["att"], atol=1e-4)
    np.testing.assert_allclose(a["corr"], b["corr"], atol=1e-3)
    assert a["att"].shape == (1, 16, 5) and a["corr"].shape == (1, 16, 5)


def test_attention_stats_noise_group(random_an_params):
    policy = AttentionNeuronPolicy()
    hook = AttentionStats(every=2)
    rollout(
        policy, random_an_params(1), 4, seed=0, schedule=PermutationSchedule.at_reset(),
        channels=ObservationChannels(n_noise=3), interventions=[hook], max_steps=20,
    )  # fmt: skip
    s = hook.summary()
    assert s["groups"][-1] == "noise" and s["att_abs"].shape == (1, 16, 6)
    assert (s["att_abs"] >= 0).all() and (s["att_abs"] <= 1).all()
    with pytest.raises(ValueError):
        AttentionStats(every=0)


def test_bands_and_formatting():
    values = np.full((30, 50), np.nan)
    values[:20, :] = np.linspace(1.0, 0.001, 20)[:, None] * np.ones(50)
    b = value_bands(values, t_shuffle=5, n_boot=50)
    assert b["t"][0] == -5 and len(b["t"]) == 20
    assert (b["lo"] <= b["mean"] + 1e-12).all() and (b["mean"] <= b["hi"] + 1e-12).all()
    assert steps_below(b, 0.5) is not None
    assert format_ci(None) == "n/a"
    assert format_ci({"mean": -0.0001, "ci95": [-0.2, 0.1], "n": 3}, ".0f") == "0 [0, 0] (n=3)"


# ------------------------------------------------------------- build ordering


def _notebook(path: Path, source: str, run_last: bool | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("quick = False", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(textwrap.dedent(source)),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if run_last is not None:
        nb.metadata["anpolicy"] = {"run_last": run_last}
    nbformat.write(nb, path)


def test_execution_groups_put_run_last_chapters_last(tmp_path):
    (tmp_path / "book").mkdir()
    names = ["summary", "a", "b", "c"]
    for name in names:
        _notebook(tmp_path / "book" / f"{name}.ipynb", "x = 1", run_last=(name == "summary"))
    chapters = [Path(f"book/{n}.ipynb") for n in names]
    groups = build_book.execution_groups(chapters, tmp_path)
    assert groups == [chapters[1:], chapters[:1]]
    _notebook(tmp_path / "book" / "summary.ipynb", "x = 1", run_last=None)
    assert build_book.execution_groups(chapters, tmp_path) == [chapters]
    _notebook(tmp_path / "book" / "a.ipynb", "x = 1")
    nb = json.loads((tmp_path / "book" / "a.ipynb").read_text())
    nb["metadata"]["anpolicy"] = {"run_last": "yes"}
    (tmp_path / "book" / "a.ipynb").write_text(json.dumps(nb))
    with pytest.raises(build_book.BuildError, match="run_last"):
        build_book.execution_groups(chapters, tmp_path)


def test_repository_conclusions_run_last():
    groups = build_book.execution_groups(build_book.toc_chapters())
    assert Path("book/conclusions.ipynb") in groups[-1]
    assert len(groups) == 2 and all(Path("book/conclusions.ipynb") not in g for g in groups[:-1])


def test_run_last_chapter_sees_the_others_results(tmp_path):
    """A run-last chapter listed *first* still starts after the others have saved their
    results, and results go under the build's output folder."""
    (tmp_path / "book").mkdir()
    import shutil

    shutil.copy2(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: book/summary\n  - file: book/slow\n  - file: book/fast\n"
    )
    _notebook(
        tmp_path / "book" / "summary.ipynb",
        """
        from anpolicy.store.results import load_results, results_dir
        assert load_results("slow")["value"] == 2 and load_results("fast")["value"] == 1
        assert "out" in str(results_dir())
        """,
        run_last=True,
    )
    for name, value, delay in (("slow", 2, 4), ("fast", 1, 0)):
        _notebook(
            tmp_path / "book" / f"{name}.ipynb",
            f"""
            import time
            time.sleep({delay})
            from anpolicy.store.results import save_results
            save_results({name!r}, {{"value": {value}}})
            """,
        )
    env = {k: v for k, v in os.environ.items() if k != "ANPOLICY_RESULTS"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py"), "--quick", "--execute-only",
         "--jobs", "3", "--toc", str(tmp_path / "_toc.yml"),
         "--path-output", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "after all others (run_last): book/summary.ipynb" in proc.stdout
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("ok")]
    assert lines[-1].endswith("book/summary.ipynb"), proc.stdout
    assert (tmp_path / "out" / "_build" / "results" / "slow.json").is_file()
