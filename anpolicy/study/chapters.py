"""Each chapter's measurement, on Tang & Ha's agent and on ours, as one call.

Both papers measured the agent Tang & Ha published; this book judges every claim on
it (resolved by `anpolicy.store.authors.resolve`) and on its own trained agent, on the same
episodes (same seed: same start states, permutations and noise).

Each ``*_study`` function runs one chapter's conditions and returns a `StudyResult`
(saved to and loaded from JSON, schema-checked). The code lives by job and this module
re-exports it, so chapters keep ``from anpolicy.study import chapters as study``:
the agents and running conditions on both (`anpolicy.study.chapter_agents`), the typed
results (`anpolicy.study.chapter_results`), the permutations, ablations and
environment chapters' studies (`anpolicy.study.reshuffle_studies`), the noise and
attention chapters' studies (`anpolicy.study.channel_studies`).
"""

from __future__ import annotations

from anpolicy.study.channel_studies import (
    TWIN_STUDY_CONDITIONS,
    IndependentCopies,
    attention_study,
    noise_conditions,
    noise_study,
)
from anpolicy.study.chapter_agents import (
    AGENT_KEYS,
    AGENT_LABELS,
    StudyAgents,
    load_agents,
    run_agents,
)
from anpolicy.study.chapter_results import (
    AGENT_TYPES,
    SCHEMA_VERSION,
    AblationsAgent,
    AttentionAgent,
    EnvironmentAgent,
    NoiseAgent,
    PermutationsAgent,
    ResultSchemaError,
    StudyResult,
    agents_notice,
    load_study,
)
from anpolicy.study.reshuffle_studies import (
    ablations_study,
    conformance_study,
    permutations_study,
    twin_recovery_times,
)

__all__ = [
    "AGENT_KEYS",
    "AGENT_LABELS",
    "AGENT_TYPES",
    "SCHEMA_VERSION",
    "TWIN_STUDY_CONDITIONS",
    "AblationsAgent",
    "AttentionAgent",
    "EnvironmentAgent",
    "IndependentCopies",
    "NoiseAgent",
    "PermutationsAgent",
    "ResultSchemaError",
    "StudyAgents",
    "StudyResult",
    "ablations_study",
    "agents_notice",
    "attention_study",
    "conformance_study",
    "load_agents",
    "load_study",
    "noise_conditions",
    "noise_study",
    "permutations_study",
    "run_agents",
    "twin_recovery_times",
]
