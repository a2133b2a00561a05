"""Figure helpers shared by the chapters (matplotlib only; no computation here).

- `draw_attention_neuron`: the Attention Neuron's data flow, with shapes.
- `states_from_trace` + `filmstrip`: frames of a recorded episode.
- `plot_episode_traces`, `plot_attention`: action/reward traces and an attention matrix.
- `errorbar_means`: means with 95 % intervals from `anpolicy.analysis.summarize`.
- `caption`: the standard caption line (agent, episodes, seed).
"""

from __future__ import annotations

import numpy as np

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
    step of a recorded episode (`anpolicy.rollout` traces), undoing the permutation.

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


def filmstrip(states, steps, ncols: int = 4, width: float = 11.0, titles=None):
    """A grid of rendered frames of ``states`` (T, 4) at the given ``steps``.

    Returns the figure. Frames come from `anpolicy.env.render_frame`.
    """
    import matplotlib.pyplot as plt

    from anpolicy.env import render_frame

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
    ax.set_xticks(range(n), labels, fontsize=8)
    ax.set_ylabel("query (output feature)")
    ax.set_xlabel("input channel $j$ and the observation it carries")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def errorbar_means(ax, labels, summaries, color="C0", reference=None, horizontal=True):
    """Means with 95 % CIs (from `anpolicy.analysis.summarize` dicts), one row per label;
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
    """Three panels for `anpolicy.streams.invariance_properties` results.

    ``props``: setting name -> result. Left: actions of one stream of ``setting`` (the
    first by default) around the reshuffle under each condition; ``stream_id=None``
    picks the stream where the reshuffle without intervention changes the actions most.
    Middle: max |difference| per property and setting (log scale; exact zeros drawn at
    1e-9). Right: property (e), hidden-state difference after the reshuffle per stream.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [2.0, 1.3, 1.3]})
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
    for key, style, lab in styles:
        axes[0].plot(t, tr[key][t0:t1, 0, stream_id], label=lab, **style)
    axes[0].axvline(k, color="grey", ls="--", lw=0.8)
    axes[0].text(k, 1.02, " reshuffle", fontsize=8, color="grey", va="bottom")
    axes[0].set(xlabel="step", ylabel="action $a_t$", ylim=(-1.05, 1.15))
    axes[0].set_title(f"{setting}, stream {stream_id}", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)

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
    axes[1].text(eps32 * 1.5, 4.45, "float32 eps", fontsize=7, color="grey")
    axes[1].set_xlabel("max |difference|")
    axes[1].set_title("the five properties", fontsize=10)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))

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
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    return fig


def plot_doomed_starts(starts, doomed, braking_length, short: int = 50, title: str = ""):
    """Left: start position vs velocity coloured by doomed/saveable; right: histogram of
    how many steps the doomed starts last under braking. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for flag, color, lab in [(False, "C0", "saveable"), (True, "C3", "doomed")]:
        sel = doomed == flag
        axes[0].scatter(starts[sel, 0], starts[sel, 1], s=2, color=color, alpha=0.4, label=lab)
    axes[0].set(xlabel="start position $x$ (m)", ylabel="start velocity $\\dot x$ (m/s)")
    axes[0].legend(markerscale=6, loc="upper right", fontsize=8)
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

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.4, 1]})
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
    axes[0].legend(fontsize=8)
    errorbar_means(axes[1], list(summaries), list(summaries.values()))
    axes[1].axvline(ceiling, color="C3", ls="--")
    axes[1].text(
        ceiling, 0.02, " ceiling", color="C3", fontsize=8, transform=axes[1].get_xaxis_transform()
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

    from anpolicy.env import render_frame

    steps = [int(s) for s in steps]
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    ax.axis("off")
    image = ax.imshow(render_frame(np.asarray(states[steps[0]])))

    def draw(i):
        image.set_data(render_frame(np.asarray(states[steps[i]])))
        ax.set_title(f"step {steps[i]}", fontsize=8)
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
