"""Figure helpers shared by the chapters (matplotlib only; no computation here).

- `draw_attention_neuron`: the Attention Neuron's data flow, with shapes.
- `states_from_trace` + `filmstrip`: frames of a recorded episode.
- `plot_episode_traces`, `plot_attention`: action/reward traces and an attention matrix.
- `errorbar_means`: means with 95 % intervals from `anpolicy.stats.summarize`.
- `caption`: the standard caption line (agent, episodes, seed).
"""

from __future__ import annotations

import numpy as np

from anpolicy.report import style

OBS_LABELS = ("x", "ẋ", "cos θ", "sin θ", "θ̇")
COLORS = {
    "input": "#dbe9f6",
    "state": "#fde9c9",
    "attention": "#e3d7f0",
    "output": "#d6efd6",
    "fixed": "#eeeeee",
}


def caption(agent: str, n_episodes: int, seed: int, extra: str = "") -> str:
    """'Agent: X; N episodes; seed S.' plus optional extra text."""
    text = f"Agent: {agent}; {n_episodes} episode{'s' if n_episodes != 1 else ''}; seed {seed}."
    return f"{text} {extra}".strip()


# ------------------------------------------------------------------ the diagram


def _box(ax, xy, w, h, text, color, fontsize=9):
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=color,
            edgecolor="#444444",
            linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, text=None, offset=(0.0, 0.08), ha="center", dashed=False):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops=dict(
            arrowstyle="-|>",
            color="#333333",
            lw=1.2,
            shrinkA=0,
            shrinkB=0,
            linestyle="--" if dashed else "-",
        ),
    )
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha=ha, va="bottom", fontsize=9, color="#333333")


def _path(ax, points, text=None, text_at=None, dashed=False):
    """A polyline through ``points`` with an arrow head at the last point."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color="#333333", lw=1.2, ls="--" if dashed else "-")
    _arrow(ax, points[-2], points[-1], dashed=dashed)
    if text:
        ax.text(*text_at, text, fontsize=9, color="#333333", ha="center", va="bottom")


def draw_attention_neuron(ax=None, n_channels: str = "C"):
    """Draw the Attention Neuron policy as boxes and arrows, with every tensor's shape.

    Returns the axes. Blue: inputs; orange: per-channel recurrent state; purple:
    attention; green: output; grey: fixed (not learned) table.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 5.4))
    C = n_channels
    w, h = 2.5, 1.1
    pos = {
        "obs": (1.3, 0.6),
        "prev": (1.3, 2.6),
        "lstm": (4.6, 1.6),
        "keys": (7.9, 1.6),
        "table": (4.6, 4.0),
        "queries": (7.9, 4.0),
        "att": (11.2, 2.8),
        "msg": (11.2, 0.3),
        "act": (14.5, 0.3),
    }
    _box(
        ax, pos["obs"], w, h, f"observation $o_t$\n({C},): one scalar\nper channel", COLORS["input"]
    )
    _box(ax, pos["prev"], w, h, "previous action\n$a_{t-1}$ (1,)", COLORS["input"])
    _box(
        ax,
        pos["lstm"],
        w + 0.3,
        h + 0.5,
        "LSTMCell, the same for\nevery channel $i$:\ninput $[o_{t,i},\\ a_{t-1}]$ (2,)\n"
        f"state $h_t, c_t$: ({C}, 8)",
        COLORS["state"],
    )
    _box(ax, pos["keys"], w, h, f"keys\n$K = h_t W_k^\\top$\n({C}, 32)", COLORS["attention"])
    _box(
        ax,
        pos["table"],
        w + 0.3,
        h,
        "position table $P$\n(16, 8): fixed sinusoids",
        COLORS["fixed"],
    )
    _box(ax, pos["queries"], w, h, "queries\n$Q = P W_q^\\top$\n(16, 32)", COLORS["attention"])
    _box(
        ax, pos["att"], w, h, f"attention\n$A = \\tanh(Q K^\\top)$\n(16, {C})", COLORS["attention"]
    )
    _box(ax, pos["msg"], w, h, "message\n$m = \\tanh(A\\, o_t)$\n(16,)", COLORS["attention"])
    _box(ax, pos["act"], w, h, "action\n$a_t = \\tanh(w^\\top m + b)$\n(1,)", COLORS["output"])

    def side(name, where, width=w, height=h):
        x, y = pos[name]
        return {
            "left": (x - width / 2, y),
            "right": (x + width / 2, y),
            "top": (x, y + height / 2),
            "bottom": (x, y - height / 2),
        }[where]

    lw, lh = w + 0.3, h + 0.5
    _arrow(
        ax, side("obs", "right"), (pos["lstm"][0] - lw / 2, 1.2), "$o_{t,i}$", offset=(0.1, -0.45)
    )
    _arrow(ax, side("prev", "right"), (pos["lstm"][0] - lw / 2, 2.0))
    _arrow(ax, side("lstm", "right", lw, lh), side("keys", "left"), "$h_t$")
    _arrow(ax, side("table", "right", w + 0.3), side("queries", "left"))
    _arrow(ax, side("keys", "right"), (pos["att"][0] - w / 2, 2.55), "$K$", offset=(0, 0.05))
    _arrow(ax, side("queries", "right"), (pos["att"][0] - w / 2, 3.05), "$Q$", offset=(0, 0.05))
    _arrow(ax, side("att", "bottom"), side("msg", "top"), "$A$", offset=(0.15, -0.1), ha="left")
    _arrow(ax, side("msg", "right"), side("act", "left"))
    # the raw observation is the value vector of the attention
    x0, y0 = side("obs", "bottom")
    _path(
        ax,
        [(x0, y0), (x0, -0.75), (pos["msg"][0], -0.75), side("msg", "bottom")],
        text="$o_t$ is also the value vector: $m_k = \\tanh(\\sum_i A_{ki}\\, o_{t,i})$",
        text_at=(6.2, -0.72),
    )
    # recurrence: a_t is next step's a_{t-1}
    xa, ya = side("act", "top")
    xp, yp = side("prev", "top")
    _path(
        ax,
        [(xa, ya), (xa, 5.05), (xp, 5.05), (xp, yp)],
        dashed=True,
        text="next step: $a_t$ becomes $a_{t-1}$; $h_t, c_t$ are carried over per channel",
        text_at=(8.0, 5.08),
    )
    ax.set_xlim(-0.1, 15.9)
    ax.set_ylim(-1.0, 5.5)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


# ------------------------------------------------------------- episode frames


def states_from_trace(trace: dict) -> np.ndarray:
    """Physical states (T, 4) ``[x, x_dot, theta, theta_dot]`` seen by the policy at each
    step of a recorded episode (`anpolicy.sim.rollout` traces), undoing the permutation.

    ``trace["obs"][t, j]`` is physical channel ``trace["perm"][t, j]``; theta is
    recovered as ``atan2(sin, cos)`` (in (-pi, pi], 0 = upright).
    """
    obs, perm = np.asarray(trace["obs"]), np.asarray(trace["perm"])
    n = perm.shape[1]
    if n != 5:
        raise ValueError("states_from_trace needs the 5 plain observations (no copies)")
    phys = np.empty((obs.shape[0], 5))
    np.put_along_axis(phys, perm, obs[:, :n], axis=1)
    x, x_dot, cos_t, sin_t, th_dot = phys.T
    return np.stack([x, x_dot, np.arctan2(sin_t, cos_t), th_dot], axis=1)


def filmstrip(states, steps, ncols: int = 4, width: float = style.WIDTH, titles=None):
    """A grid of rendered frames of ``states`` (T, 4) at the given ``steps``.

    Returns the figure. Frames come from `anpolicy.sim.env.render_frame`.
    """
    import matplotlib.pyplot as plt

    from anpolicy.sim.env import render_frame

    steps = [int(s) for s in steps]
    nrows = int(np.ceil(len(steps) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, width / ncols * 0.5 * nrows + 0.3 * nrows), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(steps):
            continue
        ax.imshow(render_frame(np.asarray(states[steps[k]])))
        ax.set_title(titles[k] if titles else f"step {steps[k]}", fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------- traces, attention


def plot_episode_traces(axes, trace: dict, marks=(), label: str | None = None):
    """Action (axes[0]) and reward (axes[1]) of a recorded episode; vertical lines at
    ``marks`` (e.g. reshuffle steps)."""
    t = np.arange(len(trace["action"]))
    axes[0].plot(t, trace["action"], lw=0.8, label=label)
    axes[0].set_ylabel("action $a_t$")
    axes[0].set_ylim(-1.1, 1.1)
    axes[1].plot(t, trace["reward"], lw=0.8, label=label)
    axes[1].set_ylabel("reward")
    axes[1].set_xlabel("step")
    for ax in axes:
        for m in marks:
            ax.axvline(m, color="#999999", lw=0.8, ls="--")
    return axes


def plot_attention(ax, attention, perm=None, title: str = "", colorbar: bool = True):
    """Show an attention matrix (16, C) with columns labelled by the physical channel
    they carry (``perm[j]``); values in [-1, 1]."""
    att = np.asarray(attention)
    im = ax.imshow(att, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    n = att.shape[1]
    if perm is not None and len(perm) == n == len(OBS_LABELS):
        labels = [f"{j}\n{OBS_LABELS[int(p)]}" for j, p in enumerate(perm)]
    else:
        labels = [str(j) for j in range(n)]
    ax.set_xticks(range(n), labels, fontsize=9)
    ax.set_ylabel("query (output feature)")
    ax.set_xlabel("input channel $j$ and the observation it carries")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def errorbar_means(ax, labels, summaries, color="C0", reference=None, horizontal=True):
    """Means with 95 % CIs (from `anpolicy.stats.summarize` dicts), one row per label;
    ``reference``: optional dict label -> value drawn as crosses (e.g. published)."""
    means = np.array([s["mean"] for s in summaries])
    lo = means - np.array([s["ci95"][0] for s in summaries])
    hi = np.array([s["ci95"][1] for s in summaries]) - means
    pos = np.arange(len(labels))
    if horizontal:
        ax.errorbar(means, pos, xerr=[lo, hi], fmt="o", color=color, capsize=3)
        ax.set_yticks(
            pos, [f"{lab}\n(n={s['n']})" for lab, s in zip(labels, summaries, strict=True)]
        )
        ax.set_ylim(len(labels) - 0.5, -0.5)
    else:
        ax.errorbar(pos, means, yerr=[lo, hi], fmt="o", color=color, capsize=3)
        ax.set_xticks(
            pos, [f"{lab}\n(n={s['n']})" for lab, s in zip(labels, summaries, strict=True)]
        )
    if reference:
        for k, lab in enumerate(labels):
            if lab in reference:
                xy = (reference[lab], k) if horizontal else (k, reference[lab])
                ax.plot(*xy, "x", color="black", ms=8)
    return ax


INVARIANCE_KEYS = ("a_fixed", "b_relative", "c_no_intervention", "d_zero_state", "e_absolute")


def plot_invariance(props: dict, stream_id: int | None = None, window: int = 40, setting=None):
    """Three panels for `anpolicy.study.streams.invariance_properties` results.

    ``props``: setting name -> result. Left: actions of one stream of ``setting`` (the
    first by default) around the reshuffle under each condition; ``stream_id=None``
    picks the stream where the reshuffle without intervention changes the actions most.
    Middle: max |difference| per property and setting (log scale; exact zeros drawn at
    1e-9). Right: property (e), hidden-state difference after the reshuffle per stream.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 3, figsize=(style.WIDTH, 3.8), gridspec_kw={"width_ratios": [2.0, 1.3, 1.3]}
    )
    setting = setting or next(iter(props))
    r = props[setting]
    k, tr = r["reshuffle_step"], r["traces"]
    if stream_id is None:
        effect = np.abs(tr["no_intervention"] - tr["unshuffled"]).max(axis=(0, 1))
        stream_id = int(np.argmax(effect))
    t0, t1 = max(0, k - window), min(r["n_steps"], k + 2 * window)
    t = np.arange(t0, t1)
    styles = [
        ("unshuffled", dict(color="black", lw=3, alpha=0.3), "unshuffled"),
        ("fixed", dict(color="C0", lw=1.2, ls="--"), "(a) fixed permutation"),
        ("relative", dict(color="C2", lw=1.5, ls=":"), "(b) reshuffle + relative state perm."),
        ("absolute", dict(color="C1", lw=2.2, alpha=0.8), "(e) reshuffle + absolute state perm."),
        ("no_intervention", dict(color="C3", lw=1), "(c) reshuffle, state left in place"),
    ]
    for key, kw, lab in styles:
        axes[0].plot(t, tr[key][t0:t1, 0, stream_id], label=lab, **kw)
    axes[0].axvline(k, color="grey", ls="--", lw=0.8)
    axes[0].text(k, 1.02, " reshuffle", fontsize=9, color="grey", va="bottom")
    axes[0].set(xlabel="step", ylabel="action $a_t$", ylim=(-1.05, 1.15))
    axes[0].set_title(f"{setting}, stream {stream_id}", fontsize=10)
    axes[0].legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)

    floor = 1e-9
    height = 0.8 / len(props)
    for i, (name, p) in enumerate(props.items()):
        vals = [max(p[key]["max_abs_diff"], floor) for key in INVARIANCE_KEYS]
        ypos = np.arange(5) + (i - (len(props) - 1) / 2) * height
        axes[1].hlines(ypos, floor, vals, color=f"C{i}", lw=1, alpha=0.5)
        axes[1].scatter(vals, ypos, color=f"C{i}", marker="os"[i % 2], s=30, label=name, zorder=3)
    axes[1].set_yticks(
        range(5),
        ["(a) fixed", "(b) relative", "(c) none", "(d) zero h, c", "(e) absolute\nvs relative"],
    )
    axes[1].invert_yaxis()
    axes[1].set_xscale("log")
    axes[1].set_xlim(floor, 10)
    eps32 = float(np.finfo(np.float32).eps)
    axes[1].axvline(eps32, color="grey", ls=":", lw=1)
    axes[1].text(eps32 * 1.5, 4.45, "float32 eps", fontsize=9, color="grey")
    axes[1].set_xlabel("max |difference|")
    axes[1].set_title("the five properties", fontsize=10)
    axes[1].legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.18))

    for i, (name, p) in enumerate(props.items()):
        e = p["e_absolute"]
        d = np.maximum(np.array(e["per_stream_state"]), floor)
        ident = np.array(e["p1_identity"])
        axes[2].scatter(
            np.flatnonzero(~ident), d[~ident], s=14, marker="os"[i % 2], color=f"C{i}", label=name
        )
        axes[2].scatter(np.flatnonzero(ident), d[ident], s=60, marker="*", color="black")
    axes[2].set_yscale("log")
    axes[2].set_ylim(floor / 3, 30)
    axes[2].set(xlabel="stream", ylabel="max |h(absolute) - h(relative)|")
    axes[2].set_title("(e) state after the reshuffle\n(star: $\\Pi_1 = I$)", fontsize=10)
    axes[2].legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    return fig


def plot_doomed_starts(starts, doomed, braking_length, short: int = 50, title: str = ""):
    """Left: start position vs velocity coloured by doomed/saveable; right: histogram of
    how many steps the doomed starts last under braking. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(style.WIDTH, 3.2))
    for flag, color, lab in [(False, "C0", "saveable"), (True, "C3", "doomed")]:
        sel = doomed == flag
        axes[0].scatter(starts[sel, 0], starts[sel, 1], s=2, color=color, alpha=0.4, label=lab)
    axes[0].set(xlabel="start position $x$ (m)", ylabel="start velocity $\\dot x$ (m/s)")
    axes[0].legend(markerscale=6, loc="upper right", fontsize=9)
    axes[0].set_title(title, fontsize=10)
    axes[1].hist(braking_length[doomed], bins=np.arange(0, short + 1, 2), color="C3")
    axes[1].set(xlabel="steps before leaving the track under braking", ylabel="doomed starts")
    axes[1].set_title("how fast doomed starts leave", fontsize=10)
    fig.tight_layout()
    return fig


def plot_returns_vs_ceiling(returns, doomed, summaries: dict, ceiling: float, title: str = ""):
    """Left: histogram of one agent's returns split by doomed/saveable start; right: mean
    returns with 95 % CIs (``summaries``: label -> `summarize` dict) against the
    ceiling. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 2, figsize=(style.WIDTH, 3.2), gridspec_kw={"width_ratios": [1.4, 1]}
    )
    returns, doomed = np.asarray(returns), np.asarray(doomed)
    axes[0].hist(
        [returns[~doomed], returns[doomed]],
        bins=np.linspace(-50, 1000, 43),
        stacked=True,
        color=["C0", "C3"],
        label=["saveable start", "doomed start"],
    )
    axes[0].set(xlabel="episode return", ylabel="episodes")
    axes[0].set_title(title, fontsize=9)
    axes[0].legend(fontsize=9)
    errorbar_means(axes[1], list(summaries), list(summaries.values()))
    axes[1].axvline(ceiling, color="C3", ls="--")
    axes[1].text(
        ceiling, 0.02, " ceiling", color="C3", fontsize=9, transform=axes[1].get_xaxis_transform()
    )
    axes[1].set_xlim(0, 1000)
    axes[1].set_xlabel("mean return (95% CI)")
    fig.tight_layout()
    return fig


AN_PARAMETER_ROLES = {
    "lstm.weight_ih": "LSTM input weights: [o_i, a_{t-1}] -> 4 gates x 8",
    "lstm.weight_hh": "LSTM recurrent weights: h_i -> 4 gates x 8",
    "lstm.bias_ih": "LSTM bias (input side)",
    "lstm.bias_hh": "LSTM bias (recurrent side)",
    "proj_q.weight": "W_q: position-table row (8) -> query (32)",
    "proj_k.weight": "W_k: hidden state h_i (8) -> key (32)",
    "out.weight": "w: message (16) -> action",
    "out.bias": "b",
}


def parameter_table(policy, roles: dict | None = None):
    """A pandas table of a policy's parameter tensors (from ``policy.shapes``): shape,
    count, optional role, and a total row."""
    import pandas as pd

    roles = roles or {}
    rows = [
        (name, "x".join(map(str, shape)), int(np.prod(shape)), roles.get(name, ""))
        for name, shape in policy.shapes
    ]
    rows.append(("total", "", int(policy.n_params), ""))
    columns = ["tensor", "shape", "parameters", "role"]
    return pd.DataFrame(rows, columns=columns).set_index("tensor")


def episode_animation_html(states, steps, figsize=(4, 2), dpi: int = 60, interval: int = 100):
    """An HTML/JavaScript animation (matplotlib ``to_jshtml``) of ``states`` (T, 4) at
    the given ``steps``. matplotlib's player links Font Awesome from a CDN for its button
    icons; that link is removed (the book must not load anything from the network; the
    book's theme provides the icons)."""
    import re

    import matplotlib.pyplot as plt
    from matplotlib import animation

    from anpolicy.sim.env import render_frame

    steps = [int(s) for s in steps]
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    ax.axis("off")
    image = ax.imshow(render_frame(np.asarray(states[steps[0]])))

    def draw(i):
        image.set_data(render_frame(np.asarray(states[steps[i]])))
        ax.set_title(f"step {steps[i]}", fontsize=9)
        return (image,)

    anim = animation.FuncAnimation(fig, draw, frames=len(steps), interval=interval)
    html = anim.to_jshtml(default_mode="loop")
    plt.close(fig)
    return re.sub(r"<link[^>]*https?://[^>]*>", "", html)


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


# ------------------------------------------------- two-agent study figures and tables
# Drawing only: every number comes from an `anpolicy.study.chapters.StudyResult`.

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


def _measured(res):
    return [(k, res.agent(k)) for k in ("authors", "ours") if res.agent(k) is not None]


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
        for key, rec in _measured(res):
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


def permutations_table(res):
    """Mean return [95 % CI] per condition and agent, with Tang & Ha's published numbers."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    order = ["none", "reset"] + [f"every_{k}" for k in res.shared["intervals"]] + ["every_1"]
    fnn = (res.shared.get("fnn") or {}).get("conditions", {})
    rows = []
    for c in order:
        row = {"condition": c, "Tang & Ha (mean ± sd)": tang_ha("an", c)}
        for key, rec in _measured(res):
            s = rec.conditions[c]
            row[AGENT_STYLE[key][2]] = ci(s)
            row[f"{AGENT_STYLE[key][2]}: kept"] = "{:.2f} [{:.2f}, {:.2f}]".format(
                s["kept"]["ratio"], *s["kept"]["ci95"]
            )
        row["our FNN"] = ci(fnn[c]) if c in fnn else ""
        row["FNN, Tang & Ha"] = tang_ha("fnn", c)
        rows.append(row)
    return pd.DataFrame(rows).set_index("condition")


def plot_single_reshuffle(res):
    """(a) paired cost of one reshuffle vs its step, (b) share of eligible episodes that
    recover, with the identity and fixed-permutation controls, per agent."""
    from matplotlib.patches import Patch

    parts = (("reshuffle", "reshuffle", 0.9), ("fixed", "fixed perm.", 0.5),
             ("identity", "identity", 0.25))  # fmt: skip
    meas = _measured(res)
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
        for key, rec in _measured(res):
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
        bx.set_title(f"(b) recovery, reshuffle at t₀ = {_first(res).recovery['t0']}", loc="left")
        handles = [Patch(color=AGENT_STYLE[k][0], label=AGENT_STYLE[k][2]) for k, _ in meas]
        bx.legend(handles=handles, loc="lower right")
        fig.tight_layout()
    return fig


def _first(res):
    return _measured(res)[0][1]


def plot_ablations(res):
    """(a) state zeroed every step, (b) paired change vs unshuffled per variant and k."""
    from anpolicy.study.published import STUDY_2025

    labels = ["baseline", "zero_c", "zero_hc", "zero_h", "prev_action"]
    names = ["none", "c\n(study's code)", "h and c", "h", "prev.\naction"]
    x = np.arange(len(labels))
    meas = _measured(res)
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


def reset_table(res):
    """Reset at each reshuffle vs no intervention, paired, per k and agent."""
    import pandas as pd

    from anpolicy.study.claims import ci

    rows = {}
    for key, rec in _measured(res):
        for k, d in rec.reset_vs_nothing.items():
            rows.setdefault(int(k), {})[f"{AGENT_STYLE[key][2]}: reset − nothing"] = ci(d, 1, True)
    df = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    df.index.name = "k"
    return df


def noise_table(res):
    """Mean return and paired difference vs shuffled per condition and agent."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    th_key = {"unshuffled": "none", "shuffled": "reset"}
    rows = []
    for c in _first(res).conditions:
        row = {"input": c, "Tang & Ha (mean ± sd)": tang_ha("an", th_key.get(c, c))}
        for key, rec in _measured(res):
            name = AGENT_STYLE[key][2]
            row[name] = ci(rec.conditions[c])
            row[f"{name} − shuffled"] = ci(rec.paired[c], 1, True) if c in rec.paired else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("input")


def plot_noise(res):
    """Mean return per input condition, both agents."""
    conds = list(_first(res).conditions)
    with style.context():
        fig, ax = style.subplots(height=3.6)
        x = np.arange(len(conds))
        for i, (key, rec) in enumerate(_measured(res)):
            color, marker, label = AGENT_STYLE[key]
            _eb(ax, x + 0.12 * (i - 0.5), [rec.conditions[c] for c in conds], color, marker,
                label, ls="none")  # fmt: skip
        ax.set_xticks(x, [c.replace("_", " ") for c in conds], rotation=30, ha="right")
        ax.set_xlabel("input condition")
        ax.set_ylabel("mean return")
        ax.legend()
        fig.tight_layout()
    return fig


def attention_table(res):
    """The mismatch e_t per condition and agent."""
    import pandas as pd

    from anpolicy.study.attention import TWIN_CONDITIONS, format_ci

    rows = []
    for key, rec in _measured(res):
        for c, e in rec.errors.items():
            rows.append({
                "agent": AGENT_STYLE[key][2], "condition": TWIN_CONDITIONS[c],
                "e at the reshuffle": format_ci(e["after_0"]),
                "e 10 steps later": format_ci(e.get("after_10")),
                "max e at the reshuffle": f"{e['at_reshuffle_max']:.2g}",
                "mean e after": f"{e['mean_after']:.2g}",
                "steps until mean e < 1 %": e["steps_below_faded"],
            })  # fmt: skip
    return pd.DataFrame(rows).set_index(["agent", "condition"])


def plot_attention_errors(res):
    """Mean e_t at the reshuffle and over the window, per condition and agent (log)."""
    conds = res.shared["conditions"]
    with style.context():
        fig, ax = style.subplots(height=3.6)
        x = np.arange(len(conds))
        for i, (key, rec) in enumerate(_measured(res)):
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
    for key, rec in _measured(res):
        label = AGENT_STYLE[key][2]
        for cond, name in conditions.items():
            for r in (getattr(rec, "returns", None) or {}).get(cond, []):
                rows.append((label, name, r))
    df = pd.DataFrame(rows, columns=["agent", "condition", "return"])
    palette = {AGENT_STYLE[k][2]: AGENT_STYLE[k][0] for k, _ in _measured(res)}
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


def scores_table(res):
    """Each measured agent's mean return [95 % CI] unshuffled and shuffled at reset (from
    the permutations chapter's result ``res``), beside Tang & Ha's published mean ± sd."""
    import pandas as pd

    from anpolicy.study.claims import ci
    from anpolicy.study.published import tang_ha

    rows = []
    for key, rec in _measured(res) if res is not None else []:
        name = res.agents[key]["label"] if key in res.agents else AGENT_STYLE[key][2]
        rows.append({
            "agent": name,
            "unshuffled": ci(rec.conditions["none"]),
            "shuffled at reset": ci(rec.conditions["reset"]),
            "episodes": rec.conditions["none"]["n"],
        })  # fmt: skip
    rows.append({
        "agent": "Tang & Ha 2021, published (mean ± sd)",
        "unshuffled": tang_ha("an", "none"),
        "shuffled at reset": tang_ha("an", "reset"),
        "episodes": 1000,
    })  # fmt: skip
    return pd.DataFrame(rows).set_index("agent")
