"""What the book measures and concludes.

Holds conditions run together on the same episodes (`conditions`), recovery from one
reshuffle (`recovery`), attention and positional-query ablations (`policy_ablations`;
`experiments` re-exports the three), the papers' published numbers (`published`), each
chapter's measurement on both agents (`chapter_agents`, `chapter_results`,
`reshuffle_studies`, `channel_studies`; re-exported by `chapters`), attention analysis
(`attention`, `twin_rollout`, `attention_stats`), open-loop streams and invariance
properties (`stream_runs`, `invariance`; re-exported by `streams`), baselines
(`baselines`), per-start planning around an FNN (`headroom`), diagnostics
(`diagnostics`), how an agent learns (`learning_curves`,
`learning_answers`; re-exported by `learning`), training runs summarised (`recipe`),
what the explorer computes (`explorer_model`), chapter parameter checks
(`chapter_params`), verdict thresholds, sentences from numbers and each chapter's
sentences (`thresholds`, `sentences`, `chapter_sentences`; re-exported by `claims`), the
judges of the claims (`judges`) and the two-agent verdict table (`verdicts`).

May import: `anpolicy.stats`, `anpolicy.sim`, `anpolicy.store`, `anpolicy.training`
and modules of this folder. Nothing from `report`.
"""
