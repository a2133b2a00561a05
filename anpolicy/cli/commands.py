"""What each subcommand of ``python -m anpolicy`` runs: one function per command.

Each takes the parsed arguments and returns the exit status (0); each imports the
heavy modules it needs (torch, the trainer, Ray) itself, so that ``--help`` and the
other commands do not pay for them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

from anpolicy.cli.checks import UsageError, _check_evaluate, _check_threads, _require


def _evaluate(args) -> int:
    schedule, channels, interventions = _check_evaluate(args)
    import torch

    from anpolicy.sim import fused
    from anpolicy.stats import paired_difference, summarize

    if args.threads:
        torch.set_num_threads(args.threads)
    fused.set_threads(args.threads)
    # both agents are loaded and checked before either runs: a bad --against fails at once
    agents = [
        _load_checked(args, w, channels, interventions) for w in (args.weights, args.against) if w
    ]
    policy, res = _run_one(args, *agents[0], schedule, channels, interventions)
    s = summarize(res.returns[0], res.lengths[0])
    s.update(
        weights=str(args.weights),
        policy=policy.spec(),
        seed=args.seed,
        schedule=schedule.describe(),
        noise_channels=args.noise,
        copies=args.copies,
        intervention=args.intervention,
        engine=res.engine,
    )
    if args.against:  # the same episodes (starts, permutations, noise) for the other agent
        other_policy, other = _run_one(args, *agents[1], schedule, channels, interventions)
        o = summarize(other.returns[0], other.lengths[0])
        o.update(weights=str(args.against), policy=other_policy.spec(), engine=other.engine)
        s["against"] = o
        s["paired_difference"] = paired_difference(res.returns[0], other.returns[0])
    if args.json:
        print(json.dumps(s))
        return 0
    lo, hi = s["ci95"]
    print(
        f"{args.weights}: {policy.kind}, {schedule.describe()}, intervention "
        f"{args.intervention}, {args.noise} noise channels, seed {args.seed}, "
        f"{res.engine} engine"
    )
    print(
        f"mean return {s['mean']:.1f} +- {s['sd']:.1f} sd (s.e. {s['se']:.1f}, "
        f"95% CI [{lo:.1f}, {hi:.1f}], n={s['n']}); "
        f"{100 * s['frac_short']:.1f}% of episodes shorter than 50 steps"
    )
    if args.against:
        o, d = s["against"], s["paired_difference"]
        print(
            f"against {args.against} on the same episodes: {o['mean']:.1f} "
            f"[{o['ci95'][0]:.1f}, {o['ci95'][1]:.1f}]; paired difference "
            f"{d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]"
        )
    return 0


def _load_checked(args, weights, channels, interventions):
    """``(policy, params)`` of one agent file, checked against evaluate's options;
    UsageError where the agent cannot take them."""
    from anpolicy.sim import fused
    from anpolicy.store.weights import load_agent

    policy, params, _ = load_agent(weights)
    if channels.n_channels != 5 and not policy.has_lstm_state:
        raise UsageError(
            "--noise/--copies",
            f"the {type(policy).__name__} takes exactly the 5 observations, "
            f"not {channels.n_channels} channels",
        )
    if any(i.needs_lstm_state for i in interventions) and not policy.has_lstm_state:
        raise UsageError(
            "--intervention",
            f"{args.intervention} changes the LSTM state; the {type(policy).__name__} has none",
        )
    if args.engine == "fused":
        why_not = fused.supports(policy, "cpu", interventions)
        _require(why_not is None, "--engine", f"fused cannot run this evaluation: {why_not}")
    return policy, params


def _run_one(args, policy, params, schedule, channels, interventions):
    """``(policy, RolloutResult)``: one checked agent (`_load_checked`) on evaluate's
    episodes."""
    from anpolicy.sim.distributed import rollout_on

    with rollout_on(args.ray) as run:  # in process, or on Ray actors with --ray
        res = run(
            policy,
            params,
            args.episodes,
            seed=args.seed,
            schedule=schedule,
            channels=channels,
            interventions=interventions,
            max_steps=args.max_steps,
            progress=not args.json and "evaluate",
            engine=args.engine,
        )
    return policy, res


def _bench(args) -> int:
    _require(args.population >= 1, "--population", f"must be >= 1, got {args.population}")
    _require(args.episodes >= 1, "--episodes", f"must be >= 1, got {args.episodes}")
    _require(
        math.isfinite(args.loop_seconds) and 0 < args.loop_seconds <= 3600,
        "--loop-seconds",
        f"must be in (0, 3600] seconds, got {args.loop_seconds}",
    )
    _require(args.seed >= 0, "--seed", f"must be >= 0, got {args.seed}")
    _check_threads(args.threads)
    from anpolicy.sim.rollout import check_memory
    from anpolicy.sim.schedules import ObservationChannels

    try:
        check_memory(args.population, args.episodes, ObservationChannels(), 0)
    except ValueError as e:
        raise UsageError("--population/--episodes", str(e)) from None
    if args.ray is not None:  # Ray actors vs the in-process engine
        from anpolicy.training.bench import format_ray_bench, run_ray_bench

        r = run_ray_bench(args.population, args.episodes, args.ray, args.seed)
        print(json.dumps(r) if args.json else format_ray_bench(r))
        return 0
    from anpolicy.training.bench import run_bench

    r = run_bench(args.population, args.episodes, args.loop_seconds, args.threads, args.seed)
    if args.json:
        print(json.dumps(r))
    else:
        lp = r["per_episode_loop"]
        print(
            f"per-episode loop (gymnasium env + torch.nn policy): {lp['steps_per_s']:,.0f} "
            f"env-steps/s ({lp['env_steps']} steps in {lp['seconds']:.1f} s)"
        )
        for name, key, ratio in (
            ("PyTorch lock-step engine", "batched_torch_engine", "ratio_torch_engine"),
            ("fused engine", "batched", "ratio"),
        ):
            bt = r[key]
            print(
                f"batched, {name} ({bt['population']} x {bt['episodes_per_member']} episodes): "
                f"{bt['steps_per_s']:,.0f} env-steps/s ({bt['env_steps']} steps in "
                f"{bt['seconds']:.1f} s), {r[ratio]:.0f}x the loop"
            )
        print(
            f"threads: torch {r['torch_threads']}, fused {r['fused_threads']} "
            f"({r['numba_threading_layer']}); parameters: {r['parameters']}"
        )
        kf = r["kernel_floor"]
        print(
            f"PyTorch kernel floor (the two batched matmuls + sigmoids alone, same shapes): "
            f"{kf['steps_per_s']:,.0f} env-steps/s ({1e3 * kf['seconds_per_step']:.2f} ms "
            "per lock-step); no engine built from these kernels runs faster here"
        )
    return 0


def _config_fields(config_class):
    """The `anpolicy.training.config_help` view (help, unit) of a config dataclass."""
    from anpolicy.training.config_help import read_config_fields

    return read_config_fields(config_class.__module__, config_class.__name__)


def _config_from_args(config_class, args):
    """A config from the options given on the command line (the rest: defaults). With
    ``--resume``: the run's own ``config.json``, with only the options given changed."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    from anpolicy.training.config_help import value_problem

    for f in _config_fields(config_class):
        problem = value_problem(f, given[f.name]) if f.name in given else None
        _require(problem is None, "--" + f.name.replace("_", "-"), str(problem))
    if "threads" in given:  # evaluate's 0 (torch's default) has no meaning here: the log
        _check_threads(given["threads"])  # counts CPU time by the threads of each generation
        _require(given["threads"] >= 1, "--threads", f"must be >= 1, got {given['threads']}")
    if getattr(args, "resume", False):
        saved = Path(given.get("run_dir", config_class.run_dir)) / "config.json"
        if not saved.exists():
            raise FileNotFoundError(f"--resume: no run config at {saved}")
        given = {**json.loads(saved.read_text()), **given}
        if hasattr(config_class, "from_saved"):
            return config_class.from_saved(given)
    return config_class(**given)


def _train(args) -> int:
    import signal

    from anpolicy.training.train import TrainConfig, TrainingInterrupted, train

    try:
        agent = train(_config_from_args(TrainConfig, args), resume=args.resume)
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 128 + int(signal.SIGTERM)
    print(f"agent written to {agent}")
    return 0


def _apg(args) -> int:
    from anpolicy.training.apg import APGConfig, apg

    agent = apg(_config_from_args(APGConfig, args), resume=args.resume)
    print(f"agent written to {agent}")
    return 0


def _distill(args) -> int:
    from anpolicy.training.distill import DistillConfig, distill

    print(f"student written to {distill(_config_from_args(DistillConfig, args))}")
    return 0


def _ship(args) -> int:
    from anpolicy.store.data import ship_run
    from anpolicy.training.train import finalize_from_checkpoint

    run = Path(args.run_dir)
    if args.from_checkpoint:
        run = Path(args.snapshot_dir or f"{args.run_dir}_snapshot")
        finalize_from_checkpoint(args.run_dir, run)
    entry = ship_run(run, args.name, note=args.note, retire_as=args.retire_as)
    t = entry["test"]
    print(f"shipped {args.name}: test mean {t['mean']:.1f} (s.e. {t['se']:.1f}, n={t['n']})")
    if args.retire_as:
        print(f"the agent shipped as {args.name} before is now {args.retire_as}")
    return 0


def _sampling_state(args) -> int:
    import numpy as np

    from anpolicy.training.run_files import export_sampling_state

    path, gen = export_sampling_state(args.run_dir, args.out)
    with np.load(path) as z:
        stds, step = z["stds"], float(z["step_size"])
    print(
        f"{path}: generation {gen:,}, step size {step:.4g}, stdevs {stds.min():.2g}-"
        f"{stds.max():.2g} (median {np.median(stds):.2g}) over {stds.size} parameters; "
        f"start a run with them: train --init-stds-from {path}"
    )
    return 0


def _fetch_reference(args) -> int:
    from anpolicy.store import authors

    try:
        path = authors.install_from(args.source) if args.source else authors.fetch(args.url)
    except authors.AuthorsWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"the authors' weights (SHA-256 verified) are at {path}\n{authors.CITATION}")
    return 0
