"""One actor's work in a distributed rollout: chunks of members x episodes.

`plan_chunks` cuts a population (P, n_params) x R episodes into chunks (rows of members
and, on the fused engine without noise channels, ranges of episodes); `evaluate_chunk`
runs one chunk (a `Job`: the policy, the parameters, the episodes' `EpisodePlan`) and
returns exactly the corresponding block of the whole call's returns (P, R) float64 and
lengths int64 (steps); `EngineWorker` is the Ray actor that holds a warmed engine
(`warm_up`, `warm_up_cache`).
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import ObservationChannels

TORCH_CHUNK_ROWS = 16  # PyTorch engine: members per chunk, fixed (see the docstring)


MIN_CHUNK_EPISODES = 32  # episode chunks hold at least one fused block of episodes


@dataclass
class Job:
    """One `rollout` call as the actors receive it (put in Ray's object store once)."""

    policy: object
    params: np.ndarray  # (P, n_params) float32
    n_episodes: int
    seed: int
    options: dict  # the remaining keyword arguments of `rollout`


def plan_chunks(
    n_pop: int,
    n_episodes: int,
    n_chunks: int,
    split_episodes: bool,
    rows: int | None = None,
    episodes: int | None = None,
) -> list[tuple[int, int, int, int]]:
    """Chunks ``(r0, r1, e0, e1)``: members r0..r1-1 on episodes e0..e1-1, covering the
    (n_pop, n_episodes) grid once. ``rows``/``episodes``: chunk sizes (default: about
    ``n_chunks`` chunks, rows first; episodes are split, in pieces of at least
    `MIN_CHUNK_EPISODES`, only where there are fewer rows than chunks and
    ``split_episodes`` allows it)."""
    if n_pop < 1 or n_episodes < 1 or n_chunks < 1:
        raise ValueError(
            f"need n_pop, n_episodes, n_chunks >= 1, got {n_pop, n_episodes, n_chunks}"
        )
    rows = rows or math.ceil(n_pop / n_chunks)
    if episodes is None:
        episodes = n_episodes
        row_chunks = math.ceil(n_pop / rows)
        if split_episodes and row_chunks < n_chunks:
            per_row = math.ceil(n_chunks / row_chunks)
            episodes = max(MIN_CHUNK_EPISODES, math.ceil(n_episodes / per_row))
    if rows < 1 or episodes < 1:
        raise ValueError(f"chunk sizes must be >= 1, got rows={rows}, episodes={episodes}")
    if episodes < n_episodes and not split_episodes:
        raise ValueError(
            "episodes can be split only on the fused engine without noise channels "
            "(elsewhere the result would depend on the split)"
        )
    return [
        (r0, min(r0 + rows, n_pop), e0, min(e0 + episodes, n_episodes))
        for r0 in range(0, n_pop, rows)
        for e0 in range(0, n_episodes, episodes)
    ]


def evaluate_chunk(job: Job, chunk: tuple[int, int, int, int]):
    """Returns ``(returns (r1-r0, e1-e0) float64, lengths int64, engine)`` of one chunk:
    exactly the corresponding block of ``rollout(job.policy, job.params, ...)`` on the
    fused engine (see the module's docstring for the PyTorch engine). Runs in an actor;
    ``job.params`` may be read-only (Ray's zero-copy arrays): the rows are copied."""
    r0, r1, e0, e1 = chunk
    params = np.array(job.params[r0:r1], dtype=np.float32)  # writeable, contiguous
    opts = dict(job.options)
    if (e0, e1) == (0, job.n_episodes):
        res = rollout(job.policy, params, job.n_episodes, seed=job.seed, **opts)
        return res.returns, res.lengths, res.engine
    from anpolicy.sim import fused

    channels = opts.get("channels") or ObservationChannels()
    max_steps = opts.get("max_steps", physics.MAX_STEPS)
    plan = opts.get("plan") or EpisodePlan.draw(
        job.seed, job.n_episodes, opts.get("schedule"), channels.n_permuted, max_steps
    )
    part = plan.episodes(e0, e1)
    returns, lengths = fused.run(
        job.policy, params, part.starts, part.perms, part.change_steps, part.noise_seed,
        channels, max_steps,
    )  # fmt: skip
    return returns, lengths, "fused"


def warm_up() -> float:
    """Compile (or load from the numba cache) everything a chunk runs, with read-only
    parameters as Ray delivers them; returns the seconds it took."""
    from anpolicy.sim.policy import AttentionNeuronPolicy

    t0 = time.perf_counter()
    policy = AttentionNeuronPolicy()
    params = np.random.default_rng(0).normal(0, 0.1, (2, policy.n_params)).astype(np.float32)
    params.setflags(write=False)
    job = Job(policy, params, 64, 0, {"engine": "fused", "max_steps": 20})
    evaluate_chunk(job, (0, 2, 0, 64))
    evaluate_chunk(job, (0, 1, 32, 64))
    return time.perf_counter() - t0


def warm_up_cache(cache_dir: str | None) -> float:
    """Compile the engine into the numba cache that actors started with ``cache_dir``
    (None: numba's default, next to the sources) read, in this process where it uses
    that cache, else in a child process; returns the seconds it took. Run before the
    actors start, so that they load the engine instead of each compiling it."""
    import numba

    t0 = time.perf_counter()
    if not cache_dir or cache_dir == numba.config.CACHE_DIR:
        warm_up()
    else:
        code = "from anpolicy.sim.distributed import warm_up; warm_up()"
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t0


class EngineWorker:
    """The body of one Ray actor: a warmed engine on ``threads`` threads."""

    def __init__(self, threads: int = 1):
        t0 = time.perf_counter()
        import numba
        import torch

        from anpolicy.sim import fused

        torch.set_num_threads(threads)
        fused.set_threads(threads)
        import_s = time.perf_counter() - t0
        self.info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "threads": threads,
            "import_s": import_s,
            "warmup_s": warm_up(),
            "numba_cache_dir": numba.config.CACHE_DIR,
        }

    def describe(self) -> dict:
        return self.info

    def run(self, job: Job, chunk):
        """`evaluate_chunk` plus the seconds it computed (for the overhead figures)."""
        t0 = time.perf_counter()
        returns, lengths, engine = evaluate_chunk(job, chunk)
        return returns, lengths, engine, time.perf_counter() - t0

    def ping(self) -> None:
        return None
