"""The command-line options of the run configs, read without importing their modules.

``python -m anpolicy train|distill|apg`` offer one ``--option`` per field of
`anpolicy.training.train.TrainConfig`, `anpolicy.training.distill.DistillConfig` and
`anpolicy.training.apg.APGConfig`. Importing those modules loads torch (seconds), so the command
line reads the config class from its source file instead (``ast`` + ``tokenize``,
milliseconds): each field's name, type, default (a literal) and the comment written after
it, which becomes the option's help. The dataclass stays the one source of truth;
tests/test_bad_input.py checks that what is read here equals ``dataclasses.fields``.

Units: ``UNITS`` gives each field's unit by name (a field without one fails that test, so
a new field cannot reach ``--help`` undocumented); ``EXTRA_HELP`` documents fields whose
source has no comment.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import math
import tokenize
from dataclasses import dataclass

# The unit of every config field, by name (or by (class, name) where it differs).
UNITS = {
    "policy": "name",
    "optimizer": "name",
    "generations": "generations",
    "minutes": "minutes",
    "popsize": "parameter vectors",
    "rollouts": "episodes",
    "sigma0": "parameter units",
    "cma_step_rule": "name",
    "center_lr": "learning rate",
    "stdev_lr": "learning rate",
    "init_stdev": "parameter units",
    "train_shuffle": "schedule",
    "noise_channels": "channels",
    "upright_starts": "fraction 0..1",
    "init_from": "path",
    "init_stds_from": "path",
    "seed": "integer",
    "validate_every": "generations",
    "validate_episodes": "episodes",
    "validate_seed": "integer",
    "test_episodes": "episodes",
    "test_seed": "integer",
    "checkpoint_minutes": "minutes",
    "snapshot_every": "generations",
    "stop_step_size": "parameter units",
    "threads": "threads",
    "engine": "name",
    "run_dir": "path",
    "teacher": "path",
    "iterations": "iterations",
    "episodes_per_iter": "episodes",
    "buffer_iters": "iterations",
    "updates_per_iter": "gradient steps",
    "batch": "episodes",
    "lr": "learning rate",
    "grad_clip": "gradient norm",
    "beta0": "probability 0..1",
    "beta_decay": "factor per iteration",
    "init_scale": "parameter units",
    "window": "steps",
    "upright_only": "true/false",
    "restart_step_size": "parameter units",
    "max_episodes": "episodes",
    "ray_address": "address",
    # per config, where a name means something else there
    ("DistillConfig", "validate_every"): "iterations",
    ("APGConfig", "validate_every"): "iterations",
}

# Help for fields whose source line carries no comment.
EXTRA_HELP = {
    "validate_episodes": "held-out episodes per validation of the current parameters",
    "validate_seed": "seed of the validation episodes (fixed across the run)",
    "test_episodes": "episodes of the final test of the written agent",
    "test_seed": "seed of the final test episodes (never used for selection)",
    "seed": "the one seed of the run",
    "threads": "CPU threads (torch and the fused engine)",
    "checkpoint_minutes": "checkpoint interval",
    "run_dir": "where everything of the run goes",
}

# Where the configs live: command -> (module, class).
CONFIGS = {
    "train": ("anpolicy.training.train", "TrainConfig"),
    "distill": ("anpolicy.training.distill", "DistillConfig"),
    "apg": ("anpolicy.training.apg", "APGConfig"),
}


@dataclass(frozen=True)
class ConfigField:
    """One field of a config dataclass as written in its source."""

    name: str
    type: type  # bool, int, float or str
    default: object
    help: str
    unit: str


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment text on that line (without '#')."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def read_config_fields(module: str, class_name: str) -> list[ConfigField]:
    """The fields of dataclass ``class_name`` in ``module``, from its source, in order.

    Each field must be ``name: T = literal`` with T one of bool, int, float, str; the
    help is the trailing comment plus comment-only lines right below it (or
    ``EXTRA_HELP``). ValueError if the class or a field does not have that form.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ValueError(f"cannot find the source of {module}")
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    comments = _comments(source)
    tree = ast.parse(source)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        raise ValueError(f"{module} has no class {class_name}")
    types = {"bool": bool, "int": int, "float": float, "str": str}
    out = []
    for node in cls.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        ann = ast.unparse(node.annotation)
        if ann not in types or node.value is None:
            raise ValueError(f"{class_name}.{name}: expected 'name: bool|int|float|str = literal'")
        default = ast.literal_eval(node.value)
        parts = []
        if node.end_lineno in comments:
            parts.append(comments[node.end_lineno])
            line = node.end_lineno + 1
            while line in comments and lines[line - 1].lstrip().startswith("#"):
                parts.append(comments[line])
                line += 1
        text = " ".join(parts) or EXTRA_HELP.get(name, "")
        unit = UNITS.get((class_name, name)) or UNITS.get(name, "")
        out.append(ConfigField(name, types[ann], default, text, unit))
    return out


# Units counted in whole things: such a field must be >= 1 unless its help documents
# what 0 means ("(0 = no limit)", "(0 = never)").
COUNT_UNITS = {"episodes", "generations", "iterations", "parameter vectors", "steps"}
COUNT_UNITS |= {"gradient steps"}


def value_problem(field: ConfigField, value) -> str | None:
    """What is wrong with ``value`` for ``field`` (None if nothing): numbers must be
    finite and >= 0 (no config knob is negative), counts >= 1 unless 0 is documented,
    fractions and probabilities within 0..1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if value < 0:
        return f"must be >= 0, got {value}"
    if field.unit in COUNT_UNITS and value < 1 and "0 =" not in field.help:
        return f"must be >= 1 [{field.unit}], got {value}"
    if "0..1" in field.unit and value > 1:
        return f"must be within 0..1, got {value}"
    return None


def option_help(field: ConfigField) -> str:
    """The ``--help`` line of a config option: what it is, its unit, its default."""
    text = field.help.replace("%", "%%")  # argparse formats help strings with %
    unit = f" [{field.unit}]" if field.unit else ""
    return f"{text}{unit} (default {field.default!r})"
