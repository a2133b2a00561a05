"""What the book measures and concludes.

Holds conditions and episode plans (`experiments`), the papers' published numbers
(`published`), each chapter's measurement on both agents (`chapters`), attention
analysis (`attention`), invariance streams (`streams`), baselines (`baselines`),
diagnostics (`diagnostics`), how an agent learns (`learning`), training runs
summarised (`recipe`), what the explorer computes (`explorer_model`), chapter parameter
checks (`chapter_params`), verdict thresholds and sentences from numbers (`claims`) and
the two-agent verdict table (`verdicts`).

May import: `anpolicy.stats`, `anpolicy.sim`, `anpolicy.store`, `anpolicy.training`
and modules of this folder. Nothing from `report`.
"""
