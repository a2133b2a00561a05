"""The command line's checks of what the user typed, before anything runs.

A user mistake (a file, a flag, a value that would make the run meaningless) raises
`UsageError`: one line naming the argument and what was expected; `anpolicy.__main__`
prints it and exits with status 2.
"""

from __future__ import annotations

import argparse

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


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
