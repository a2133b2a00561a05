"""anpolicy: the Attention Neuron on CartPoleSwingUpHarder, re-run and corrected.

Importing the package registers the Gymnasium environment
``anpolicy/CartPoleSwingUpHarder-v0`` (idempotent) and nothing heavier: torch, numba
and the engines load with the modules that use them (``anpolicy.sim.rollout``, ...).
"""

from anpolicy.sim.env import ENV_ID, register

register()

__all__ = ["ENV_ID", "register"]
