"""Command line: ``python -m anpolicy {evaluate,bench,train,...} --help``.

Errors: a user mistake (a file, a flag, a value that would make the run meaningless)
exits with status 2 and one line naming the argument or file; ``--debug`` shows the
traceback instead. ``--help`` imports nothing heavy: each command imports what it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from anpolicy.sim.physics import MAX_STEPS


class UsageError(ValueError):
    """A user mistake on the command line: the argument (an option or a file) and what
    was expected, in one line."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"argument {argument}: {message}")


MAX_THREADS = 256


def _require(ok: bool, argument: str, message: str) -> None:
    if not ok:
        raise UsageError(argument, message)


def _check_threads(threads: int) -> None:
    _require(
        0 <= threads <= MAX_THREADS,
        "--threads",
        f"must be in 0..{MAX_THREADS} (0: the default), got {threads}",
    )


def _check_evaluate(args):
    """Parse and check evaluate's options before anything runs; returns
    ``(schedule, channels, interventions)`` or raises UsageError."""
    from anpolicy.sim.interventions import make_interventions
    from anpolicy.sim.rollout import check_memory
    from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

    _require(args.episodes >= 1, "--episodes", f"must be >= 1, got {args.episodes}")
    _require(args.seed >= 0, "--seed", f"must be >= 0, got {args.seed}")
    _require(
        1 <= args.max_steps <= MAX_STEPS,
        "--max-steps",
        f"must be in 1..{MAX_STEPS} (steps per episode), got {args.max_steps}",
    )
    _require(args.noise >= 0, "--noise", f"must be >= 0 channels, got {args.noise}")
    _require(args.copies >= 1, "--copies", f"must be >= 1, got {args.copies}")
    _check_threads(args.threads)
    channels = ObservationChannels(n_copies=args.copies, n_noise=args.noise)
    try:
        schedule = PermutationSchedule.parse(args.schedule)
        schedule.check_within(args.max_steps)
    except ValueError as e:
        raise UsageError("--schedule", str(e)) from None
    if schedule.mode == "given" and len(schedule.perms[0]) != channels.n_permuted:
        raise UsageError(
            "--schedule",
            f"fixed permutation of length {len(schedule.perms[0])}, but --copies "
            f"{args.copies} gives {channels.n_permuted} permuted channels",
        )
    try:
        interventions = make_interventions(args.intervention)
    except ValueError as e:
        raise UsageError("--intervention", str(e)) from None
    if any(i.acts_at_reshuffle for i in interventions) and not len(
        schedule.change_steps(args.max_steps)
    ):
        raise UsageError(
            "--intervention",
            f"{args.intervention} acts at reshuffles, but --schedule {args.schedule} has "
            "none during the episode (use every:K or at:S1,...)",
        )
    try:
        check_memory(1, args.episodes, channels, len(schedule.change_steps(args.max_steps)))
    except ValueError as e:
        raise UsageError("--episodes", str(e)) from None
    return schedule, channels, interventions


def _evaluate(args) -> int:
    schedule, channels, interventions = _check_evaluate(args)
    import torch

    from anpolicy.sim import fused
    from anpolicy.stats import summarize
    from anpolicy.store.weights import load_agent

    policy, params, meta = load_agent(args.weights)
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
    if args.threads:
        torch.set_num_threads(args.threads)
    fused.set_threads(args.threads)
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
    if args.json:
        print(json.dumps(s))
    else:
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
    return 0


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
    if "threads" in given:
        _check_threads(given["threads"])
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
    entry = ship_run(run, args.name, note=args.note)
    t = entry["test"]
    print(f"shipped {args.name}: test mean {t['mean']:.1f} (s.e. {t['se']:.1f}, n={t['n']})")
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


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


RESUME_HELP = (
    "continue the run in --run-dir from its last checkpoint; options not given keep the "
    "run's saved values, not the defaults listed here (default: a new run)"
)


def _add_config_options(parser, command: str) -> None:
    """One ``--option`` per field of the command's config dataclass (default: the
    field's), read from its source so that ``--help`` does not import torch
    (`anpolicy.training.config_help`); the help is the field's comment, unit and default."""
    from anpolicy.training.config_help import CONFIGS, option_help, read_config_fields

    for f in read_config_fields(*CONFIGS[command]):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_parse_bool if f.type is bool else f.type,
            default=None,
            metavar=f.type.__name__.upper(),
            help=option_help(f),
        )


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (status 2) instead of the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


DEBUG_HELP = "on an error, show the Python traceback (default: one line)"
RAY_HELP = (
    "evaluate populations on Ray actors (pip install -e '.[ray]'): without ADDRESS a "
    "local cluster, else 'auto' or HOST:PORT of a running one (`ray start --head`); "
    "same numbers as in process on the fused engine (default: in process, no Ray)"
)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m anpolicy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True, help="what to do (required)")

    e = sub.add_parser("evaluate", help="evaluate a weights file over many episodes")
    e.add_argument(
        "weights", help="agent file (.npz): ours (data/agents/) or the authors' model.npz"
    )
    e.add_argument(
        "--episodes",
        type=int,
        default=1000,
        help="episodes to run, >= 1 [episodes] (default %(default)s)",
    )
    e.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the starts, permutations and noise, >= 0 (default %(default)s)",
    )
    e.add_argument(
        "--schedule",
        default="reset",
        help="when the observation order changes: none | reset | every:K | at:S1,S2 | "
        "fixed:P0,...,P4 (K, S in steps, < --max-steps) (default %(default)s)",
    )
    e.add_argument(
        "--noise",
        type=int,
        default=0,
        help="N(0, 0.1^2) noise channels appended, >= 0 [channels] (default %(default)s)",
    )
    e.add_argument(
        "--copies",
        type=int,
        default=1,
        help="copies of the 5 observations, >= 1 [copies] (default %(default)s)",
    )
    e.add_argument(
        "--intervention",
        default="none",
        help="state ablation: none | zero_hc | zero_c | zero_h | reset_at_reshuffle | "
        "permute_relative | permute_absolute | zero_prev_action (default %(default)s)",
    )
    e.add_argument(
        "--max-steps",
        type=int,
        default=MAX_STEPS,
        help=f"episode length cap, 1..{MAX_STEPS} [steps] (default %(default)s, the task's)",
    )
    e.add_argument(
        "--engine",
        choices=("auto", "torch", "fused"),
        default="auto",
        help="auto (default): the fused engine where it runs (Attention Neuron, no "
        "intervention), else the PyTorch one; results of the two agree in distribution",
    )
    e.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of the engine, >= 0 (default 0: torch's default)",
    )
    e.add_argument(
        "--json", action="store_true", help="print one JSON object (default: two text lines)"
    )
    e.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help=RAY_HELP)
    e.set_defaults(func=_evaluate)

    b = sub.add_parser("bench", help="per-episode loop vs batched engines: throughput")
    b.add_argument(
        "--population",
        type=int,
        default=256,
        help="parameter vectors run together, >= 1 [members] (default %(default)s)",
    )
    b.add_argument(
        "--episodes",
        type=int,
        default=16,
        help="episodes per member, >= 1 [episodes] (default %(default)s)",
    )
    b.add_argument(
        "--loop-seconds",
        type=float,
        default=10.0,
        help="time given to the per-episode loop, > 0 [s] (default %(default)s)",
    )
    b.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of both engines, >= 0 (default 0: torch's default)",
    )
    b.add_argument(
        "--seed", type=int, default=0, help="seed of the episodes, >= 0 (default %(default)s)"
    )
    b.add_argument(
        "--json", action="store_true", help="print one JSON object (default: text lines)"
    )
    b.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="instead: in-process fused engine vs Ray actors (1, 2; 1 with 2 threads), "
        "per generation; ADDRESS as for evaluate --ray (default: a local cluster)",
    )
    b.set_defaults(func=_bench)

    t = sub.add_parser("train", help="train a policy with an evolution strategy")
    _add_config_options(t, "train")
    t.add_argument("--resume", action="store_true", help=RESUME_HELP)
    t.add_argument(
        "--ray", dest="ray_address", nargs="?", const="local", metavar="ADDRESS", help=RAY_HELP
    )
    t.set_defaults(func=_train)
    d = sub.add_parser("distill", help="distil an Attention Neuron from a teacher (DAgger)")
    _add_config_options(d, "distill")
    d.set_defaults(func=_distill)

    g = sub.add_parser(
        "apg", help="fine-tune an Attention Neuron by backpropagation through the simulator"
    )
    _add_config_options(g, "apg")
    g.add_argument("--resume", action="store_true", help=RESUME_HELP)
    g.set_defaults(func=_apg)

    s = sub.add_parser("ship", help="copy a finished training run into data/ (manifest)")
    s.add_argument("run_dir", help="the run directory (holds agent.npz and result.json)")
    s.add_argument(
        "--name", required=True, help="agent name in data/manifest.json (required, no default)"
    )
    s.add_argument(
        "--note", default="", help="a note stored with the manifest entry (default: none)"
    )
    s.add_argument(
        "--from-checkpoint",
        action="store_true",
        help="snapshot a still-running run from its last checkpoint first (default: off)",
    )
    s.add_argument(
        "--snapshot-dir",
        default=None,
        help="where --from-checkpoint writes the snapshot run (default RUN_DIR_snapshot)",
    )
    s.set_defaults(func=_ship)

    f = sub.add_parser(
        "fetch-reference",
        help="download Tang & Ha's published CartPole weights (pinned, SHA-256 checked)",
    )
    f.add_argument(
        "--from",
        dest="source",
        default=None,
        help="install a local copy, same check (default: download)",
    )
    f.add_argument("--url", default=None, help="download from here (default: the pinned URL)")
    f.set_defaults(func=_fetch_reference)
    _add_debug_options(sub)  # keep last: every subcommand above gets --debug
    return p


def _add_debug_options(sub) -> None:
    """``--debug`` after any subcommand too (it sets nothing unless given)."""
    for parser in sub.choices.values():
        if "--debug" not in parser._option_string_actions:
            parser.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
            )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if isinstance(e, KeyError) and len(e.args) == 1:
        text = f"missing key {e.args[0]!r}"
    return text or type(e).__name__


def main(argv=None) -> int:
    """Run the command line; returns the exit status: 0, 2 for a user mistake (one line
    on stderr naming the argument or file), 1 for an internal error (one line; the
    traceback with ``--debug``), 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, ValueError | KeyError | OSError | MemoryError):
            message = _one_line(e) if not isinstance(e, MemoryError) else "out of memory"
            print(f"error: {message}", file=sys.stderr)
            return 2
        print(
            f"error: internal error ({type(e).__name__}: {_one_line(e)}); "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
