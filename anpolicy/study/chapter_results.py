"""A chapter's measurement as a typed, versioned record: `StudyResult` and its per-agent parts.

`StudyResult` holds the chapter, profile, seed, n episodes per condition and agent, and
``per_agent``: ``"authors"`` and ``"ours"`` mapped to the chapter's typed record
(`PermutationsAgent`, `AblationsAgent`, `NoiseAgent`, `AttentionAgent`,
`EnvironmentAgent`), or to None for the authors' agent when its file is missing
(``authors_missing`` says why and names the command). Saved to and loaded from JSON
(`StudyResult.save`, `load_study`); loading checks every field: a renamed or missing
field raises `ResultSchemaError` instead of turning a claim into "not measured".
Returns are per-episode sums of rewards, rounded for storage (`_rounded`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anpolicy.store import authors
from anpolicy.store.files import write_atomic
from anpolicy.store.results import _plain, results_dir
from anpolicy.study.chapter_agents import AGENT_KEYS, StudyAgents

SCHEMA_VERSION = 1


class ResultSchemaError(ValueError):
    """Saved results whose fields do not match the current schema."""


def _rounded(returns) -> list[float]:
    """Per-episode returns kept in a result (0.1 is far below any difference reported)."""
    return [round(float(r), 1) for r in np.asarray(returns).ravel()]


def _returns(runs: dict) -> dict:
    """{condition: per-episode returns} of one agent's runs (the distributions' figures)."""
    return {name: _rounded(r.returns[0]) for name, r in runs.items()}


@dataclass
class PermutationsAgent:
    """One agent in the permutations chapter. ``conditions``: {name: summary + ``diff``
    (paired vs none) + ``kept`` (share of the unshuffled return, paired bootstrap)};
    ``study_gap``: paired every_500 - every_143; ``single_cost``: {t0: paired change of
    one reshuffle at t0 over episodes running then, with ``ended_early_frac``};
    ``recovery``: the twin-recovery measure at ``t0`` with its two controls;
    ``by_channel``: disturbed share by whether a channel moved."""

    conditions: dict
    study_gap: dict
    single_cost: dict
    recovery: dict
    by_channel: dict
    returns: dict = field(default_factory=dict)  # {condition: per-episode returns}


@dataclass
class AblationsAgent:
    """One agent in the ablations chapter. ``conditions``: state ablations every step;
    ``sweep``: {variant: [summary + diff vs none per k]} plus ``none`` and
    ``fixed_permutation``; ``reset_vs_nothing``: {k: paired reset - nothing};
    ``identical``: bit-identical shares (relative, control, others) as (k, n);
    ``one_step_max``: largest |action difference| of one relative-permuted step."""

    conditions: dict
    sweep: dict
    reset_vs_nothing: dict
    identical: dict
    one_step_max: float
    returns: dict = field(default_factory=dict)  # {ablation: per-episode returns}


@dataclass
class NoiseAgent:
    """One agent in the noise chapter: ``conditions`` {name: summary}, ``paired``
    {name: paired difference vs shuffled}, ``attention`` {name: shares}."""

    conditions: dict
    paired: dict
    attention: dict
    returns: dict = field(default_factory=dict)  # {condition: per-episode returns}


@dataclass
class AttentionAgent:
    """One agent in the attention chapter: ``errors`` {condition: e_t statistics},
    ``saturated_frac`` (share of |A| > 0.99 around the reshuffle), ``n_at_reshuffle``."""

    errors: dict
    saturated_frac: float
    n_at_reshuffle: int


@dataclass
class EnvironmentAgent:
    """One agent's conformance run: ``shuffled`` summary (one permutation per episode)."""

    shuffled: dict


AGENT_TYPES = {
    "permutations": PermutationsAgent,
    "ablations": AblationsAgent,
    "noise": NoiseAgent,
    "attention": AttentionAgent,
    "environment": EnvironmentAgent,
}


@dataclass
class StudyResult:
    """A chapter's measurement on both agents (see the module docstring)."""

    chapter: str
    quick: bool
    seed: int
    n_episodes: int
    agents: dict
    authors_missing: str
    per_agent: dict
    shared: dict = field(default_factory=dict)
    seconds: float = 0.0
    schema_version: int = SCHEMA_VERSION

    def agent(self, key: str):
        """The per-agent record, or None when that agent was not measured."""
        return self.per_agent.get(key)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["per_agent"] = {
            k: None if v is None else dataclasses.asdict(v) for k, v in self.per_agent.items()
        }
        return _plain(d)

    def save(self, folder: Path | None = None) -> Path:
        folder = Path(folder or results_dir())
        text = json.dumps(self.to_dict(), indent=1)
        return write_atomic(folder / f"{self.chapter}.study.json", text)

    @classmethod
    def from_dict(cls, d: dict) -> StudyResult:
        names = {f.name for f in dataclasses.fields(cls)}
        if set(d) != names:
            raise ResultSchemaError(
                f"study result fields {sorted(set(d) ^ names)} do not match the schema"
            )
        if d["schema_version"] != SCHEMA_VERSION:
            raise ResultSchemaError(
                f"schema version {d['schema_version']} != {SCHEMA_VERSION}: rebuild the book"
            )
        kind = AGENT_TYPES.get(d["chapter"])
        if kind is None:
            raise ResultSchemaError(f"unknown chapter {d['chapter']!r}")
        per = {}
        for k, v in d["per_agent"].items():
            if v is None:
                per[k] = None
                continue
            want = {f.name for f in dataclasses.fields(kind)}
            if set(v) != want:
                raise ResultSchemaError(
                    f"{d['chapter']} results of {k}: fields {sorted(set(v) ^ want)} do not "
                    f"match {kind.__name__}"
                )
            per[k] = kind(**v)
        return cls(**{**d, "per_agent": per})


def load_study(chapter: str, folder: Path | None = None) -> StudyResult:
    """Read a chapter's `StudyResult`; FileNotFoundError names the chapter to run."""
    path = Path(folder or results_dir()) / f"{chapter}.study.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no study results of {chapter!r} at {path}: run book/{chapter}.ipynb"
        )
    return StudyResult.from_dict(json.loads(path.read_text()))


def _result(chapter, quick, seed, n, agents: StudyAgents, per, shared, t0) -> StudyResult:
    per = {k: per.get(k) for k in AGENT_KEYS}
    return StudyResult(
        chapter, bool(quick), int(seed), int(n), agents.info(), agents.missing, per,
        shared, time.perf_counter() - t0,
    )  # fmt: skip


def agents_notice(res: StudyResult) -> str:
    """Markdown naming the agents a chapter measured; a loud warning when the authors'
    agent is missing (what is missing and the command that fetches it)."""
    n = res.n_episodes
    if res.per_agent.get("authors") is None:
        return (
            "> **⚠ Tang & Ha's agent is MISSING from this build: its column reads "
            f'"not measured".** {res.authors_missing}. Every number below is on our agent '
            f"only ({n} episodes per condition, seed {res.seed})."
        )
    return (
        f"Agents: **Tang & Ha's published agent** (the subject of both papers; "
        f"{authors.CITATION}) and **our agent** `{res.agents['ours']['name']}`, on the "
        f"same {n} episodes per condition (seed {res.seed}: same starts, permutations "
        "and noise)."
    )
