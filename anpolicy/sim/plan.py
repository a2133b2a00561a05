"""The episode plan: every random choice of R episodes, drawn once, before they run.

An `EpisodePlan` holds what makes episode r what it is, apart from the policy and the
interventions: its start state, the permutations of the observation channels and the
steps at which they change, and the seed of the noise channels' stream. `rollout`
(`anpolicy.sim.rollout`) runs a plan on either engine and on Ray actors
(`anpolicy.sim.distributed`); without one it draws ``EpisodePlan.draw(seed, ...)``.

Randomness has one source: ``seed``, split by `numpy.random.SeedSequence` into the start
states, the permutations and the noise stream, so plans drawn with the same seed share
their starts whatever the schedule, and share their permutations when the schedule is
the same (paired comparisons). `EpisodePlan.stack` puts several plans one after the
other in one batch (the chapters' conditions run as one rollout).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.schedules import PermutationSchedule


@dataclass(frozen=True, eq=False)
class EpisodePlan:
    """The random choices of R episodes.

    ``starts`` (R, 4) float64: start states (x, x_dot, theta, theta_dot), finite;
    ``perms`` (R, E + 1, n) int64: episode r's permutation of its n permuted channels,
    index 0 in force from step 0, index i from ``change_steps[i - 1]`` on (each row a
    permutation of 0..n-1; see `anpolicy.sim.schedules` for the convention);
    ``change_steps`` (E,) int64: steps >= 1, strictly increasing;
    ``noise_seed``: seed of the noise channels' stream (a non-negative integer).
    The arrays are copied on construction; ValueError on a bad shape or value.
    """

    starts: np.ndarray
    perms: np.ndarray
    change_steps: np.ndarray
    noise_seed: int = 0

    def __post_init__(self):
        starts = np.array(self.starts, dtype=np.float64)
        if starts.ndim != 2 or starts.shape[1] != 4 or starts.shape[0] < 1:
            raise ValueError(f"starts must be (n_episodes >= 1, 4), got shape {starts.shape}")
        if not np.isfinite(starts).all():
            raise ValueError("starts contain NaN or inf")
        steps = np.array(self.change_steps).reshape(-1)
        if steps.size and steps.dtype.kind not in "iu":
            raise ValueError(f"change_steps must be integers, got {steps.tolist()}")
        steps = steps.astype(np.int64)
        if steps.size and (steps[0] < 1 or (np.diff(steps) <= 0).any()):
            raise ValueError(f"change_steps must be >= 1 and strictly increasing, got {steps}")
        perms = np.array(self.perms)
        want = (starts.shape[0], steps.size + 1)
        if perms.ndim != 3 or perms.shape[:2] != want or perms.shape[2] < 1:
            raise ValueError(
                f"perms must be (n_episodes, len(change_steps) + 1, n) = (*{want}, n), "
                f"got shape {perms.shape}"
            )
        if perms.dtype.kind not in "iu":
            raise ValueError(f"perms must hold integers, got dtype {perms.dtype}")
        n = perms.shape[2]
        if not (np.sort(perms, axis=-1) == np.arange(n)).all():
            raise ValueError(f"every row of perms must be a permutation of 0..{n - 1}")
        seed = self.noise_seed
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"noise_seed must be a non-negative integer, got {seed!r}")
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "perms", perms.astype(np.int64, copy=False))
        object.__setattr__(self, "change_steps", steps)
        object.__setattr__(self, "noise_seed", int(seed))

    @classmethod
    def draw(
        cls,
        seed: int,
        n_episodes: int,
        schedule: PermutationSchedule | None = None,
        n_permuted: int = physics.OBS_DIM,
        max_steps: int = physics.MAX_STEPS,
    ) -> EpisodePlan:
        """The plan of ``n_episodes`` episodes of at most ``max_steps`` steps under
        ``schedule`` (default: no shuffling) with ``n_permuted`` permuted channels, all
        derived from ``seed`` (what `rollout` runs when it is given no plan)."""
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        schedule = schedule or PermutationSchedule.none()
        s_start, s_perm, s_noise = np.random.SeedSequence(int(seed)).spawn(3)
        starts = physics.sample_start_states(np.random.default_rng(s_start), n_episodes)
        perms = schedule.sample(np.random.default_rng(s_perm), n_episodes, n_permuted, max_steps)
        noise_seed = int(s_noise.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        return cls(starts, perms, schedule.change_steps(max_steps), noise_seed)

    @classmethod
    def stack(cls, plans: Sequence[EpisodePlan]) -> EpisodePlan:
        """The plans' episodes one after the other: (sum R_i) episodes whose change steps
        are the union of the plans' change steps; an episode's permutation changes only
        at its own plan's steps (at the others' it stays what it was). The plans must
        have the same number of permuted channels and the same noise seed."""
        if not plans:
            raise ValueError("stack needs at least one plan")
        counts = [p.n_permuted for p in plans]
        if len(set(counts)) != 1:
            raise ValueError(f"plans permute different channel counts: {counts}")
        if len({p.noise_seed for p in plans}) != 1:
            raise ValueError("plans with different noise seeds cannot share one noise stream")
        union = np.unique(np.concatenate([p.change_steps for p in plans]))
        blocks = []
        for p in plans:
            # event i of the union: the plan's permutation in force from union[i-1] on
            idx = np.concatenate([[0], np.searchsorted(p.change_steps, union, side="right")])
            blocks.append(p.perms[:, idx])
        starts = np.concatenate([p.starts for p in plans])
        return cls(starts, np.concatenate(blocks), union, plans[0].noise_seed)

    @property
    def n_episodes(self) -> int:
        return int(self.starts.shape[0])

    @property
    def n_permuted(self) -> int:
        return int(self.perms.shape[2])

    def with_starts(self, starts) -> EpisodePlan:
        """The same plan with other start states (R, 4) (e.g. a training curriculum's)."""
        return dataclasses.replace(self, starts=starts)

    def episodes(self, start: int, stop: int) -> EpisodePlan:
        """Episodes ``start`` .. ``stop`` - 1 of this plan (a chunk of a distributed run)."""
        if not 0 <= start < stop <= self.n_episodes:
            raise ValueError(f"need 0 <= start < stop <= {self.n_episodes}, got {start}, {stop}")
        return dataclasses.replace(
            self, starts=self.starts[start:stop], perms=self.perms[start:stop]
        )

    def check_for(self, n_episodes: int, n_permuted: int, max_steps: int) -> None:
        """ValueError unless this plan fits a rollout of ``n_episodes`` episodes with
        ``n_permuted`` permuted channels and at most ``max_steps`` steps."""
        if self.n_episodes != n_episodes:
            raise ValueError(f"the plan has {self.n_episodes} episodes, the rollout {n_episodes}")
        if self.n_permuted != n_permuted:
            raise ValueError(
                f"the plan permutes {self.n_permuted} channels, the policy input has {n_permuted}"
            )
        if self.change_steps.size and self.change_steps[-1] >= max_steps:
            raise ValueError(
                f"the plan changes permutations at step {int(self.change_steps[-1])}, not "
                f"within {max_steps} steps: draw it with max_steps={max_steps}"
            )


def episode_randomness(seed: int, n_episodes: int, schedule, n_permuted, max_steps):
    """``EpisodePlan.draw``'s fields as a tuple: start states (R, 4) float64,
    permutations (R, E+1, n) int64, change steps (E,), the noise stream's seed."""
    plan = EpisodePlan.draw(seed, n_episodes, schedule, n_permuted, max_steps)
    return plan.starts, plan.perms, plan.change_steps, plan.noise_seed
