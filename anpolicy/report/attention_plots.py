"""Figures of the attention chapter: reshuffle heatmaps of `closed_loop_pair` results
(computed by `anpolicy.study.attention`). Drawing only."""

from __future__ import annotations

import numpy as np

from anpolicy.sim import physics
from anpolicy.study.attention import align_attention

OBS_LABELS = (r"$x$", r"$\dot x$", r"$\cos\theta$", r"$\sin\theta$", r"$\dot\theta$")


def column_labels(perm, obs=None) -> list[str]:
    """Tick labels for attention columns: the physical variable each input column
    carries (``perm[j] % 5``), with its current value when ``obs`` is given."""
    labels = []
    for j, p in enumerate(np.asarray(perm)):
        name = OBS_LABELS[int(p) % physics.OBS_DIM]
        labels.append(name if obs is None else f"{name}\n{float(obs[j]):+.2f}")
    return labels


def plot_reshuffle_heatmaps(pairs: dict, episode: int, t: int, titles: dict | None = None):
    """One row per condition of `closed_loop_pair` results ``pairs[cond] = (ref, twin)``:
    the reference's attention at step ``t`` in its own order, the same permuted into the
    reshuffled run's order (what equivariance demands), the reshuffled run's attention,
    and the absolute difference. Columns are labelled by the physical variable they carry
    and its value at step ``t``. Returns the figure."""
    import matplotlib.pyplot as plt

    titles = titles or {}
    rows = list(pairs)
    fig, axes = plt.subplots(
        len(rows), 4, figsize=(11, 3.1 * len(rows)), constrained_layout=True, squeeze=False
    )
    for i, cond in enumerate(rows):
        ref, twin = pairs[cond][0][episode], pairs[cond][1][episode]
        a_ref, a_tw = ref["attention"][t], twin["attention"][t]
        aligned = align_attention(a_ref, ref["perm"][t], twin["perm"][t]).numpy()
        diff = np.abs(a_tw - aligned)
        panels = [
            (a_ref, column_labels(ref["perm"][t], ref["obs"][t]), r"reference $A_t$"),
            (aligned, column_labels(twin["perm"][t], twin["obs"][t]), r"$A_t P$ (permuted)"),
            (a_tw, column_labels(twin["perm"][t], twin["obs"][t]), r"reshuffled run $A'_t$"),
        ]
        for ax, (a, labels, name) in zip(axes[i, :3], panels, strict=True):
            im = ax.imshow(a, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
            ax.set_xticks(range(a.shape[1]), labels, fontsize=8)
            ax.set_title(name, fontsize=10)
            ax.set_yticks([0, 5, 10, 15])
        axes[i, 0].set_ylabel(f"{titles.get(cond, cond)}\nquery k", fontsize=9)
        vmax = max(float(diff.max()), 1e-12)
        imd = axes[i, 3].imshow(diff, cmap="magma", vmin=0, vmax=vmax, aspect="auto")
        axes[i, 3].set_xticks(range(diff.shape[1]), panels[2][1], fontsize=8)
        axes[i, 3].set_title(rf"$|A'_t - A_t P|$, max {diff.max():.2g}", fontsize=10)
        axes[i, 3].set_yticks([0, 5, 10, 15])
        fig.colorbar(imd, ax=axes[i, 3], shrink=0.8)
    cb = fig.colorbar(im, ax=axes[-1, :3], orientation="horizontal", shrink=0.5, label="attention")
    cb.set_ticks([-1, -0.5, 0, 0.5, 1])
    return fig
