"""Observation permutation schedules and extra observation channels.

A `PermutationSchedule` says at which steps the order of the observation channels
changes and to which permutations; `ObservationChannels` says how the policy input is
built from the 5 physical observations: ``n_copies`` copies of them (Tang & Ha's
duplicated-input test uses 2), permuted together, then ``n_noise`` channels of fresh
N(0, noise_std^2) noise appended after the permuted channels.

Convention: step t = 0 is the policy's first call (on the reset observation). A
permutation ``p`` of length n means input channel j carries physical channel ``p[j]``:
``policy_obs[j] = obs[p[j]]``. "Reshuffle every k steps" draws a new permutation at
t = k, 2k, ... (< max_steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anpolicy.sim.physics import MAX_STEPS, OBS_DIM

SCHEDULE_MODES = ("none", "reset", "every", "at", "given")


def validate_permutation(perm, n: int, what: str = "permutation") -> np.ndarray:
    """Return ``perm`` as an int64 array (n,); ValueError unless it permutes range(n)."""
    arr = np.asarray(perm)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what} must have length {n}, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{what} must hold integers, got {arr.tolist()}")
    if sorted(arr.tolist()) != list(range(n)):
        raise ValueError(
            f"{what} {arr.tolist()} is not a permutation of 0..{n - 1} "
            "(each index must appear exactly once)"
        )
    return arr.astype(np.int64)


@dataclass(frozen=True)
class PermutationSchedule:
    """When the observation order changes, and to what.

    mode:
      ``"none"``  identity throughout;
      ``"reset"`` one random permutation per episode, drawn at reset (Tang & Ha's test);
      ``"every"`` a new random permutation every ``interval`` steps (and one at reset);
      ``"at"``    new random permutations at the given ``steps`` (and one at reset);
      ``"given"`` the user's permutations: ``perms[0]`` from step 0, ``perms[i]`` from
                  ``steps[i-1]`` on, the same for every episode.
    ``initial_identity``: for "every"/"at", start from the identity instead of a random
    permutation (so that the first change is the first shuffle).
    """

    mode: str = "none"
    interval: int | None = None
    steps: tuple[int, ...] = ()
    perms: tuple[tuple[int, ...], ...] | None = None
    initial_identity: bool = False

    def __post_init__(self):
        if self.mode not in SCHEDULE_MODES:
            raise ValueError(
                f"unknown schedule mode {self.mode!r}; expected one of {SCHEDULE_MODES}"
            )
        if self.mode == "every" and (self.interval is None or int(self.interval) < 1):
            raise ValueError(f"'every' needs an interval >= 1, got {self.interval!r}")
        if any(int(s) < 1 for s in self.steps):
            raise ValueError(f"change steps must be >= 1 (step 0 is the reset), got {self.steps}")
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError(f"change steps must be strictly increasing, got {self.steps}")
        if self.mode == "given":
            if not self.perms or len(self.perms) != len(self.steps) + 1:
                raise ValueError("'given' needs len(perms) == len(steps) + 1")
            n = len(self.perms[0])
            for i, p in enumerate(self.perms):
                validate_permutation(p, n, f"given permutation #{i}")

    # ----- constructors -------------------------------------------------------------
    @classmethod
    def none(cls) -> PermutationSchedule:
        return cls("none")

    @classmethod
    def at_reset(cls) -> PermutationSchedule:
        return cls("reset")

    @classmethod
    def every(cls, k: int, initial_identity: bool = False) -> PermutationSchedule:
        return cls("every", interval=int(k), initial_identity=initial_identity)

    @classmethod
    def at_steps(cls, steps, initial_identity: bool = False) -> PermutationSchedule:
        return cls("at", steps=tuple(int(s) for s in steps), initial_identity=initial_identity)

    @classmethod
    def given(cls, perms, steps=()) -> PermutationSchedule:
        return cls(
            "given",
            steps=tuple(int(s) for s in steps),
            perms=tuple(tuple(int(i) for i in p) for p in perms),
        )

    @classmethod
    def parse(cls, text: str) -> PermutationSchedule:
        """Parse ``none | reset | every:K | at:S1,S2,... | fixed:P0,P1,...``."""
        head, _, arg = text.strip().partition(":")
        try:
            if head == "none" and not arg:
                return cls.none()
            if head == "reset" and not arg:
                return cls.at_reset()
            if head == "every":
                return cls.every(int(arg))
            if head == "at":
                return cls.at_steps([int(s) for s in arg.split(",")])
            if head == "fixed":
                return cls.given([[int(s) for s in arg.split(",")]])
        except (ValueError, OverflowError) as e:
            raise ValueError(f"bad schedule {text!r}: {e}") from None
        raise ValueError(
            f"bad schedule {text!r}; use none, reset, every:K, at:S1,S2,... or fixed:P0,...,Pn"
        )

    def check_within(self, max_steps: int) -> None:
        """ValueError if a change step of this schedule would fall outside an episode of
        ``max_steps`` steps (where it would silently never happen)."""
        if self.mode == "every" and self.interval >= max_steps:
            raise ValueError(
                f"a reshuffle every {self.interval} steps never happens within "
                f"{max_steps} steps; use an interval < {max_steps}"
            )
        late = [s for s in self.steps if s >= max_steps]
        if late:
            raise ValueError(
                f"change steps {late} are not within an episode of {max_steps} steps "
                f"(steps 1..{max_steps - 1})"
            )

    # ----- sampling -----------------------------------------------------------------
    def change_steps(self, max_steps: int = MAX_STEPS) -> np.ndarray:
        """Steps (>= 1, < max_steps) at which a new permutation takes effect, int64 (E,)."""
        if self.mode == "every":
            return np.arange(self.interval, max_steps, self.interval, dtype=np.int64)
        if self.mode in ("at", "given"):
            return np.array([s for s in self.steps if s < max_steps], dtype=np.int64)
        return np.zeros(0, dtype=np.int64)

    def sample(self, rng: np.random.Generator, n_episodes: int, n: int, max_steps: int = MAX_STEPS):
        """Permutations for every episode and event: int64 (n_episodes, E + 1, n).

        Index 0 is the permutation in force from step 0; index i from change step i-1.
        """
        n_events = len(self.change_steps(max_steps))
        if self.mode == "given":
            if len(self.perms[0]) != n:
                raise ValueError(
                    f"given permutations have length {len(self.perms[0])}, "
                    f"but the policy input has {n} permuted channels"
                )
            perms = np.array(self.perms[: n_events + 1], dtype=np.int64)
            return np.broadcast_to(perms, (n_episodes, n_events + 1, n)).copy()
        if self.mode == "none":
            return np.broadcast_to(np.arange(n), (n_episodes, 1, n)).copy()
        keys = rng.random((n_episodes, n_events + 1, n))
        perms = np.argsort(keys, axis=-1).astype(np.int64)
        if self.initial_identity:
            perms[:, 0] = np.arange(n)
        return perms

    def describe(self) -> str:
        if self.mode == "none":
            return "no shuffling"
        if self.mode == "reset":
            return "one random permutation per episode, drawn at reset"
        if self.mode == "every":
            return f"a new random permutation every {self.interval} steps"
        if self.mode == "at":
            return f"new random permutations at steps {list(self.steps)}"
        return f"given permutations {self.perms} from steps {[0, *self.steps]}"


@dataclass(frozen=True)
class ObservationChannels:
    """How the policy input is built from the 5 physical observations.

    ``n_copies`` copies of the observation (channel j carries physical channel j % 5) are
    permuted together; ``n_noise`` channels of i.i.d. N(0, noise_std^2) noise, fresh at
    every step, are appended after them (Tang & Ha: noise_std = 0.1).
    """

    n_copies: int = 1
    n_noise: int = 0
    noise_std: float = 0.1

    def __post_init__(self):
        if self.n_copies < 1 or self.n_noise < 0 or not self.noise_std >= 0:
            raise ValueError(f"invalid channels: {self}")

    @property
    def n_permuted(self) -> int:
        return OBS_DIM * self.n_copies

    @property
    def n_channels(self) -> int:
        return self.n_permuted + self.n_noise
