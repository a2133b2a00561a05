"""Drawing code of the architecture and explorer chapters: anpolicy.report.plots figures
and the explorer's panel (anpolicy.report.widgets)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from anpolicy.sim import physics  # noqa: E402
from anpolicy.study.streams import (  # noqa: E402
    invariance_properties,
)

# ---------------------------------------------------------------------- plots


def test_plots_draw(an):
    from anpolicy.report.plots import (
        draw_attention_neuron,
        filmstrip,
        plot_invariance,
        states_from_trace,
    )

    ax = draw_attention_neuron()
    assert len(ax.patches) == 9
    plt.close("all")
    pol, params = an
    r = invariance_properties(pol, params, n_steps=30, n_streams=3, reshuffle_step=15)
    plot_invariance({"random": r})
    plt.close("all")
    state = np.array([[0.5, -1.0, 0.3, 2.0], [0.4, -1.0, -3.0, 2.0]])
    obs = physics.observation(state)
    perm = np.array([[3, 0, 4, 1, 2], [1, 2, 0, 4, 3]])
    trace = {"obs": np.take_along_axis(obs, perm, axis=1), "perm": perm}
    back = states_from_trace(trace)
    assert np.allclose(back, state)
    fig = filmstrip(back, [0, 1], ncols=2)
    assert len(fig.axes) == 2
    plt.close("all")


# -------------------------------------------------------------------- widgets


def test_parse_permutation():
    from anpolicy.report.widgets import parse_permutation

    assert parse_permutation("3, 0, 4, 1, 2").tolist() == [3, 0, 4, 1, 2]
    assert parse_permutation("[4 3 2 1 0]").tolist() == [4, 3, 2, 1, 0]
    for bad in ("", "0,1,2,3", "0,1,1,3,4", "a,b,c,d,e", "0,1,2,3,5", "1.5,0,2,3,4"):
        with pytest.raises(ValueError):
            parse_permutation(bad)


def test_explorer_schedule():
    from anpolicy.report.widgets import explorer_schedule

    s = explorer_schedule([1, 0, 2, 3, 4], "every", 300, seed=0)
    assert s.change_steps().tolist() == [300, 600, 900]
    assert list(s.perms[0]) == [1, 0, 2, 3, 4] and len(s.perms) == 4
    assert explorer_schedule([0, 1, 2, 3, 4], "at", 10, 0).change_steps().tolist() == [10]
    assert explorer_schedule([0, 1, 2, 3, 4], "none", 10, 0).change_steps().tolist() == []
    with pytest.raises(ValueError):
        explorer_schedule([0, 1, 2, 3, 4], "every", 0, 0)
    with pytest.raises(ValueError):
        explorer_schedule([0, 1, 2, 3, 4], "sometimes", 10, 0)


def test_explorer_builds_and_reports_the_episode(explorer):
    assert "return" in explorer.status.value and "Cannot" not in explorer.status.value
    trace, ret, length, _ = explorer._result
    assert explorer.step.max == length - 1
    assert np.isclose(trace["reward"].sum(), ret)
    outputs = explorer.output.outputs
    assert len(outputs) == 1 and "image/png" in outputs[0]["data"], "no figure in the panel"
    assert explorer.figure() is not None


def test_explorer_rejects_a_bad_permutation_with_a_message(explorer):
    explorer.perm_text.value = "0, 1, 1, 3, 4"  # must not raise
    assert "Cannot run" in explorer.status.value
    assert "not a permutation" in explorer.status.value
    assert explorer._result is None and explorer.figure() is None
    assert explorer.output.outputs == (), "a stale figure is still shown"
    explorer.perm_text.value = "hello"
    assert "whole numbers" in explorer.status.value
    explorer.perm_text.value = "4, 3, 2, 1, 0"  # recovers
    assert "Cannot run" not in explorer.status.value and explorer._result is not None


def test_explorer_random_button(explorer):
    explorer.random_button.click()
    perm = [int(v) for v in explorer.perm_text.value.split(",")]
    assert sorted(perm) == [0, 1, 2, 3, 4]
    assert "Cannot run" not in explorer.status.value


def test_explorer_relative_state_permutation_reproduces_the_unshuffled_return(an):
    from anpolicy.report.widgets import Explorer

    pol, params = an
    ex = Explorer(
        pol,
        params,
        seed=1,
        episode=2,
        permutation="2, 0, 1, 4, 3",
        reshuffle="every",
        k=20,
        intervention="permute_relative",
    )
    _, ret_moved, len_moved, changes = ex._result
    assert changes[:2] == [20, 40]
    ex.mode.value = "none"
    assert ex.k.disabled
    _, ret_plain, len_plain, _ = ex._result
    assert len_moved == len_plain and ret_moved == pytest.approx(ret_plain, abs=1e-3)
    plt.close("all")


def test_episode_animation_loads_nothing_from_the_network():
    import re

    from anpolicy.report.plots import episode_animation_html

    html = episode_animation_html(np.zeros((6, 4)), [0, 3, 5])
    assert "<img" in html or "frames" in html
    assert not re.search(r"<(link|script)[^>]*(href|src)=\"(https?:)?//", html)
    plt.close("all")


def test_verdict_table_has_one_row_per_claim_with_both_agents():
    from anpolicy.report.tables import verdict_table_html
    from anpolicy.study.verdicts import Judged, Verdict

    rows = [
        Verdict(
            key=f"c{i}",
            claim=f"claim {i} <b>",
            source="Tang & Ha (2021)",
            reported="471",
            chapter="permutations",
            rule="a rule",
            by_agent={
                "authors": Judged(f"authors measured {i}", "confirmed"),
                "ours": Judged(f"ours measured {i}", "refuted" if i else "confirmed"),
            },
        )
        for i in range(3)
    ]
    html = verdict_table_html(rows, caption="cap")
    assert html.count("<tr>") == 1 + len(rows) and "<caption>cap</caption>" in html
    for i in range(3):
        assert f"authors measured {i}" in html and f"ours measured {i}" in html
    assert "claim 0 &lt;b&gt;" in html  # escaped
    assert html.count("(same verdict: yes)") == 1 and html.count("(same verdict: no)") == 2
    assert html.count('href="permutations.html"') == 3
