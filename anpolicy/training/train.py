"""Train an Attention Neuron or FNN policy with an evolution strategy (one readable file).

Usage: ``python -m anpolicy train --policy attention_neuron --optimizer pgpe --minutes 120
--run-dir runs/an_pgpe`` (``--help`` lists every field of `TrainConfig`). Kill it any time;
``--resume`` continues from the last checkpoint, losing at most one checkpoint interval.

Run directory: ``config.json``, ``log.jsonl`` (one line per generation, plus ``test``
lines), ``checkpoint.pkl`` (optimizer, RNG, counters; written atomically), the snapshot
series ``snapshots/gen_NNNNNN.npz`` (the distribution's centre every ``snapshot_every``
generations, generation 0 included, each validated), ``best.npz`` (the best validated
centre so far), and at the end ``agent.npz`` (the best validated centre, with its final
test score in ``meta``) and ``sampling_state.npz`` (the final per-parameter stdevs, which
``--init-stds-from`` starts a later run with). SIGTERM or Ctrl-C stops after the current
generation and checkpoints; a SIGKILL loses at most one checkpoint interval, and on
``--resume`` the generations after the checkpoint (log rows and snapshots) are redone,
never duplicated.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from anpolicy.sim.policy import AttentionNeuronPolicy, FNNPolicy
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.store.checkpoint import RunClock, load_checkpoint
from anpolicy.store.checkpoint import save_checkpoint as save_checkpoint_file
from anpolicy.store.weights import save_agent
from anpolicy.training.generation import (
    _engine,
    evaluate_params,
    make_optimizer,
    training_plan,
    training_starts,
)
from anpolicy.training.run_files import (
    SAMPLING_STATE,
    SNAPSHOT_DIR,
    _log_upto,
    code_version,
    load_snapshots,
    save_sampling_state,
    snapshot_generations,
    snapshot_path,
)
from anpolicy.training.stopping import TrainingInterrupted, main_thread, stop_reason
from anpolicy.training.threads import limit_threads

__all__ = [
    "RESUMABLE_FIELDS",
    "SAVED_RUN_DEFAULTS",
    "SNAPSHOT_DIR",
    "TrainConfig",
    "TrainingInterrupted",
    "_engine",
    "_log_upto",
    "code_version",
    "evaluate_params",
    "finalize",
    "finalize_from_checkpoint",
    "load_snapshots",
    "make_optimizer",
    "snapshot_generations",
    "snapshot_path",
    "stop_reason",
    "limit_threads",
    "train",
    "training_plan",
    "training_starts",
]


@dataclass
class TrainConfig:
    """Every knob of a training run; defaults are the authors' protocol (Tang & Ha 2021)."""

    policy: str = "attention_neuron"  # "attention_neuron" or "fnn"
    optimizer: str = "cma"  # "cma" (authors), "sepcma" (diagonal CMA-ES), "ipop"
    # (CMA-ES restarted with a doubled population when it converges) or "pgpe"
    generations: int = 14000  # stop after this many generations ...
    minutes: float = 0.0  # ... or this much training wall-clock (0 = no limit)
    popsize: int = 256  # parameter vectors per generation
    rollouts: int = 16  # episodes per fitness evaluation, same starts for all members
    sigma0: float = 0.1  # CMA-ES initial step size
    cma_step_rule: str = "pycma"  # CMA-ES step-size rule: "pycma" (the installed pycma's
    # default; pycma 4.5 uses two-point adaptation, TPA, at n >= 300), "csa" (cumulative
    # step-size adaptation: the default here of pycma 3.0-4.4, the authors' set-up) or "tpa"
    restart_step_size: float = 1e-3  # IPOP: restart once the step size falls below this
    max_episodes: int = 0  # stop after this many training episodes (0 = no limit)
    center_lr: float = 0.037  # PGPE: Adam learning rate of the centre
    stdev_lr: float = 0.078  # PGPE: learning rate of the per-parameter stdev
    init_stdev: float = 0.082  # PGPE: initial per-parameter stdev
    train_shuffle: str = "none"  # permutation schedule during training (see schedules.parse)
    noise_channels: int = 0  # extra N(0, 0.1^2) channels during training
    upright_starts: float = 0.0  # curriculum: share of training episodes that start with
    # the pole up (physics.sample_upright_starts); validation and test use the task's starts
    init_from: str = ""  # optional agent file whose parameters are the starting point x0
    init_stds_from: str = ""  # optional finished run (its sampling_state.npz): start with its
    # final per-parameter stdevs, not sigma0 (CMA-ES) or init_stdev (PGPE) in every one
    seed: int = 0  # the one seed of the run (optimizer sampling and task seeds)
    validate_every: int = 25  # generations between validations of the centre
    validate_episodes: int = 512  # held-out episodes for validation (fixed seed)
    validate_seed: int = 1_000_001  # seed of the validation episodes
    test_episodes: int = 2000  # final test of the shipped agent
    test_seed: int = 2_000_003  # seed of the final test episodes (never used for selection)
    checkpoint_minutes: float = 3.0  # checkpoint interval
    snapshot_every: int = 250  # keep the centre every this many generations (0 = never)
    stop_step_size: float = 0.0  # stop once the optimizer's step size falls below (0 = never)
    threads: int = 2  # CPU threads (torch, the fused engine and numpy's BLAS)
    engine: str = "fused"  # rollout engine: "fused" (compiled, AN only) or "torch"; "auto"
    # takes the fused one where it runs. Runs saved before this field existed used "torch".
    ray_address: str = ""  # "" evaluates populations in this process; "local" (an own
    # cluster), "auto" or HOST:PORT on Ray actors (anpolicy.sim.distributed), same numbers
    run_dir: str = "runs/train"  # where everything of the run goes

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config of a saved run (config.json or a checkpoint). Fields added since it
        was written take the value that run actually used, not today's default."""
        return cls(**{**SAVED_RUN_DEFAULTS, **saved})

    def make_policy(self):
        if self.policy == "attention_neuron":
            return AttentionNeuronPolicy()
        if self.policy == "fnn":
            return FNNPolicy()
        raise ValueError(f"unknown policy {self.policy!r}; use attention_neuron or fnn")

    def test_schedule(self) -> PermutationSchedule:
        """AN: one permutation per episode (the paper's test); FNN: unshuffled."""
        if self.policy == "attention_neuron":
            return PermutationSchedule.at_reset()
        return PermutationSchedule.none()


# What runs saved before a field existed did: before `engine`, every run used PyTorch.
# Before `snapshot_every`, no run kept snapshots (a resume may switch them on).
# Before `cma_step_rule`, every CMA-ES run used the installed pycma's default.
SAVED_RUN_DEFAULTS = {"engine": "torch", "snapshot_every": 0, "cma_step_rule": "pycma"}

# What `--resume` may change: the budget, stopping rules, the history kept, the engine, the
# run's folder (a copy continues as a new arm while the original stays as it ended; the
# model and its randomness stay; with another engine the numbers of later
# generations differ from an uninterrupted run's by round-off amplified, which each log
# row records).
RESUMABLE_FIELDS = {
    "generations",
    "minutes",
    "threads",
    "checkpoint_minutes",
    "engine",
    "snapshot_every",
    "stop_step_size",
    "max_episodes",
    "ray_address",
    "run_dir",
}


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run (or resume) training; returns the path of the shipped ``agent.npz``."""
    run = Path(cfg.run_dir)
    ckpt_path, log_path = run / "checkpoint.pkl", run / "log.jsonl"
    limit_threads(cfg.threads)
    policy = cfg.make_policy()
    _engine(cfg, policy)  # an unknown engine fails here, before anything is written
    schedule = PermutationSchedule.parse(cfg.train_shuffle)
    channels = ObservationChannels(n_noise=cfg.noise_channels)

    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        st = load_checkpoint(ckpt_path)
        saved = TrainConfig.from_saved(st["config"])
        diff = {
            k
            for k in asdict(cfg)
            if k not in RESUMABLE_FIELDS and getattr(cfg, k) != getattr(saved, k)
        }
        if diff:
            raise ValueError(
                f"--resume with a config that differs from the run's in {sorted(diff)}"
            )
        # keep only log lines and snapshots up to the checkpoint: the rest is redone
        log_path.write_text(_log_upto(log_path, st["gen"]))
        for g in snapshot_generations(run):
            if g > st["gen"]:
                snapshot_path(run, g).unlink()
        st["config"] = asdict(cfg)
        # the budget in force (a resume may change it): config.json says what the run is
        (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    else:
        if ckpt_path.exists():
            raise FileExistsError(f"{run} already holds a run; use --resume or another --run-dir")
        opt_seed, task_seed = np.random.SeedSequence(cfg.seed).generate_state(2)
        optimizer = make_optimizer(cfg, policy.n_params, int(opt_seed))  # fails before mkdir
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        st = {
            "config": asdict(cfg),
            "optimizer": optimizer,
            "task_rng": np.random.default_rng(int(task_seed)),
            "gen": 0,
            "wall_s": 0.0,
            "env_steps": 0,
            "episodes": 0,
            "best": None,  # (validation mean, generation, params)
            "code_version": code_version(),
        }

    population_rollout, evaluator = rollout, None
    if cfg.ray_address:  # the same rollouts, sharded over Ray actors
        from anpolicy.sim.distributed import RayEvaluator

        evaluator = RayEvaluator(cfg.ray_address)
        population_rollout = evaluator.rollout
    opt, task_rng = st["optimizer"], st["task_rng"]
    log = open(log_path, "a")
    clock = RunClock(st["wall_s"], cfg.checkpoint_minutes)
    # runs saved before the count existed had a fixed population
    st.setdefault("episodes", st["gen"] * cfg.popsize * cfg.rollouts)

    elapsed = clock.elapsed

    def validate_center(row: dict) -> None:
        """Validate the centre into ``row``; keep it as the best (and best.npz) if it is."""
        center = opt.center.astype(np.float32)
        v = evaluate_params(cfg, policy, center, cfg.validate_episodes, cfg.validate_seed)
        row["val_mean"], row["val_se"] = v["mean"], v["se"]
        if st["best"] is None or v["mean"] > st["best"][0]:
            st["best"] = (v["mean"], st["gen"], center)
            save_agent(run / "best.npz", policy, center, _history_meta(row))

    def _history_meta(row: dict) -> dict:
        return {
            "generation": st["gen"],
            "episodes": st["episodes"],
            "env_steps": st["env_steps"],
            "wall_s": round(elapsed(), 2),
            "validation_mean": row["val_mean"],
            "validation_se": row["val_se"],
            "validation": f"{cfg.validate_episodes} episodes, seed {cfg.validate_seed}, "
            + cfg.test_schedule().describe(),
            "seed": cfg.seed,
            "optimizer": cfg.optimizer,
            "step_size": opt.step_size,
        }

    def take_snapshot(row: dict) -> None:
        if "val_mean" not in row:
            validate_center(row)
        center = opt.center.astype(np.float32)
        save_agent(snapshot_path(run, st["gen"]), policy, center, _history_meta(row))

    stop_requested = []

    def request_stop(signum, frame):
        stop_requested.append(signum)

    previous_handlers = (
        {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        if main_thread()
        else {}
    )

    if cfg.snapshot_every and st["gen"] == 0 and not snapshot_path(run, 0).exists():
        take_snapshot({})  # the starting point, so the series shows where learning began

    def save_checkpoint():
        st["wall_s"] = elapsed()
        save_checkpoint_file(ckpt_path, st)

    def out_of_budget() -> bool:
        return (
            bool(stop_requested)
            or st["gen"] >= cfg.generations
            or (cfg.minutes > 0 and elapsed() >= 60 * cfg.minutes)
            or (cfg.stop_step_size > 0 and opt.step_size < cfg.stop_step_size)
            or (cfg.max_episodes > 0 and st["episodes"] >= cfg.max_episodes)
        )

    bar = tqdm(
        total=cfg.generations,
        initial=st["gen"],
        disable=not progress,
        unit="gen",
        desc=f"{cfg.policy}/{cfg.optimizer}",
    )
    while not out_of_budget():
        pop = opt.ask()
        task_seed = int(task_rng.integers(2**31))
        res = population_rollout(
            policy,
            torch.as_tensor(pop, dtype=torch.float32),
            cfg.rollouts,
            seed=task_seed,
            channels=channels,
            plan=training_plan(cfg, task_seed, schedule, channels.n_permuted),
            engine=_engine(cfg, policy),
        )
        fitness = res.returns.mean(axis=1)
        opt.tell(fitness)
        st["gen"] += 1
        st["env_steps"] += res.env_steps
        st["episodes"] += len(pop) * cfg.rollouts
        row = {
            "gen": st["gen"],
            "wall_s": round(elapsed(), 2),
            "env_steps": st["env_steps"],
            "episodes": st["episodes"],
            "popsize": len(pop),
            "fit_max": float(fitness.max()),
            "fit_mean": float(fitness.mean()),
            "fit_min": float(fitness.min()),
            "step_size": opt.step_size,
            "threads": cfg.threads,  # a resumed run may use another count: CPU time per row
            "engine": res.engine,
        }
        if hasattr(opt, "restarts"):
            row["restarts"] = opt.restarts
        if evaluator is not None:  # chunks re-run because their Ray actor died
            row["ray_resubmitted"] = evaluator.last.resubmitted
        if st["gen"] % cfg.validate_every == 0:
            validate_center(row)
        if cfg.snapshot_every and st["gen"] % cfg.snapshot_every == 0:
            take_snapshot(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(1)
        bar.set_postfix(
            best=f"{fitness.max():.0f}",
            mean=f"{fitness.mean():.0f}",
            sigma=f"{opt.step_size:.4f}",
            val=f"{row.get('val_mean', float('nan')):.0f}",
        )
        if clock.checkpoint_due():
            save_checkpoint()
            clock.saved()
    bar.close()
    if evaluator is not None:
        evaluator.close()
    st["stop_reason"] = stop_reason(cfg, st, opt, bool(stop_requested))
    save_checkpoint()
    log.close()
    for sig, handler in previous_handlers.items():
        signal.signal(sig, handler)
    if stop_requested:
        raise TrainingInterrupted(
            f"stopped by signal {stop_requested[0]} after generation {st['gen']}; "
            f"checkpoint saved: resume with --resume --run-dir {run}"
        )
    return finalize(cfg, st, run)


def finalize(cfg: TrainConfig, st: dict, out_dir: Path) -> Path:
    """Test the best validated centre of a run state ``st`` and write ``agent.npz`` and
    ``result.json`` into ``out_dir``. Works on a live run's checkpoint too."""
    policy = cfg.make_policy()
    if st["best"] is None:  # never validated: validate the current centre
        center = st["optimizer"].center.astype(np.float32)
        v = evaluate_params(cfg, policy, center, cfg.validate_episodes, cfg.validate_seed)
        st["best"] = (v["mean"], st["gen"], center)
    val_mean, best_gen, params = st["best"]
    test = evaluate_params(cfg, policy, params, cfg.test_episodes, cfg.test_seed)
    meta = {
        "config": asdict(cfg),
        "seed": cfg.seed,
        "code_version": st["code_version"],
        "generations": st["gen"],
        "selected_generation": best_gen,
        "stop_reason": st.get("stop_reason", "unknown"),
        "final_step_size": st["optimizer"].step_size,
        "validation_mean": val_mean,
        "wall_s": round(st["wall_s"], 1),
        "env_steps": st["env_steps"],
        "episodes": st.get("episodes"),
        "test": test,
        "test_protocol": f"{cfg.test_episodes} episodes, seed {cfg.test_seed}, "
        + cfg.test_schedule().describe(),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    agent = save_agent(out_dir / "agent.npz", policy, params, meta)
    save_sampling_state(out_dir / SAMPLING_STATE, st["optimizer"], st["gen"])
    (out_dir / "result.json").write_text(json.dumps(meta, indent=2))
    return agent


def finalize_from_checkpoint(run_dir, out_dir) -> Path:
    """Finalize a copy of a (possibly still running) run from its last checkpoint:
    ``out_dir`` gets agent.npz, result.json and the log up to that checkpoint."""
    run, out_dir = Path(run_dir), Path(out_dir)
    st = load_checkpoint(run / "checkpoint.pkl")
    cfg = TrainConfig.from_saved(st["config"])
    limit_threads(cfg.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "log.jsonl").write_text(_log_upto(run / "log.jsonl", st["gen"]))
    return finalize(cfg, st, out_dir)
