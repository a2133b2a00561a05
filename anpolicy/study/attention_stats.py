"""What the attention looks at during rollouts: a hook that accumulates attention statistics.

`AttentionStats` is an `anpolicy.sim.interventions.Intervention` for the PyTorch engine:
at every step of every live episode it adds up the attention (16 queries x C channels)
per physical channel and on the appended noise channels, and what the 16 output
features m_k respond to; read the totals after the rollout.
"""

from __future__ import annotations

import numpy as np
import torch

from anpolicy.sim import physics
from anpolicy.sim.interventions import (
    Intervention,
)

OBS_NAMES = ("x", "x_dot", "cos_theta", "sin_theta", "theta_dot")


class AttentionStats(Intervention):
    """Accumulate, over every live step of a rollout (per population member):

    - ``att_abs`` (P, 16, G): mean |A[k, j]| over input columns j grouped by what they
      carry: G = 5 physical variables, plus one group "noise" if noise channels exist;
    - ``contrib_abs`` (P, 16, G): mean |A[k, j] o_j|, the size of each group's term in
      ``m_k = tanh(sum_j A[k, j] o_j)``;
    - moments of the 16 features m_k and of the physical observations, for
      `feature_correlation`.

    Columns are assigned to physical variables with the permutation in force
    (``perm[j] % 5``), so the statistics do not depend on the input order.
    ``every``: sample one step in ``every`` (t = 0, every, 2 every, ...) to save time.
    """

    name = "attention_stats"

    def __init__(self, episodes=None, every: int = 1):
        super().__init__(episodes)
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.sums: dict = {}

    def after_policy(self, ctx):
        if ctx.t % self.every:
            return
        if ctx.attention is None:
            raise ValueError("AttentionStats needs a policy that returns attention")
        n_perm, n_members = ctx.n_permuted, ctx.attention.shape[0]
        c = ctx.attention.shape[-1]
        n_groups = physics.OBS_DIM + (1 if c > n_perm else 0)
        live = self.mask(ctx) & ctx.alive  # (P, S)
        d = physics.OBS_DIM
        for p in range(n_members):
            sel = live[p].nonzero().squeeze(-1)
            n = sel.numel()
            att = ctx.attention[p, sel]  # (N, 16, C)
            obs = ctx.obs[p, sel]  # (N, C)
            order = torch.argsort(ctx.perm[p, sel], dim=-1)  # column of physical channel i
            contrib = att * obs[:, None, :]
            m = torch.tanh(contrib.sum(dim=-1))  # (N, 16)
            phys = torch.gather(obs, 1, order[:, :d])  # the first copy of each variable

            def by_group(a, order=order, n=n):
                """(N, 16, C) -> (16, G) sums over steps and the columns of each group."""
                real = torch.gather(a[..., :n_perm], 2, order[:, None, :].expand(n, 16, n_perm))
                real = real.reshape(n, 16, n_perm // d, d).sum(dim=(0, 2))
                if c == n_perm:
                    return real.double()
                return torch.cat([real, a[..., n_perm:].sum(dim=(0, 2))[:, None]], 1).double()

            count = torch.full((n_groups,), float(n * (n_perm // d)), dtype=torch.float64)
            if n_groups > d:
                count[d] = float(n * (c - n_perm))
            add = {
                "count": count,  # columns seen per group
                "att": by_group(att),
                "att_abs": by_group(att.abs()),
                "saturated": by_group((att.abs() > 0.99).float()),
                "contrib_abs": by_group(contrib.abs()),
                "n": torch.tensor(float(n), dtype=torch.float64),
                "m": m.double().sum(0),
                "m2": (m * m).double().sum(0),
                "x": phys.double().sum(0),
                "x2": (phys * phys).double().sum(0),
                "mx": m.double().T @ phys.double(),  # (16, 5)
            }
            for key, value in add.items():
                acc = self.sums.setdefault(key, [0.0] * n_members)
                acc[p] = acc[p] + value

    def summary(self) -> dict:
        """Numpy arrays: ``att_abs``, ``contrib_abs`` (P, 16, G) means per column,
        ``groups`` (names), ``corr`` (P, 16, 5) correlation of m_k with each variable,
        ``steps`` (P,) live steps counted."""
        if not self.sums:
            raise ValueError("no steps recorded")
        s = {k: np.stack([np.asarray(x, np.float64) for x in v]) for k, v in self.sums.items()}
        count = np.maximum(s["count"][:, None, :], 1)
        n = s["n"][:, None]
        m_mean, x_mean = s["m"] / n, s["x"] / n
        m_var = s["m2"] / n - m_mean**2
        x_var = s["x2"] / n - x_mean**2
        cov = s["mx"] / n[..., None] - m_mean[:, :, None] * x_mean[:, None, :]
        denom = np.sqrt(np.maximum(m_var, 0)[:, :, None] * np.maximum(x_var, 0)[:, None, :])
        corr = np.where(denom > 0, cov / np.where(denom > 0, denom, 1), np.nan)
        groups = list(OBS_NAMES) + (["noise"] if s["count"].shape[1] > physics.OBS_DIM else [])
        return {
            "att": s["att"] / count,
            "att_abs": s["att_abs"] / count,
            "saturated": s["saturated"] / count,
            "contrib_abs": s["contrib_abs"] / count,
            "groups": groups,
            "corr": corr,
            "steps": s["n"],
        }
