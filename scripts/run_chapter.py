"""Re-run one chapter with papermill, refusing parameters the chapter does not have.

    python scripts/run_chapter.py book/permutations.ipynb out.ipynb -p n_episodes 5000 -p seed 7

``-p NAME VALUE`` reads VALUE as papermill's command line does (int, float, True/False,
None, else text); ``-r NAME VALUE`` passes text as is. Before anything runs, every name
must be one of the notebook's parameters cell and every value of the right type and
range (`anpolicy.study.chapter_params.check`); otherwise: status 2 and one line naming the
parameter and listing the chapter's parameters. A failing cell: status 1 and one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def papermill_value(text: str):
    """A ``-p`` value as papermill's CLI reads it."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_chapter.py", description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", help="the chapter, e.g. book/permutations.ipynb")
    p.add_argument("output", help="where the executed notebook goes (.ipynb)")
    p.add_argument(
        "-p",
        "--parameters",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter, VALUE read as papermill reads it (default: none)",
    )
    p.add_argument(
        "-r",
        "--parameters-raw",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter passed as text (default: none)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds per cell before the run fails [s] (default %(default)s)",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from anpolicy.study.chapter_params import ChapterParameterError, check

    params = {name: papermill_value(value) for name, value in args.parameters}
    params.update({name: value for name, value in args.parameters_raw})
    if not Path(args.notebook).is_file():
        print(f"error: notebook not found: {args.notebook}", file=sys.stderr)
        return 2
    try:
        check(args.notebook, params)
    except ChapterParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print(f"error: argument --timeout: must be > 0 s, got {args.timeout}", file=sys.stderr)
        return 2
    import papermill

    try:
        papermill.execute_notebook(
            args.notebook,
            args.output,
            parameters=params,
            cwd=str(ROOT),
            execution_timeout=args.timeout,
        )
    except papermill.PapermillExecutionError as e:
        print(
            f"error: {args.notebook} failed in cell {e.exec_count}: {e.ename}: {e.evalue}",
            file=sys.stderr,
        )
        return 1
    print(f"executed {args.notebook} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
