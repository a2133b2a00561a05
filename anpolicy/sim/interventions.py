"""Hooks into the rollout: read and write h, c, the previous action and the attention.

The engine (`anpolicy.sim.rollout`) calls every intervention at fixed points of each step
with a `StepContext`, whose tensors have leading shape (P, S): P population members and
S live episode slots (slots are compacted as episodes end; ``ctx.episode[p, s]`` is the
episode index a slot holds). Hooks modify ``ctx.state``/``ctx.action`` in place.

Order within step t:
  1. if t is a change step of the schedule: ``on_reshuffle(ctx, old_perm, new_perm)``
     (``ctx.perm`` is still the old permutation; ``ctx.obs`` is not built yet);
  2. the policy input ``ctx.obs`` is built; ``before_policy(ctx)``;
  3. the policy updates the state and acts; ``after_policy(ctx)`` sees ``ctx.attention``
     (P, S, 16, C) and may change ``ctx.action`` (P, S);
  4. the environment steps; ``after_env_step(ctx)`` sees ``ctx.reward`` and ``ctx.alive``.

Every intervention takes ``episodes=None`` (all) or an iterable of episode indices: the
subset it acts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class StepContext:
    """What hooks see at step ``t``. Tensors are (P, S, ...) over live slots."""

    t: int
    episode: torch.Tensor  # (P, S) int64 episode index of each slot
    state: dict  # policy state, e.g. h, c (P, S, C, 8), prev_action (P, S)
    perm: torch.Tensor  # (P, S, n_permuted) int64 permutation in force
    alive: torch.Tensor  # (P, S) bool, episode still running before this step
    n_permuted: int = 5  # channels 0..n_permuted-1 are permuted observations
    obs: torch.Tensor | None = None  # (P, S, C) policy input
    attention: torch.Tensor | None = None  # (P, S, 16, C)
    action: torch.Tensor | None = None  # (P, S)
    reward: torch.Tensor | None = None  # (P, S) float64
    extra: dict = field(default_factory=dict)


def relative_permutation(old_perm: torch.Tensor, new_perm: torch.Tensor) -> torch.Tensor:
    """Row index map that moves per-channel state along with a reshuffle.

    With ``policy_obs[j] = obs[old[j]]`` before and ``obs[new[j]]`` after, the state of
    physical channel ``new[j]`` sits in row ``argsort(old)[new[j]]``. Shapes (..., n).
    """
    return torch.gather(torch.argsort(old_perm, dim=-1), -1, new_perm)


class Intervention:
    """Base class: no-op hooks plus the episode subset."""

    name = "intervention"
    # What an intervention needs to do anything (checked up front by the command line):
    # a policy with LSTM state (h, c); a schedule that reshuffles during the episode.
    needs_lstm_state = False
    acts_at_reshuffle = False

    def __init__(self, episodes=None):
        self.episodes = None if episodes is None else torch.as_tensor(list(episodes))

    def mask(self, ctx: StepContext) -> torch.Tensor:
        """(P, S) bool: slots this intervention acts on."""
        if self.episodes is None:
            return torch.ones_like(ctx.episode, dtype=torch.bool)
        return torch.isin(ctx.episode, self.episodes.to(ctx.episode.device))

    def on_reshuffle(self, ctx: StepContext, old_perm, new_perm) -> None:
        pass

    def before_policy(self, ctx: StepContext) -> None:
        pass

    def after_policy(self, ctx: StepContext) -> None:
        pass

    def after_env_step(self, ctx: StepContext) -> None:
        pass

    def describe(self) -> str:
        return self.name


def _require_lstm(ctx: StepContext, who: str) -> None:
    if "h" not in ctx.state or "c" not in ctx.state:
        raise ValueError(f"{who} needs a policy with LSTM state (h, c); this policy has none")


def _zero_parts(ctx: StepContext, parts, mask) -> None:
    for part in parts:
        x = ctx.state[part]
        ctx.state[part] = torch.where(mask[:, :, None, None], torch.zeros_like(x), x)


class ZeroStateEveryStep(Intervention):
    """Zero the chosen LSTM state parts before every policy step.

    ``parts=("h", "c")`` zeroes the whole state (the LSTM then sees only the current
    input); ``("c",)`` is what the 2025 study's code did while its text says "the LSTM
    state"; ``("h",)`` zeroes only the hidden state.
    """

    needs_lstm_state = True

    def __init__(self, parts=("h", "c"), episodes=None):
        super().__init__(episodes)
        bad = set(parts) - {"h", "c"}
        if bad or not parts:
            raise ValueError(f"parts must be a non-empty subset of ('h', 'c'), got {parts}")
        self.parts = tuple(parts)
        self.name = "zero_" + "".join(self.parts) + "_every_step"

    def before_policy(self, ctx):
        _require_lstm(ctx, type(self).__name__)
        _zero_parts(ctx, self.parts, self.mask(ctx))


class ResetStateAtReshuffle(Intervention):
    """At each reshuffle, zero h and c (the previous action is kept, as in the study)."""

    name = "reset_state_at_reshuffle"
    needs_lstm_state = True
    acts_at_reshuffle = True

    def on_reshuffle(self, ctx, old_perm, new_perm):
        _require_lstm(ctx, type(self).__name__)
        _zero_parts(ctx, ("h", "c"), self.mask(ctx))


class PermuteStateAtReshuffle(Intervention):
    """At each reshuffle, move the per-channel state rows with the observation.

    ``variant="relative"`` (correct): row j takes the old row of the physical channel now
    at position j, ``argsort(old)[new][j]``; the policy's actions are then exactly those
    of an unshuffled run. ``variant="absolute"`` (the 2025 study's code): row j takes old
    row ``new[j]``, which is the same only if the old permutation was the identity.
    Noise channels (beyond the permuted ones) keep their rows.
    """

    needs_lstm_state = True
    acts_at_reshuffle = True

    def __init__(self, variant: str = "relative", episodes=None):
        super().__init__(episodes)
        if variant not in ("relative", "absolute"):
            raise ValueError(f"variant must be 'relative' or 'absolute', got {variant!r}")
        self.variant = variant
        self.name = f"permute_state_{variant}_at_reshuffle"

    def on_reshuffle(self, ctx, old_perm, new_perm):
        _require_lstm(ctx, type(self).__name__)
        rows = relative_permutation(old_perm, new_perm) if self.variant == "relative" else new_perm
        mask = self.mask(ctx)
        n = ctx.n_permuted
        for part in ("h", "c"):
            x = ctx.state[part]
            idx = rows.unsqueeze(-1).expand(*rows.shape, x.shape[-1])
            moved = torch.gather(x[:, :, :n], 2, idx)
            new = x.clone()
            new[:, :, :n] = torch.where(mask[:, :, None, None], moved, x[:, :, :n])
            ctx.state[part] = new


class ZeroPreviousAction(Intervention):
    """Feed a_{t-1} = 0 to the LSTM at every step (ablates the previous-action input)."""

    name = "zero_previous_action"

    def before_policy(self, ctx):
        a = ctx.state["prev_action"]
        ctx.state["prev_action"] = torch.where(self.mask(ctx), torch.zeros_like(a), a)


class Recorder(Intervention):
    """Record per-step traces of chosen episodes (for every population member).

    After the rollout, ``traces[(member, episode)]`` is a dict of numpy arrays over the
    episode's steps: ``obs`` (T, C) policy input, ``perm`` (T, n_permuted), ``action`` (T,),
    ``reward`` (T,), and for LSTM policies ``h``, ``c`` (T, C, 8) after the update and
    ``attention`` (T, 16, C).
    """

    name = "recorder"

    def __init__(self, episodes):
        if episodes is None:
            raise ValueError("Recorder needs the list of episodes to record")
        super().__init__(episodes)
        self._rows: dict = {}
        self.traces: dict = {}

    def _slots(self, ctx):
        m = self.mask(ctx) & ctx.alive
        return [tuple(ix) for ix in m.nonzero().tolist()]

    def after_policy(self, ctx):
        self._pending = []
        for p, s in self._slots(ctx):
            key = (p, int(ctx.episode[p, s]))
            row = {
                "obs": ctx.obs[p, s].cpu().numpy().copy(),
                "perm": ctx.perm[p, s].cpu().numpy().copy(),
                "action": float(ctx.action[p, s]),
            }
            if "h" in ctx.state:
                row["h"] = ctx.state["h"][p, s].cpu().numpy().copy()
                row["c"] = ctx.state["c"][p, s].cpu().numpy().copy()
            if ctx.attention is not None:
                row["attention"] = ctx.attention[p, s].cpu().numpy().copy()
            self._pending.append((key, p, s, row))

    def after_env_step(self, ctx):
        for key, p, s, row in self._pending:
            row["reward"] = float(ctx.reward[p, s])
            self._rows.setdefault(key, []).append(row)
        self._pending = []

    def finish(self) -> dict:
        """Stack recorded rows into arrays; returns ``traces``."""
        self.traces = {
            key: {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
            for key, rows in self._rows.items()
        }
        return self.traces


INTERVENTIONS = {
    "none": lambda: [],
    "zero_hc": lambda: [ZeroStateEveryStep(("h", "c"))],
    "zero_c": lambda: [ZeroStateEveryStep(("c",))],
    "zero_h": lambda: [ZeroStateEveryStep(("h",))],
    "reset_at_reshuffle": lambda: [ResetStateAtReshuffle()],
    "permute_relative": lambda: [PermuteStateAtReshuffle("relative")],
    "permute_absolute": lambda: [PermuteStateAtReshuffle("absolute")],
    "zero_prev_action": lambda: [ZeroPreviousAction()],
}


def make_interventions(name: str) -> list[Intervention]:
    """Interventions by command-line name (see ``INTERVENTIONS``)."""
    if not isinstance(name, str) or name not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {name!r}; expected one of {sorted(INTERVENTIONS)}")
    return INTERVENTIONS[name]()
