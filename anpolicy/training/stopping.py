"""When and why a training run's loop ends: its budget, its step size, or a signal.

`stop_reason` names why the loop ended ("signal", "generations", "step_size",
"episodes" or "minutes"); `TrainingInterrupted` is raised after a SIGTERM/SIGINT stop
has checkpointed; `main_thread` says whether signal handlers can be installed here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: train.py imports this module
    from anpolicy.training.train import TrainConfig


def stop_reason(cfg: TrainConfig, st: dict, opt, interrupted: bool) -> str:
    """Why a run's loop ended (its run state ``st``, optimizer ``opt``): "signal",
    "generations", "step_size", "episodes" or "minutes"."""
    if interrupted:
        return "signal"
    if st["gen"] >= cfg.generations:
        return "generations"
    if cfg.stop_step_size > 0 and opt.step_size < cfg.stop_step_size:
        return "step_size"
    if cfg.max_episodes > 0 and st["episodes"] >= cfg.max_episodes:
        return "episodes"
    return "minutes"


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM/SIGINT after checkpointing (resume with ``--resume``)."""


def main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
