"""Collect the validation curves of the fine-tuning candidates into one data file.

Each candidate started from the same agent (the 890-generation PGPE Attention Neuron,
sha256 below) and was validated on the same 512 held-out episodes (seed 1000001, one
random permutation per episode). Usage (run directories default to CANDIDATES):
``python scripts/collect_finetune_logs.py > data/logs/finetune_candidates.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

INIT_SHA256 = "3a606d1fff099535cfcf84f134d7dac92e494318e519988b4fcf3b6062a5a340"
CANDIDATES = {
    "runs/pilot_pgpe_lr": "PGPE, Adam lr 0.012 (was 0.037), sigma 0.04, 256 x 8 rollouts",
    "runs/pilot_pgpe_r16": "PGPE, lr 0.012, sigma 0.04, 128 x 16 rollouts",
    "runs/pilot_distill": "DAgger + BPTT towards the FNN teacher, student acts (beta 0)",
    "runs/apg_lr3e4": "backprop through the simulator, 100-step windows, Adam lr 3e-4",
    "runs/apg_up": "backprop through the simulator, upright windows only, lr 1e-3",
    "runs/apg_lr3e3": "backprop through the simulator, 100-step windows, lr 3e-3",
}


def curve(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x]
    out = []
    for r in rows:
        if "val_mean" in r:
            out.append(
                {
                    "step": r.get("gen", r.get("iter")),
                    "wall_s": r["wall_s"],
                    "val_mean": r["val_mean"],
                    "val_se": r.get("val_se"),
                }
            )
    return out


def main() -> None:
    runs = [Path(a) for a in sys.argv[1:]] or [Path(k) for k in CANDIDATES]
    result = {
        "init_sha256": INIT_SHA256,
        "validate_seed": 1000001,
        "validate_episodes": 512,
        "candidates": [],
    }
    for run in runs:
        cfg = json.loads((run / "config.json").read_text())
        result["candidates"].append(
            {
                "run": str(run),
                "label": CANDIDATES.get(str(run), str(run)),
                "config": cfg,
                "curve": curve(run),
            }
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
