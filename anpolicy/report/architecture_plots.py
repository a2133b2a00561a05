"""The architecture chapter's drawings: the Attention Neuron's data flow with shapes
(`draw_attention_neuron`), the parameter tables (`parameter_table`, `AN_PARAMETER_ROLES`)
and the invariance-properties figure (`plot_invariance`). Drawing only: the numbers come
from `anpolicy.study.streams`."""

from __future__ import annotations

import numpy as np

from anpolicy.report import style

COLORS = {
    "input": "#dbe9f6",
    "state": "#fde9c9",
    "attention": "#e3d7f0",
    "output": "#d6efd6",
    "fixed": "#eeeeee",
}


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
