"""Population evaluation on a Ray cluster: `anpolicy.sim.rollout.rollout` sharded over actors.

`RayEvaluator.rollout` takes the arguments of `rollout` and returns the same
`RolloutResult`, so the trainer and ``evaluate`` call one or the other. The population
(P, n_params) is cut into chunks of rows (members) and, for a small population with
many episodes (``evaluate``: P = 1), of episodes too; each chunk runs on one Ray actor
that holds a warmed engine; the driver puts the returns back in place.

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
import importlib.util
import logging
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anpolicy.sim import physics
from anpolicy.sim.plan import EpisodePlan
from anpolicy.sim.rollout import ENGINES, RolloutResult, rollout
from anpolicy.sim.schedules import ObservationChannels, PermutationSchedule

log = logging.getLogger(__name__)

LOCAL = "local"  # start an own single-machine cluster
RAY_REQUIREMENT = "ray==2.60.0"  # the pinned optional extra: pip install -e '.[ray]'
TORCH_CHUNK_ROWS = 16  # PyTorch engine: members per chunk, fixed (see the docstring)
MIN_CHUNK_EPISODES = 32  # episode chunks hold at least one fused block of episodes
MAX_FAILURES_PER_CHUNK = 3  # a chunk whose actors died this often aborts the call
# The own local cluster starts no idle workers ahead (actors get their own processes,
# with their own runtime_env). On a loaded machine its start can time out: the raylet
# waits a fixed 15 s for its Python agent's port file (ray-project/ray#65983), and the
# agent needs 1-2 CPU-seconds to get there (measured here, 2 cores at load 11-20 under
# nice 10: most starts failed). So it is tried again, after stopping what the failed
# start left behind.
LOCAL_SYSTEM_CONFIG = {"enable_worker_prestart": False}
LOCAL_START_ATTEMPTS = 3


class ClusterUnavailable(ConnectionError, ValueError):
    """No Ray cluster at the address given (or Ray is missing); the message is one line.
    Also a ValueError, so that the command line reports it as a usage error."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            f"Ray is not installed: pip install -e '.[ray]' (pins {RAY_REQUIREMENT})"
        ) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; None for
    ``auto``; ValueError for anything else."""
    if address == "auto":
        return None
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"--ray: expected 'auto', HOST:PORT or ray://HOST:PORT (or nothing: a local "
            f"cluster), got {address!r}"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (ClusterUnavailable, one line) when nothing listens at ``address``."""
    hostport = parse_address(address)
    if hostport is None:
        return
    try:
        with socket.create_connection(hostport, timeout=timeout_s):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ClusterUnavailable(
            f"no Ray cluster reachable at {address} ({why}); start one there with "
            "`ray start --head`, or give --ray without an address for a local cluster"
        ) from None


@contextlib.contextmanager
def _environ(**values):
    """Set environment variables for the duration (the processes started inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fast_import_path() -> str | None:
    """A folder to put first on the PYTHONPATH of the local cluster's processes, or None.

    Every Ray process imports jsonschema, which loads the optional `rfc3987_syntax`
    when it is installed (Jupyter's jsonschema extras bring it) and builds an Earley
    grammar at import: measured here, 3.7 of the 5.1 CPU-seconds that Ray's node agent
    needs to start; on a loaded machine the raylet gives up waiting for the agent
    (15 s) and the cluster fails to start. The folder holds a stand-in that raises
    ImportError, which jsonschema treats as "not installed" (it then skips the "iri"
    format check, which Ray does not use). Only the processes of the cluster started
    here see it.
    """
    if importlib.util.find_spec("rfc3987_syntax") is None:
        return None
    folder = Path(tempfile.gettempdir()) / "anpolicy-ray-imports"
    stub = folder / "rfc3987_syntax.py"
    if not stub.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".stub.{os.getpid()}"
        tmp.write_text(
            '"""Stand-in seen by anpolicy\'s local Ray cluster (anpolicy.sim.distributed)."""\n'
            'raise ImportError("skipped in Ray processes: its grammar costs seconds")\n'
        )
        os.replace(tmp, stub)
    return str(folder)


def _child_processes() -> set:
    """This process's descendants and the processes of the Ray sessions it started
    (psutil.Process objects; empty without psutil). A failed start's agents outlive
    their raylet as orphans: they are found by their session (named after the process
    that started it: ``session_<date>_<time>_<pid>``) in their command line."""
    try:
        import psutil
    except ImportError:
        return set()
    found = set(psutil.Process().children(recursive=True))
    ours = re.compile(rf"session_[0-9_-]+_{os.getpid()}\b")
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if any(ours.search(arg) for arg in p.info["cmdline"] or ()):
                found.add(p)
    return found


def _stop_processes(processes) -> None:
    """Terminate these processes (started by this process), then kill the stragglers."""
    if not processes:
        return
    import psutil

    for p in processes:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(processes, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def connect(address: str | None = LOCAL, num_cpus: int | None = None) -> bool:
    """Connect this process to Ray. ``address``: ``"local"`` (or None/"") starts an own
    cluster on this machine (``num_cpus``: its CPUs, default all), on 127.0.0.1;
    ``"auto"`` joins the cluster this machine belongs to (``ray start``); ``host:port``
    joins that head node. Returns True when this call connected (the caller then calls
    ``ray.shutdown()``), False when Ray was already initialised. Raises
    ClusterUnavailable (one line) where there is no cluster."""
    if address not in (None, "", LOCAL):
        check_reachable(address)  # before importing Ray: an answer in milliseconds
    elif "ray" not in sys.modules:
        # A cluster of this machine alone listens on the loopback interface only. Ray
        # reads this flag when imported; where it was imported before, its cluster
        # listens on the machine's address (still one machine, token-authenticated).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _import_ray()
    if ray.is_initialized():
        return False
    if address in (None, "", LOCAL):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        env = {}
        fast = _fast_import_path()
        if fast:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (fast, os.environ.get("PYTHONPATH")) if p
            )
        for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
            before = _child_processes()
            try:
                with _environ(**env):
                    ray.init(
                        address="local",
                        num_cpus=num_cpus,
                        include_dashboard=False,
                        _system_config=LOCAL_SYSTEM_CONFIG,
                        logging_level=logging.WARNING,
                    )
                break
            except Exception as e:  # Ray raises a bare Exception when its node times out
                ray.shutdown()
                _stop_processes(_child_processes() - before)  # what the failed start left
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                if attempt == LOCAL_START_ATTEMPTS:
                    raise ClusterUnavailable(
                        f"could not start a local Ray cluster ({attempt} attempts): {first}"
                    ) from e
                log.warning("local Ray cluster did not start (%s); trying again", first)
        return True
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, TimeoutError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ClusterUnavailable(f"cannot join the Ray cluster at {address}: {first}") from None
    return True


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
