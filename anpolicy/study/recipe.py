"""Training runs summarised: the authors' recipe over seeds, and the other arms.

`summarize_runs` reads run directories (`anpolicy.training.train`'s ``config.json``,
``log.jsonl``, ``result.json``) and returns one row per run: how far it got (generations,
training episodes, CPU-hours), where its step size ended, why it stopped (``running``
while it has no result), its validation score at fixed generations and at its best, and
its final test score with a 95 % CI when finished. `curves` gives the validation curve
of each run against training episodes, for the figure with the authors' budget marked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anpolicy.stats import Z95, format_ci
from anpolicy.store.data import cpu_seconds

CHECKPOINTS = (500, 1000, 2000, 5000)  # generations at which validation is reported


def read_log(run_dir) -> list[dict]:
    """The rows of a run's log.jsonl (generations only, not test lines)."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}")
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r for r in rows if "gen" in r]


def _episodes(rows: list[dict], cfg: dict) -> np.ndarray:
    """Cumulative training episodes per row (logged since the count existed; before
    that, the run's fixed population x rollouts per generation)."""
    per_gen = cfg["popsize"] * cfg["rollouts"]
    return np.array([r.get("episodes", r["gen"] * per_gen) for r in rows], dtype=np.float64)


def _cpu_hours(rows: list[dict], cfg: dict) -> float:
    """CPU-hours of a log's rows (`anpolicy.store.data.cpu_seconds`: wall-clock x threads)."""
    log = {
        "wall_s": np.array([r["wall_s"] for r in rows], dtype=np.float64),
        "threads": np.array([r.get("threads", np.nan) for r in rows], dtype=np.float64),
    }
    return cpu_seconds(log, default_threads=cfg.get("threads", 1)) / 3600


def summarize_run(run_dir) -> dict:
    """One row (see the module docstring) for the run in ``run_dir``."""
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    rows = read_log(run)
    if not rows:
        raise ValueError(f"{run}: the log has no generation yet")
    val = [(r["gen"], r["val_mean"], r["val_se"]) for r in rows if "val_mean" in r]
    best = max(val, key=lambda v: v[1]) if val else (None, float("nan"), float("nan"))
    out = {
        "run": run.name,
        "optimizer": cfg["optimizer"],
        "seed": cfg["seed"],
        "generations": rows[-1]["gen"],
        "episodes_m": float(_episodes(rows, cfg)[-1] / 1e6),
        "wall_h": rows[-1]["wall_s"] / 3600,
        "cpu_hours": _cpu_hours(rows, cfg),
        "final_step_size": rows[-1]["step_size"],
        "best_validation": best[1],
        "best_generation": best[0],
    }
    for g in CHECKPOINTS:
        at = [v for v in val if v[0] == g]
        out[f"val_{g}"] = at[0][1] if at else float("nan")
    result = run / "result.json"
    if result.is_file():
        meta = json.loads(result.read_text())
        t = meta["test"]
        out.update(
            stop_reason=meta.get("stop_reason", "unknown"),
            test_mean=t["mean"],
            test_lo=t["ci95"][0],
            test_hi=t["ci95"][1],
            test_n=t["n"],
        )
    else:
        out.update(stop_reason="running", test_mean=float("nan"), test_lo=float("nan"))
        out.update(test_hi=float("nan"), test_n=0)
    return out


def summarize_runs(run_dirs) -> list[dict]:
    """`summarize_run` for each existing run directory (missing ones are skipped)."""
    return [summarize_run(d) for d in run_dirs if (Path(d) / "config.json").is_file()]


def curves(run_dir) -> dict:
    """Validation curve of a run: ``episodes_m``, ``val``, ``half_ci`` (95 %), arrays."""
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    rows = read_log(run)
    eps = _episodes(rows, cfg) / 1e6
    ok = np.array(["val_mean" in r for r in rows], dtype=bool)
    return {
        "episodes_m": eps[ok],
        "val": np.array([r["val_mean"] for r in rows if "val_mean" in r]),
        "half_ci": Z95 * np.array([r["val_se"] for r in rows if "val_mean" in r]),
        "step_size": np.array([r["step_size"] for r in rows]),
        "step_episodes_m": eps,
    }


def reproduction_sentence(rows: list[dict], target: float, planned: int) -> str:
    """Where the finished runs' test scores sit against ``target`` (Tang & Ha's score):
    below (whole 95 % CI under it), consistent (CI contains it) or above (CI over it)."""
    finished = [r for r in rows if r["stop_reason"] != "running"]
    running = len(rows) - len(finished)
    tail = f" {running} still running." if running else ""
    if not finished:
        return f"No run of the {planned} planned has finished yet.{tail}"
    means = np.array([r["test_mean"] for r in finished])
    below = sum(r["test_hi"] < target for r in finished)
    above = sum(r["test_lo"] > target for r in finished)
    consistent = len(finished) - below - above
    return (
        f"{len(finished)} of the {planned} planned runs have finished; their test scores "
        f"range from {means.min():.0f} to {means.max():.0f} (median {np.median(means):.0f}). "
        f"Against Tang & Ha's {target:.0f}: {below} below (whole 95 % CI under it), "
        f"{consistent} consistent with it, {above} above.{tail}"
    )


def table(rows: list[dict]):
    """The rows as a reader's table (`pandas.DataFrame`, one row per run, formatted)."""
    import pandas as pd

    def num(x, fmt):
        return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, fmt)

    out = []
    for r in rows:
        test = (
            format_ci(
                {"mean": r["test_mean"], "ci95": [r["test_lo"], r["test_hi"]], "n": r["test_n"]},
                n=True,
            )
            if r["test_n"]
            else "—"
        )
        out.append(
            {
                "run": r["run"],
                "seed": r["seed"],
                "generations": r["generations"],
                "episodes (M)": num(r["episodes_m"], ".1f"),
                "CPU-hours": num(r["cpu_hours"], ".2f"),
                "final σ": num(r["final_step_size"], ".1e"),
                **{f"validation at {g}": num(r[f"val_{g}"], ".0f") for g in CHECKPOINTS},
                "best validation (generation)": f"{num(r['best_validation'], '.0f')} "
                f"({r['best_generation']})",
                "test [95 % CI]": test,
                "stopped by": r["stop_reason"],
            }
        )
    return pd.DataFrame(out).set_index("run")
