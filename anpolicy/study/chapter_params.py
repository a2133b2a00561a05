"""Chapter parameters: refuse unknown names and bad values before a chapter runs.

papermill only warns about a parameter the notebook does not have and then runs the
chapter with its defaults, so a typo (``-p n_episode 5000``) silently builds the default
chapter. `check` reads the notebook's ``parameters`` cell (`papermill.inspect_notebook`)
and raises `ChapterParameterError`, one line, for

- a name the cell does not define (the message lists the known ones);
- a value whose type differs from the default's (bool for bool, int for int, a number
  for float, text for str, a list for a list);
- a value outside what its name means (`RULES`): counts ``n_*`` >= 1, ``seed`` >= 0,
  ``max_steps`` in 1..1000, and every number finite and >= 0 where the default is.

`scripts/run_chapter.py` (the README's papermill command) and ``scripts/build_book.py``
call it; `validate` applies the name rules to values inside a chapter.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path


class ChapterParameterError(ValueError):
    """A papermill parameter a chapter does not know, or a value it cannot use."""


# Name rules: (test on the name, lowest value, highest value, what it is).
RULES = (
    (lambda name: name == "seed", 0, None, "a seed"),
    (lambda name: name.startswith("n_"), 1, None, "a count"),
    (lambda name: name == "max_steps", 1, 1000, "steps per episode"),
)


def _type_name(value) -> str:
    return type(value).__name__


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_problem(name: str, value, default=None, has_default: bool = False) -> str | None:
    """What is wrong with ``value`` for parameter ``name`` (None if nothing)."""
    if has_default and default is not None:
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = _number(value)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, list | tuple):
            ok = isinstance(value, list | tuple)
        else:
            ok = True
        if not ok:
            hint = " (pass text with -r NAME VALUE)" if isinstance(default, str) else ""
            return (
                f"expects {_type_name(default)} like its default {default!r}, "
                f"got {_type_name(value)} {value!r}{hint}"
            )
    if not _number(value):
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    for applies, low, high, what in RULES:
        if applies(name):
            if not isinstance(value, int):
                return f"is {what}: an integer, got {value!r}"
            if value < low or (high is not None and value > high):
                span = f">= {low}" if high is None else f"in {low}..{high}"
                return f"is {what}: must be {span}, got {value}"
            return None
    if has_default and _number(default) and default >= 0 and value < 0:
        return f"must be >= 0 (default {default!r}), got {value!r}"
    return None


def defaults(notebook) -> dict:
    """``{name: default}`` of the notebook's ``parameters`` cell (defaults that are not
    literals are given as their source text)."""
    import papermill

    out = {}
    for name, info in papermill.inspect_notebook(str(notebook)).items():
        try:
            out[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            out[name] = info["default"]
    return out


def check(notebook, params: dict) -> dict:
    """Return ``params`` if the chapter ``notebook`` can take them, else raise
    `ChapterParameterError` naming the chapter, the parameter and what it expects."""
    known = defaults(notebook)
    chapter = Path(notebook).name
    if not known and params:
        raise ChapterParameterError(f"{chapter} has no parameters cell; got {sorted(params)}")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ChapterParameterError(
            f"{chapter} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(known)}"
        )
    for name, value in params.items():
        problem = value_problem(name, value, known[name], has_default=True)
        if problem:
            raise ChapterParameterError(f"{chapter}: parameter {name!r} {problem}")
    return params


def validate(**values) -> None:
    """For a chapter's first cell: ``validate(seed=seed, n_episodes=n_episodes)`` raises
    `ChapterParameterError` (one line) for a value its name rules out (`RULES`)."""
    for name, value in values.items():
        problem = value_problem(name, value)
        if problem:
            raise ChapterParameterError(f"parameter {name!r} {problem}")
