"""The Gymnasium contract: registration on import, the spec, bounds, check_env silence."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import anpolicy
from anpolicy.sim import physics
from anpolicy.sim.env import ENV_ID, OBS_HIGH, CartPoleSwingUpHarderEnv


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120
    )


def test_import_registers_the_env_in_a_fresh_interpreter_without_warnings():
    r = _run(
        "import importlib, gymnasium, anpolicy\n"
        "importlib.reload(anpolicy)\n"  # a second import must not re-register or warn
        "import anpolicy.sim.env\n"
        "anpolicy.sim.env.register()\n"
        f"env = gymnasium.make({ENV_ID!r})\n"
        "print(env.spec.max_episode_steps, type(env.unwrapped).__name__)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "CartPoleSwingUpHarderEnv"]
    assert r.stderr == ""


def test_import_stays_light():
    r = _run("import sys, anpolicy\nprint(sorted({'torch', 'numba'} & set(sys.modules)))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_spec():
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == physics.MAX_STEPS == 1000
    assert spec.entry_point == "anpolicy.sim.env:CartPoleSwingUpHarderEnv"
    assert anpolicy.ENV_ID == ENV_ID


def test_observation_bounds_are_finite_and_documented():
    space = CartPoleSwingUpHarderEnv().observation_space
    assert np.isfinite(space.low).all() and np.isfinite(space.high).all()
    assert np.array_equal(space.high, OBS_HIGH) and np.array_equal(space.low, -OBS_HIGH)
    assert space.dtype == np.float32
    assert OBS_HIGH[0] > physics.X_THRESHOLD and (OBS_HIGH[2:4] == 1).all()
    doc = CartPoleSwingUpHarderEnv.__doc__
    assert "OBS_HIGH" in doc and "[4.8, 200, 1, 1, 800]" in doc


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes_without_any_warning(render_mode):
    """gymnasium.make's env (TimeLimit, passive checker) runs an episode, then check_env
    inspects it (unwrapped, as check_env requires): no warning anywhere."""
    env = gym.make(ENV_ID, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=3)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
        check_env(env.unwrapped, skip_render_check=render_mode is None)


def test_time_limit_and_own_truncation_agree():
    """The spec's TimeLimit and the env's own truncation end the same step (1000)."""
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.0, 0.0, 0.0, 0.0])  # upright at rest: stays on track
    for t in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(np.array([0.0], dtype=np.float32))
        assert not terminated
        assert truncated == (t == 1000)


def _extremes(policy, n: int, seed: int) -> np.ndarray:
    """Largest |observation| per component over ``n`` episodes of ``policy(state)``."""
    rng = np.random.default_rng(seed)
    s = physics.sample_start_states(rng, n)
    alive = np.ones(n, dtype=bool)
    top = np.abs(physics.observation(s)).max(axis=0)
    for _ in range(physics.MAX_STEPS):
        s = physics.dynamics_step(s, physics.force_from_action(policy(s)))
        obs = physics.observation(s)
        top = np.maximum(top, np.abs(obs[alive]).max(axis=0, initial=0.0))
        alive &= ~physics.out_of_track(s)
        if not alive.any():
            break
    return top


@pytest.mark.parametrize(
    "name",
    ["pump", "pump_and_centre", "push", "random"],
)
def test_observations_stay_within_the_bounds_under_adversarial_policies(name):
    """Energy pumping (a = sign(theta_dot cos theta)), pumping that keeps the cart near
    the centre, pushing along the velocity, random actions: every observation of every
    step (the final, off-track one included) lies inside the observation space."""
    rng = np.random.default_rng(1)
    policies = {
        "pump": lambda s: np.sign(s[:, 3] * np.cos(s[:, 2])),
        "pump_and_centre": lambda s: np.clip(
            np.sign(s[:, 3] * np.cos(s[:, 2])) - s[:, 0] - 0.6 * s[:, 1], -1, 1
        ),
        "push": lambda s: np.sign(s[:, 1]),
        "random": lambda s: rng.uniform(-1, 1, s.shape[0]),
    }
    top = _extremes(policies[name], 2000, seed=7)
    assert (top <= OBS_HIGH).all(), f"{name}: {top} exceeds {OBS_HIGH}"
