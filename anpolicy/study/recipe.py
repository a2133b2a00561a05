"""Training runs summarised: the authors' recipe over seeds, and the other arms.

`summarize_runs` reads run directories (`anpolicy.training.train`'s ``config.json``,
``log.jsonl``, ``result.json``) and returns one row per run: how far it got (generations,
training episodes, CPU-hours), where its step size ended and where it peaked, why it
stopped (``running`` while it has no result), its validation score at fixed generations
and at its best, and its final test score with a 95 % CI when finished. `curves` gives
the validation curve of each run against training episodes, for the figure with the
authors' budget marked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anpolicy.stats import Z95, format_ci
from anpolicy.store.data import cpu_seconds, file_sha256, read_manifest
from anpolicy.study.published import TANG_HA_TRAINING

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
    peak = max(rows, key=lambda r: r["step_size"])  # the first generation of the largest
    out = {
        "run": run.name,
        "optimizer": cfg["optimizer"],
        "policy": cfg.get("policy", "attention_neuron"),
        "init_from": cfg.get("init_from", ""),
        "init_stds_from": cfg.get("init_stds_from", ""),
        "sigma0": cfg.get("sigma0", TANG_HA_TRAINING["sigma0"]),  # (every config has it)
        "train_shuffle": cfg.get("train_shuffle", "none"),
        "upright_starts": cfg.get("upright_starts", 0.0),
        "step_rule": cfg.get("cma_step_rule", "pycma"),
        "popsize": cfg["popsize"],
        "rollouts": cfg["rollouts"],
        "seed": cfg["seed"],
        "generations": rows[-1]["gen"],
        "episodes_m": float(_episodes(rows, cfg)[-1] / 1e6),
        "wall_h": rows[-1]["wall_s"] / 3600,
        "cpu_hours": _cpu_hours(rows, cfg),
        "final_step_size": rows[-1]["step_size"],
        "peak_step_size": peak["step_size"],
        "peak_step_generation": peak["gen"],
        "restarts": rows[-1].get("restarts", 0),  # IPOP-CMA-ES; 0 for the others
        "final_popsize": rows[-1].get("popsize", cfg["popsize"]),
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
            shipped_as=_shipped_as(run / "agent.npz"),
        )
    else:
        out.update(stop_reason="running", test_mean=float("nan"), test_lo=float("nan"))
        out.update(test_hi=float("nan"), test_n=0, shipped_as="")
    return out


def _shipped_as(agent) -> str:
    """The manifest name of the shipped agent whose file is byte-identical to ``agent``
    (a finished run's agent.npz), or "" when it was not shipped."""
    if not Path(agent).is_file():
        return ""
    digest = file_sha256(Path(agent))
    names = [n for n, e in read_manifest()["agents"].items() if e["sha256"] == digest]
    return names[0] if names else ""


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
    tail = f" {running} unfinished (resumable)." if running else ""
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
                "wall-clock (h)": num(r["wall_h"], ".2f"),
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


STOP_WORDS = {
    "step_size": "on a step size below its threshold",
    "generations": "at its generation cap",
}


def _count(k: int, n: int) -> str:
    """'both', 'all 3', 'none', or 'k of n' (of the n finished runs)."""
    if k == n:
        return {1: "it", 2: "both"}.get(n, f"all {n}")
    if k == 0:
        return "neither" if n == 2 else "none"
    return f"{k} of {n}"


def _span(values, fmt: str) -> str:
    """'A' for one value or values equal at this precision, else 'A–B'."""
    a, b = format(min(values), fmt), format(max(values), fmt)
    return a if a == b else f"{a}–{b}"


def _ci(s: dict) -> str:
    return f"{s['mean']:.0f} [{s['ci95'][0]:.0f}, {s['ci95'][1]:.0f}]"


def against_target(s: dict, target: float) -> str:
    """'below' (whole 95 % CI under ``target``), 'above' (over it) or 'consistent with'."""
    lo, hi = s["ci95"]
    return "below" if hi < target else ("above" if lo > target else "consistent with")


def shipped_arms(manifest: dict, names, data_dir=None) -> list[dict]:
    """The other training arms, from the shipped agents' manifest entries (`read_manifest`):
    one dict per name with ``label`` (name, optimizer in words, parent), ``test`` (mean,
    ci95, n of its shipped test) and ``cpu_hours`` (its log's CPU-hours plus those of every
    ancestor it was started from, parent by parent through the manifest, a parent run that
    was never shipped by its hours up to the fork: what the agent cost in all). Names
    missing from the manifest are skipped. ``data_dir``: where the logs are (default the
    project's ``data/``)."""
    from anpolicy.store.data import DATA_DIR, load_log
    from anpolicy.study.arms import NAMES

    def hours(name):
        log = load_log(name, data_dir or DATA_DIR)
        return cpu_seconds(log, manifest[name]["config"].get("threads", 1)) / 3600

    def lineage_hours(name, seen=()):
        if name not in manifest or name in seen:  # an unshipped start, or a cycle
            return 0.0
        parent = manifest[name].get("parent", {})
        if "run" in parent:  # a fork of a run never shipped: its hours up to the fork
            up = parent.get("cpu_hours", 0.0)
            return hours(name) + up + lineage_hours(parent.get("from_agent"), (*seen, name))
        return hours(name) + lineage_hours(parent.get("agent"), (*seen, name))

    arms = []
    for name in names:
        e = manifest.get(name)
        if e is None:
            continue
        parent = e.get("parent", {})
        total = lineage_hours(name)
        how = NAMES.get(e["optimizer"], e["optimizer"])
        if "run" in parent:
            how += f", continued from {parent['run']}'s generation {parent['generations']:,}"
        elif parent.get("agent"):
            how += f", continued from {parent['agent']}"
        arms.append({"label": f"{name} ({how})", "test": e["test"], "cpu_hours": total})
    return arms


def training_answer(
    rows: list[dict],
    target: float,
    planned: int,
    authors_cpu_hours: float,
    authors_episodes_m: float,
    arms=(),
) -> str:
    """The training chapter's answer in words, from the numbers: how far the authors' recipe
    got over the seeds finished so far (`summarize_runs` rows; ``planned`` seeds in all),
    where their test scores sit against ``target`` (Tang & Ha's test score: whole 95 % CI
    below it, containing it, or above it), what they cost in CPU-hours and training episodes
    against the authors' ``authors_cpu_hours`` and ``authors_episodes_m`` (millions), and
    what the other arms (`shipped_arms`) scored at what cost. With no finished seed it says
    that the recipe's answer is not in yet."""
    finished = [r for r in rows if r["stop_reason"] != "running"]
    n, running, waiting = len(finished), len(rows) - len(finished), planned - len(rows)
    status = f"{n} of {planned} seeds finished"
    status += f", {running} unfinished (resumable)" if running else ""
    status += f", {waiting} not started" if waiting > 0 else ""
    tests = [{"mean": r["test_mean"], "ci95": [r["test_lo"], r["test_hi"]]} for r in finished]
    arm_where = [against_target(a["test"], target) for a in arms]
    where_all = [against_target(s, target) for s in tests] + arm_where
    reached = [w != "below" for w in where_all]
    if any(reached):
        out = [
            f"Yes, on {sum(reached)} of the {len(reached)} finished runs (a 95 % CI that "
            f"reaches Tang & Ha's {target:.0f})."
        ]
    elif reached:
        k = len(reached)
        runs = "the one finished run scores" if k == 1 else f"all {k} finished runs score"
        if n and arms:
            seeds = f"{n} recipe seed" + "s" * (n > 1)
            others = f"{len(arms)} other arm" + "s" * (len(arms) > 1)
            runs = runs.replace(" score", f" ({seeds}, {others}) score")
        out = [
            f"Not at the budgets spent here: {runs} below Tang & Ha's {target:.0f} "
            f"({'its' if k == 1 else 'each'} 95 % CI wholly under it)."
        ]
    else:
        out = []
    if not finished:
        out.append(f"The authors' recipe has no finished seed yet ({status}).")
    else:
        where = [against_target(s, target) for s in tests]
        if n == 1:
            scores = f"a test score of {_ci(tests[0])}: {where[0]} Tang & Ha's {target:.0f}"
        else:
            means = [s["mean"] for s in tests]
            sides = [f"{_count(where.count(w), n)} {w} it" for w in dict.fromkeys(where)]
            scores = (
                f"test scores of {_span(means, '.0f')} (median {np.median(means):.0f}) "
                f"against Tang & Ha's {target:.0f}: {', '.join(sides)} (95 % CIs)"
            )
        hours = [r["cpu_hours"] for r in finished]
        eps = [r["episodes_m"] for r in finished]
        stops = [r["stop_reason"] for r in finished]
        why = ", ".join(
            (f"{_count(stops.count(s), n)} " if n > 1 else "") + STOP_WORDS.get(s, s)
            for s in dict.fromkeys(stops)
        )
        out.append(
            f"The authors' recipe ({status}) gives {scores}. "
            f"{'Each seed' if n > 1 else 'The seed'} ran {_span(eps, '.1f')} M training episodes "
            f"({_span([100 * e / authors_episodes_m for e in eps], '.0f')} % of the authors' "
            f"{authors_episodes_m:.1f} M) and stopped ({why}) after "
            f"{_span(hours, '.1f')} CPU-hours here, against about {authors_cpu_hours:,.0f} "
            f"CPU-hours on the authors' cluster."
        )
    if arms:
        best_lo = max((s["ci95"][0] for s in tests), default=None)
        best_hi = max((s["ci95"][1] for s in tests), default=None)
        said, places = [], []
        for a, w in zip(arms, arm_where, strict=True):
            s = a["test"]
            said.append(f"{a['label']} {_ci(s)} after {a['cpu_hours']:.1f} CPU-hours")
            place = f"{w} {target:.0f}"
            if best_lo is not None:
                if s["ci95"][0] > best_hi:
                    place += ", above every finished recipe seed"
                elif s["ci95"][1] < best_lo:
                    place += ", below the best recipe seed"
                else:
                    place += ", level with the best recipe seed"
            places.append(place)
        if len(arms) > 1 and len(set(places)) == 1:  # said once where every arm shares it
            out.append(f"The other arms, each {places[0]}: " + "; ".join(said) + ".")
        else:
            said = [f"{t} ({p})" for t, p in zip(said, places, strict=True)]
            out.append("The other arms: " + "; ".join(said) + ".")
    return " ".join(out)


def _validations(candidate: dict) -> tuple[np.ndarray, np.ndarray]:
    """A candidate's (``data/logs/*.json``) validation means and standard errors (nan where
    not recorded), in the order logged."""
    curve = candidate["curve"]
    means = np.array([p["val_mean"] for p in curve], dtype=float)
    ses = np.array([np.nan if p.get("val_se") is None else p["val_se"] for p in curve])
    return means, ses


def candidates_against_start(candidates: dict, start: float, start_se: float) -> str:
    """Where each candidate's *last* validation ends against the starting agent's validation
    ``start`` and its 95 % interval (``start_se`` its standard error, the same episodes):
    how many ended above the interval, inside it and below it. The last validation, not
    the best: the best of many noisy checks is biased upwards."""
    lo, hi = start - Z95 * start_se, start + Z95 * start_se
    last = np.array([_validations(c)[0][-1] for c in candidates["candidates"] if c["curve"]])
    n = len(last)
    above, below = int((last > hi).sum()), int((last < lo).sum())
    who = "none" if above == 0 else ("all" if above == n else str(above))
    return (
        f"{who} of the {n} ended above the starting agent's {start:.0f} "
        f"[{lo:.0f}, {hi:.0f}] (last validation; {n - above - below} inside that interval, "
        f"{below} below it)"
    )


def first_and_best(candidates: dict, start: float) -> str:
    """Two runs from one agent side by side: whether each one's first validation fell
    below ``start`` (the starting agent's validation), and whether the 95 % intervals of
    the runs' best validations overlap."""
    runs = [_validations(c) for c in candidates["candidates"] if c["curve"]]
    out = []
    ends = []
    for m, s in runs:
        i = int(np.argmax(m))
        ends.append((m[i] - Z95 * s[i], m[i] + Z95 * s[i]))
    if len(ends) == 2 and not np.isnan(np.array(ends)).any():
        overlap = ends[0][1] >= ends[1][0] and ends[1][1] >= ends[0][0]
        halves = _span([(b - a) / 2 for a, b in ends], ".0f")
        out.append(
            f"the 95 % intervals of the two best validations (±{halves}) "
            + ("overlap" if overlap else "do not overlap")
        )
    first = [m[0] for m, _ in runs]
    k = sum(f < start for f in first)
    values = " and ".join(f"{f:.0f}" for f in first)
    out.append(
        f"first validations {values}: {_count(k, len(first))} below the starting agent's "
        f"{start:.0f}"
    )
    return "; ".join(out)
