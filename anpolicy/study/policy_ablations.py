"""Policy-level ablations of the Attention Neuron: attention and positional queries.

`uniform_attention` (an ``attention_transform`` that removes the channel selection),
`with_positions` with `shuffled_position_tables` / `random_position_tables` (the
positional queries' table, (16, 8); a (P, 16, 8) table gives each population member its
own table).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from anpolicy.sim.policy import AttentionNeuronPolicy


def uniform_attention(att: torch.Tensor) -> torch.Tensor:
    """Replace the attention (P, R, 16, C) by uniform weights over channels: each query
    weighs every channel with its mean weight (the per-query scale is kept, the
    selection of channels is removed). Use as ``AttentionNeuronPolicy(attention_transform=
    uniform_attention)``."""
    return att.mean(dim=-1, keepdim=True).expand_as(att).contiguous()


def with_positions(policy: AttentionNeuronPolicy, table) -> AttentionNeuronPolicy:
    """A copy of ``policy`` whose positional table (the queries' inputs) is ``table``:
    (16, 8) for every member, or (P, 16, 8), one per population member (then run with
    P parameter vectors). The original policy is not modified."""
    t = torch.as_tensor(np.asarray(table), dtype=torch.float32)
    shape = tuple(policy.positions.shape)
    if t.shape[-2:] != shape or t.ndim not in (2, 3):
        raise ValueError(f"position table must be {shape} or (P, *{shape}), got {tuple(t.shape)}")
    new = copy.copy(policy)
    new.positions = t
    return new


def shuffled_position_tables(policy: AttentionNeuronPolicy, n: int, seed: int = 0) -> np.ndarray:
    """``n`` copies of the policy's table with rows (queries) randomly permuted, each
    with a permutation that moves at least one row: (n, 16, 8) float32."""
    base = policy.positions.numpy()
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        p = rng.permutation(base.shape[0])
        if (p != np.arange(base.shape[0])).any():
            out.append(base[p])
    return np.stack(out).astype(np.float32)


def random_position_tables(policy: AttentionNeuronPolicy, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random tables N(0, s^2) with s the RMS of the policy's table: (n, 16, 8)."""
    base = policy.positions.numpy()
    s = float(np.sqrt((base.astype(np.float64) ** 2).mean()))
    rng = np.random.default_rng(seed)
    return (s * rng.standard_normal((n, *base.shape))).astype(np.float32)
