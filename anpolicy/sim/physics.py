"""CartPoleSwingUpHarder dynamics: the one implementation of the physics.

Both the Gymnasium environment (`anpolicy.sim.env`, numpy, one episode) and the batched
engine (`anpolicy.sim.rollout`, torch, thousands of episodes) call these functions, so the
two can never drift apart. Every function works on numpy arrays and torch tensors alike
(anything with ``sin``/``cos`` in its array namespace) and on any leading batch shape.

State layout: ``(..., 4)`` = ``[x, x_dot, theta, theta_dot]`` in m, m/s, rad, rad/s,
float64 (see the design card, §4: the original dynamics run in float64; float32 state changes
closed-loop behaviour of the chaotic pretrained policy).

Constants follow Freeman, Metz & Ha (2019), identical in Tang & Ha's (2021) code.
"""

from __future__ import annotations

import math

import numpy as np

GRAVITY = 9.82  # m/s^2
CART_MASS = 0.5  # kg
POLE_MASS = 0.5  # kg
POLE_LENGTH = 0.6  # m
FRICTION = 0.1  # N s/m, viscous friction on the cart
FORCE_MAG = 10.0  # N per unit action
DT = 0.01  # s, Euler step
X_THRESHOLD = 2.4  # m, the episode ends when |x| > X_THRESHOLD
MAX_STEPS = 1000  # steps per episode
OBS_DIM = 5  # [x, x_dot, cos(theta), sin(theta), theta_dot]

# Harder starts: x ~ U(-2.4, 2.4), x_dot ~ U(-10, 10), theta ~ pi + U(-pi/2, pi/2),
# theta_dot ~ U(-10, 10).
START_HIGH = np.array([2.4, 10.0, math.pi / 2, 10.0])
START_CENTRE = np.array([0.0, 0.0, math.pi, 0.0])


def _trig(x):
    """Return (sin, cos) functions of the array namespace of ``x`` (numpy or torch)."""
    if isinstance(x, np.ndarray | float | np.floating):
        return np.sin, np.cos
    import torch

    return torch.sin, torch.cos


def sample_start_states(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Draw harder random starts from ``rng``.

    Returns float64 array of shape ``(4,)`` when ``n`` is None, else ``(n, 4)``.
    """
    size = (4,) if n is None else (n, 4)
    return START_CENTRE + rng.uniform(-START_HIGH, START_HIGH, size=size)


UPRIGHT_HIGH = np.array([1.0, 1.0, 0.3, 1.0])


def sample_upright_starts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Easy starts for a training curriculum (not the task's): the pole near upright and
    slow, ``x, x_dot, theta_dot ~ U(-1, 1)``, ``theta ~ U(-0.3, 0.3)``. (n, 4) float64."""
    return rng.uniform(-UPRIGHT_HIGH, UPRIGHT_HIGH, size=(n, 4))


def force_from_action(action):
    """Force in N from an action, ``10 * clip(a, -1, 1)``, same shape and type as ``action``."""
    if isinstance(action, np.ndarray | float | np.floating):
        return FORCE_MAG * np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return FORCE_MAG * action.clamp(-1.0, 1.0)


def euler_update(x, x_dot, th, th_dot, s, c, force):
    """One Euler step from the state's components, ``s, c = sin th, cos th`` and the
    force in N; returns the new ``(x, x_dot, th, th_dot)``.

    Pure arithmetic on its arguments, so the same function serves numpy arrays, torch
    tensors and (compiled with numba, in `anpolicy.sim.fused`) scalars: this is the one
    place the equations of motion are written. Positions move with the old velocities;
    velocities with the accelerations of the old state (the order of the original code).
    """
    m_p, m_c, ell, b, g = POLE_MASS, CART_MASS, POLE_LENGTH, FRICTION, GRAVITY
    total = m_c + m_p
    x_acc = (-2 * m_p * ell * th_dot**2 * s + 3 * m_p * g * s * c + 4 * force - 4 * b * x_dot) / (
        4 * total - 3 * m_p * c**2
    )
    th_acc = (
        -3 * m_p * ell * th_dot**2 * s * c + 6 * total * g * s + 6 * (force - b * x_dot) * c
    ) / (4 * ell * total - 3 * m_p * ell * c**2)
    return x + x_dot * DT, x_dot + x_acc * DT, th + th_dot * DT, th_dot + th_acc * DT


def dynamics_step(state, force):
    """Advance ``state`` (..., 4) by one Euler step under ``force`` (...) in N.

    Returns the new state (..., 4); the equations are `euler_update`'s.
    """
    sin, cos = _trig(state)
    x, x_dot, th, th_dot = (state[..., i] for i in range(4))
    new = euler_update(x, x_dot, th, th_dot, sin(th), cos(th), force)
    if isinstance(state, np.ndarray):
        return np.stack(new, axis=-1)
    import torch

    return torch.stack(new, dim=-1)


def env_step(state, action):
    """One environment step once the policy has acted: the force of ``action`` (...) in
    [-1, 1] (`force_from_action`), the Euler update (`dynamics_step`), the reward of the
    new state (`reward`) and whether the cart left the track (`out_of_track`).

    Returns ``(next_state (..., 4), reward (...), off_track (...))``. Every loop over an
    episode in the package steps through here (the environment, the lock-step engine,
    the attention recorder, distillation, simulator gradients, the braking baseline); the
    fused engine compiles the same `euler_update` and `reward_from`.
    """
    next_state = dynamics_step(state, force_from_action(action))
    return next_state, reward(next_state), out_of_track(next_state)


def track_phase(x):
    """The angle whose cosine weighs the reward by cart position: ``x / 2.4 * pi / 2``."""
    return x / X_THRESHOLD * (math.pi / 2.0)


def reward_from(cos_th, cos_phase):
    """Reward from ``cos th`` and ``cos(track_phase(x))``: ``(cos th + 1) / 2 * cos_phase``."""
    return (cos_th + 1.0) / 2.0 * cos_phase


def reward(state):
    """Reward (...) of a state (..., 4): ``(cos th + 1)/2 * cos(pi x / 4.8)``, in [-1, 1]."""
    _, cos = _trig(state)
    x, th = state[..., 0], state[..., 2]
    return reward_from(cos(th), cos(track_phase(x)))


def observation(state):
    """Observation (..., 5) of a state (..., 4): ``[x, x_dot, cos th, sin th, th_dot]``.

    Same dtype as ``state`` (float64); callers cast to float32 for the policy.
    """
    sin, cos = _trig(state)
    x, x_dot, th, th_dot = (state[..., i] for i in range(4))
    parts = (x, x_dot, cos(th), sin(th), th_dot)
    if isinstance(state, np.ndarray):
        return np.stack(parts, axis=-1)
    import torch

    return torch.stack(parts, dim=-1)


def out_of_track(state):
    """Boolean (...): the cart left the track, ``|x| > 2.4``."""
    return abs(state[..., 0]) > X_THRESHOLD
