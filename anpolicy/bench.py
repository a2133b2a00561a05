"""Throughput benchmark: the per-episode loop of the original code vs the batched engine.

(a) one `CartPoleSwingUpHarderEnv` + one `ReferenceAttentionNeuron` forward per step,
episode after episode (the structure of Tang & Ha's evaluation code);
(b) `anpolicy.rollout.rollout` on P parameter vectors x R episodes at once, with each of
its two engines: the lock-step PyTorch engine and the fused compiled one
(`anpolicy.fused`).
All run the same policy (perturbed copies of one parameter vector) in one process, one
after the other; throughput counts real environment steps (episode lengths summed).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from anpolicy.env import CartPoleSwingUpHarderEnv
from anpolicy.policy import AttentionNeuronPolicy
from anpolicy.reference import ReferenceAttentionNeuron
from anpolicy.rollout import rollout


def bench_params(seed: int = 0, population: int = 256) -> tuple[np.ndarray, str]:
    """(population, 913) parameters like a training generation: the shipped Attention
    Neuron plus N(0, 0.01^2) perturbations (long episodes, as late in training), or a
    random centre when no agent is shipped. Returns (params, description)."""
    rng = np.random.default_rng(seed)
    try:
        from anpolicy.data import load_shipped

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
    from anpolicy import fused

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
