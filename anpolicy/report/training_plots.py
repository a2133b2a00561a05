"""Figures of the training chapter's reproduction section: drawing only (the numbers come
from `anpolicy.study.recipe`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from anpolicy.study import recipe
from anpolicy.study.published import TANG_HA_2021


def _draw_run(ax_val, ax_sigma, run: Path, color: str, label: str | None, ls: str = "-"):
    """One run's validation (mean, 95 % band) and step size against training episodes."""
    c = recipe.curves(run)
    ax_val.plot(c["episodes_m"], c["val"], color=color, lw=1, ls=ls, label=label)
    ax_val.fill_between(
        c["episodes_m"],
        c["val"] - c["half_ci"],
        c["val"] + c["half_ci"],
        color=color,
        alpha=0.15,
        linewidth=0,
    )
    ax_sigma.plot(c["step_episodes_m"], c["step_size"], color=color, lw=1, ls=ls)


def _frame(fig, ax_val, ax_sigma, budget_episodes: float, target: float):
    for ax in (ax_val, ax_sigma):
        ax.axvline(budget_episodes / 1e6, color="0.4", ls=":", lw=1)
        ax.set_xlabel("training episodes (millions)")
        ax.grid(alpha=0.3)
    ax_val.axhline(target, color="k", ls="--", lw=1, label=f"Tang & Ha's test score ({target:.0f})")
    ax_val.set_ylabel("validation return")
    ax_val.legend(fontsize=9)
    ax_sigma.set_yscale("log")
    ax_sigma.set_ylabel("CMA-ES step size σ")
    ax_sigma.set_title(
        f"dotted: the authors' budget, {budget_episodes / 1e6:.1f} M episodes", fontsize=9
    )
    return fig


def _existing(run_dirs):
    return [d for d in map(Path, run_dirs) if (d / "log.jsonl").is_file()]


def recipe_figure(
    run_dirs,
    budget_episodes: float,
    target: float,
    seed_label: str = "seed",
    compare: dict | None = None,
):
    """Validation (mean, 95 % band; 512 episodes shuffled at reset) and step size of each
    run against training episodes (millions), one colour per run, with the authors'
    episode budget (vertical) and their test score (horizontal) marked. ``compare``
    (``{label: run_dirs}``) adds other groups of runs, each in one dark colour and its own
    dash-dot pattern, labelled once. Returns the figure."""
    fig, (ax_val, ax_sigma) = plt.subplots(1, 2, figsize=(9.5, 3.6), constrained_layout=True)
    for k, run in enumerate(_existing(run_dirs)):
        label = f"{seed_label} {recipe.summarize_run(run)['seed']}"
        _draw_run(ax_val, ax_sigma, run, f"C{k}", label)
    styles = ("-.", ":", (0, (5, 2, 1, 2, 1, 2)))  # the target line is dashed
    for k, (label, dirs) in enumerate((compare or {}).items()):
        runs = _existing(dirs)
        for j, run in enumerate(runs):
            name = f"{label} ({len(runs)} run{'s' * (len(runs) > 1)})" if j == 0 else None
            _draw_run(ax_val, ax_sigma, run, ("k", "0.4", "0.6")[k % 3], name, styles[k % 3])
    return _frame(fig, ax_val, ax_sigma, budget_episodes, target)


ARM_GROUPS = (  # (title, which summarize_run rows belong, whose published score is marked)
    (
        "Attention Neuron from x0 = 0",
        lambda r: r["policy"] != "fnn" and not r["init_from"],
        "an",
    ),
    (
        "Attention Neuron continued from another agent (its own episodes only)",
        lambda r: r["policy"] != "fnn" and bool(r["init_from"]),
        "an",
    ),
    ("FNN (validated unshuffled)", lambda r: r["policy"] == "fnn", "fnn"),
)


def arms_figure(run_dirs, budget_episodes: float, target: float):
    """The arms under the authors' budget, one row of panels per group (`ARM_GROUPS`:
    from x0 = 0; continued from another agent; the FNN), empty groups left out: each run's
    validation (mean, 95 % band) and step size (CMA-ES: sigma; PGPE: its mean per-parameter
    stdev) against the run's own training episodes (millions; a run started from another
    agent does not count its parent's), one colour per run, labelled by
    `anpolicy.study.arms.arm_label` in the row's legend, in the given order; the budget and
    Tang & Ha's test score (``target``, the Attention Neuron's; the FNN row: their FNN's,
    unshuffled) marked as in `recipe_figure`. Returns the figure."""
    from anpolicy.study.arms import arm_label

    rows = [(run, recipe.summarize_run(run)) for run in _existing(run_dirs)]
    groups = [(t, [(run, r) for run, r in rows if keep(r)], who) for t, keep, who in ARM_GROUPS]
    groups = [g for g in groups if g[1]]
    # each row: panels 3.1 in, its legend below, long labels wrapped: 0.16 in a line
    labels = {run: textwrap.fill(arm_label(r), 125) for run, r in rows}
    legend_in = [
        0.16 * (sum(labels[run].count("\n") + 1 for run, _ in m) + 2) for _, m, _ in groups
    ]
    heights = [3.1 + h for h in legend_in]
    fig = plt.figure(figsize=(9.5, max(sum(heights), 1.0)), layout="constrained")
    if not groups:
        fig.text(0.5, 0.5, "No arm has a run folder yet.", ha="center", va="center")
        return fig
    subfigs = np.atleast_1d(fig.subfigures(len(groups), 1, height_ratios=heights))
    for sub, (title, members, who) in zip(subfigs, groups, strict=True):
        ax_val, ax_sigma = sub.subplots(1, 2)
        palette = plt.get_cmap("tab20").colors if len(members) > 10 else None
        for k in range(len(members) - 1, -1, -1):  # the first drawn last, on top (a
            run = members[k][0]  # continued copy of a run repeats its curve up to its start)
            colour = palette[k % 20] if palette else f"C{k}"
            _draw_run(ax_val, ax_sigma, run, colour, labels[run])
        mark = TANG_HA_2021["fnn"]["none"][0] if who == "fnn" else target  # FNN: unshuffled
        _frame(sub, ax_val, ax_sigma, budget_episodes, mark)
        ax_val.set_title(title, fontsize=10, loc="left")
        ax_sigma.set_ylabel("step size (σ; PGPE: mean stdev)")
        handles, names = ax_val.get_legend_handles_labels()
        ax_val.get_legend().remove()
        order = [*range(len(members) - 1, -1, -1), len(members)]  # given order, then target
        sub.legend(
            [handles[i] for i in order],
            [names[i] for i in order],
            loc="outside lower center",
            ncol=1,
            fontsize=8,
        )
    return fig


def plot_candidate_curves(ax, candidates: dict) -> list[dict]:
    """Validation curves of training candidates (a ``data/logs/*candidates*.json`` dict)
    against CPU-minutes (the points' ``cpu_s`` where recorded, else wall-clock x the run's
    threads). Returns one summary row per candidate: CPU-minutes, best and last
    validation mean. A curve point at step 0 (the starting agent) is drawn as a dotted
    line, once."""
    rows, start = [], None
    for c in candidates["candidates"]:
        curve = c["curve"]
        if not curve:
            continue
        if all("cpu_s" in r for r in curve):
            t = np.array([r["cpu_s"] for r in curve]) / 60
        else:
            t = np.array([r["wall_s"] for r in curve]) / 60 * c["config"].get("threads", 1)
        v = np.array([r["val_mean"] for r in curve])
        if curve[0]["step"] == 0:
            start = v[0]
        ax.plot(t, v, "o-", ms=3, label=c["label"])
        rows.append(
            {
                "candidate": c["label"],
                "CPU-minutes": t[-1],
                "best validation": v.max(),
                "last validation": v[-1],
            }
        )
    if start is not None:
        ax.axhline(start, color="k", lw=1, ls=":", label=f"starting agent ({start:.0f})")
    ax.set(
        xlabel="CPU-minutes (wall-clock x threads)",
        ylabel=f"validation return ({candidates['validate_episodes']} episodes)",
    )
    return rows
