"""The batched engine: P parameter vectors x R episodes in lock-step.

One call of `rollout` runs every population member on the same R episodes (common
random starts, permutations and noise: episode r is identical for every member and for
every call with the same seed), a few tensor ops per step for all P x R episodes at
once. Finished episodes stop earning reward at their last step and are compacted away
(each member's live slots are moved to the front and the batch is trimmed), so late
steps cost only what is still running.

Two engines compute it. ``engine="torch"`` (the default) is the lock-step PyTorch loop
below: every hook of `anpolicy.sim.interventions` and every recording works there, on any
device. ``engine="fused"`` is `anpolicy.sim.fused`, the same model compiled into one loop
(several times faster on a CPU) for the Attention Neuron without hooks; ``"auto"`` takes
the fused engine where it can run and the PyTorch one otherwise. The engines agree in
distribution, not bit for bit (a chaotic closed loop amplifies float32 round-off), so
conditions that are compared episode by episode must run on one engine: the book's
experiments use the default.

The episodes are an `anpolicy.sim.plan.EpisodePlan` (start states, permutations and
their change steps, the noise seed), drawn once: given as ``plan=``, or drawn from
``seed`` and ``schedule``. Randomness has one source: ``seed``, split by
`numpy.random.SeedSequence` into the start states, the permutations and the noise
stream. Conditions run with the same seed therefore see the same starts and the same
permutations (paired comparisons).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from anpolicy.sim import physics
from anpolicy.sim.interventions import Intervention, Recorder, StepContext
from anpolicy.sim.plan import EpisodePlan, episode_randomness  # noqa: F401 (re-exported)
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

ENGINES = ("torch", "fused", "auto")


@dataclass
class RolloutResult:
    """Per-episode outcomes. ``returns`` (P, R) float64, ``lengths`` (P, R) int64 steps;
    ``engine``: the engine that computed them."""

    returns: np.ndarray
    lengths: np.ndarray
    seed: int
    traces: dict = field(default_factory=dict)
    engine: str = "torch"

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# Bytes one (member, episode) slot costs, as a function of the channels C and the
# schedule's change steps E: the PyTorch engine's per-step tensors (h, c, gates, ...,
# ~40 float32 per channel-feature) and the permutations drawn up front (int64).
def memory_estimate(n_pop: int, n_episodes: int, channels, n_events: int) -> int:
    """Bytes a rollout of ``n_pop`` x ``n_episodes`` episodes needs, roughly (an upper
    estimate: the PyTorch engine's step tensors, the start states, the permutations)."""
    per_slot = 40 * 4 * channels.n_channels * 8 + 64
    per_episode = 8 * (n_events + 1) * channels.n_permuted + 4 * 8
    return n_pop * n_episodes * per_slot + n_episodes * per_episode


def available_memory() -> int:
    """Bytes of RAM available now (MemAvailable; the physical total where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(n_pop: int, n_episodes: int, channels, n_events: int) -> None:
    """ValueError if the rollout would need more than the memory available now."""
    need, have = memory_estimate(n_pop, n_episodes, channels, n_events), available_memory()
    if need > have:
        raise ValueError(
            f"{n_pop} x {n_episodes} episodes with {channels.n_channels} channels and "
            f"{n_events} reshuffles need ~{need / 2**30:.1f} GiB; {have / 2**30:.1f} GiB "
            "are available: run fewer episodes per call"
        )


def _gather_slots(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Select slots along dim 1 of x (P, S, ...) with order (P, S')."""
    idx = order.reshape(*order.shape, *([1] * (x.ndim - 2))).expand(*order.shape, *x.shape[2:])
    return torch.gather(x, 1, idx)


def _progress_bar(progress: bool | str, max_steps: int):
    """The step bar of a rollout (both engines); ``progress`` may be its label."""
    desc = progress if isinstance(progress, str) else "rollout"
    return tqdm(total=max_steps, disable=not progress, desc=desc, unit="step", leave=False)


@torch.no_grad()
def rollout(
    policy,
    params,
    n_episodes: int,
    seed: int = 0,
    schedule: PermutationSchedule | None = None,
    channels: ObservationChannels | None = None,
    interventions: list[Intervention] | tuple = (),
    record_episodes=None,
    max_steps: int = physics.MAX_STEPS,
    device: str | torch.device = "cpu",
    plan: EpisodePlan | None = None,
    compact_below: float = 0.75,
    progress: bool | str = False,
    engine: str = "torch",
) -> RolloutResult:
    """Run ``params`` (P, n_params) on ``n_episodes`` episodes each.

    ``schedule`` (default: no shuffling) and ``channels`` (default: the 5 observations)
    build the policy input; ``interventions`` are called at every step (see
    `anpolicy.sim.interventions`); ``record_episodes`` lists episodes whose traces are
    returned in ``result.traces[(member, episode)]``. ``plan``: the episodes to run (an
    `EpisodePlan` of ``n_episodes`` episodes and ``channels.n_permuted`` channels; then
    ``schedule`` must be None and ``seed`` only labels the result); default
    ``EpisodePlan.draw(seed, n_episodes, schedule, ...)``. ``engine``: "torch", "fused"
    or "auto" (see the module's docstring; "fused" raises ValueError where it cannot
    run). Returns a `RolloutResult`.
    """
    channels = channels or ObservationChannels()
    n_episodes = _positive_int("n_episodes", n_episodes)
    max_steps = _positive_int("max_steps", max_steps)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
    n_perm, n_chan = channels.n_permuted, channels.n_channels
    if plan is not None and schedule is not None:
        raise ValueError("give either a schedule or a plan (which holds its permutations)")
    weights = policy.prepare(params, device)
    n_pop = weights.population
    if plan is None:  # check the memory before drawing the permutations
        schedule = schedule or PermutationSchedule.none()
        check_memory(n_pop, n_episodes, channels, len(schedule.change_steps(max_steps)))
        plan = EpisodePlan.draw(seed, n_episodes, schedule, n_perm, max_steps)
    else:
        check_memory(n_pop, n_episodes, channels, len(plan.change_steps))
    plan.check_for(n_episodes, n_perm, max_steps)
    starts, perms, change_steps, noise_seed = (
        plan.starts, plan.perms, plan.change_steps, plan.noise_seed
    )  # fmt: skip
    hooks = list(interventions)
    recorder = None
    if record_episodes is not None:
        recorder = Recorder(record_episodes)
        hooks.append(recorder)
    if engine != "torch":
        from anpolicy.sim import fused

        why_not = fused.supports(policy, device, hooks)
        if why_not and engine == "fused":
            raise ValueError(f"engine='fused' cannot run this rollout: {why_not}")
        if not why_not:
            bar = _progress_bar(progress, max_steps)
            returns, lengths = fused.run(
                policy, params, starts, perms, change_steps, noise_seed, channels, max_steps, bar
            )
            bar.close()
            return RolloutResult(returns=returns, lengths=lengths, seed=seed, engine="fused")

    dev = torch.device(device)
    perms_t = torch.as_tensor(perms, device=dev)  # (R, E+1, n)
    change_at = {int(s): i + 1 for i, s in enumerate(change_steps)}
    noise_gen = None
    if channels.n_noise:
        noise_gen = torch.Generator(device=dev).manual_seed(noise_seed)
    copy_index = torch.arange(n_perm, device=dev) % physics.OBS_DIM

    episode = torch.arange(n_episodes, device=dev).expand(n_pop, n_episodes).contiguous()
    env_state = torch.as_tensor(starts, device=dev).expand(n_pop, n_episodes, 4).contiguous()
    alive = torch.ones(n_pop, n_episodes, dtype=torch.bool, device=dev)
    ret = torch.zeros(n_pop, n_episodes, dtype=torch.float64, device=dev)
    length = torch.zeros(n_pop, n_episodes, dtype=torch.int64, device=dev)
    perm = perms_t[episode, 0]  # (P, S, n)
    state = policy.initial_state(n_pop, n_episodes, n_chan, dev)
    out_ret = torch.zeros_like(ret)
    out_len = torch.zeros_like(length)
    members = torch.arange(n_pop, device=dev)[:, None]

    def flush():
        out_ret[members.expand_as(episode), episode] = ret
        out_len[members.expand_as(episode), episode] = length

    # the engine builds obs itself (finite physics, the state's channels): skip the checks
    policy_step = getattr(policy, "step_unchecked", policy.step)
    bar = _progress_bar(progress, max_steps)
    for t in range(max_steps):
        ctx = StepContext(t, episode, state, perm, alive, n_permuted=n_perm)
        if t in change_at:
            new_perm = perms_t[episode, change_at[t]]
            for hook in hooks:
                hook.on_reshuffle(ctx, perm, new_perm)
            perm = ctx.perm = new_perm
        obs = physics.observation(env_state).to(torch.float32)  # (P, S, 5)
        if n_perm != physics.OBS_DIM:
            obs = obs[..., copy_index]
        obs = torch.gather(obs, -1, perm)
        if noise_gen is not None:
            noise = torch.randn(n_episodes, channels.n_noise, generator=noise_gen, device=dev)
            obs = torch.cat([obs, channels.noise_std * noise[episode]], dim=-1)
        ctx.obs = obs
        for hook in hooks:
            hook.before_policy(ctx)
        action, ctx.state, ctx.attention = policy_step(weights, obs, ctx.state)
        ctx.action = action
        for hook in hooks:
            hook.after_policy(ctx)
        state = ctx.state
        env_state, r, off_track = physics.env_step(env_state, ctx.action.to(torch.float64))
        ctx.reward = r
        ret += torch.where(alive, r, torch.zeros_like(r))
        length += alive
        for hook in hooks:
            hook.after_env_step(ctx)
        alive = alive & ~off_track
        bar.update(1)
        n_live = int(alive.sum(dim=1).max())
        if n_live == 0:
            break
        if n_live <= compact_below * alive.shape[1]:
            flush()
            order = torch.argsort((~alive).to(torch.int8), dim=1, stable=True)[:, :n_live]
            episode, env_state, alive, ret, length, perm = (
                _gather_slots(x, order) for x in (episode, env_state, alive, ret, length, perm)
            )
            state = {k: _gather_slots(v, order) for k, v in state.items()}
            bar.set_postfix(live=int(alive.sum()))
    bar.close()
    flush()
    if not torch.isfinite(out_ret).all():
        raise ValueError(
            "the rollout produced non-finite returns: a hook (intervention) wrote NaN or "
            "inf into the state, the observation or the action"
        )
    traces = recorder.finish() if recorder is not None else {}
    return RolloutResult(
        returns=out_ret.cpu().numpy(), lengths=out_len.cpu().numpy(), seed=seed, traces=traces
    )
