"""Step a policy over a given observation stream, with permutations and hooks.

`anpolicy.sim.rollout` closes the loop (the policy's actions drive the cart). To study the
layer itself it is cleaner to open the loop: feed the *same* observation stream to the
policy under different channel orders and interventions and compare the actions step
by step. `run_stream` does that with exactly the engine's conventions:

- ``policy_obs[..., j] = stream[..., perm[j]]`` for the permuted channels; channels
  beyond the permutation's length (e.g. noise) are passed through unchanged;
- permutation ``perms[0]`` is in force from step 0 and ``perms[i]`` from
  ``change_steps[i - 1]`` on; at each change step every intervention's
  ``on_reshuffle(ctx, old, new)`` is called before the observation is built, then
  ``before_policy``, the policy step, and ``after_policy`` (the same order as the
  engine; there is no environment, so ``after_env_step`` is not called).

`anpolicy.study.invariance` uses it to measure the five invariance properties of
the Attention Neuron that the architecture chapter demonstrates. Shapes: S streams x
T steps x C channels (float32), actions (S, T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from anpolicy.sim.interventions import (
    Intervention,
    StepContext,
)


@dataclass
class StreamRun:
    """Per-step outputs of `run_stream` (numpy; T steps, P members, R streams).

    ``actions`` (T, P, R); ``obs`` (T, R, C) the policy input; ``perm`` (T, R, n) the
    permutation in force; for LSTM policies ``attention`` (T, P, R, 16, C) and the state
    after each step ``h``, ``c`` (T, P, R, C, 8) (None otherwise).
    """

    actions: np.ndarray
    obs: np.ndarray
    perm: np.ndarray
    attention: np.ndarray | None = None
    h: np.ndarray | None = None
    c: np.ndarray | None = None


def random_stream(
    n_steps: int, n_streams: int, n_channels: int = 5, seed: int = 0, rho: float = 0.9
) -> torch.Tensor:
    """Smooth random observation streams (T, R, C) float32: independent AR(1) channels
    ``x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t`` with unit variance (an arbitrary test
    input: the invariances hold for any input)."""
    if n_steps < 1 or n_streams < 1 or n_channels < 1 or not 0 <= rho < 1:
        raise ValueError("need n_steps, n_streams, n_channels >= 1 and 0 <= rho < 1")
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_steps, n_streams, n_channels))
    x = np.empty_like(eps)
    x[0] = eps[0]
    for t in range(1, n_steps):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho**2) * eps[t]
    return torch.as_tensor(x, dtype=torch.float32)


def random_permutations(n_streams: int, n: int = 5, seed: int = 0) -> torch.Tensor:
    """(R, n) int64: one uniformly random permutation of range(n) per stream."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.stack([torch.randperm(n, generator=gen) for _ in range(n_streams)])


def _as_perms(perms, n_events: int, n_streams: int, n: int) -> torch.Tensor:
    """Normalise ``perms`` to (E + 1, R, n) int64 and validate every row."""
    if perms is None:
        p = torch.arange(n).expand(n_events + 1, n_streams, n)
    else:
        p = torch.as_tensor(np.asarray(perms), dtype=torch.int64)
        if p.ndim == 1:
            p = p.expand(n_events + 1, n_streams, -1)
        elif p.ndim == 2:
            p = (
                p.expand(n_events + 1, -1, -1)
                if n_events == 0
                else p[:, None].expand(-1, n_streams, -1)
            )
        if p.ndim != 3 or p.shape[0] != n_events + 1 or p.shape[1] != n_streams:
            raise ValueError(
                f"perms must be (n,), (R, n) without change steps, (E+1, n) or (E+1, R, n) "
                f"with E = {n_events} change steps and R = {n_streams} streams; "
                f"got {tuple(np.shape(perms))}"
            )
    if p.shape[-1] > n:
        raise ValueError(f"permutations of length {p.shape[-1]} but the stream has {n} channels")
    ok = torch.sort(p, dim=-1).values == torch.arange(p.shape[-1])
    if not bool(ok.all()):
        raise ValueError("every row of perms must be a permutation of 0..n-1")
    return p.contiguous()


class _ObsTap(Intervention):
    """Collects the policy input of every live slot at every step."""

    name = "observation_tap"

    def __init__(self, n_steps: int, n_episodes: int, n_channels: int):
        super().__init__()
        self.obs = np.full((n_steps, n_episodes, n_channels), np.nan, dtype=np.float32)

    def before_policy(self, ctx):
        live = ctx.alive[0]
        ep = ctx.episode[0][live].numpy()
        self.obs[ctx.t, ep] = ctx.obs[0][live].numpy()


def closed_loop_stream(policy, params, n_episodes: int, n_steps: int, seed: int = 0):
    """Observation streams (n_steps, R, 5) float32 that ``policy`` itself produced:
    run ``n_episodes`` unshuffled episodes (`anpolicy.sim.rollout.rollout`, first member of
    ``params``) and keep the R episodes still on the track after ``n_steps`` steps.
    Returns ``(stream, episode_indices)``."""
    from anpolicy.sim.rollout import rollout

    params = np.asarray(params)
    tap = _ObsTap(n_steps, n_episodes, 5)
    res = rollout(
        policy, params.reshape(-1, params.shape[-1])[:1], n_episodes, seed=seed,
        interventions=[tap], max_steps=n_steps,
    )  # fmt: skip
    keep = np.flatnonzero(res.lengths[0] >= n_steps)
    return torch.as_tensor(tap.obs[:, keep]), keep


@torch.no_grad()
def run_stream(
    policy,
    params,
    stream,
    perms=None,
    change_steps=(),
    interventions=(),
    record_state: bool = True,
) -> StreamRun:
    """Feed the observation ``stream`` (T, R, C) to ``policy`` (open loop).

    ``params`` (n,) or (P, n): every member sees the same streams. ``perms``: None
    (identity), a permutation (n,) or (R, n) used throughout, or (E + 1, n) /
    (E + 1, R, n) with ``change_steps`` (E increasing steps >= 1). ``interventions``
    are `anpolicy.sim.interventions.Intervention` objects, called as in the engine.
    Returns a `StreamRun`.
    """
    x = torch.as_tensor(stream, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"stream must be (T, R, C), got shape {tuple(x.shape)}")
    n_steps, n_streams, n_chan = x.shape
    steps = [int(s) for s in change_steps]
    if any(s < 1 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"change_steps must be increasing and >= 1, got {steps}")
    all_perms = _as_perms(perms, len(steps), n_streams, n_chan)
    n_perm = all_perms.shape[-1]
    change_at = {s: i + 1 for i, s in enumerate(steps)}

    weights = policy.prepare(params)
    n_pop = weights.population
    state = policy.initial_state(n_pop, n_streams, n_chan)
    episode = torch.arange(n_streams).expand(n_pop, n_streams).contiguous()
    alive = torch.ones(n_pop, n_streams, dtype=torch.bool)
    hooks = list(interventions)
    perm = all_perms[0].expand(n_pop, -1, -1)
    out = {"actions": [], "obs": [], "perm": [], "attention": [], "h": [], "c": []}
    for t in range(n_steps):
        ctx = StepContext(t, episode, state, perm, alive, n_permuted=n_perm)
        if t in change_at:
            new = all_perms[change_at[t]].expand(n_pop, -1, -1)
            for hook in hooks:
                hook.on_reshuffle(ctx, perm, new)
            perm = ctx.perm = new
        obs = x[t].expand(n_pop, -1, -1)
        permuted = torch.gather(obs[..., :n_perm], -1, perm)
        ctx.obs = torch.cat([permuted, obs[..., n_perm:]], dim=-1)
        for hook in hooks:
            hook.before_policy(ctx)
        action, ctx.state, ctx.attention = policy.step(weights, ctx.obs, ctx.state)
        ctx.action = action
        for hook in hooks:
            hook.after_policy(ctx)
        state = ctx.state
        out["actions"].append(ctx.action.clone())
        out["obs"].append(ctx.obs[0].clone())
        out["perm"].append(perm[0].clone())
        if ctx.attention is not None:
            out["attention"].append(ctx.attention.clone())
        if record_state and "h" in state:
            out["h"].append(state["h"].clone())
            out["c"].append(state["c"].clone())

    def stack(key):
        return torch.stack(out[key]).numpy() if out[key] else None

    return StreamRun(
        actions=stack("actions"),
        obs=stack("obs"),
        perm=stack("perm"),
        attention=stack("attention"),
        h=stack("h"),
        c=stack("c"),
    )
