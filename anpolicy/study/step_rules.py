"""The authors' recipe under two CMA-ES step-size rules, compared in words.

pycma chooses the step-size adaptation itself. pycma 4.5 (pinned here) uses two-point
adaptation (TPA) when the dimension is 300 or more (ours: 913); the releases before it,
3.0 (current when Tang & Ha trained in 2021) to 4.4, used cumulative step-size adaptation
(CSA) unless the covariance matrix was diagonal. `anpolicy.training.es.CMAES` takes the rule as
``step_rule`` (``--cma-step-rule``). `compare_step_rules` puts the runs of both rules
(`anpolicy.study.recipe.summarize_runs` rows) side by side: where their step sizes ended,
their validation at the latest generation every run reached, their best validation (so
far, while a run is unfinished), whether an unfinished CSA run still climbs and, for
finished runs, their test scores against Tang & Ha's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anpolicy.study.recipe import against_target, read_log, summarize_runs

RULE_NAMES = {
    "pycma": "pycma 4.5's rule (TPA)",
    "tpa": "two-point adaptation (TPA)",
    "csa": "the rule of pycma 3.0–4.4 (CSA)",
}


def step_rule(run_dir) -> str:
    """The step-size rule a run's config names ("pycma" for runs saved before the option:
    they ran the installed pycma's default)."""
    cfg = json.loads((Path(run_dir) / "config.json").read_text())
    return cfg.get("cma_step_rule", "pycma")


def _span(values, fmt: str) -> str:
    a, b = format(min(values), fmt), format(max(values), fmt)
    return a if a == b else f"{a}–{b}"


def _finished(rows):
    return [r for r in rows if r["stop_reason"] != "running"]


def _state(rows) -> str:
    done = len(_finished(rows))
    if done == len(rows):
        return "finished" if done == 1 else f"all {done} finished"
    if done == 0:
        return "unfinished" if len(rows) == 1 else f"{len(rows)} unfinished"
    return f"{done} of {len(rows)} finished"


def _place(new: list[float], old: list[float]) -> str:
    """Where the values ``new`` sit against the range of ``old``."""
    if min(new) > max(old):
        return "above every one of them"
    if max(new) < min(old):
        return "below every one of them"
    return "within their range"


def _trend(run_dir, seed: int, last: int = 10, back: int = 1000) -> str:
    """Whether an unfinished run still climbs: its mean validation over the ``last``
    checks against the same number of checks ending ``back`` generations earlier."""
    val = [(r["gen"], r["val_mean"]) for r in read_log(run_dir) if "val_mean" in r]
    if len(val) < last:
        return ""
    now_gen = val[-1][0]
    then = [v for g, v in val if g <= now_gen - back][-last:]
    if len(then) < last:
        return ""
    now = float(np.mean([v for _, v in val[-last:]]))
    was = float(np.mean(then))
    verb = "still climbing" if now > was else "not climbing"
    return (
        f"CSA seed {seed} is {verb}: its last {last} validations average {now:.0f}, "
        f"against {was:.0f} over the {last} ending {back:,} generations earlier."
    )


def _validation_at(run_dir, gen: int) -> float:
    """The run's validation mean at generation ``gen`` (nan if it has none there)."""
    at = [r["val_mean"] for r in read_log(run_dir) if r["gen"] == gen and "val_mean" in r]
    return at[0] if at else float("nan")


def compare_step_rules(tpa_dirs, csa_dirs, target: float) -> str:
    """The two rules' runs (run directories) in words, from the numbers (see the module
    docstring); ``target`` is Tang & Ha's test score. Validation is compared at the same
    generation: the latest validated one that every CSA run has reached."""
    tpa_dirs = [d for d in tpa_dirs if (Path(d) / "config.json").is_file()]
    csa_dirs = [d for d in csa_dirs if (Path(d) / "config.json").is_file()]
    if not tpa_dirs or not csa_dirs:
        missing = RULE_NAMES["csa"] if not csa_dirs else RULE_NAMES["pycma"]
        return f"No run with {missing} yet: nothing to compare."
    tpa_rows, csa_rows = summarize_runs(tpa_dirs), summarize_runs(csa_dirs)
    k = len(tpa_rows)
    csa_sigma = _span([r["final_step_size"] for r in csa_rows], ".2g")
    out = [
        f"Under {RULE_NAMES['pycma']} the step size of the {k} recipe "
        f"run{'s' * (k > 1)} ({_state(tpa_rows)}) was last at "
        f"{_span([r['final_step_size'] for r in tpa_rows], '.0e')}, after "
        f"{_span([r['generations'] for r in tpa_rows], ',')} generations; under "
        f"{RULE_NAMES['csa']} it is at {csa_sigma} "
        f"after {_span([r['generations'] for r in csa_rows], ',')} generations "
        f"({_state(csa_rows)}; σ₀ = 0.1 for both)."
    ]
    every = json.loads((Path(csa_dirs[0]) / "config.json").read_text())["validate_every"]
    # the latest validated generation that every run of both rules has reached
    gen = min(r["generations"] for r in csa_rows + tpa_rows) // every * every
    new = [_validation_at(d, gen) for d in csa_dirs]
    old = [v for v in (_validation_at(d, gen) for d in tpa_dirs) if not np.isnan(v)]
    if gen > 0 and old and not np.isnan(new).any():
        out.append(
            f"At generation {gen:,}, the latest every run reached, CSA validates at "
            f"{_span(new, '.0f')} against {_span(old, '.0f')} for the {len(old)} TPA "
            f"run{'s' * (len(old) > 1)}: {_place(new, old)}."
        )
    best_new = [r["best_validation"] for r in csa_rows]
    best_old = [r["best_validation"] for r in tpa_rows]
    so_far = " so far" if len(_finished(csa_rows)) < len(csa_rows) else ""
    out.append(
        f"Best validation{so_far}: CSA {_span(best_new, '.0f')}, TPA "
        f"{_span(best_old, '.0f')} (CSA {_place(best_new, best_old)})."
    )
    for d, r in zip(csa_dirs, csa_rows, strict=True):
        if r["stop_reason"] == "running" and (trend := _trend(d, r["seed"])):
            out.append(trend)
    for r in _finished(csa_rows):
        lo, hi = r["test_lo"], r["test_hi"]
        where = against_target({"ci95": [lo, hi]}, target)
        out.append(
            f"Test, CSA seed {r['seed']}: {r['test_mean']:.0f} [{lo:.0f}, {hi:.0f}] "
            f"(n = {r['test_n']:,}), {where} Tang & Ha's {target:.0f}."
        )
    return " ".join(out)


def csa_reproduction_sentence(csa_dirs, target: float, generations: int) -> str:
    """The reproduction verdict of the recipe with the authors' step-size rule (CSA) run to
    their ``generations``: each finished run's test score with its 95 % CI against
    ``target`` (Tang & Ha's test score), its budget and cost; or how far it got."""
    rows = summarize_runs(csa_dirs)  # skips folders without a run
    if not rows:
        return "The recipe with the authors' step-size rule (CSA) has no run yet."
    out = []
    for r in rows:
        head = f"The recipe with the authors' step-size rule (CSA), seed {r['seed']}"
        if r["stop_reason"] == "running":
            out.append(
                f"{head}, is unfinished at generation {r['generations']:,} of "
                f"{generations:,}; its test comes when it ends."
            )
            continue
        lo, hi = r["test_lo"], r["test_hi"]
        where = against_target({"ci95": [lo, hi]}, target)
        out.append(
            f"{head}, ran {r['generations']:,} generations ({r['episodes_m']:.1f} M episodes, "
            f"{r['cpu_hours']:.1f} CPU-hours here) and tests at {r['test_mean']:.0f} "
            f"[{lo:.0f}, {hi:.0f}] (n = {r['test_n']:,}, shuffled at reset): {where} "
            f"Tang & Ha's {target:.0f}."
        )
    return " ".join(out)
