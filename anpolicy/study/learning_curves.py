"""How the Attention Neuron learns: permutation robustness, memory and attention measured
on every snapshot of a training run (the trainer's ``snapshots/``, see `anpolicy.training.train`).

All snapshots (and, as a reference line, the original authors' agent) run as one
population on the same episodes (one seed: the same starts for every condition and
every snapshot), so each comparison is paired on the start states, all on the PyTorch
engine (the book's rule for conditions compared with each other; it also spares the
chapter the fused engine's compilation).

Conditions (``CONDITIONS``), all but ``unshuffled`` shuffled once at reset:
  ``unshuffled``        the observations in the training order;
  ``shuffled``          one random permutation per episode, drawn at reset (the paper's test);
  ``every25``/``every100``  a new permutation every 25 / 100 steps;
  ``every25_relative``  every 25 steps, with each channel's (h, c) moved along with it
                        (the relative permutation): mathematically the same agent as
                        ``shuffled``, so it must keep 100 % of the return (an engine check);
  ``zero_hc``           h and c zeroed before every step (no memory);
  ``noise5``            5 noise channels N(0, 0.1^2) appended (for the attention on noise).

Shares (``SHARES``) are ratios of mean returns over the same episodes, with a 95 % CI by
the delta method for a paired ratio; a share is NaN where the denominator's mean return
is below ``min_return`` (an agent that has not learnt anything keeps no "share").

Attention statistics over every step of every live episode: ``saturated`` is the share of
entries with |A| > 0.99; ``entropy`` the entropy of |A| normalised over channels (each of
the 16 rows; divided by log C, so 1 = equal magnitude on every channel); ``noise_share``
the share of the attention magnitude Σ|A| that falls on the 5 noise channels (0.5 =
as much as on the 5 real ones); the last two over rows with some attention (NaN for an
agent whose attention is zero, such as the starting point x0 = 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from anpolicy.sim.interventions import Intervention, PermuteStateAtReshuffle, ZeroStateEveryStep
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule
from anpolicy.stats import Z95
from anpolicy.store.files import write_atomic
from anpolicy.store.weights import load_agent
from anpolicy.study.arms import NAMES as OPTIMIZER_NAMES
from anpolicy.study.claims import (  # the book's thresholds, kept once
    SATURATED,
)

SCHEMA_VERSION = 1


CONDITIONS = ("unshuffled", "shuffled", "every25", "every100", "every25_relative", "zero_hc")


# share name -> (numerator condition, denominator condition)
SHARES = {
    "order_kept": ("shuffled", "unshuffled"),
    "kept_every25": ("every25", "shuffled"),
    "kept_every100": ("every100", "shuffled"),
    "kept_relative": ("every25_relative", "shuffled"),
    "kept_without_memory": ("zero_hc", "shuffled"),
}


ATTENTION_STATS = ("saturated", "entropy", "noise_share")


class AttentionStats(Intervention):
    """Accumulates, per population member, the attention statistics of the module
    docstring over every live step (``after_policy``); read them with `result`."""

    name = "attention_stats"

    def __init__(self, n_members: int, n_noise: int = 0, threshold: float = SATURATED):
        super().__init__()
        self.n_noise, self.threshold = n_noise, threshold
        self.sums = torch.zeros(3, n_members, dtype=torch.float64)  # saturated, entropy, noise
        self.counts = torch.zeros(2, n_members, dtype=torch.float64)  # entries, rows

    def after_policy(self, ctx):
        att = ctx.attention.abs().double()  # (P, S, 16, C)
        live = ctx.alive.double()[:, :, None, None]  # (P, S, 1, 1)
        n_chan = att.shape[-1]
        self.sums[0] += ((att > self.threshold) * live).sum(dim=(1, 2, 3))
        self.counts[0] += live.sum(dim=(1, 2, 3)) * att.shape[2] * n_chan
        # entropy and noise share are defined for rows with some attention mass only
        mass = att.sum(dim=-1, keepdim=True)
        rows = live * (mass > 1e-9)
        p = att / mass.clamp_min(1e-9)
        ent = -(p * torch.log(p.clamp_min(1e-30))).sum(dim=-1, keepdim=True) / np.log(n_chan)
        self.sums[1] += (ent * rows).sum(dim=(1, 2, 3))
        self.counts[1] += rows.sum(dim=(1, 2, 3))
        if self.n_noise:
            noise = p[..., n_chan - self.n_noise :].sum(dim=-1, keepdim=True)
            self.sums[2] += (noise * rows).sum(dim=(1, 2, 3))

    def result(self) -> dict:
        """Per member (P,): saturated share; entropy and noise share (NaN for a member
        whose attention was zero at every step: no distribution over channels)."""
        rows = torch.where(self.counts[1] > 0, self.counts[1], torch.nan)
        out = {
            "saturated": (self.sums[0] / self.counts[0].clamp_min(1)).numpy(),
            "entropy": (self.sums[1] / rows).numpy(),
        }
        if self.n_noise:
            out["noise_share"] = (self.sums[2] / rows).numpy()
        return out


def paired_share(num: np.ndarray, den: np.ndarray, min_return: float) -> tuple:
    """``mean(num) / mean(den)`` over paired episodes (last axis) with a 95 % CI by the
    delta method; NaN where ``mean(den) < min_return``. Shapes (P, R) -> three (P,)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    if num.shape != den.shape:
        raise ValueError(f"paired shares need equal shapes, got {num.shape} and {den.shape}")
    n = num.shape[-1]
    m_num, m_den = num.mean(axis=-1), den.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = m_num / m_den
        resid = (num - ratio[..., None] * den) / m_den[..., None]
        se = resid.std(axis=-1, ddof=1) / np.sqrt(n)
    bad = m_den < min_return
    ratio, se = np.where(bad, np.nan, ratio), np.where(bad, np.nan, se)
    return ratio, ratio - Z95 * se, ratio + Z95 * se


@dataclass
class Snapshot:
    """One point of a learning curve: a label, its parameters (913,) float32, and where it
    sits in training (``generation``/``episodes``; None for the reference agent)."""

    label: str
    params: np.ndarray
    generation: int | None = None
    episodes: int | None = None
    validation: float | None = None


def load_series(folder, every: int = 1) -> list[Snapshot]:
    """The snapshots in ``folder`` (a run directory or a shipped ``data/snapshots/NAME``),
    ascending in generation; ``every`` keeps every k-th one (the last is always kept)."""
    folder = Path(folder)
    files = sorted((folder / "snapshots").glob("gen_*.npz")) or sorted(folder.glob("gen_*.npz"))
    if not files:
        raise FileNotFoundError(f"no snapshots (gen_*.npz) in {folder} or {folder}/snapshots")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    keep = files[::every] if files[-1] in files[::every] else [*files[::every], files[-1]]
    out = []
    for f in keep:
        _, params, meta = load_agent(f)
        out.append(
            Snapshot(
                label=f"generation {meta['generation']}",
                params=params,
                generation=int(meta["generation"]),
                episodes=int(meta["episodes"]),
                validation=meta.get("validation_mean"),
            )
        )
    return out


REFERENCE_LABEL = "authors' agent"


def add_authors_agent(points: list[Snapshot]) -> tuple[list[Snapshot], str]:
    """``points`` plus Tang & Ha's published agent as the reference (no generation), and
    an empty note; without its file, ``points`` unchanged and a note that says why."""
    from anpolicy.store import authors

    try:
        path = authors.resolve()
    except authors.AuthorsWeightsMissing as e:
        return points, f"The authors' agent is not measured: {e}."
    return [*points, Snapshot(REFERENCE_LABEL, load_agent(path)[1])], ""


def describe_run(run_dir) -> dict:
    """What a run directory says about itself: its config (optimizer, population,
    rollouts, sigma0, seed, snapshot interval), the generations logged, and why it stopped
    (``running`` while it has no result.json)."""
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    rows = (run / "log.jsonl").read_text().splitlines() if (run / "log.jsonl").exists() else []
    result = run / "result.json"
    stop = json.loads(result.read_text()).get("stop_reason") if result.exists() else "running"
    out = {
        "optimizer": cfg["optimizer"],
        "cma_step_rule": cfg.get("cma_step_rule", "pycma"),
        "popsize": cfg["popsize"],
        "rollouts": cfg["rollouts"],
        "sigma0": cfg["sigma0"],
        "init_from": cfg.get("init_from", ""),
        "train_shuffle": cfg.get("train_shuffle", "none"),
        "seed": cfg["seed"],
        "snapshot_every": cfg.get("snapshot_every", 0),
        "generations_logged": len([r for r in rows if r.strip()]),
        "stop_reason": stop,
    }
    return {**out, "recipe": _recipe_sentence(out), "state": _STATES.get(stop, stop)}


_STATES = {  # train.stop_reason in words; "running": no result.json yet
    "running": "still training (no result yet)",
    "signal": "stopped by a signal",
    "generations": "finished its generations",
    "step_size": "stopped when its step size fell below the stopping threshold",
    "episodes": "finished its budget of episodes",
    "minutes": "finished its wall-clock budget",
}


_STEP_RULES = {
    "csa": "cumulative step-size adaptation",
    "tpa": "two-point step-size adaptation",
    "pycma": "the installed pycma's default step-size rule",
}


def _recipe_sentence(run: dict) -> str:
    """The run's training set-up in plain words (glue:text shows no math), e.g. "CMA-ES
    (cumulative step-size adaptation), population 256, 16 episodes per fitness,
    σ0 = 0.1, x0 = 0, no shuffling in training, seed 0"."""
    opt = run["optimizer"]
    head = OPTIMIZER_NAMES.get(opt, opt)
    if opt in ("cma", "sepcma", "ipop"):
        head += f" ({_STEP_RULES.get(run['cma_step_rule'], run['cma_step_rule'])})"
    parts = [head, f"population {run['popsize']}", f"{run['rollouts']} episodes per fitness"]
    if opt != "pgpe":
        parts.append(f"σ0 = {run['sigma0']:g}")
    parts.append(f"started from {run['init_from']}" if run["init_from"] else "x0 = 0")
    shuffle = run["train_shuffle"]
    parts.append(
        "no shuffling in training" if shuffle == "none" else f"shuffled ({shuffle}) in training"
    )
    parts.append(f"seed {run['seed']}")
    return ", ".join(parts)


@dataclass
class LearningCurves:
    """Measurements per snapshot (arrays of length P, in the order of ``labels``).

    ``returns[c]`` / ``returns_ci[c]``: mean return and its 95 % CI (normal) under
    condition c; ``shares[s]`` / ``shares_ci[s]``: the paired ratios of ``SHARES``;
    ``attention[k]``: the attention statistics, ``k`` in ``ATTENTION_STATS`` (noise_share
    from the ``noise5`` condition, the others from ``shuffled``).
    """

    labels: list
    generations: list
    episodes: list
    validation: list
    n_episodes: int
    seed: int
    min_return: float
    returns: dict = field(default_factory=dict)
    returns_ci: dict = field(default_factory=dict)
    shares: dict = field(default_factory=dict)
    shares_ci: dict = field(default_factory=dict)
    attention: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def save(self, path) -> Path:
        """Write the curves as JSON to ``path`` (its folder is created if missing)."""
        return write_atomic(path, json.dumps(asdict(self), default=_jsonable, indent=1))

    @classmethod
    def load(cls, path) -> LearningCurves:
        data = json.loads(Path(path).read_text())
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"{path}: schema {data.get('schema')}, expected {SCHEMA_VERSION}")
        for key in ("returns", "returns_ci", "shares", "shares_ci", "attention"):
            data[key] = {k: _array(v) for k, v in data[key].items()}
        return cls(**data)

    def column(self, label: str) -> int:
        return self.labels.index(label)


def _array(values) -> np.ndarray:
    """A saved (nested) list, None for NaN, back to a float64 array."""
    if values and isinstance(values[0], list):
        return np.stack([_array(v) for v in values])
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _jsonable(x):
    if isinstance(x, np.ndarray):
        if x.ndim > 1:
            return [_jsonable(row) for row in x]
        return [None if not np.isfinite(v) else float(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot serialise {type(x)}")


def _condition(name: str):
    """(schedule, channels, interventions) of a condition."""
    reset = PermutationSchedule.at_reset()
    return {
        "unshuffled": (PermutationSchedule.none(), ObservationChannels(), []),
        "shuffled": (reset, ObservationChannels(), []),
        "every25": (PermutationSchedule.every(25), ObservationChannels(), []),
        "every100": (PermutationSchedule.every(100), ObservationChannels(), []),
        "every25_relative": (
            PermutationSchedule.every(25),
            ObservationChannels(),
            [PermuteStateAtReshuffle("relative")],
        ),
        "zero_hc": (reset, ObservationChannels(), [ZeroStateEveryStep(("h", "c"))]),
        "noise5": (reset, ObservationChannels(n_noise=5), []),
    }[name]


def measure(
    points: list[Snapshot],
    n_episodes: int = 500,
    seed: int = 0,
    min_return: float = 50.0,
    progress: bool = False,
) -> LearningCurves:
    """Run every condition on every snapshot (one population, the same episodes) and
    return the `LearningCurves`."""
    from anpolicy.sim.policy import AttentionNeuronPolicy

    if not points:
        raise ValueError("measure needs at least one snapshot")
    policy = AttentionNeuronPolicy()
    params = torch.as_tensor(np.stack([p.params for p in points]), dtype=torch.float32)
    out = LearningCurves(
        labels=[p.label for p in points],
        generations=[p.generation for p in points],
        episodes=[p.episodes for p in points],
        validation=[p.validation for p in points],
        n_episodes=n_episodes,
        seed=seed,
        min_return=min_return,
    )
    per_episode = {}
    for name in (*CONDITIONS, "noise5"):
        schedule, channels, hooks = _condition(name)
        stats = AttentionStats(len(points), n_noise=channels.n_noise)
        if name in ("shuffled", "noise5"):
            hooks = [*hooks, stats]
        res = rollout(
            policy,
            params,
            n_episodes,
            seed=seed,
            schedule=schedule,
            channels=channels,
            interventions=hooks,
            progress=progress and name,
        )
        r = res.returns
        per_episode[name] = r
        se = r.std(axis=1, ddof=1) / np.sqrt(n_episodes)
        out.returns[name] = r.mean(axis=1)
        out.returns_ci[name] = np.stack([r.mean(axis=1) - Z95 * se, r.mean(axis=1) + Z95 * se])
        if name == "shuffled":
            a = stats.result()
            out.attention["saturated"], out.attention["entropy"] = a["saturated"], a["entropy"]
        if name == "noise5":
            out.attention["noise_share"] = stats.result()["noise_share"]
    for share, (num, den) in SHARES.items():
        ratio, lo, hi = paired_share(per_episode[num], per_episode[den], min_return)
        out.shares[share], out.shares_ci[share] = ratio, np.stack([lo, hi])
    return out
