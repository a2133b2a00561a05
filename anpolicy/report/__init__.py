"""Drawing: figures, tables and widgets; no computation.

Holds the chapters' figures (`plots`), the learning and training figures
(`learning_plots`, `training_plots`) and the explorer's panel (`widgets`).

May import: every other layer (`anpolicy.stats`, `sim`, `store`, `training`, `study`).
"""
