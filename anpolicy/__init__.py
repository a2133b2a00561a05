"""anpolicy: the Attention Neuron on CartPoleSwingUpHarder, re-run and corrected.

Importing the package registers the Gymnasium environment
``anpolicy/CartPoleSwingUpHarder-v0`` (idempotent) and nothing heavier: torch, numba
and the engines load with the modules that use them (``anpolicy.sim.rollout``, ...).

The chapters read ``import anpolicy as ap`` and then ``ap.<name>``: the few names they
use are resolved here on first access (PEP 562), so ``import anpolicy`` stays light:

- modules: ``ap.stats``, ``ap.physics``, ``ap.plots``, ``ap.style``, ``ap.tables``,
  ``ap.claims``, ``ap.chapters``, ``ap.recipe``, ``ap.streams``, ``ap.learning``,
  ``ap.results``, and the layers ``ap.sim``, ``ap.store``, ``ap.training``,
  ``ap.study``, ``ap.report``;
- functions and classes: ``ap.load_shipped``, ``ap.read_manifest``, ``ap.save_results``,
  ``ap.rollout``, ``ap.PermutationSchedule``, ``ap.AttentionNeuronPolicy``,
  ``ap.FNNPolicy``, ``ap.summarize``.
"""

from __future__ import annotations

import importlib

from anpolicy.sim.env import ENV_ID, register

register()

# name -> the module it is (modules) or the module that defines it (other names)
_MODULES = {
    "stats": "anpolicy.stats",
    "physics": "anpolicy.sim.physics",
    "plots": "anpolicy.report.plots",
    "style": "anpolicy.report.style",
    "tables": "anpolicy.report.tables",
    "claims": "anpolicy.study.claims",
    "chapters": "anpolicy.study.chapters",
    "recipe": "anpolicy.study.recipe",
    "streams": "anpolicy.study.streams",
    "learning": "anpolicy.study.learning",
    "results": "anpolicy.store.results",
    "sim": "anpolicy.sim",
    "store": "anpolicy.store",
    "training": "anpolicy.training",
    "study": "anpolicy.study",
    "report": "anpolicy.report",
}
_NAMES = {
    "load_shipped": "anpolicy.store.data",
    "read_manifest": "anpolicy.store.data",
    "save_results": "anpolicy.store.results",
    "rollout": "anpolicy.sim.rollout",
    "PermutationSchedule": "anpolicy.sim.schedules",
    "AttentionNeuronPolicy": "anpolicy.sim.policy",
    "FNNPolicy": "anpolicy.sim.policy",
    "summarize": "anpolicy.stats",
}

__all__ = ["ENV_ID", "register", *_MODULES, *_NAMES]


def __getattr__(name: str):
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'anpolicy' has no attribute {name!r}")
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
