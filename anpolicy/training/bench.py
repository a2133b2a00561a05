"""Throughput benchmark: the per-episode loop of the original code vs the batched engine.

(a) one `CartPoleSwingUpHarderEnv` + one `ReferenceAttentionNeuron` forward per step,
episode after episode (the structure of Tang & Ha's evaluation code);
(b) `anpolicy.sim.rollout.rollout` on P parameter vectors x R episodes at once, with each of
its two engines: the lock-step PyTorch engine and the fused compiled one
(`anpolicy.sim.fused`).
All run the same policy (perturbed copies of one parameter vector) in one process, one
after the other; throughput counts real environment steps (episode lengths summed).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from anpolicy.sim.env import CartPoleSwingUpHarderEnv
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.sim.rollout import rollout


def bench_params(seed: int = 0, population: int = 256) -> tuple[np.ndarray, str]:
    """(population, 913) parameters like a training generation: the shipped Attention
    Neuron plus N(0, 0.01^2) perturbations (long episodes, as late in training), or a
    random centre when no agent is shipped. Returns (params, description)."""
    rng = np.random.default_rng(seed)
    try:
        from anpolicy.store.data import load_shipped

        _, center, _ = load_shipped("attention_neuron")
        what = "shipped attention_neuron + N(0, 0.01^2) perturbations"
        scale = 0.01
    except (FileNotFoundError, KeyError, ValueError):
        center = rng.normal(0.0, 0.5, size=AttentionNeuronPolicy().n_params)
        what, scale = "random N(0, 0.5^2) centre + N(0, 0.05^2) perturbations", 0.05
    params = center + scale * rng.standard_normal((population, center.size))
    return params.astype(np.float32), what


def per_episode_loop(params: np.ndarray, min_seconds: float, seed: int = 0) -> dict:
    env = CartPoleSwingUpHarderEnv()
    policy = ReferenceAttentionNeuron().load_flat(params)
    steps, episodes, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        obs, _ = env.reset(seed=seed + episodes)
        policy.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step([policy.act(obs)])
            done = terminated or truncated
            steps += 1
        episodes += 1
    dt = time.perf_counter() - t0
    return {"env_steps": steps, "episodes": episodes, "seconds": dt, "steps_per_s": steps / dt}


def batched(
    params: np.ndarray,
    n_episodes: int,
    seed: int = 0,
    min_repeats: int = 2,
    min_seconds: float = 3.0,
    engine: str = "torch",
) -> dict:
    """Env-steps per second of `rollout` with ``engine``: whole generations (seeds seed,
    seed + 1, ...), at least ``min_repeats`` of them and ``min_seconds`` in all, after a
    warm-up call (compilation for the fused engine)."""
    policy = AttentionNeuronPolicy()
    p = torch.as_tensor(params)
    rollout(policy, p[:2], 2, seed=seed, max_steps=20, engine=engine)  # warm-up
    steps, k, t0 = 0, 0, time.perf_counter()
    while k < min_repeats or time.perf_counter() - t0 < min_seconds:
        steps += rollout(policy, p, n_episodes, seed=seed + k, engine=engine).env_steps
        k += 1
    dt = time.perf_counter() - t0
    return {
        "engine": engine,
        "env_steps": steps,
        "generations": k,
        "population": len(params),
        "episodes_per_member": n_episodes,
        "seconds": dt,
        "steps_per_s": steps / dt,
    }


def kernel_floor(population: int, n_episodes: int, repeats: int = 200) -> dict:
    """Throughput bound of the PyTorch engine, set by its unavoidable kernels alone.

    Times, at the engine's shapes (P members, R episodes, 5 channels, all episodes
    alive), only the two batched matmuls (LSTM gates, attention logits) and the sigmoids
    over their outputs, with nothing else of a step (no physics, cell update, message,
    output layer or bookkeeping). No engine built from these PyTorch kernels can run
    faster than ``steps_per_s`` on this machine (the fused engine is not built from them).
    """
    p, n = population, n_episodes * 5
    g = torch.Generator().manual_seed(0)
    w_gates = torch.randn(p, 32, 11, generator=g)
    x = torch.randn(p, 11, n, generator=g)
    w_att = torch.randn(p, 16, 8, generator=g)
    h = torch.randn(p, 8, n, generator=g)

    def kernels():
        torch.bmm(w_gates, x).sigmoid_()
        torch.bmm(w_att, h).sigmoid_()

    for _ in range(5):
        kernels()
    t0 = time.perf_counter()
    for _ in range(repeats):
        kernels()
    per_step = (time.perf_counter() - t0) / repeats
    return {"seconds_per_step": per_step, "steps_per_s": p * n_episodes / per_step}


def run_bench(
    population: int = 256,
    episodes: int = 16,
    loop_seconds: float = 10.0,
    threads: int | None = None,
    seed: int = 0,
) -> dict:
    """Measure the per-episode loop, then both batched engines, in this one process.

    ``ratio`` is the fused engine's throughput over the loop's, ``ratio_torch_engine``
    the PyTorch engine's; ``batched`` is the fused engine's figures (the engine training
    and plain evaluation run on)."""
    from anpolicy.sim import fused

    if threads:
        torch.set_num_threads(threads)
    fused.set_threads(threads)
    params, what = bench_params(seed, population)
    loop = per_episode_loop(params[0], loop_seconds, seed)
    lockstep = batched(params, episodes, seed, engine="torch")
    compiled = batched(params, episodes, seed, engine="fused")
    floor = kernel_floor(population, episodes)
    return {
        "parameters": what,
        "per_episode_loop": loop,
        "batched": compiled,
        "batched_torch_engine": lockstep,
        "ratio": compiled["steps_per_s"] / loop["steps_per_s"],
        "ratio_torch_engine": lockstep["steps_per_s"] / loop["steps_per_s"],
        "kernel_floor": floor,
        "torch_threads": torch.get_num_threads(),
        "fused_threads": fused.numba.get_num_threads(),
        "numba_threading_layer": fused.numba_threading_layer(),
    }


# --- Ray (python -m anpolicy bench --ray) --------------------------------------------------


def _per_generation(call, min_repeats: int, min_seconds: float) -> dict:
    """Seconds per call of ``call(k)`` (k = 0, 1, ...: one generation each, a new task
    seed each) and env-steps per second, over >= min_repeats calls and min_seconds."""
    steps, k, t0 = 0, 0, time.perf_counter()
    while k < min_repeats or time.perf_counter() - t0 < min_seconds:
        steps += call(k).env_steps
        k += 1
    dt = time.perf_counter() - t0
    return {"generations": k, "seconds_per_generation": dt / k, "steps_per_s": steps / dt}


def _cluster_rss() -> int | None:
    """Bytes resident in the Ray cluster of this machine that this process is connected
    to: the processes of its session (daemons, agents) and their descendants (workers),
    this driver excluded; None without psutil or outside a session."""
    try:
        import psutil
        import ray

        session = ray._private.worker.global_worker.node.session_name
    except (ImportError, AttributeError):
        return None
    found = {}
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(session in arg for arg in p.info["cmdline"] or ()):
                found[p.pid] = p
                for c in p.children(recursive=True):
                    found[c.pid] = c
        except psutil.Error:
            pass
    found.pop(psutil.Process().pid, None)
    total = 0
    for p in found.values():
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def cmaes_driver_seconds(n_params: int = 913, popsize: int = 256, repeats: int = 3) -> float:
    """Seconds of one pycma ask + tell at the authors' size: the serial part of a
    generation on the driver, whatever the cluster."""
    from anpolicy.training.es import CMAES

    opt = CMAES(n_params, popsize, 0.1, seed=0)
    rng = np.random.default_rng(0)
    opt.tell(rng.standard_normal(len(opt.ask())))  # the first generation sets things up
    t0 = time.perf_counter()
    for _ in range(repeats):
        opt.tell(rng.standard_normal(len(opt.ask())))
    return (time.perf_counter() - t0) / repeats


def cluster_estimate(
    member_steps: np.ndarray,
    steps_per_core_s: float,
    overhead_per_chunk_s: float,
    driver_s: float,
    cores: int,
    generations: int = 14_000,
    chunks_per_actor: int = 2,
) -> dict:
    """Wall-clock estimate of a run of ``generations`` on ``cores`` one-thread actors.

    A generation costs the driver's ask + tell (``driver_s``), the dispatch of its chunks
    (``overhead_per_chunk_s`` each, measured on the local cluster) and the slowest
    actor's share of the members' env-steps (``member_steps`` (P,), one measured
    generation) at ``steps_per_core_s`` (one core's rate); members are dealt out in
    chunks largest first (as evenly as Ray's queue does at best). Returns the seconds
    per generation and the hours of the run."""
    steps = np.sort(np.asarray(member_steps, dtype=np.float64))[::-1]
    n_chunks = min(len(steps), cores * chunks_per_actor)
    chunks = np.array([c.sum() for c in np.array_split(steps, n_chunks)])
    load = np.zeros(min(cores, n_chunks))
    for c in np.sort(chunks)[::-1]:
        load[np.argmin(load)] += c
    per_gen = driver_s + n_chunks * overhead_per_chunk_s + load.max() / steps_per_core_s
    return {
        "cores": cores,
        "seconds_per_generation": per_gen,
        "hours": generations * per_gen / 3600,
        "generations": generations,
    }


def run_ray_bench(
    population: int = 256,
    episodes: int = 16,
    address: str = "local",
    seed: int = 0,
    min_repeats: int = 3,
    min_seconds: float = 5.0,
    layouts: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (1, 2)),
) -> dict:
    """Generations of (population x episodes) on the in-process fused engine (1 thread,
    then all of this machine's cores) and on Ray actors, one layout (actors, threads
    each) after the other, the same task seeds; plus the cluster's start-up, the actors'
    start and warm-up, an idle round trip, the local cluster's memory, pycma's ask +
    tell, and the estimate of the authors' 14,000-generation run from these numbers."""
    import os

    from anpolicy.sim import distributed, fused

    params, what = bench_params(seed, population)
    policy = AttentionNeuronPolicy()
    cores = os.cpu_count() or 1
    out: dict = {"parameters": what, "population": population, "episodes": episodes}

    def local_call(k):
        return rollout(policy, params, episodes, seed=seed + k, engine="fused")

    rollout(policy, params[:2], 2, seed=seed, max_steps=20, engine="fused")  # warm-up
    out["in_process"] = {}
    for threads in sorted({1, cores}):
        fused.set_threads(threads)
        out["in_process"][threads] = _per_generation(local_call, min_repeats, min_seconds)
    fused.set_threads(None)
    lengths = local_call(0).lengths
    out["member_steps"] = lengths.sum(axis=1).tolist()

    ray = distributed._import_ray()
    t0 = time.perf_counter()
    owns = distributed.connect(address)
    out["cluster_start_s"] = time.perf_counter() - t0
    try:
        out["cluster_cpus"] = int(ray.cluster_resources().get("CPU", 0))
        out["cluster_rss_idle"] = _cluster_rss()
        out["ray"] = []
        for actors, threads in layouts:
            if actors * threads > out["cluster_cpus"]:
                continue
            t0 = time.perf_counter()
            with distributed.RayEvaluator(actors=actors, threads_per_actor=threads) as ev:
                row = {"actors": actors, "threads": threads, "ready_s": time.perf_counter() - t0}
                row["driver_warmup_s"] = ev.driver_warmup_s
                row["actor_warmup_s"] = [i["warmup_s"] for i in ev.actor_info]
                row["actor_import_s"] = [i["import_s"] for i in ev.actor_info]
                pings = []
                for _ in range(20):
                    t1 = time.perf_counter()
                    ray.get(ev._actors[0].ping.remote())
                    pings.append(time.perf_counter() - t1)
                row["round_trip_ms"] = 1e3 * float(np.median(pings))
                compute, chunks = [], []

                def ray_call(k, ev=ev, compute=compute, chunks=chunks):
                    res = ev.rollout(policy, params, episodes, seed=seed + k, engine="fused")
                    compute.append(ev.last.compute_s)
                    chunks.append(ev.last.chunks)
                    return res

                ray_call(0)  # the first generation after the start is not counted
                compute.clear()
                chunks.clear()
                row.update(_per_generation(ray_call, min_repeats, min_seconds))
                busy = float(np.mean(compute)) / actors  # compute per actor, balanced
                row["overhead_ms"] = 1e3 * (row["seconds_per_generation"] - busy)
                row["chunks"] = int(np.mean(chunks))
                row["cluster_rss"] = _cluster_rss()
                check = ev.rollout(policy, params, episodes, seed=seed, engine="fused")
                row["identical_to_in_process"] = bool(
                    np.array_equal(check.returns, local_call(0).returns)
                )
            out["ray"].append(row)
    finally:
        if owns:
            ray.shutdown()
    out["cmaes_ask_tell_s"] = cmaes_driver_seconds(policy.n_params, population)
    per_core = out["in_process"][1]["steps_per_s"]
    two = [
        r
        for r in out["ray"]
        if r["threads"] == 1
        and r["actors"] == max(r2["actors"] for r2 in out["ray"] if r2["threads"] == 1)
    ]
    per_chunk = max(0.0, two[0]["overhead_ms"] / 1e3 / two[0]["chunks"]) if two else 0.0
    out["overhead_per_chunk_ms"] = 1e3 * per_chunk
    out["estimate"] = [
        cluster_estimate(
            np.array(out["member_steps"]), per_core, per_chunk, out["cmaes_ask_tell_s"], c
        )
        for c in (64, 256)
    ]
    return out


def format_ray_bench(r: dict) -> str:
    """`run_ray_bench`'s result as text lines."""
    gib = 2**30
    lines = [
        f"generation: {r['population']} members x {r['episodes']} episodes ({r['parameters']})"
    ]
    for threads, g in r["in_process"].items():
        lines.append(
            f"in process, fused engine, {threads} thread(s): "
            f"{1e3 * g['seconds_per_generation']:.0f} ms/generation, "
            f"{g['steps_per_s']:,.0f} env-steps/s"
        )
    idle = r["cluster_rss_idle"]
    lines.append(
        f"Ray: cluster start {r['cluster_start_s']:.1f} s, {r['cluster_cpus']} CPUs"
        + (f", {idle / gib:.2f} GiB resident idle" if idle is not None else "")
    )
    for row in r["ray"]:
        rss = row["cluster_rss"]
        lines.append(
            f"Ray, {row['actors']} actor(s) x {row['threads']} thread(s): "
            f"{1e3 * row['seconds_per_generation']:.0f} ms/generation, "
            f"{row['steps_per_s']:,.0f} env-steps/s, overhead {row['overhead_ms']:.0f} ms/"
            f"generation ({row['chunks']} chunks), round trip {row['round_trip_ms']:.1f} ms; "
            f"actors ready in {row['ready_s']:.1f} s (warm-up "
            f"{max(row['actor_warmup_s']):.2f} s, imports {max(row['actor_import_s']):.1f} s)"
            + (f", cluster {rss / gib:.2f} GiB resident" if rss is not None else "")
            + ("" if row["identical_to_in_process"] else "; RETURNS DIFFER FROM IN-PROCESS")
        )
    lines.append(
        f"pycma ask + tell at {r['population']} x 913: {1e3 * r['cmaes_ask_tell_s']:.0f} ms; "
        f"dispatch {r['overhead_per_chunk_ms']:.1f} ms per chunk"
    )
    for e in r["estimate"]:
        lines.append(
            f"estimate, {e['generations']:,} generations on {e['cores']} cores: "
            f"{e['seconds_per_generation']:.2f} s/generation, {e['hours']:.1f} h"
        )
    return "\n".join(lines)
