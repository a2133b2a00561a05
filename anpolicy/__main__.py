"""Command line: ``python -m anpolicy {evaluate,bench,train,...} --help``.

Errors: a user mistake (a file, a flag, a value that would make the run meaningless)
exits with status 2 and one line naming the argument or file; ``--debug`` shows the
traceback instead. ``--help`` imports nothing heavy: each command imports what it runs.
The parts live in `anpolicy.cli`: the parser (`anpolicy.cli.parser`), the checks of
what was typed (`anpolicy.cli.checks`), and one function per command
(`anpolicy.cli.commands`).
"""

from __future__ import annotations

import sys

from anpolicy.cli.checks import UsageError
from anpolicy.cli.parser import build_parser

__all__ = ["UsageError", "build_parser", "main"]


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
