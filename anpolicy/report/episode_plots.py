"""Figures of recorded episodes and of the environment chapter: frames and animation of
an episode (`states_from_trace`, `filmstrip`, `episode_animation_html`), action/reward
traces and an attention matrix (`plot_episode_traces`, `plot_attention`), means with 95 %
intervals (`errorbar_means`), the doomed starts and the return ceiling, and the standard
caption line (`caption`: agent, episodes, seed). Drawing only."""

from __future__ import annotations

import numpy as np

from anpolicy.report import style

OBS_LABELS = ("x", "ẋ", "cos θ", "sin θ", "θ̇")


def caption(agent: str, n_episodes: int, seed: int, extra: str = "") -> str:
    """'Agent: X; N episodes; seed S.' plus optional extra text."""
    text = f"Agent: {agent}; {n_episodes} episode{'s' if n_episodes != 1 else ''}; seed {seed}."
    return f"{text} {extra}".strip()


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


def plot_attention(
    ax, attention, perm=None, title: str = "", colorbar: bool = True, label: str = "attention $A$"
):
    """Show an attention matrix (16, C) with columns labelled by the physical channel
    they carry (``perm[j]``); values in [-1, 1]; ``label``: the colour bar's."""
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
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
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


def explorer_figure(trace, ret, length, changes, t, scores=None, saturated=None):
    """The explorer's figure: action and reward of a recorded episode (``trace``, return
    ``ret``, ``length`` steps, reshuffles at ``changes``) with step ``t`` marked, beside the
    attention at step ``t`` (``saturated``: its saturated share) or, when ``scores`` (T, 16,
    C) is given, the scores Q Kᵀ before tanh on one colour scale for the whole episode:
    linear where tanh is not saturated (|s| < atanh(0.99) = 2.65), logarithmic beyond."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import SymLogNorm

    from anpolicy.study.explorer_model import SATURATED

    fig = plt.figure(figsize=(11, 4.2))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.9, 1], hspace=0.1, wspace=0.25)
    ax_a = fig.add_subplot(grid[0, 0])
    ax_r = fig.add_subplot(grid[1, 0], sharex=ax_a)
    plot_episode_traces([ax_a, ax_r], trace, marks=[c for c in changes if c < length])
    for ax in (ax_a, ax_r):
        ax.axvline(t, color="C3", lw=1)
    ax_a.tick_params(labelbottom=False)
    ax_a.set_title(f"return {ret:.1f}; dashed: reshuffles; red: step {t}", fontsize=9)
    ax_att = fig.add_subplot(grid[:, 1])
    if scores is not None:
        unsaturated = float(np.arctanh(SATURATED))  # |Q K^T| below this: |A| < 0.99
        im = plot_attention(ax_att, scores[t], perm=trace["perm"][t], label="score $Q K^\\top$")
        lim = max(float(np.abs(scores).max()), 2 * unsaturated)
        im.set_norm(SymLogNorm(unsaturated, vmin=-lim, vmax=lim))
        ax_att.set_title(f"scores Q Kᵀ at step {t}; |s| > {unsaturated:.2f} saturates", fontsize=10)
    else:
        plot_attention(
            ax_att,
            trace["attention"][t],
            perm=trace["perm"][t],
            title=f"attention at step {t}: {saturated:.0%} saturated",
        )
    return fig
