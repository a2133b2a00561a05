"""Experiments of the permutation and ablation chapters, under one name.

The code lives by job: conditions and paired runs in `anpolicy.study.conditions`
(`Condition`, `run_conditions`, ...), recovery from one reshuffle in
`anpolicy.study.recovery`, policy-level ablations (attention, positional queries) in
`anpolicy.study.policy_ablations`, published numbers in `anpolicy.study.published`.
This module re-exports their public names, so ``from anpolicy.study.experiments import
run_conditions`` keeps working.
"""

from __future__ import annotations

from anpolicy.stats import proportion_ci
from anpolicy.study.conditions import (
    Condition,
    ConditionResult,
    RewardTrace,
    _chunks,
    engine_agreement,
    identical_fraction,
    paired_ratio,
    run_conditions,
    schedule_permutations,
    summaries,
    sweep_conditions,
)
from anpolicy.study.policy_ablations import (
    random_position_tables,
    shuffled_position_tables,
    uniform_attention,
    with_positions,
)
from anpolicy.study.published import STUDY_2025, TANG_HA_2021, TANG_HA_INTERVALS, published_summary
from anpolicy.study.recovery import (
    disturbance_onsets,
    median_ci,
    pre_level,
    recovery_analysis,
    recovery_experiment,
    recovery_times,
    single_reshuffle_conditions,
    summarize_recovery,
)

__all__ = [
    "TANG_HA_2021",
    "TANG_HA_INTERVALS",
    "STUDY_2025",
    "published_summary",
    "paired_ratio",
    "schedule_permutations",
    "Condition",
    "ConditionResult",
    "RewardTrace",
    "run_conditions",
    "sweep_conditions",
    "summaries",
    "identical_fraction",
    "engine_agreement",
    "_chunks",
    "pre_level",
    "recovery_times",
    "disturbance_onsets",
    "recovery_analysis",
    "recovery_experiment",
    "single_reshuffle_conditions",
    "summarize_recovery",
    "median_ci",
    "proportion_ci",
    "uniform_attention",
    "with_positions",
    "shuffled_position_tables",
    "random_position_tables",
]
