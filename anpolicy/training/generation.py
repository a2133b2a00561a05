"""One generation's inputs: its episodes, the optimizer, the engine, and the validation runs.

`training_plan` draws a generation's `anpolicy.sim.plan.EpisodePlan` from its task seed
(with the curriculum's upright starts of `training_starts` where configured);
`make_optimizer` builds the evolution strategy of the config (`anpolicy.training.es`),
optionally from an agent file and a finished run's sampling state; `_engine` picks the
rollout engine; `evaluate_params` runs validation episodes (mean return with its 95 % CI,
episode lengths in steps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.rollout import ENGINES, rollout
from anpolicy.sim.schedules import ObservationChannels
from anpolicy.stats import summarize
from anpolicy.store.weights import load_agent
from anpolicy.training.es import CMAES, IPOPCMAES, PGPE
from anpolicy.training.run_files import load_sampling_stds

if TYPE_CHECKING:  # annotations only: train.py imports this module
    from anpolicy.training.train import TrainConfig


def training_starts(cfg: TrainConfig, task_seed: int):
    """Start states (rollouts, 4) of one generation's episodes, or None for the task's
    own (drawn by the rollout from ``task_seed``). With ``cfg.upright_starts`` > 0 the
    first ``round(share * rollouts)`` episodes start upright (a curriculum)."""
    if not 0.0 <= cfg.upright_starts <= 1.0:
        raise ValueError(f"upright_starts must be in [0, 1], got {cfg.upright_starts}")
    if cfg.upright_starts == 0.0:
        return None
    rng = np.random.default_rng([task_seed, 1])
    starts = physics.sample_start_states(rng, cfg.rollouts)
    k = round(cfg.upright_starts * cfg.rollouts)
    starts[:k] = physics.sample_upright_starts(rng, k)
    return starts


def training_plan(cfg: TrainConfig, task_seed: int, schedule, n_permuted: int) -> EpisodePlan:
    """One generation's episodes: the task's plan drawn from ``task_seed``, with the
    curriculum's starts (`training_starts`) where ``cfg.upright_starts`` > 0."""
    plan = EpisodePlan.draw(task_seed, cfg.rollouts, schedule, n_permuted)
    starts = training_starts(cfg, task_seed)
    return plan if starts is None else plan.with_starts(starts)


def make_optimizer(cfg: TrainConfig, n_params: int, seed: int):
    """The config's evolution strategy: from ``init_from``'s parameters (else x0 = 0), and
    with ``init_stds_from``'s per-coordinate standard deviations (a finished run's
    sampling state) instead of ``sigma0`` (CMA-ES: the step size stays ``sigma0``, the
    coordinate scales are stds / sigma0) or ``init_stdev`` (PGPE) in every coordinate."""
    x0 = stds = None
    if cfg.init_from:
        policy, x0, _ = load_agent(cfg.init_from)
        if policy.spec() != cfg.make_policy().spec():
            raise ValueError(f"--init-from {cfg.init_from} holds a {policy.spec()} policy")
    if cfg.init_stds_from:
        if cfg.optimizer == "ipop":
            raise ValueError("--init-stds-from: IPOP restarts from sigma0; use cma or sepcma")
        stds = load_sampling_stds(cfg.init_stds_from, n_params)
    if cfg.optimizer in ("cma", "sepcma"):
        return CMAES(
            n_params,
            cfg.popsize,
            cfg.sigma0,
            seed,
            diagonal=cfg.optimizer == "sepcma",
            x0=x0,
            step_rule=cfg.cma_step_rule,
            coordinate_scales=None if stds is None else stds / cfg.sigma0,
        )
    if cfg.optimizer == "ipop":
        return IPOPCMAES(
            n_params,
            cfg.popsize,
            cfg.sigma0,
            seed,
            x0=x0,
            restart_step_size=cfg.restart_step_size,
            step_rule=cfg.cma_step_rule,
        )
    if cfg.optimizer == "pgpe":
        return PGPE(
            n_params,
            cfg.popsize,
            seed,
            cfg.center_lr,
            cfg.stdev_lr,
            cfg.init_stdev,
            x0=x0,
            stdev0=stds,
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use cma, sepcma, ipop or pgpe")


def _engine(cfg: TrainConfig, policy) -> str:
    """The engine a run uses: the fused one is for the Attention Neuron; an FNN run with
    ``engine="fused"`` (the default) runs on the PyTorch engine, as ``"auto"`` would."""
    if cfg.engine not in ENGINES:
        raise ValueError(f"unknown engine {cfg.engine!r}; use one of {ENGINES}")
    return "torch" if cfg.engine == "torch" or policy.kind != "attention_neuron" else "auto"


def evaluate_params(cfg: TrainConfig, policy, params, n_episodes: int, seed: int) -> dict:
    channels = ObservationChannels(n_noise=cfg.noise_channels)
    res = rollout(
        policy,
        params,
        n_episodes,
        seed=seed,
        schedule=cfg.test_schedule(),
        channels=channels,
        engine=_engine(cfg, policy),
    )
    return summarize(res.returns[0], res.lengths[0])
