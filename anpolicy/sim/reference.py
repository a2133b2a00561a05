"""A plain, one-episode Attention Neuron written with ``torch.nn`` modules.

It follows the structure of the original authors' code (an ``nn.LSTMCell`` over the
channels, ``nn.Linear`` projections, state kept inside the module) and serves two jobs:
an independent check of the batched `AttentionNeuronPolicy` (tests compare one-step
maps), and the per-episode baseline of ``python -m anpolicy bench``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from anpolicy.sim.policy import AttentionNeuronPolicy, pos_table


class ReferenceAttentionNeuron(nn.Module):
    """One-episode Attention Neuron policy; ``act(obs (C,)) -> float``."""

    def __init__(self, hidden_dim: int = 16, msg_dim: int = 32, pos_em_dim: int = 8):
        super().__init__()
        self.lstm = nn.LSTMCell(input_size=2, hidden_size=pos_em_dim)
        self.proj_q = nn.Linear(pos_em_dim, msg_dim, bias=False)
        self.proj_k = nn.Linear(pos_em_dim, msg_dim, bias=False)
        self.out = nn.Linear(hidden_dim, 1)
        self.register_buffer("positions", torch.from_numpy(pos_table(hidden_dim, pos_em_dim)))
        self.layout = AttentionNeuronPolicy(hidden_dim, msg_dim, pos_em_dim)
        self.reset()

    def load_flat(self, params) -> ReferenceAttentionNeuron:
        """Load a flat (913,) vector in the authors' layout."""
        named = self.layout.unflatten(params)
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(named[name][0])
        return self

    def reset(self) -> None:
        self.hx = None
        self.prev_action = torch.zeros(1)
        self.attention = None

    @torch.no_grad()
    def act(self, obs) -> float:
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, 1)  # (C, 1)
        x = torch.cat([o, self.prev_action.expand(o.shape[0], 1)], dim=1)  # (C, 2)
        if self.hx is None:
            z = torch.zeros(o.shape[0], self.lstm.hidden_size)
            self.hx = (z, z.clone())
        self.hx = self.lstm(x, self.hx)
        q = self.proj_q(self.positions)  # (16, 32)
        k = self.proj_k(self.hx[0])  # (C, 32)
        self.attention = torch.tanh(q @ k.T)  # (16, C)
        msg = torch.tanh(self.attention @ o).T  # (1, 16)
        action = torch.tanh(self.out(msg)).reshape(1)
        self.prev_action = action
        return float(action[0])
