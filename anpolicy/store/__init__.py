"""Files: agents, the shipped-agent manifest, chapter results, run checkpoints.

Holds agent files (`weights`), the agents this project ships in ``data/`` and their
manifest (`data`), Tang & Ha's published agent, fetched and hash-checked (`authors`),
results shared between chapters (`results`), and reading training checkpoints written
under older module paths (`checkpoint`).

May import: `anpolicy.stats`, `anpolicy.sim` and modules of this folder.
"""
