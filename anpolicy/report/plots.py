"""The chapters' figures and tables, under one name (``from anpolicy.report import plots``).

The drawing code lives in modules by job; this module re-exports their names so that
``plots.<name>`` keeps working:

- `anpolicy.report.architecture_plots`: the Attention Neuron's diagram, parameter tables,
  the invariance figure;
- `anpolicy.report.episode_plots`: frames, animation and traces of one episode, an
  attention matrix, means with 95 % intervals, doomed starts and the return ceiling, and
  `caption` (the standard caption line: agent, episodes, seed);
- `anpolicy.report.experiment_plots`: the two-agent experiment figures;
- `anpolicy.report.tables`: the two-agent experiment tables and the introduction's scores;
- `anpolicy.report.training_plots`: training curves (`plot_candidate_curves`).
"""

from __future__ import annotations

from anpolicy.report.architecture_plots import (
    AN_PARAMETER_ROLES,
    COLORS,
    INVARIANCE_KEYS,
    draw_attention_neuron,
    parameter_table,
    plot_invariance,
)
from anpolicy.report.episode_plots import (
    OBS_LABELS,
    caption,
    episode_animation_html,
    errorbar_means,
    filmstrip,
    plot_attention,
    plot_doomed_starts,
    plot_episode_traces,
    plot_returns_vs_ceiling,
    states_from_trace,
)
from anpolicy.report.experiment_plots import (
    AGENT_STYLE,
    plot_ablations,
    plot_attention_errors,
    plot_noise,
    plot_permutation_sweep,
    plot_return_distributions,
    plot_single_reshuffle,
)
from anpolicy.report.tables import (
    attention_table,
    noise_table,
    permutations_table,
    reset_table,
    scores_table,
)
from anpolicy.report.training_plots import plot_candidate_curves

__all__ = [
    "AGENT_STYLE",
    "AN_PARAMETER_ROLES",
    "COLORS",
    "INVARIANCE_KEYS",
    "OBS_LABELS",
    "attention_table",
    "caption",
    "draw_attention_neuron",
    "episode_animation_html",
    "errorbar_means",
    "filmstrip",
    "noise_table",
    "parameter_table",
    "permutations_table",
    "plot_ablations",
    "plot_attention",
    "plot_attention_errors",
    "plot_candidate_curves",
    "plot_doomed_starts",
    "plot_episode_traces",
    "plot_invariance",
    "plot_noise",
    "plot_permutation_sweep",
    "plot_return_distributions",
    "plot_returns_vs_ceiling",
    "plot_single_reshuffle",
    "reset_table",
    "scores_table",
    "states_from_trace",
]
