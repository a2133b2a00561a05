"""What the explorer computes: one recorded episode under a typed permutation, reshuffles
and an intervention; the default episode; the attention's saturation and pre-tanh scores.

Drawing and widgets are in `anpolicy.report.widgets`; this module holds the small computations
the panel needs (to move into the study layer later). Importing it costs numpy only:
PyTorch is imported by the functions that run episodes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.schedules import PermutationSchedule, validate_permutation
from anpolicy.study.thresholds import SATURATED  # |A| above it: tanh(Q K^T) within 1 % of +-1

MODES = ("none", "every", "at")


def parse_permutation(text: str, n: int = physics.OBS_DIM) -> np.ndarray:
    """Parse '3, 0, 4, 1, 2' (commas and/or spaces, optional brackets) into a permutation
    of range(n), an int64 array (n,). ValueError with a message for people (no array
    shapes) otherwise."""
    example = ", ".join(map(str, range(n)[::-1]))
    body = text.strip().strip("[]()").strip()
    if not body:
        raise ValueError(f"enter a permutation of 0..{n - 1}, e.g. {example}")
    tokens = [t for t in re.split(r"[,\s]+", body) if t]
    try:
        values = [int(t) for t in tokens]
    except ValueError:
        raise ValueError(f"{text.strip()!r}: use whole numbers separated by commas") from None
    if len(values) != n:
        raise ValueError(
            f"a permutation here has {n} numbers (each of 0..{n - 1} once), "
            f"you typed {len(values)}: e.g. {example}"
        )
    return validate_permutation(values, n)


def explorer_schedule(first_perm, mode: str, k: int, seed: int, max_steps: int = physics.MAX_STEPS):
    """The schedule the explorer runs: ``first_perm`` from step 0, then random
    permutations (drawn from ``seed``) at every change step of ``mode``:
    ``"none"`` (no change), ``"every"`` (k, 2k, ...) or ``"at"`` (step k only)."""
    if mode == "none":
        return PermutationSchedule.given([first_perm])
    if mode not in MODES:
        raise ValueError(f"unknown reshuffle mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= int(k) < max_steps:
        raise ValueError(f"k must be between 1 and {max_steps - 1} steps, got {k}")
    steps = list(range(k, max_steps, k)) if mode == "every" else [int(k)]
    rng = np.random.default_rng([int(seed), 7])
    perms = [list(first_perm)] + [rng.permutation(len(first_perm)).tolist() for _ in steps]
    return PermutationSchedule.given(perms, steps)


class ExplorerEpisode(NamedTuple):
    """One explorer episode. ``trace``: the `anpolicy.sim.interventions.Recorder` trace
    (obs (T, 5), perm (T, 5), action (T,), reward (T,), h and c (T, 5, 8), attention
    (T, 16, 5)) or None when not recorded; ``ret`` the return; ``length`` steps run;
    ``changes`` the schedule's reshuffle steps (all of them, also those after the end)."""

    trace: dict | None
    ret: float
    length: int
    changes: list


def _progress_hook(on_step, every: int):
    """An intervention that calls ``on_step(t + 1)`` after every ``every``-th env step."""
    from anpolicy.sim.interventions import Intervention

    class _Progress(Intervention):
        name = "explorer_progress"

        def after_env_step(self, ctx):
            if (ctx.t + 1) % every == 0:
                on_step(ctx.t + 1)

    return _Progress()


def run_explorer_episode(
    policy,
    params,
    first_perm,
    mode,
    k,
    intervention,
    seed,
    episode,
    record: bool = True,
    on_step=None,
    every: int = 50,
) -> ExplorerEpisode:
    """Run one episode on the PyTorch engine; returns an `ExplorerEpisode`.

    The start state is episode ``episode`` of ``seed`` (the same start as in the
    chapters' evaluations with that seed). ``on_step(t)``, if given, is called after
    every ``every`` steps (a progress indicator). Same inputs, same numbers."""
    from anpolicy.sim.interventions import make_interventions
    from anpolicy.sim.plan import EpisodePlan
    from anpolicy.sim.rollout import rollout

    schedule = explorer_schedule(first_perm, mode, k, seed)
    # episode `episode` of `seed` (its start), with this schedule's permutations
    start = EpisodePlan.draw(int(seed), int(episode) + 1).starts[int(episode) : int(episode) + 1]
    plan = EpisodePlan.draw(int(seed), 1, schedule).with_starts(start)
    hooks = list(make_interventions(intervention))
    if on_step is not None:
        hooks.append(_progress_hook(on_step, every))
    res = rollout(
        policy,
        params,
        1,
        seed=int(seed),
        interventions=hooks,
        record_episodes=[0] if record else None,
        plan=plan,
    )
    return ExplorerEpisode(
        res.traces[(0, 0)] if record else None,
        float(res.returns[0, 0]),
        int(res.lengths[0, 0]),
        schedule.change_steps().tolist(),
    )


def first_full_episode(run, max_tries: int = 16):
    """The first episode index e in 0..max_tries-1 whose ``run(e)`` (an `ExplorerEpisode`)
    lasts the full `physics.MAX_STEPS` steps; if none does, the longest (then the highest
    return) of those tried. Returns ``(e, result, n_tried, full)``; ``result`` is
    ``run(e)`` itself, so a caller can show it without running it again."""
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    best = None
    for e in range(max_tries):
        res = run(e)
        if res.length >= physics.MAX_STEPS:
            return e, res, e + 1, True
        if best is None or (res.length, res.ret) > (best[1].length, best[1].ret):
            best = (e, res)
    return best[0], best[1], max_tries, False


def attention_scores(policy, params, h) -> np.ndarray:
    """Pre-tanh attention scores ``Q K^T`` (T, 16, C) from recorded hidden states ``h``
    (T, C, 8) of an Attention Neuron with parameters ``params`` (913,) or (1, 913):
    ``Q = pos_table @ W_q^T`` (16, 32), ``K = h @ W_k^T`` (C, 32). The attention the
    policy used is ``tanh`` of these (up to float32 round-off). Dimensionless."""
    import torch

    w = policy.unflatten(torch.as_tensor(np.atleast_2d(params), dtype=torch.float32))
    wq = w["proj_q.weight"][0].double().numpy()  # (32, 8)
    wk = w["proj_k.weight"][0].double().numpy()  # (32, 8)
    q = np.asarray(policy.positions, dtype=np.float64) @ wq.T  # (16, 32)
    k = np.asarray(h, dtype=np.float64) @ wk.T  # (T, C, 32)
    return np.einsum("qd,tcd->tqc", q, k)


def saturated_share(attention, threshold: float = SATURATED) -> float:
    """Share (0..1) of attention entries with |A| > ``threshold``; any shape."""
    a = np.asarray(attention)
    if a.size == 0:
        raise ValueError("no attention entries")
    return float(np.mean(np.abs(a) > threshold))


def episode_outcome(policy, params, first_perm, mode, k, intervention, seed, episode):
    """``(return rounded to 0.1, steps)`` of one explorer episode, not recorded (the
    explorer's table of every intervention on the shown episode)."""
    run = run_explorer_episode(
        policy, params, first_perm, mode, k, intervention, seed, episode, record=False
    )
    return round(run.ret, 1), run.length
