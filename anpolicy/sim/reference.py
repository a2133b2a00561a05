"""The one plain Attention Neuron written with ``torch.nn`` modules.

It follows the structure of the original authors' code (an ``nn.LSTMCell`` over the
channels, ``nn.Linear`` projections) with the parameters named and shaped like the
authors' 913-value layout (`load_flat`, `flat`). One step (`ReferenceAttentionNeuron.step`)
serves every job that wants a plain module rather than the batched population engine:

- the independent check of the batched `AttentionNeuronPolicy` (tests compare one-step
  maps) and the per-episode baseline of ``python -m anpolicy bench`` (`act`: one
  episode, state kept inside the module);
- distillation and simulator-gradient fine-tuning (differentiable over a batch of
  episodes: `anpolicy.training.distill`, `anpolicy.training.apg`);
- the architecture chapter's step written out (``parts=True`` returns every
  intermediate tensor: `anpolicy.study.streams.explain_step`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from anpolicy.sim.policy import AttentionNeuronPolicy, pos_table


class ReferenceAttentionNeuron(nn.Module):
    """Attention Neuron, one parameter set: ``step`` over a batch of episodes, ``act``
    for one episode (``act(obs (C,)) -> float``)."""

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

    def flat(self) -> np.ndarray:
        """The parameters as the flat vector `AttentionNeuronPolicy` runs."""
        named = dict(self.named_parameters())
        shapes = self.layout.shapes
        return self.layout.flatten({k: named[k].detach()[None] for k, _ in shapes})[0].numpy()

    def step(self, obs, prev_action, state=None, parts: bool = False):
        """One step of B episodes: ``obs`` (B, C), ``prev_action`` (B,), ``state`` the
        LSTM's ``(h, c)``, each (B*C, pos_em_dim), or None (zeros). Returns
        ``(action (B,), (h, c))``; with ``parts`` also a dict of the intermediate tensors
        (``lstm_input`` (B*C, 2), ``K`` (B, C, msg), ``Q`` (hidden, msg), ``A``
        (B, hidden, C), ``m`` (B, hidden))."""
        b, c = obs.shape
        x = torch.stack([obs.reshape(-1), prev_action.repeat_interleave(c)], dim=1)
        h, cell = self.lstm(x, state)
        q = self.proj_q(self.positions)  # (16, 32)
        k = self.proj_k(h).view(b, c, -1)  # (B, C, 32)
        att = torch.tanh(torch.einsum("qm,bcm->bqc", q, k))  # (B, 16, C)
        msg = torch.tanh((att * obs[:, None, :]).sum(-1))  # (B, 16)
        action = torch.tanh(self.out(msg)).squeeze(-1)
        if not parts:
            return action, (h, cell)
        return action, (h, cell), {"lstm_input": x, "K": k, "Q": q, "A": att, "m": msg}

    def reset(self) -> None:
        self.hx = None
        self.prev_action = torch.zeros(1)
        self.attention = None

    @torch.no_grad()
    def act(self, obs) -> float:
        """One step of one episode (state kept in the module); the attention matrix
        (16, C) of the step is left in ``self.attention``."""
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(1, -1)  # (1, C)
        action, self.hx, p = self.step(o, self.prev_action, self.hx, parts=True)
        self.attention = p["A"][0]
        self.prev_action = action
        return float(action[0])
