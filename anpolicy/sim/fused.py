"""The fused CPU engine: the Attention Neuron and the physics in one compiled loop.

`anpolicy.sim.rollout` advances all P x R episodes with ~35 PyTorch ops per step; on a
2-core CPU each op's dispatch and its trip through memory cost more than the
arithmetic. Here one numba-compiled function runs a whole segment of steps (50 by
default) for a block of up to 32 episodes of one population member, with the state
of those episodes (h, c, previous action, cart) kept in a few kilobytes that stay in
the L1 cache; the loops over the block's episodes are the innermost ones, so the
compiler turns them into SIMD instructions. Blocks are independent and spread over
the threads with ``prange``; finished episodes are compacted out of their block
(the last live lane moves into the finished one's slot).

It computes exactly what `AttentionNeuronPolicy.step` and `anpolicy.sim.physics`
compute, with the same episodes (an `anpolicy.sim.plan.EpisodePlan`: starts,
permutations, and the noise stream drawn step by step from the same torch generator),
so with the same seed both engines start every episode identically.
They differ by float32 round-off only (tanh here is a rational approximation, max
error 3.2e-7, see `tanh32`): one-step maps agree to ~1e-6, while the closed loop of
a chaotic policy amplifies such differences over hundreds of steps, so the two
engines' returns agree in distribution, not episode by episode (tests check both).
Compare conditions within one engine.

What it runs: the Attention Neuron with any number of channels (copies and noise
channels included) under any `PermutationSchedule`, without interventions,
recordings or an ``attention_transform``; `rollout` sends everything else to the
PyTorch engine (see `supports`). The physics is `anpolicy.sim.physics.euler_update`,
`track_phase` and `reward_from`, compiled (in `anpolicy.sim.fused_kernels`, which holds
every compiled kernel; this module drives them), not rewritten.
"""

from __future__ import annotations

import os

import numba
import numpy as np
import torch

from anpolicy.sim import physics
from anpolicy.sim.fused_kernels import (  # `x as x`: re-exported for the tests and scripts
    _LANES,
    MAX_BLOCK,
    SEGMENT_STEPS,
    _run_segment,
)
from anpolicy.sim.fused_kernels import _P as _P
from anpolicy.sim.fused_kernels import _Q as _Q
from anpolicy.sim.fused_kernels import _policy_step_batch as _policy_step_batch
from anpolicy.sim.fused_kernels import tanh32 as tanh32


def fused_weights(policy, params) -> tuple[np.ndarray, ...]:
    """The per-member arrays `_policy_lanes` reads, from flat parameters (P, 913):
    ``w_hh`` (P, 32, 8), ``w_x``, ``w_a``, ``bias`` (P, 32), ``qk`` (P, 16, 8), ``w_out``
    (P, 16), ``b_out`` (P,), float32, contiguous. ``qk`` uses ``policy.positions``."""
    w = policy.unflatten(params)
    qk = (policy.positions @ w["proj_q.weight"].transpose(1, 2)) @ w["proj_k.weight"]
    arrays = (
        w["lstm.weight_hh"],
        w["lstm.weight_ih"][:, :, 0],
        w["lstm.weight_ih"][:, :, 1],
        w["lstm.bias_ih"] + w["lstm.bias_hh"],
        qk,
        w["out.weight"][:, 0, :],
        w["out.bias"][:, 0],
    )
    return tuple(np.ascontiguousarray(t.numpy(), dtype=np.float32) for t in arrays)


def supports(policy, device, hooks) -> str | None:
    """None if the fused engine can run this rollout, else the reason it cannot."""
    from anpolicy.sim.policy import AttentionNeuronPolicy

    if type(policy) is not AttentionNeuronPolicy:  # a subclass may compute something else
        return f"the fused engine runs the Attention Neuron only, not {type(policy).__name__}"
    if policy.attention_transform is not None:
        return "the fused engine has no attention_transform hook"
    if policy.pos_em_dim != 8 or policy.hidden_dim != 16:
        return "the fused engine is built for the 913-parameter layout (hidden 16, state 8)"
    if torch.device(device).type != "cpu":
        return f"the fused engine runs on the CPU, not {device}"
    if hooks:
        return "interventions and recordings need the PyTorch engine"
    return None


def set_threads(n: int | None) -> None:
    """Use ``n`` threads (None or 0: torch's setting) for the fused engine's blocks;
    ValueError for a negative or non-integer ``n``."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0):
        raise ValueError(f"threads must be an integer >= 0 (0: the default), got {n!r}")
    n = n or torch.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


class FusedRollout:
    """State of a fused rollout: P members x R episodes cut into blocks of <= 32 episodes.

    Arrays per block (leading dim = block): ``xs`` (4, B) float64 cart state,
    ``h``, ``c`` (C, 8, B), ``a`` (B,) float32, ``ep`` (B,) episode index, ``ret``
    (B,) float64, ``length`` (B,) int64, ``n_live`` live lanes (the first n_live).
    """

    def __init__(self, weights, starts, perms, perm_index, copy_index, n_channels):
        self.weights = weights
        n_pop = weights[0].shape[0]
        n_episodes = starts.shape[0]
        n_per = -(-n_episodes // MAX_BLOCK)  # blocks per member
        width = -(-n_episodes // n_per)
        width = -(-width // _LANES) * _LANES  # whole SIMD vectors (see _run_segment)
        n_blocks = n_pop * n_per
        lane_ep = np.full((n_per, width), -1, dtype=np.int64)
        for b in range(n_per):  # episodes b*width ... of each member
            eps = np.arange(b * width, min((b + 1) * width, n_episodes))
            lane_ep[b, : len(eps)] = eps
        self.block_member = np.repeat(np.arange(n_pop, dtype=np.int64), n_per)
        self.ep = np.tile(lane_ep, (n_pop, 1))
        self.n_live = (self.ep >= 0).sum(axis=1).astype(np.int64)
        safe = np.where(self.ep >= 0, self.ep, 0)
        self.xs = np.ascontiguousarray(starts[safe].transpose(0, 2, 1), dtype=np.float64)
        self.h = np.zeros((n_blocks, n_channels, 8, width), dtype=np.float32)
        self.c = np.zeros_like(self.h)
        self.a = np.zeros((n_blocks, width), dtype=np.float32)
        self.ret = np.zeros((n_blocks, width), dtype=np.float64)
        self.length = np.zeros((n_blocks, width), dtype=np.int64)
        self.out_ret = np.zeros((n_pop, n_episodes), dtype=np.float64)
        self.out_len = np.zeros((n_pop, n_episodes), dtype=np.int64)
        self.perms = np.ascontiguousarray(perms, dtype=np.int64)
        self.perm_index = np.ascontiguousarray(perm_index, dtype=np.int64)
        self.copy_index = np.ascontiguousarray(copy_index, dtype=np.int64)

    @property
    def live(self) -> int:
        return int(self.n_live.sum())

    def run(self, t0: int, t1: int, max_steps: int, noise: np.ndarray) -> None:
        """Advance steps t0..t1-1; ``noise`` (t1 - t0, R, n_noise) float32, scaled."""
        _run_segment(
            t0, t1, max_steps, self.block_member, self.n_live, self.xs, self.h, self.c,
            self.a, self.ep, self.ret, self.length, self.out_ret, self.out_len, self.perms,
            self.perm_index, self.copy_index, noise, *self.weights,
        )  # fmt: skip


def numba_threading_layer() -> str:
    """The threading layer numba runs ``prange`` on (after the first parallel call)."""
    try:
        return numba.threading_layer()
    except ValueError:
        return os.environ.get("NUMBA_THREADING_LAYER", "default (not yet started)")


def _check_run_inputs(starts, perms, change_steps, channels, max_steps):
    """`run`'s episode arrays as the compiled loop needs them, or ValueError: ``starts``
    (R, 4) finite, ``perms`` (R, E+1, n_permuted) integers in range(n_permuted),
    ``change_steps`` (E,) strictly increasing in [1, max_steps), ``max_steps`` >= 1.
    (Indices are bounds-checked, not checked for being permutations: `rollout` draws
    them; the compiled loop only needs them in range.)"""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 4 or starts.shape[0] < 1:
        raise ValueError(f"starts must be (R >= 1, 4), got shape {starts.shape}")
    if not np.isfinite(starts).all():
        raise ValueError("starts contain NaN or inf")
    change_steps = np.asarray(change_steps, dtype=np.int64).reshape(-1)
    if change_steps.size and (
        change_steps[0] < 1 or change_steps[-1] >= max_steps or (np.diff(change_steps) <= 0).any()
    ):
        raise ValueError(
            f"change_steps must increase strictly within [1, {max_steps}), got {change_steps}"
        )
    perms = np.asarray(perms)
    n = channels.n_permuted
    want = (starts.shape[0], change_steps.size + 1, n)
    if perms.shape != want or perms.dtype.kind not in "iu":
        raise ValueError(f"perms must be integer {want} (R, E+1, n_permuted), got {perms.shape}")
    if perms.size and (perms.min() < 0 or perms.max() >= n):
        raise ValueError(f"perms must hold channel indices in 0..{n - 1}")
    return starts, perms, change_steps


def run(policy, params, starts, perms, change_steps, noise_seed, channels, max_steps, bar=None):
    """Run the fused engine; the arguments are `anpolicy.sim.rollout.rollout`'s, after it drew
    the episode randomness. Returns ``(returns (P, R) float64, lengths (P, R) int64)``.

    ``bar``: an optional tqdm bar, advanced by the steps of each segment. The inputs are
    checked (ValueError naming the argument): the compiled loop trusts its indices.
    """
    starts, perms, change_steps = _check_run_inputs(
        starts, perms, change_steps, channels, max_steps
    )
    weights = fused_weights(policy, params)
    n_episodes = starts.shape[0]
    n_perm, n_noise = channels.n_permuted, channels.n_noise
    change_steps = np.asarray(change_steps, dtype=np.int64)
    perm_index = np.searchsorted(change_steps, np.arange(max_steps), side="right")
    copy_index = np.arange(n_perm) % physics.OBS_DIM
    state = FusedRollout(weights, starts, perms, perm_index, copy_index, channels.n_channels)
    noise_gen = torch.Generator().manual_seed(int(noise_seed)) if n_noise else None
    empty_noise = np.zeros((0, n_episodes, 0), dtype=np.float32)
    for t0 in range(0, max_steps, SEGMENT_STEPS):
        t1 = min(t0 + SEGMENT_STEPS, max_steps)
        noise = empty_noise
        if noise_gen is not None:  # the PyTorch engine's draws: one (R, n_noise) per step
            draws = [torch.randn(n_episodes, n_noise, generator=noise_gen) for _ in range(t0, t1)]
            noise = (channels.noise_std * torch.stack(draws)).numpy()
        state.run(t0, t1, max_steps, noise)
        if bar is not None:
            bar.update(t1 - t0)
            bar.set_postfix(live=state.live)
        if state.live == 0:
            break
    return state.out_ret, state.out_len
