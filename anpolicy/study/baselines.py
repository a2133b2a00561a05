"""Reference controllers for CartPoleSwingUpHarder: how many starts are doomed?

A harder start can put the cart near an end of the track at up to 10 m/s. With at most
10 N on 1 kg of cart and pole, braking takes about half a second and as many metres, so
some starts leave the track whatever the policy does. Two tools bound that share:

- `BrakingPolicy`: full force against the cart's velocity, ``a = -sign(x_dot)``. It
  is a policy object for `anpolicy.sim.rollout.rollout` (no parameters; it reads the
  *unpermuted* observation, so run it with the default schedule), so its episodes are
  paired with any agent's episodes run with the same seed.
- `open_loop_rescue`: for starts the braking controller loses, search every action
  sequence for one that stays on the track longer (gradient descent through the
  differentiable dynamics, started from the braking actions). Starts that neither saves
  are counted as doomed; each rescue found is a proof that a start is not doomed.

``doomed_starts`` combines both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from anpolicy.sim import physics
from anpolicy.stats import SHORT_EPISODE, proportion_ci

X_DOT = 1  # index of the cart velocity in the observation [x, x_dot, cos, sin, th_dot]


@dataclass(frozen=True)
class _NoWeights:
    population: int


class BrakingPolicy:
    """Bang-bang braking: ``a = -sign(x_dot)`` (0 when the cart is at rest).

    The force always opposes the cart's velocity, the hardest possible deceleration of
    the cart if the pole did not push on it. Interface of `anpolicy.sim.policy` policies
    (``n_params = 0``: pass ``np.zeros(0)`` or ``np.zeros((P, 0))`` as params).
    """

    kind = "braking"
    has_lstm_state = False
    shapes: list = []
    n_params = 0
    obs_dim = physics.OBS_DIM

    def spec(self) -> dict:
        return {"kind": self.kind}

    def prepare(self, params, device="cpu") -> _NoWeights:
        p = np.asarray(params)
        if p.ndim == 1:
            p = p[None]
        if p.ndim != 2 or p.shape[1] != 0:
            raise ValueError(f"BrakingPolicy has no parameters: pass shape (P, 0), got {p.shape}")
        return _NoWeights(population=p.shape[0])

    def initial_state(self, population: int, n_episodes: int, n_channels: int, device="cpu"):
        if n_channels != self.obs_dim:
            raise ValueError(f"BrakingPolicy reads the {self.obs_dim} plain observations")
        return {"prev_action": torch.zeros(population, n_episodes, device=device)}

    def step(self, weights, obs: torch.Tensor, state: dict):
        action = -torch.sign(obs[..., X_DOT])
        return action, {"prev_action": action}, None


def braking_lengths(starts, horizon: int = physics.MAX_STEPS) -> np.ndarray:
    """Episode lengths (N,) from ``starts`` (N, 4) under `BrakingPolicy`, computed directly
    on the float64 physics (the same numbers as a rollout with the same starts)."""
    s = torch.as_tensor(np.asarray(starts, dtype=np.float64))
    alive = torch.ones(s.shape[0], dtype=torch.bool)
    length = torch.zeros(s.shape[0], dtype=torch.int64)
    for _ in range(horizon):
        s, _, off_track = physics.env_step(s, -torch.sign(s[:, X_DOT]))
        length += alive
        alive &= ~off_track
        if not alive.any():
            break
    return length.numpy()


def braking_distance(state, max_steps: int = 10_000) -> tuple[float, int]:
    """Distance (m) and steps the cart travels under `BrakingPolicy` from ``state`` (4,)
    until its velocity first reaches zero or changes sign (on an endless track)."""
    s = np.asarray(state, dtype=np.float64)
    x0, v0 = s[0], np.sign(s[1])
    if v0 == 0:
        return 0.0, 0
    for n in range(1, max_steps + 1):
        s = physics.dynamics_step(s, physics.force_from_action(-np.sign(s[1])))
        if np.sign(s[1]) != v0:
            return float(abs(s[0] - x0)), n
    raise RuntimeError(f"the cart did not stop within {max_steps} steps")


def _first_exit(x: torch.Tensor) -> torch.Tensor:
    """Episode length for positions x (N, H): steps up to and including the first
    |x| > 2.4, or H + 1 if the cart stays on the track for all H steps."""
    out = x.abs() > physics.X_THRESHOLD
    h = x.shape[1]
    first = torch.where(out.any(1), out.to(torch.int8).argmax(1) + 1, torch.tensor(h + 1))
    return first


def open_loop_rescue(
    starts,
    horizon: int = SHORT_EPISODE - 1,
    iters: int = 60,
    lr: float = 0.1,
    margin: float = 0.1,
) -> np.ndarray:
    """Best episode length found for each start (N, 4) by searching open-loop actions.

    Actions ``tanh(u_t)`` for t < ``horizon`` are optimised with Adam to minimise
    ``sum_t relu(|x_t| - (2.4 - margin))^2``, starting from (just inside) the braking
    actions. Returns the longest survival seen, braking included: ``horizon + 1`` means
    the cart stayed on the track for all ``horizon`` steps (the episode lasts at least
    ``horizon + 1`` steps). Each result is achieved by an actual action sequence, so it
    is a lower bound on the best possible length.
    """
    s0 = torch.as_tensor(np.asarray(starts, dtype=np.float64))
    n = s0.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    acts, xs, s = [], [], s0
    for _ in range(horizon):  # braking: the starting point and the result to beat
        a = -torch.sign(s[:, X_DOT])
        acts.append(a)
        s = physics.dynamics_step(s, physics.force_from_action(a))
        xs.append(s[:, 0])
    best = _first_exit(torch.stack(xs, 1))
    # tanh never reaches +-1: start the search just inside full force
    u = torch.atanh(torch.stack(acts, 1).clamp(-0.95, 0.95)).requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr)
    for _ in range(iters + 1):
        s, xs = s0, []
        for t in range(horizon):
            s = physics.dynamics_step(s, physics.FORCE_MAG * torch.tanh(u[:, t]))
            xs.append(s[:, 0])
        x = torch.stack(xs, 1)
        best = torch.maximum(best, _first_exit(x.detach()))
        loss = (torch.relu(x.abs() - (physics.X_THRESHOLD - margin)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return best.numpy()


@dataclass
class DoomedStarts:
    """Which starts are doomed: ``braking_length`` (N,) under `BrakingPolicy` (capped at
    ``horizon``), ``rescued`` (N,) bool (braking lost it, the open-loop search saved
    it), ``doomed`` (N,) bool: shorter than ``SHORT_EPISODE`` steps under both."""

    starts: np.ndarray
    braking_length: np.ndarray
    rescued: np.ndarray
    doomed: np.ndarray

    @property
    def share(self) -> float:
        return float(self.doomed.mean())

    def share_ci(self) -> tuple[float, float]:
        """Wilson 95 % interval of the doomed share."""
        lo, hi = proportion_ci(int(self.doomed.sum()), self.doomed.size)
        return lo, hi


def doomed_starts(starts, rescue_iters: int = 60, horizon: int = physics.MAX_STEPS):
    """Classify starts (N, 4): doomed = leaves the track within ``SHORT_EPISODE - 1``
    steps under braking and under the best open-loop action sequence found."""
    starts = np.asarray(starts, dtype=np.float64)
    length = braking_length = braking_lengths(starts, horizon)
    lost = braking_length < SHORT_EPISODE
    rescued = np.zeros(starts.shape[0], dtype=bool)
    if rescue_iters > 0 and lost.any():
        best = open_loop_rescue(starts[lost], iters=rescue_iters)
        rescued[np.flatnonzero(lost)] = best >= SHORT_EPISODE
    return DoomedStarts(
        starts=starts, braking_length=length, rescued=rescued, doomed=lost & ~rescued
    )


def return_ceiling(doomed: DoomedStarts, max_steps: int = physics.MAX_STEPS) -> dict:
    """An estimate of the best possible mean return over these starts.

    The reward is at most 1 per step, so a start that can be kept on the track earns at
    most ``max_steps``; a doomed one at most the number of steps it can stay on the
    track (at most ``SHORT_EPISODE - 1``; we use its braking length). Returns the
    ceiling and its parts.
    """
    d = doomed.doomed
    doomed_max = np.minimum(doomed.braking_length[d], SHORT_EPISODE - 1).astype(float)
    per_start = np.where(d, 0.0, float(max_steps))
    per_start[d] = doomed_max
    return {
        "ceiling": float(per_start.mean()),
        "doomed_share": doomed.share,
        "doomed_mean_steps": float(doomed_max.mean()) if d.any() else 0.0,
        "n": int(d.size),
    }
