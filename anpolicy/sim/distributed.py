"""Population evaluation on a Ray cluster: `anpolicy.sim.rollout.rollout` sharded over actors.

`RayEvaluator.rollout` takes the arguments of `rollout` and returns the same
`RolloutResult`, so the trainer and ``evaluate`` call one or the other. The population
(P, n_params) is cut into chunks of rows (members) and, for a small population with
many episodes (``evaluate``: P = 1), of episodes too; each chunk runs on one Ray actor
that holds a warmed engine; the driver puts the returns back in place. The cluster
connection lives in `anpolicy.sim.ray_cluster`, one actor's chunk in
`anpolicy.sim.ray_chunks`; this module re-exports their names.

Why the result does not depend on the split (measured and tested, tests/test_ray.py):
every member of a call runs the same episodes, one `anpolicy.sim.plan.EpisodePlan` drawn
once on the driver from the one ``seed``, and the fused engine (`anpolicy.sim.fused`) computes each
episode in its own SIMD lane of its own member's block, whatever else runs: a chunk
of rows, or of episodes given the same start states and permutations, returns
bit-identical numbers to the whole call. Two limits follow from how the engines draw
and batch: episodes are split only on the fused engine without noise channels (the
noise stream is drawn for all R episodes of a step at once), and the PyTorch engine
(FNN, interventions) batches members in one matrix product whose round-off depends
on the batch, so its chunks have a fixed size (`TORCH_CHUNK_ROWS`): on Ray its numbers
do not depend on the number of actors, but differ from an in-process call by
round-off, as the two engines do (they agree in distribution).

Failure handling: a chunk whose actor dies (a node lost, ``ray.kill``) is re-submitted
to a fresh actor; each chunk's result is written once, so no episode is lost or
counted twice. Every re-submission is logged (logger ``anpolicy.sim.distributed``) and
counted (`GenerationStats.resubmitted`; the trainer writes it into its log rows).

Start-up (measured on 2 cores, see README "Training on a cluster"): ``address="local"``
starts an own cluster (``ray.init(address="local")``: a stale ``ray_current_cluster``
file cannot redirect it) with usage statistics off (``RAY_USAGE_STATS_ENABLED=0``
unless set). The driver compiles the engine into the numba cache first (or finds it
there); each actor then imports torch and numba, loads the engine from that cache
(``NUMBA_CACHE_DIR``, passed to every actor in its ``runtime_env`` where set, else
numba's default next to the sources) and runs one tiny rollout with a read-only
parameter array, exactly as Ray delivers them, so that nothing compiles during the
first generation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.ray_chunks import (
    MIN_CHUNK_EPISODES,
    TORCH_CHUNK_ROWS,
    EngineWorker,
    Job,
    evaluate_chunk,
    plan_chunks,
    warm_up,
    warm_up_cache,
)
from anpolicy.sim.ray_cluster import (
    LOCAL,
    RAY_REQUIREMENT,
    ClusterUnavailable,
    _import_ray,
    check_reachable,
    connect,
    parse_address,
)
from anpolicy.sim.rollout import ENGINES, RolloutResult, rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

log = logging.getLogger(__name__)

__all__ = [  # the evaluator, and what the cluster and chunk modules hold, under one name
    "LOCAL",
    "RAY_REQUIREMENT",
    "TORCH_CHUNK_ROWS",
    "MIN_CHUNK_EPISODES",
    "MAX_FAILURES_PER_CHUNK",
    "ClusterUnavailable",
    "EngineWorker",
    "GenerationStats",
    "Job",
    "RayEvaluator",
    "_import_ray",
    "check_reachable",
    "connect",
    "evaluate_chunk",
    "parse_address",
    "plan_chunks",
    "rollout_on",
    "warm_up",
    "warm_up_cache",
]

MAX_FAILURES_PER_CHUNK = 3  # a chunk whose actors died this often aborts the call


@dataclass
class GenerationStats:
    """One `RayEvaluator.rollout` call: chunks, re-submissions (actors lost), the wall
    time and the seconds the actors computed (their sum over chunks)."""

    chunks: int = 0
    resubmitted: int = 0
    wall_s: float = 0.0
    compute_s: float = 0.0
    lost_actors: list = field(default_factory=list)


class RayEvaluator:
    """`rollout` on a Ray cluster. Use as a context manager, or call `close`.

    ``address``: see `connect` (ignored when Ray is already initialised in this process).
    ``actors``: how many (default: the cluster's CPUs // ``threads_per_actor``);
    ``threads_per_actor``: the engine's threads in each (1: one actor per core; on the
    loaded 2-core machine of this project, 2 actors x 1 thread and 1 actor x 2 threads did
    not differ beyond the noise: 4.3 and 4.0 s per 64 x 16 generation). ``chunks_per_actor``
    sets the default split; ``in_flight``: chunks queued per actor (keeps it busy while
    the driver collects). ``numba_cache_dir``: the folder of the compiled engine, given
    to every actor in its ``runtime_env`` (default: this process's ``NUMBA_CACHE_DIR``,
    else numba's default next to the sources); filled here before the actors start.
    """

    def __init__(
        self,
        address: str | None = LOCAL,
        actors: int | None = None,
        threads_per_actor: int = 1,
        chunks_per_actor: int = 2,
        in_flight: int = 2,
        num_cpus: int | None = None,
        numba_cache_dir: str | None = None,
    ):
        if threads_per_actor < 1 or chunks_per_actor < 1 or in_flight < 1:
            raise ValueError("threads_per_actor, chunks_per_actor and in_flight must be >= 1")
        self._actors = []
        t0 = time.perf_counter()
        self._ray = ray = _import_ray()
        self.owns_connection = connect(address, num_cpus)
        self.connect_s = time.perf_counter() - t0
        self.address = address or LOCAL
        self.threads = threads_per_actor
        self.chunks_per_actor = chunks_per_actor
        self.in_flight = in_flight
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if actors is None:
            actors = max(1, cpus // threads_per_actor)
        if actors < 1 or actors * threads_per_actor > cpus:
            self.close()
            raise ValueError(
                f"{actors} actors x {threads_per_actor} threads do not fit the cluster's "
                f"{cpus} CPUs (and would wait for them forever)"
            )
        self.numba_cache_dir = numba_cache_dir or os.environ.get("NUMBA_CACHE_DIR")
        env = {"NUMBA_CACHE_DIR": self.numba_cache_dir} if self.numba_cache_dir else {}
        self._actor_class = ray.remote(EngineWorker).options(
            num_cpus=threads_per_actor, max_restarts=0, runtime_env={"env_vars": env}
        )
        # Compile here first (or load the cache), so that the actors, which start at
        # once, load the engine from the cache instead of each compiling it.
        self.driver_warmup_s = warm_up_cache(self.numba_cache_dir)
        self.after_chunk = None  # optional callable(chunk index, actor index): progress hook
        self.last = GenerationStats()
        self.resubmitted_total = 0
        t1 = time.perf_counter()
        self._actors = [self._new_actor() for _ in range(actors)]
        self._epoch = [0] * actors
        try:
            self.actor_info = ray.get([a.describe.remote() for a in self._actors])
        except ray.exceptions.RayError as e:
            self.close()
            first = str(e).strip().splitlines()[0]
            raise ClusterUnavailable(f"the Ray actors could not start: {first}") from e
        self.start_actors_s = time.perf_counter() - t1

    def _new_actor(self):
        return self._actor_class.remote(self.threads)

    @property
    def n_actors(self) -> int:
        return len(self._actors)

    def __enter__(self) -> RayEvaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the actors; disconnect (and stop the cluster, if this started it)."""
        ray = self._ray
        for a in getattr(self, "_actors", []):
            with contextlib.suppress(Exception):
                ray.kill(a)
        self._actors = []
        if self.owns_connection and ray.is_initialized():
            ray.shutdown()
        self.owns_connection = False

    def kill_actor(self, index: int) -> None:
        """Kill actor ``index`` (as a lost node would); the evaluator replaces it."""
        self._ray.kill(self._actors[index], no_restart=True)

    def rollout(
        self,
        policy,
        params,
        n_episodes: int,
        seed: int = 0,
        schedule: PermutationSchedule | None = None,
        channels: ObservationChannels | None = None,
        interventions=(),
        record_episodes=None,
        max_steps: int = physics.MAX_STEPS,
        device="cpu",
        plan: EpisodePlan | None = None,
        compact_below: float = 0.75,
        progress: bool | str = False,
        engine: str = "torch",
        chunk_rows: int | None = None,
        chunk_episodes: int | None = None,
    ) -> RolloutResult:
        """`anpolicy.sim.rollout.rollout` on the actors (same arguments and result), plus
        ``chunk_rows``/``chunk_episodes`` (see `plan_chunks`). Not on Ray: recordings
        (``record_episodes``) and devices other than the CPU (ValueError)."""
        from anpolicy.sim.policy import check_params

        if record_episodes is not None:
            raise ValueError("record_episodes needs an in-process rollout (not --ray)")
        if str(device) != "cpu":
            raise ValueError(f"Ray actors run on the CPU, not {device}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
        if isinstance(n_episodes, bool) or not isinstance(n_episodes, int | np.integer):
            raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
        if n_episodes < 1:
            raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
        flat = check_params(params, policy.n_params).numpy()
        n_perm = (channels or ObservationChannels()).n_permuted
        if plan is None:  # drawn once, here: every chunk runs its rows of this plan
            plan = EpisodePlan.draw(seed, int(n_episodes), schedule, n_perm, max_steps)
        elif schedule is not None:
            raise ValueError("give either a schedule or a plan (which holds its permutations)")
        plan.check_for(int(n_episodes), n_perm, max_steps)
        options = {
            "channels": channels,
            "interventions": tuple(interventions),
            "max_steps": max_steps,
            "plan": plan,
            "compact_below": compact_below,
            "engine": engine,
        }
        fused_runs = _fused_runs(policy, engine, options)
        split = fused_runs and not (channels and channels.n_noise)
        if not fused_runs and chunk_rows is None:
            chunk_rows = TORCH_CHUNK_ROWS
        chunks = plan_chunks(
            flat.shape[0],
            int(n_episodes),
            self.n_actors * self.chunks_per_actor,
            split,
            chunk_rows,
            chunk_episodes,
        )
        job = Job(policy, flat, int(n_episodes), seed, options)
        returns = np.zeros((flat.shape[0], n_episodes), dtype=np.float64)
        lengths = np.zeros((flat.shape[0], n_episodes), dtype=np.int64)
        engines = set()
        stats = self._dispatch(job, chunks, returns, lengths, engines, progress)
        self.last = stats
        self.resubmitted_total += stats.resubmitted
        used = engines.pop() if len(engines) == 1 else "+".join(sorted(engines))
        return RolloutResult(returns=returns, lengths=lengths, seed=seed, engine=used)

    def _dispatch(self, job, chunks, returns, lengths, engines, progress) -> GenerationStats:
        ray = self._ray
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        stats = GenerationStats(chunks=len(chunks))
        job_ref = ray.put(job)
        pending = deque(range(len(chunks)))
        failures = [0] * len(chunks)
        running = {}  # ObjectRef -> (chunk index, actor index, actor epoch)
        load = [0] * self.n_actors
        bar = tqdm(
            total=len(chunks),
            disable=not progress,
            desc=progress if isinstance(progress, str) else "ray",
            unit="chunk",
            leave=False,
        )

        def submit(actor: int) -> None:
            while pending and load[actor] < self.in_flight:
                k = pending.popleft()
                ref = self._actors[actor].run.remote(job_ref, chunks[k])
                running[ref] = (k, actor, self._epoch[actor])
                load[actor] += 1

        for a in range(self.n_actors):
            submit(a)
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            k, a, epoch = running.pop(ref)
            if epoch == self._epoch[a]:
                load[a] -= 1
            try:
                r, ln, engine, seconds = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                failures[k] += 1
                stats.resubmitted += 1
                if epoch == self._epoch[a]:  # first news of this actor's death: replace it
                    stats.lost_actors.append(a)
                    self._actors[a] = self._new_actor()
                    self._epoch[a] += 1
                    load[a] = 0
                r0, r1, e0, e1 = chunks[k]
                log.warning(
                    "Ray actor %d died (%s); re-submitting members %d:%d, episodes %d:%d",
                    a,
                    type(e).__name__,
                    r0,
                    r1,
                    e0,
                    e1,
                )
                if failures[k] >= MAX_FAILURES_PER_CHUNK:
                    bar.close()
                    raise RuntimeError(
                        f"chunk {chunks[k]} failed on {failures[k]} actors; last: {e}"
                    ) from None
                pending.appendleft(k)
            except ray.exceptions.RayTaskError as e:  # the chunk itself raised
                bar.close()
                cause = getattr(e, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            else:
                r0, r1, e0, e1 = chunks[k]
                returns[r0:r1, e0:e1] = r
                lengths[r0:r1, e0:e1] = ln
                engines.add(engine)
                stats.compute_s += seconds
                bar.update(1)
                if self.after_chunk is not None:
                    self.after_chunk(k, a)
            for i in range(1, self.n_actors + 1):  # the others first: a new actor starts slowly
                submit((a + i) % self.n_actors)
        bar.close()
        stats.wall_s = time.perf_counter() - t0
        return stats


def _fused_runs(policy, engine: str, options: dict) -> bool:
    """True where `rollout` would run this call on the fused engine."""
    from anpolicy.sim import fused

    if engine == "torch":
        return False
    return fused.supports(policy, "cpu", list(options.get("interventions", ()))) is None


@contextlib.contextmanager
def rollout_on(address: str | None, **evaluator_options):
    """The `rollout` to call: the in-process one when ``address`` is None, else
    `RayEvaluator.rollout` on the cluster at ``address`` (closed on exit)."""
    if address is None:
        yield rollout
        return
    with RayEvaluator(address, **evaluator_options) as ev:
        yield ev.rollout
