"""Open-loop streams and the Attention Neuron's invariance properties, under one name.

`anpolicy.study.stream_runs`: `run_stream` steps a policy over a given observation
stream under channel orders and interventions (the engine's conventions), with
`random_stream`, `random_permutations`, `closed_loop_stream`;
`anpolicy.study.invariance`: the five invariance properties the architecture chapter
demonstrates (`invariance_properties`, `invariance_table`), `explain_step` (one step
written out) and the float64 check (`invariance_float64`). This module re-exports both.
"""

from __future__ import annotations

from anpolicy.study.invariance import (
    INVARIANCE_EXPECTED,
    INVARIANCE_LABELS,
    explain_step,
    invariance_float64,
    invariance_properties,
    invariance_table,
    run_stream64,
)
from anpolicy.study.stream_runs import (
    StreamRun,
    closed_loop_stream,
    random_permutations,
    random_stream,
    run_stream,
)

__all__ = [
    "INVARIANCE_EXPECTED",
    "INVARIANCE_LABELS",
    "StreamRun",
    "closed_loop_stream",
    "explain_step",
    "invariance_float64",
    "invariance_properties",
    "invariance_table",
    "random_permutations",
    "random_stream",
    "run_stream",
    "run_stream64",
]
