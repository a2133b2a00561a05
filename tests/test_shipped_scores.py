"""Every shipped agent's manifest test score reproduces: its run's test protocol (episodes,
seed, schedule, from the manifest's config) is run again on the shipped file.

Runs on the fused engine, and FNN runs, reproduce to round-off. Attention Neuron runs
tested on the PyTorch engine (before the fused one existed) are re-run on the fused one,
which is 20x faster: the closed loop is chaotic, so round-off differences between engines
(or torch builds) change a handful of the 2,000 long episodes, and their mean moves by a
few hundredths of its standard error; a wrong agent, seed or schedule moves it by about
one standard error.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from anpolicy.store.data import load_shipped, read_manifest
from anpolicy.training.generation import evaluate_params
from anpolicy.training.train import TrainConfig

AGENTS = sorted(read_manifest()["agents"])


@pytest.mark.parametrize("name", AGENTS)
def test_a_shipped_agent_reproduces_its_manifest_test_score(name):
    entry = read_manifest()["agents"][name]
    cfg = TrainConfig.from_saved(entry["config"])
    exact = cfg.engine != "torch" or cfg.policy == "fnn"
    policy, params, _ = load_shipped(name)
    cfg = dataclasses.replace(cfg, engine="fused")  # FNNs run on PyTorch either way
    s = evaluate_params(cfg, policy, params[None], cfg.test_episodes, cfg.test_seed)
    want = entry["test"]
    assert s["n"] == want["n"] == cfg.test_episodes
    if exact:  # float32 sums may differ in the last bits across BLAS builds
        assert s["frac_short"] == want["frac_short"]
        assert math.isclose(s["mean"], want["mean"], rel_tol=1e-7), (s["mean"], want["mean"])
        assert math.isclose(s["sd"], want["sd"], rel_tol=1e-6)
    else:
        assert abs(s["frac_short"] - want["frac_short"]) <= 5 / want["n"]
        assert abs(s["mean"] - want["mean"]) <= 0.1 * want["se"], (s["mean"], want["mean"])
