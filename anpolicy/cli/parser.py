"""The argument parser of ``python -m anpolicy``: subcommands, options, help texts.

Imports nothing heavy: the commands (`anpolicy.cli.commands`) import what they run
when they run.
"""

from __future__ import annotations

import argparse

from anpolicy.cli.checks import _parse_bool
from anpolicy.cli.commands import (
    _apg,
    _bench,
    _distill,
    _evaluate,
    _fetch_reference,
    _sampling_state,
    _ship,
    _train,
)
from anpolicy.sim.physics import MAX_STEPS

DESCRIPTION = """Command line: ``python -m anpolicy {evaluate,bench,train,...} --help``.

Errors: a user mistake (a file, a flag, a value that would make the run meaningless)
exits with status 2 and one line naming the argument or file; ``--debug`` shows the
traceback instead. ``--help`` imports nothing heavy: each command imports what it runs.
"""

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
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True, help="what to do (required)")

    e = sub.add_parser("evaluate", help="evaluate a weights file over many episodes")
    e.add_argument(
        "weights", help="agent file (.npz): ours (data/agents/) or the authors' model.npz"
    )
    e.add_argument(
        "--against",
        default=None,
        metavar="OTHER",
        help="a second agent file run on the same episodes; adds its score and the paired "
        "difference (weights minus OTHER, 95 %% CI) (default: none)",
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
        "--retire-as",
        default=None,
        metavar="NEW_NAME",
        help="where --name is already shipped, keep that agent under NEW_NAME (its file, "
        "log, snapshots and manifest entry move; default: refuse to ship over it)",
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

    ss = sub.add_parser(
        "sampling-state",
        help="write a run's per-parameter stdevs from its last checkpoint (for --init-stds-from)",
    )
    ss.add_argument("run_dir", help="the run directory (holds checkpoint.pkl; may be training)")
    ss.add_argument(
        "--out",
        default=None,
        help="the file to write (default: RUN_DIR/sampling_state_genGGGGGG.npz, the "
        "checkpoint's generation)",
    )
    ss.set_defaults(func=_sampling_state)

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
