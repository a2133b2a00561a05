"""The two-agent experiment figures (permutations, ablations, noise, attention): drawing
only; every number comes from an `anpolicy.study.chapters.StudyResult`. Their tables are in
`anpolicy.report.tables`."""

from __future__ import annotations

import numpy as np

from anpolicy.report import style

AGENT_STYLE = {"authors": ("C3", "x", "Tang & Ha's agent"), "ours": ("C0", "o", "our agent")}


def _eb(ax, x, stats, color, marker, label, key=None, ls="-"):
    """Error bars of summaries (``key="kept"``: the kept share's ratio and CI)."""
    if key:
        y = np.array([s[key]["ratio"] for s in stats])
        ci = np.array([s[key]["ci95"] for s in stats])
    else:
        y = np.array([s["mean"] for s in stats])
        ci = np.array([s["ci95"] for s in stats])
    ax.errorbar(x, y, yerr=[y - ci[:, 0], ci[:, 1] - y], capsize=3, color=color,
                marker=marker, ls=ls, label=label)  # fmt: skip


def measured_agents(res):
    """``[(key, agent result)]`` for the agents a study result measured (authors first)."""
    return [(k, res.agent(k)) for k in ("authors", "ours") if res.agent(k) is not None]


def first_measured(res):
    """The first measured agent's result (for what both agents share: conditions, t0)."""
    return measured_agents(res)[0][1]


def plot_permutation_sweep(res):
    """Return (top) and kept share (bottom) vs reshuffle interval k, both agents, our
    FNN and Tang & Ha's published points."""
    from anpolicy.study.published import STUDY_2025, TANG_HA_2021, TANG_HA_INTERVALS, tang_ha_kept

    ks = np.array(sorted(res.shared["intervals"] + [1]))
    with style.context():
        fig, (ax, bx) = style.subplots(2, 1, height=6.2, sharex=True)
        for axis in (ax, bx):
            axis.axvspan(min(STUDY_2025["k"]), max(STUDY_2025["k"]), color="0.92", zorder=0)
            axis.set_xscale("log")
        for key, rec in measured_agents(res):
            color, marker, label = AGENT_STYLE[key]
            stats = [rec.conditions[f"every_{k}"] for k in ks]
            _eb(ax, ks, stats, color, marker, label)
            ax.axhline(rec.conditions["none"]["mean"], color=color, ls="--", lw=1)
            _eb(bx, ks, stats, color, marker, label, key="kept")
        fnn = res.shared.get("fnn")
        if fnn:
            stats = [fnn["conditions"][f"every_{k}"] for k in TANG_HA_INTERVALS]
            _eb(ax, TANG_HA_INTERVALS, stats, "C1", "s", "our FNN")
        th = [TANG_HA_2021["an"][f"every_{k}"][0] for k in TANG_HA_INTERVALS]
        ax.plot(TANG_HA_INTERVALS, th, "^:", color="C2", label="Tang & Ha 2021 (published)")
        bx.plot(TANG_HA_INTERVALS, [tang_ha_kept(f"every_{k}") for k in TANG_HA_INTERVALS],
                "^:", color="C2", label="Tang & Ha 2021 (published)")  # fmt: skip
        ax.set_ylabel("mean return\n(dashed: unshuffled)")
        ax.set_ylim(bottom=0)
        ax.set_title("(a) return; grey band: the 2025 study's k", loc="left")
        bx.axhline(1, color="0.5", lw=1)
        bx.set_ylim(0, 1.3)
        bx.set_ylabel("share of the\nunshuffled return kept")
        bx.set_title("(b) share kept (paired)", loc="left")
        bx.set_xlabel("reshuffle interval k (steps, log scale)")
        for axis in (ax, bx):
            axis.minorticks_off()
        style.thin_ticks(bx.xaxis, ks)
        ax.legend(loc="upper left", ncol=2)
        fig.tight_layout()
    return fig


def plot_single_reshuffle(res):
    """(a) paired cost of one reshuffle vs its step, (b) share of eligible episodes that
    recover, with the identity and fixed-permutation controls, per agent."""
    from matplotlib.patches import Patch

    parts = (("reshuffle", "reshuffle", 0.9), ("fixed", "fixed perm.", 0.5),
             ("identity", "identity", 0.25))  # fmt: skip
    meas = measured_agents(res)
    with style.context():
        fig, (ax, bx) = style.subplots(1, 2, height=3.6)
        for key, rec in meas:
            color, marker, label = AGENT_STYLE[key]
            ts = sorted(int(t) for t in rec.single_cost)
            _eb(ax, ts, [rec.single_cost[str(t)] for t in ts], color, marker, label)
        ax.axhline(0, color="0.5", lw=1)
        ax.set_xlabel("step of the single reshuffle t₀")
        ax.set_ylabel("return change vs no reshuffle")
        ax.set_title("(a) cost of one reshuffle", loc="left")
        ax.legend()
        x, ticks, labels = 0.0, [], []
        for key, rec in measured_agents(res):
            color = AGENT_STYLE[key][0]
            for part, name, alpha in parts:
                s = rec.recovery[part]
                if s["n"]:
                    bx.bar(x, 1 - s["never_frac"], color=color, alpha=alpha)
                    ticks.append(x)
                    labels.append(name)
                    x += 1
            x += 0.5
        bx.set_xticks(ticks, labels, rotation=35, ha="right")
        bx.set_ylim(0, 1)
        bx.set_ylabel("share of eligible episodes\nthat recover")
        t0 = first_measured(res).recovery["t0"]
        bx.set_title(f"(b) recovery, reshuffle at t₀ = {t0}", loc="left")
        handles = [Patch(color=AGENT_STYLE[k][0], label=AGENT_STYLE[k][2]) for k, _ in meas]
        bx.legend(handles=handles, loc="lower right")
        fig.tight_layout()
    return fig


def plot_ablations(res):
    """(a) state zeroed every step, (b) paired change vs unshuffled per variant and k."""
    from anpolicy.study.published import STUDY_2025

    labels = ["baseline", "zero_c", "zero_hc", "zero_h", "prev_action"]
    names = ["none", "c\n(study's code)", "h and c", "h", "prev.\naction"]
    x = np.arange(len(labels))
    meas = measured_agents(res)
    with style.context():
        fig, (ax, bx) = style.subplots(2, 1, height=7.0)
        for i, (key, rec) in enumerate(meas):
            color, _, label = AGENT_STYLE[key]
            y = np.array([rec.conditions[c]["mean"] for c in labels])
            ci = np.array([rec.conditions[c]["ci95"] for c in labels])
            xi = x + (i - (len(meas) - 1) / 2) * 0.38
            ax.bar(xi, y, 0.38, color=color, alpha=0.8, label=label)
            ax.errorbar(xi, y, yerr=[y - ci[:, 0], ci[:, 1] - y], fmt="none", ecolor="k",
                        capsize=2)  # fmt: skip
        study = STUDY_2025["zero_state"]
        ax.plot([0, 1], [study["baseline"], study["zeroed"]], "k*", ms=10, ls="none",
                label="2025 study (30 ep., c zeroed)")  # fmt: skip
        ax.set_xticks(x, names)
        ax.set_xlabel("part of the state zeroed before every step")
        ax.set_ylabel("mean return")
        ax.set_title("(a) state zeroed before every step", loc="left")
        ax.legend(loc="upper right")
        ks = np.array(res.shared["k"])
        styles = {"nothing": "-", "reset": "--", "relative": ":", "absolute_random_start": "-."}
        for key, rec in meas:
            color, marker, label = AGENT_STYLE[key]
            for v, ls in styles.items():
                stats = [s["diff"] for s in rec.sweep[v]]
                _eb(bx, ks * (1.02 if key == "ours" else 1), stats, color, marker,
                    f"{label}: {v.replace('_', ' ')}", ls=ls)  # fmt: skip
        bx.axhline(0, color="0.5", lw=1)
        bx.set_xscale("log")
        bx.minorticks_off()
        style.thin_ticks(bx.xaxis, ks)
        bx.set_xlabel("reshuffle interval k (steps, log scale)")
        bx.set_ylabel("return − unshuffled\n(paired)")
        bx.set_title("(b) the study's interventions at each reshuffle", loc="left")
        bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
        fig.tight_layout()
    return fig


def plot_noise(res):
    """Mean return per input condition, both agents."""
    conds = list(first_measured(res).conditions)
    with style.context():
        fig, ax = style.subplots(height=3.6)
        x = np.arange(len(conds))
        for i, (key, rec) in enumerate(measured_agents(res)):
            color, marker, label = AGENT_STYLE[key]
            _eb(ax, x + 0.12 * (i - 0.5), [rec.conditions[c] for c in conds], color, marker,
                label, ls="none")  # fmt: skip
        ax.set_xticks(x, [c.replace("_", " ") for c in conds], rotation=30, ha="right")
        ax.set_xlabel("input condition")
        ax.set_ylabel("mean return")
        ax.legend()
        fig.tight_layout()
    return fig


def plot_attention_errors(res):
    """Mean e_t at the reshuffle and over the window, per condition and agent (log)."""
    conds = res.shared["conditions"]
    with style.context():
        fig, ax = style.subplots(height=3.6)
        x = np.arange(len(conds))
        for i, (key, rec) in enumerate(measured_agents(res)):
            color, _, label = AGENT_STYLE[key]
            y0 = [max(rec.errors[c]["after_0"]["mean"], 1e-10) for c in conds]
            ym = [max(rec.errors[c]["mean_after"], 1e-10) for c in conds]
            ax.bar(x + 0.4 * i - 0.3, y0, 0.2, color=color, label=f"{label}: at the reshuffle")
            ax.bar(x + 0.4 * i - 0.1, ym, 0.2, color=color, alpha=0.4,
                   label=f"{label}: mean after")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks(x, [c.replace("_", " ") for c in conds])
        ax.set_xlabel("condition")
        ax.set_ylabel("e = ‖A' − A P‖ / ‖A‖\n(floor 1e-10)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
        fig.tight_layout()
    return fig


def plot_return_distributions(res, conditions: dict, title: str = ""):
    """Per-episode returns per condition and agent: a violin (cut at the data) with every
    episode as a dot, beside the interval bars of the same chapter. ``conditions``:
    {condition key in the agents' ``returns``: label}. Needs the typed result's
    per-episode ``returns`` (empty figure text when they are missing)."""
    import pandas as pd
    import seaborn as sns

    rows = []
    for key, rec in measured_agents(res):
        label = AGENT_STYLE[key][2]
        for cond, name in conditions.items():
            for r in (getattr(rec, "returns", None) or {}).get(cond, []):
                rows.append((label, name, r))
    df = pd.DataFrame(rows, columns=["agent", "condition", "return"])
    palette = {AGENT_STYLE[k][2]: AGENT_STYLE[k][0] for k, _ in measured_agents(res)}
    with style.context():
        fig, ax = style.subplots(height=3.8)
        if df.empty:
            ax.text(0.5, 0.5, "per-episode returns not in this result", ha="center",
                    transform=ax.transAxes)  # fmt: skip
            return fig
        kw = dict(data=df, x="condition", y="return", hue="agent", palette=palette,
                  order=list(conditions.values()))  # fmt: skip
        sns.violinplot(ax=ax, cut=0, inner=None, density_norm="width", linewidth=0.8,
                       fill=False, legend=False, **kw)  # fmt: skip
        sns.stripplot(ax=ax, dodge=True, size=1.5, alpha=0.35, jitter=0.3, legend=True, **kw)
        ax.set_xlabel("")
        ax.set_ylabel("return of each episode")
        ax.set_ylim(bottom=min(0, df["return"].min()))
        ax.tick_params(axis="x", rotation=30)
        for t in ax.get_xticklabels():
            t.set_ha("right")
        if title:
            ax.set_title(title, loc="left")
        ax.legend(loc="upper right", markerscale=4)
        fig.tight_layout()
    return fig
