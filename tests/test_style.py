"""The book's figure style (anpolicy.report.style), the distributions figure, and the
explorer's single-episode helpers that moved out of the notebook."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from anpolicy.report import style  # noqa: E402

KS = [1, 25, 50, 100, 143, 167, 200, 250, 333, 500]  # the permutations chapter's k


def test_a_column_wide_figure_with_book_fonts_passes():
    with style.context():
        fig, ax = style.subplots(1, 2)
        ax[0].plot([0, 1], [0, 1], label="a")
        ax[0].set(xlabel="x (steps)", ylabel="return")
        ax[0].legend()
        fig.tight_layout()
    assert style.check_figure(fig) == []
    assert fig.get_figwidth() * fig.dpi == style.COLUMN_PX
    plt.close(fig)


def test_check_figure_flags_wide_figures_small_fonts_and_overlaps():
    fig, ax = plt.subplots(figsize=(13, 4))
    ax.set_xscale("log")
    ax.plot(KS, KS)
    ax.set_xticks(KS, [str(k) for k in KS], fontsize=7)
    problems = style.check_figure(fig)
    assert any("wide" in p for p in problems)
    assert any("7 pt" in p for p in problems)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_xscale("log")
    ax.plot(KS, KS)
    ax.set_xticks(KS, [str(k) for k in KS], fontsize=12)
    assert any("overlapping" in p for p in style.check_figure(fig))
    plt.close(fig)


@pytest.mark.parametrize("rotation", [0, 45])
def test_thin_ticks_keeps_labels_apart_and_the_last(rotation):
    with style.context():
        fig, (ax, _) = style.subplots(1, 2)
        ax.set_xscale("log")
        ax.plot(KS, KS)
        ax.minorticks_off()
        kept = style.thin_ticks(ax.xaxis, KS, rotation=rotation)
        fig.tight_layout()
    assert kept[0] == "1" and kept[-1] == "500"
    assert 2 < len(kept) < len(KS)
    assert style.overlapping_ticks(fig) == []
    plt.close(fig)


def test_figsize_is_a_share_of_the_column():
    assert style.figsize(2) == (style.WIDTH, 2 * style.ROW_HEIGHT)
    with pytest.raises(ValueError):
        style.figsize(width=1.5)


class _Rec:
    def __init__(self, returns):
        self.returns = returns


class _Res:
    def __init__(self, per):
        self.per = per

    def agent(self, key):
        return self.per.get(key)


def test_return_distributions_draws_every_episode():
    from anpolicy.report import plots

    rng = np.random.default_rng(0)
    per = {
        k: _Rec({c: rng.uniform(0, 900, 40).round(1).tolist() for c in ("none", "every_1")})
        for k in ("authors", "ours")
    }
    fig = plots.plot_return_distributions(_Res(per), {"none": "unshuffled", "every_1": "every"})
    ax = fig.axes[0]
    dots = sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets"))
    assert dots >= 2 * 2 * 40  # every episode of both agents in both conditions
    assert [t.get_text() for t in ax.get_xticklabels()] == ["unshuffled", "every"]
    assert style.check_figure(fig) == []
    plt.close(fig)


def test_relative_state_sentence_uses_the_threshold():
    from anpolicy.study import claims

    same = claims.relative_state_sentence(500.0, 500.0 + claims.SAME_RETURN / 2)
    apart = claims.relative_state_sentence(500.0, 500.0 + 2 * claims.SAME_RETURN)
    assert "the same as the episode without any reshuffle" in same
    assert "the same as" not in apart and "against" in apart


def test_episode_outcome_is_the_explorer_episode(an):
    from anpolicy.study.explorer_model import episode_outcome, run_explorer_episode

    policy, params = an
    first = np.array([3, 0, 4, 1, 2])
    run = run_explorer_episode(policy, params, first, "every", 50, "none", 0, 1, record=False)
    assert episode_outcome(policy, params, first, "every", 50, "none", 0, 1) == (
        round(run.ret, 1),
        run.length,
    )
