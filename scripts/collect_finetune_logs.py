"""Collect the validation curves of fine-tuning candidates into one data file.

The candidates of one file started from the same agent (its sha256 is recorded) and were
validated on the same 512 held-out episodes (seed 1000001, one random permutation per
episode). Usage:
``python scripts/collect_finetune_logs.py > data/logs/finetune_candidates.json``
(the runs from the 890-generation agent, the default), ``python
scripts/collect_finetune_logs.py --init-sha SHA_2575 runs/an_pgpe@2575
data/runs/attention_neuron_restart > data/logs/fused_engine_trial.json`` (the
fused-engine trial from the 2575-generation agent, SHA_2575 its sha256 in the manifest) or
``python scripts/collect_finetune_logs.py --init-sha SHA runs/a runs/b > FILE``.
A run given as ``runs/a@GEN`` contributes only its generations after GEN, with its clock
started there (a run resumed from a checkpoint: what came after the resume). Every
curve point carries ``cpu_s``: CPU-seconds since the curve's start, wall-clock times the
threads its log rows record (the run's configured threads where a row has none).
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
    "runs/cur_plain": "PGPE restarted from the agent, the task's starts",
    "runs/cur_upright": "PGPE restarted from the agent, half the training starts upright",
    "runs/an_pgpe@2575": "the 2575-generation run continued on the fused engine (same state)",
    "data/runs/attention_neuron_restart": "PGPE restarted from the agent: lr 0.012, sigma 0.04, "
    "256 x 16 rollouts (shipped as attention_neuron_5357)",
}


def curve(run: Path, after: int | None = None, threads: int = 1) -> list[dict]:
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x]
    rows = [r for r in rows if "wall_s" in r and ("gen" in r or "iter" in r)]
    out, wall0, cpu, prev = [], 0.0, 0.0, 0.0
    for r in rows:
        step = r.get("gen", r.get("iter"))
        if after is not None and step <= after:
            wall0 = prev = r["wall_s"]
            continue
        cpu += (r["wall_s"] - prev) * r.get("threads", threads)
        prev = r["wall_s"]
        if "val_mean" in r:
            out.append(
                {
                    "step": step,
                    "wall_s": r["wall_s"] - wall0,
                    "cpu_s": cpu,
                    "val_mean": r["val_mean"],
                    "val_se": r.get("val_se"),
                }
            )
    return out


def main() -> None:
    args = sys.argv[1:]
    init_sha = INIT_SHA256
    if args[:1] == ["--init-sha"]:
        init_sha, args = args[1], args[2:]
    default = [k for k in CANDIDATES if not k.startswith("runs/cur_")]
    runs = [Path(a) for a in args] or [Path(k) for k in default]
    result = {
        "init_sha256": init_sha,
        "validate_seed": 1000001,
        "validate_episodes": 512,
        "candidates": [],
    }
    for arg in runs:
        name, _, after = str(arg).partition("@")
        run = Path(name)
        cfg = json.loads((run / "config.json").read_text())
        result["candidates"].append(
            {
                "run": str(arg),
                "label": CANDIDATES.get(str(arg), str(arg)),
                "config": cfg,
                "curve": curve(run, int(after) if after else None, cfg.get("threads", 1)),
            }
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
