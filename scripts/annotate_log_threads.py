"""Add the ``threads`` field to training-log rows written before the trainer logged it.

The shipped Attention Neuron's run started on one thread and was resumed with
``--threads 2`` at generation 460 (see its manifest note); its log predates the field,
so CPU-hours (`anpolicy.store.data.cpu_seconds`) would count one thread throughout. Usage:
``python scripts/annotate_log_threads.py runs/an_pgpe/log.jsonl 0:1 460:2`` gives rows
with ``gen`` > 0 one thread and rows with ``gen`` > 460 two. Rows that already carry
``threads`` are left alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str, *segments: str) -> None:
    bounds = sorted((int(a), int(b)) for a, b in (s.split(":") for s in segments))
    log = Path(path)
    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    for row in rows:
        if "threads" not in row:
            row["threads"] = [t for start, t in bounds if row["gen"] > start][-1]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
