"""Command line: ``python -m anpolicy {evaluate,bench,train} --help``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from anpolicy.physics import MAX_STEPS


def _evaluate(args) -> int:
    import torch

    from anpolicy import fused
    from anpolicy.analysis import summarize
    from anpolicy.distributed import rollout_on
    from anpolicy.interventions import make_interventions
    from anpolicy.schedules import ObservationChannels, PermutationSchedule
    from anpolicy.weights import load_agent

    if args.threads:
        torch.set_num_threads(args.threads)
    fused.set_threads(args.threads)
    policy, params, meta = load_agent(args.weights)
    schedule = PermutationSchedule.parse(args.schedule)
    channels = ObservationChannels(n_copies=args.copies, n_noise=args.noise)
    with rollout_on(args.ray) as run:  # in process, or on Ray actors with --ray
        res = run(
            policy,
            params,
            args.episodes,
            seed=args.seed,
            schedule=schedule,
            channels=channels,
            interventions=make_interventions(args.intervention),
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
    if args.ray is not None:  # Ray actors vs the in-process engine
        from anpolicy.bench import format_ray_bench, run_ray_bench

        r = run_ray_bench(args.population, args.episodes, args.ray, args.seed)
        print(json.dumps(r) if args.json else format_ray_bench(r))
        return 0
    from anpolicy.bench import run_bench

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


def _config_from_args(config_class, args):
    """A config from the options given on the command line (the rest: defaults). With
    ``--resume``: the run's own ``config.json``, with only the options given changed."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
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

    from anpolicy.train import TrainConfig, TrainingInterrupted, train

    try:
        agent = train(_config_from_args(TrainConfig, args), resume=args.resume)
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 128 + int(signal.SIGTERM)
    print(f"agent written to {agent}")
    return 0


def _apg(args) -> int:
    from anpolicy.apg import APGConfig, apg

    agent = apg(_config_from_args(APGConfig, args), resume=args.resume)
    print(f"agent written to {agent}")
    return 0


def _distill(args) -> int:
    from anpolicy.distill import DistillConfig, distill

    print(f"student written to {distill(_config_from_args(DistillConfig, args))}")
    return 0


def _ship(args) -> int:
    from anpolicy.data import ship_run
    from anpolicy.train import finalize_from_checkpoint

    run = Path(args.run_dir)
    if args.from_checkpoint:
        run = Path(args.snapshot_dir or f"{args.run_dir}_snapshot")
        finalize_from_checkpoint(args.run_dir, run)
    entry = ship_run(run, args.name, note=args.note)
    t = entry["test"]
    print(f"shipped {args.name}: test mean {t['mean']:.1f} (s.e. {t['se']:.1f}, n={t['n']})")
    return 0


def _fetch_reference(args) -> int:
    from anpolicy import authors

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


def _add_config_options(parser, config_class) -> None:
    """One ``--option`` per field of a config dataclass (default: the field's)."""
    for f in dataclasses.fields(config_class):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_parse_bool if isinstance(f.default, bool) else type(f.default),
            default=None,
            help=f"default {f.default!r}",
        )


RAY_HELP = (
    "evaluate populations on Ray actors (pip install -e '.[ray]'): without ADDRESS a "
    "local cluster, else 'auto' or HOST:PORT of a running one (`ray start --head`); "
    "same numbers as in process on the fused engine"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m anpolicy", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("evaluate", help="evaluate a weights file over many episodes")
    e.add_argument("weights", help="our agent .npz or the original authors' model.npz")
    e.add_argument("--episodes", type=int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument(
        "--schedule",
        default="reset",
        help="none | reset | every:K | at:S1,S2 | fixed:P0,...,P4 (default reset)",
    )
    e.add_argument("--noise", type=int, default=0, help="appended N(0, 0.1^2) channels")
    e.add_argument("--copies", type=int, default=1, help="copies of the 5 observations")
    e.add_argument(
        "--intervention",
        default="none",
        help="none | zero_hc | zero_c | zero_h | reset_at_reshuffle | "
        "permute_relative | permute_absolute | zero_prev_action",
    )
    e.add_argument("--max-steps", type=int, default=MAX_STEPS)
    e.add_argument(
        "--engine",
        choices=("auto", "torch", "fused"),
        default="auto",
        help="auto (default): the fused engine where it runs (Attention Neuron, no "
        "intervention), else the PyTorch one; results of the two agree in distribution",
    )
    e.add_argument("--threads", type=int, default=0, help="threads (0: default)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help=RAY_HELP)
    e.set_defaults(func=_evaluate)

    b = sub.add_parser("bench", help="per-episode loop vs batched engines: throughput")
    b.add_argument("--population", type=int, default=256)
    b.add_argument("--episodes", type=int, default=16)
    b.add_argument("--loop-seconds", type=float, default=10.0)
    b.add_argument("--threads", type=int, default=0, help="threads of both engines (0: default)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    b.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="instead: in-process fused engine vs Ray actors (1, 2; 1 with 2 threads), "
        "per generation; ADDRESS as for evaluate --ray (default: a local cluster)",
    )
    b.set_defaults(func=_bench)

    from anpolicy.train import TrainConfig

    t = sub.add_parser("train", help="train a policy with an evolution strategy")
    _add_config_options(t, TrainConfig)
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    t.add_argument(
        "--ray", dest="ray_address", nargs="?", const="local", metavar="ADDRESS", help=RAY_HELP
    )
    t.set_defaults(func=_train)
    from anpolicy.distill import DistillConfig

    d = sub.add_parser("distill", help="distil an Attention Neuron from a teacher (DAgger)")
    _add_config_options(d, DistillConfig)
    d.set_defaults(func=_distill)

    from anpolicy.apg import APGConfig

    g = sub.add_parser(
        "apg", help="fine-tune an Attention Neuron by backpropagation through the simulator"
    )
    _add_config_options(g, APGConfig)
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    g.set_defaults(func=_apg)

    s = sub.add_parser("ship", help="copy a finished training run into data/ (manifest)")
    s.add_argument("run_dir")
    s.add_argument("--name", required=True, help="agent name in data/manifest.json")
    s.add_argument("--note", default="")
    s.add_argument(
        "--from-checkpoint",
        action="store_true",
        help="snapshot a still-running run from its last checkpoint first",
    )
    s.add_argument("--snapshot-dir", default=None)
    s.set_defaults(func=_ship)

    f = sub.add_parser(
        "fetch-reference",
        help="download Tang & Ha's published CartPole weights (pinned, SHA-256 checked)",
    )
    f.add_argument("--from", dest="source", default=None, help="install a local copy (same check)")
    f.add_argument("--url", default=None, help="download from here instead of the pinned URL")
    f.set_defaults(func=_fetch_reference)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
