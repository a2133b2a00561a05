"""CartPoleSwingUpHarder as a Gymnasium environment (one episode at a time).

The batched engine in `anpolicy.sim.rollout` uses the same physics functions
(`anpolicy.sim.physics`); this class is the reference, Gymnasium-conformant view of it.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from anpolicy.sim import physics

ENV_ID = "anpolicy/CartPoleSwingUpHarder-v0"

# Observation bounds (float32): |x| <= 4.8 m, |x_dot| <= 200 m/s, |cos|, |sin| <= 1,
# |theta_dot| <= 800 rad/s. Why the physics bounds the velocities: the equations are
# those of a cart (0.5 kg) carrying a uniform rod (0.5 kg, 0.6 m) under the force F and
# viscous friction -b x_dot, so the mechanical energy E changes at the rate
# (F - b x_dot) x_dot <= F_max^2 / (4 b) = 250 W. An episode lasts at most 10 s, so E
# grows by at most 2,500 J from its start (<= 70 J); with the kinetic energy's smallest
# share per coordinate that caps |x_dot| at ~91 m/s and |theta_dot| at ~370 rad/s for
# the continuous dynamics. The bounds double those caps, a margin for the Euler
# integration's energy drift. x leaves [-2.4, 2.4] by at most one step (|x_dot| dt) in
# the last observation of an episode (<= 2.4 + 200 * 0.01 = 4.4 m). Measured: 7
# adversarial policies (energy pumping a = sign(theta_dot cos theta) with and without
# centring, bang-bang, pushing along x_dot, random), 20,000 episodes each, reached
# |x| 2.54 m, |x_dot| 15.4 m/s, |theta_dot| 80.2 rad/s (tests/test_env.py reruns four).
OBS_HIGH = np.array([4.8, 200.0, 1.0, 1.0, 800.0], dtype=np.float32)


class CartPoleSwingUpHarderEnv(gym.Env):
    """Swing a pole up from a random hanging start and balance it, on a finite track.

    ## Description
    A pole is attached by an unactuated joint to a cart moving on a frictional track
    (Freeman, Metz & Ha 2019; the "harder" variant of Tang & Ha 2021). The pole starts
    roughly hanging down, the cart anywhere on the track with a large random velocity.

    ## Observation
    ``Box(-OBS_HIGH, OBS_HIGH, (5,), float32)``: ``[x (m), x_dot (m/s), cos(theta),
    sin(theta), theta_dot (rad/s)]``; theta = 0 is upright. ``OBS_HIGH`` =
    ``[4.8, 200, 1, 1, 800]``: the physics bounds every component within an episode
    (see `OBS_HIGH` for the derivation and the measured extremes).

    ## Action
    ``Box(-1, 1, (1,), float32)``; the force on the cart is ``10 N * clip(a, -1, 1)``.

    ## Reward
    ``(cos(theta) + 1) / 2 * cos(pi x / 4.8)`` for every step, including the step that
    leaves the track (it can be slightly negative).

    ## Starting state
    ``x ~ U(-2.4, 2.4)``, ``x_dot ~ U(-10, 10)``, ``theta ~ pi + U(-pi/2, pi/2)``,
    ``theta_dot ~ U(-10, 10)``. About a third of starts leave the track within 50 steps
    whatever the policy does.

    ## Episode end
    Terminated when ``|x| > 2.4``; truncated after 1000 steps (the env truncates itself,
    and the registered spec's ``max_episode_steps`` is the same 1000).

    ## Registration
    ``import anpolicy`` registers ``anpolicy/CartPoleSwingUpHarder-v0``:
    ``gymnasium.make("anpolicy/CartPoleSwingUpHarder-v0", render_mode="rgb_array")``.

    ## Arguments
    ``render_mode``: ``None`` or ``"rgb_array"`` (drawn with numpy, no display needed).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-OBS_HIGH, OBS_HIGH, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state: np.ndarray | None = None  # float64 (4,)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = physics.sample_start_states(self.np_random)
        self.t = 0
        return physics.observation(self.state).astype(np.float32), {}

    def step(self, action):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (1,) or not np.isfinite(a).all():
            raise ValueError(f"action must be one finite number, got {action!r}")
        self.state, reward, off_track = physics.env_step(self.state, a[0])
        self.t += 1
        reward, terminated = float(reward), bool(off_track)
        truncated = (not terminated) and self.t >= physics.MAX_STEPS
        obs = physics.observation(self.state).astype(np.float32)
        return obs, reward, terminated, truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        return render_frame(self.state)


def render_frame(state: np.ndarray, width: int = 480, height: int = 240) -> np.ndarray:
    """Draw a state (4,) as an RGB image, uint8 of shape (height, width, 3)."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    scale = width / (2 * physics.X_THRESHOLD + 1.2)  # pixels per metre
    cx0, track_y = width / 2, height * 0.65
    yy, xx = np.mgrid[0:height, 0:width]
    # track and its ends
    img[int(track_y) : int(track_y) + 2, :] = (80, 80, 80)
    for end in (-physics.X_THRESHOLD, physics.X_THRESHOLD):
        px = int(cx0 + end * scale)
        img[int(track_y) - 15 : int(track_y) + 15, max(px - 1, 0) : px + 1] = (200, 40, 40)
    x, _, th, _ = (float(v) for v in state)
    cart_x = cx0 + x * scale
    cart_w, cart_h = 0.5 * scale, 0.25 * scale
    in_cart = (np.abs(xx - cart_x) <= cart_w / 2) & (np.abs(yy - track_y) <= cart_h / 2)
    img[in_cart] = (40, 90, 160)
    # pole: theta = 0 is upright; image y grows downwards
    length = physics.POLE_LENGTH * scale * 1.5
    tip_x, tip_y = cart_x + length * math.sin(th), track_y - length * math.cos(th)
    dx, dy = tip_x - cart_x, tip_y - track_y
    seg = max(dx * dx + dy * dy, 1e-9)
    u = np.clip(((xx - cart_x) * dx + (yy - track_y) * dy) / seg, 0, 1)
    dist2 = (xx - cart_x - u * dx) ** 2 + (yy - track_y - u * dy) ** 2
    img[dist2 <= 9] = (200, 140, 60)
    img[(xx - tip_x) ** 2 + (yy - tip_y) ** 2 <= 36] = (120, 60, 20)
    return img


def register() -> None:
    """Register ``ENV_ID`` with Gymnasium: ``max_episode_steps=1000``, the env's own
    truncation. Idempotent (a second call, or a second ``import anpolicy``, neither
    re-registers nor warns); ``import anpolicy`` calls it."""
    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="anpolicy.sim.env:CartPoleSwingUpHarderEnv",
            max_episode_steps=physics.MAX_STEPS,
        )
