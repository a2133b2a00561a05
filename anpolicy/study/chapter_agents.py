"""The two agents of every chapter: Tang & Ha's published agent and ours, on the same episodes.

`load_agents` finds the authors' agent (`anpolicy.store.authors.resolve`; absent: the
reason is kept) and loads ours; `run_agents` runs conditions
(`anpolicy.study.conditions.run_conditions`) on both with one seed. Where the two agents
share a policy layout they run as one batched population (member 0: authors', member 1:
ours), so "same episodes" holds by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpolicy.store import authors

AGENT_KEYS = ("authors", "ours")


AGENT_LABELS = {"authors": "Tang & Ha's agent", "ours": "our agent"}


@dataclass
class StudyAgents:
    """The agents of a study: ``policies[key]``, ``params[key]`` (n_params,) float32,
    ``names[key]``; ``missing``: why the authors' agent is absent ("" if present)."""

    policies: dict
    params: dict
    names: dict
    missing: str = ""

    @property
    def keys(self) -> list[str]:
        return [k for k in AGENT_KEYS if k in self.params]

    def info(self) -> dict:
        return {k: {"name": self.names[k], "label": AGENT_LABELS[k]} for k in self.keys}


def load_agents(ours: str = "attention_neuron", with_authors: bool = True) -> StudyAgents:
    """Tang & Ha's agent (when `anpolicy.store.authors.resolve` finds it) and our shipped
    agent ``ours`` (a manifest name, or a path ending in .npz)."""
    from anpolicy.store.data import load_shipped
    from anpolicy.store.weights import load_agent

    policies, params, names, missing = {}, {}, {}, ""
    if with_authors:
        try:
            path = authors.resolve()
            policies["authors"], params["authors"], _ = load_agent(path)
            names["authors"] = f"Tang & Ha 2021 ({path.name}, sha256 {authors.SHA256[:12]})"
        except authors.AuthorsWeightsMissing as e:
            missing = str(e)
    else:
        missing = f"the authors' agent was not requested; run `{authors.COMMAND}`"
    if ours.endswith(".npz"):
        policies["ours"], params["ours"], _ = load_agent(ours)
    else:
        policies["ours"], params["ours"], _ = load_shipped(ours)
    names["ours"] = ours
    return StudyAgents(policies, params, names, missing)


def _groups(agents: StudyAgents) -> list[tuple[object, list[str]]]:
    """Agents that can run as one population (same policy layout): [(policy, keys)]."""
    groups: list[tuple[object, list[str]]] = []
    for k in agents.keys:
        pol = agents.policies[k]
        for gp, keys in groups:
            if gp.spec() == pol.spec():
                keys.append(k)
                break
        else:
            groups.append((pol, [k]))
    return groups


def run_agents(agents: StudyAgents, conditions, n_episodes: int, seed: int, **kw) -> dict:
    """`anpolicy.study.experiments.run_conditions` on every agent, same episodes and seed.
    Returns ``{agent_key: {condition: ConditionResult}}`` with member 0 each."""
    from anpolicy.study.experiments import ConditionResult, run_conditions

    out = {}
    for policy, keys in _groups(agents):
        params = np.stack([agents.params[k] for k in keys])
        res = run_conditions(policy, params, conditions, n_episodes, seed=seed, **kw)
        for m, k in enumerate(keys):
            out[k] = {
                name: ConditionResult(
                    name,
                    r.returns[m : m + 1],
                    r.lengths[m : m + 1],
                    r.seed,
                    None if r.rewards is None else r.rewards[m : m + 1],
                )
                for name, r in res.items()
            }
    return out
