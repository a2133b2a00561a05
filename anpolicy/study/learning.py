"""How the Attention Neuron learns, under one name: the measurement on every snapshot of a
training run (`anpolicy.study.learning_curves`: conditions, shares, attention statistics,
`measure`, `LearningCurves`) and the answers from its numbers
(`anpolicy.study.learning_answers`: `answer_order`, `answer_robustness`, `answer_memory`,
`answer_attention`, the 'beyond the study' table). This module re-exports both.
"""

from __future__ import annotations

from anpolicy.study.learning_answers import (
    QUESTIONS,
    answer_attention,
    answer_memory,
    answer_order,
    answer_robustness,
    beyond_the_study_rows,
    beyond_the_study_table,
    relative_check_failures,
    spearman,
)
from anpolicy.study.learning_curves import (
    ATTENTION_STATS,
    CONDITIONS,
    REFERENCE_LABEL,
    SCHEMA_VERSION,
    SHARES,
    AttentionStats,
    LearningCurves,
    Snapshot,
    add_authors_agent,
    describe_run,
    load_series,
    measure,
    paired_share,
)

__all__ = [
    "ATTENTION_STATS",
    "AttentionStats",
    "CONDITIONS",
    "LearningCurves",
    "QUESTIONS",
    "REFERENCE_LABEL",
    "SCHEMA_VERSION",
    "SHARES",
    "Snapshot",
    "add_authors_agent",
    "answer_attention",
    "answer_memory",
    "answer_order",
    "answer_robustness",
    "beyond_the_study_rows",
    "beyond_the_study_table",
    "describe_run",
    "load_series",
    "measure",
    "paired_share",
    "relative_check_failures",
    "spearman",
]
