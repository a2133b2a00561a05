"""Attention analysis: is the Attention Neuron's attention matrix equivariant?

The layer computes, per input channel j, an LSTM state (h_j, c_j) and an attention
column ``A[:, j] = tanh(Q K_j^T)`` (16 queries). With ``policy_obs[j] = obs[perm[j]]``,
input column j carries physical channel ``perm[j]``. Two runs that feed the same
physical observations in two orders ``p`` and ``q`` are *equivalent* when every physical
channel gets the same attention column in both, i.e.

    A_q[:, j] = A_p[:, argsort(p)[q[j]]]      (j < n_permuted)

which is ``A_q = A_p P`` with the permutation matrix ``P[i, j] = [i == argsort(p)[q[j]]]``
-- the same index map as the correct ("relative") permutation of the LSTM state rows,
`anpolicy.sim.interventions.relative_permutation`. Appended noise channels are not permuted.

Where the tools live (this module re-exports them):
- `anpolicy.study.twin_rollout`: `align_attention`, `invariance_error` (the comparison
  above, vectorised) and `twin_rollout`: a *reference* run and a *twin* run from the
  same start, both driven by the reference's actions; the twin's observation order
  changes at ``t_shuffle``, under a state intervention;
- `anpolicy.study.attention_stats`: `AttentionStats`, a rollout hook accumulating what
  the attention looks at (per physical channel and noise channels);
- here: the attention chapter's summaries (`summarize_or_none`, `format_ci`,
  `steps_below`) and the reshuffle heatmaps' pairs (`reshuffle_heatmap_pairs`).
"""

from __future__ import annotations

import numpy as np

from anpolicy import stats
from anpolicy.sim import physics
from anpolicy.study.attention_stats import (
    OBS_NAMES,
    AttentionStats,
)
from anpolicy.study.twin_rollout import (
    TWIN_CONDITIONS,
    TwinResult,
    align_attention,
    closed_loop_pair,
    column_map,
    error_bands,
    invariance_error,
    sample_twin_orders,
    twin_rollout,
    value_bands,
)

__all__ = [
    "AttentionStats",
    "OBS_NAMES",
    "TWIN_CONDITIONS",
    "TwinResult",
    "align_attention",
    "closed_loop_pair",
    "column_map",
    "derangement",
    "error_bands",
    "format_ci",
    "invariance_error",
    "reshuffle_heatmap_pairs",
    "sample_twin_orders",
    "steps_below",
    "summarize_or_none",
    "twin_rollout",
    "value_bands",
]


# ---------------------------------------------------------------- the comparison


# ---------------------------------------------------------------- the twin rollout


# ----------------------------------------------------------- attention statistics


# ------------------------------------------------------------------ reporting


def summarize_or_none(x) -> dict | None:
    """`anpolicy.stats.summarize` of the finite values of ``x``; None if there are none."""
    from anpolicy.stats import summarize

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    return summarize(x) if x.size else None


def format_ci(s: dict | None, spec: str = ".3g") -> str:
    """'0.135 [0.129, 0.141] (n=463)' with any format spec, no '-0'; 'n/a' for None."""
    return stats.format_ci(s, spec, n=True, minus_zero=False)


def steps_below(bands: dict, level: float) -> int | None:
    """First step after the reshuffle (>= 0) from which the mean error stays below
    ``level`` for the rest of the window; None if it never does."""
    t, mean = bands["t"], bands["mean"]
    after = t >= 0
    above = np.nonzero(after & ~(mean < level))[0]
    if not above.size:
        return int(t[after][0]) if after.any() else None
    last = above[-1]
    return int(t[last + 1]) if last + 1 < t.size else None


def derangement(seed: int, n: int = physics.OBS_DIM) -> np.ndarray:
    """A random permutation of range(n) that moves every element (seeded)."""
    rng = np.random.default_rng(seed)
    p = rng.permutation(n)
    while (p == np.arange(n)).any():
        p = rng.permutation(n)
    return p


def reshuffle_heatmap_pairs(policy, params, n_episodes: int, seed: int, t_shuffle: int,
                            conditions=("none", "zero_hc", "relative")):  # fmt: skip
    """`closed_loop_pair` for each condition (identity order, then a derangement at
    ``t_shuffle``) and the first episode that runs past the reshuffle in all of them.
    Returns ``(pairs, episode)``; ValueError if no recorded episode gets there."""
    first, second = np.arange(physics.OBS_DIM), derangement(seed)
    pairs = {
        c: closed_loop_pair(policy, params, n_episodes, seed, first, second, t_shuffle, c)
        for c in conditions
    }
    for e in range(n_episodes):
        if all(
            len(ref[e]["action"]) > t_shuffle and len(tw[e]["action"]) > t_shuffle
            for ref, tw in pairs.values()
        ):
            return pairs, e
    raise ValueError(f"no recorded episode runs past step {t_shuffle}: record more episodes")
