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
compute, with the same episode randomness (`anpolicy.sim.rollout.episode_randomness`:
starts, permutations, and the noise stream drawn step by step from the same torch
generator), so with the same seed both engines start every episode identically.
They differ by float32 round-off only (tanh here is a rational approximation, max
error 3.2e-7, see `tanh32`): one-step maps agree to ~1e-6, while the closed loop of
a chaotic policy amplifies such differences over hundreds of steps, so the two
engines' returns agree in distribution, not episode by episode (tests check both).
Compare conditions within one engine.

What it runs: the Attention Neuron with any number of channels (copies and noise
channels included) under any `PermutationSchedule`, without interventions,
recordings or an ``attention_transform``; `rollout` sends everything else to the
PyTorch engine (see `supports`). The physics is `anpolicy.sim.physics.euler_update`,
`track_phase` and `reward_from`, compiled here, not rewritten.
"""

from __future__ import annotations

import math
import os
import platform

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from anpolicy.sim import physics

# Blocks hold at most this many episodes of one member (the SIMD lanes of the loops).
MAX_BLOCK = 32
_LANES = 8  # float32 lanes of one SIMD register (AVX2); blocks are padded to a multiple
SEGMENT_STEPS = 50  # steps per compiled call (progress and the noise stream advance per call)

# error_model="numpy": a float division by zero gives inf instead of raising, which
# lets LLVM vectorise loops with divisions (the ZeroDivisionError check blocks it).
_jit = njit(cache=True, nogil=True, error_model="numpy")
# The policy's arithmetic may contract a * b + c into one fused multiply-add (one
# rounding instead of two). The physics is compiled without it, so that it computes
# bit for bit what anpolicy.sim.physics computes with numpy.
_jit_policy = njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
_euler = _jit(physics.euler_update)
_track_phase = _jit(physics.track_phase)
_reward_from = _jit(physics.reward_from)
_FORCE_MAG = physics.FORCE_MAG
_X_LIMIT = physics.X_THRESHOLD

# tanh(x) ~ x P(x^2) / Q(x^2) for |x| <= 9 (beyond, float32 tanh rounds to +-1).
# Coefficients fitted by scripts/fit_tanh.py (weighted least squares on [0, 9]); the
# max abs error in float32 arithmetic is 3.2e-7 (tests/test_fused.py measures it),
# against 1.8e-7 for 2 sigmoid(2x) - 1 as the PyTorch engine computes tanh.
_F = np.float32
_P = tuple(
    _F(v)
    for v in (
        9.99999980e-01,
        1.30871353e-01,
        3.10752010e-03,
        1.11935944e-05,
        -2.03966194e-08,
        5.36685817e-11,
        -8.73264123e-14,
    )
)
_Q = tuple(_F(v) for v in (1.0, 4.64204594e-01, 2.45091714e-02, 2.55145338e-04))
_P0, _P1, _P2, _P3, _P4, _P5, _P6 = _P
_Q0, _Q1, _Q2, _Q3 = _Q
_CLIP, _HALF = _F(9.0), _F(0.5)
_D, _N_QUERIES = 8, 16  # LSTM state size (pos_em_dim) and number of queries (hidden_dim)


# Denormal floats cost ~100 cycles per operation on x86; the policy's products and
# decaying states produce some (measured: the fused engine runs ~18 % faster with them
# flushed). Each block therefore runs with FTZ and DAZ set in the thread's MXCSR, and
# puts the caller's MXCSR back when it is done, so nothing outside the kernel (the
# PyTorch engine on the same thread included) runs in that mode. Elsewhere: no-ops.
_X86 = platform.machine().lower() in ("x86_64", "amd64")
_FTZ_DAZ = np.uint32(0x8040)


def _mxcsr_call(builder, name, slot):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])


@intrinsic
def _get_mxcsr(typingctx):
    def codegen(context, builder, signature, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _set_mxcsr(typingctx, value):
    def codegen(context, builder, signature, args):
        if _X86:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@_jit_policy
def tanh32(x):
    """float32 tanh by a rational approximation (vectorisable: no libm call)."""
    x = min(max(x, -_CLIP), _CLIP)
    s = x * x
    p = ((((((_P6 * s + _P5) * s + _P4) * s + _P3) * s + _P2) * s + _P1) * s) + _P0
    q = ((_Q3 * s + _Q2) * s + _Q1) * s + _Q0
    return x * p / q


@_jit_policy
def _sigmoid32(x):
    return _HALF + _HALF * tanh32(_HALF * x)


@_jit_policy
def _policy_lanes(n, inp, h, c, a, w_hh, w_x, w_a, bias, qk, w_out, b_out, h_new, msg):
    """One Attention Neuron step for lanes 0..n-1 (the episodes of one block).

    ``inp`` (C, B) policy input; ``h``, ``c`` (C, 8, B) updated in place; ``a`` (B,)
    previous action, replaced by the new action. Weights of one member: ``w_hh``
    (32, 8), ``w_x``, ``w_a``, ``bias`` (32,) (bias_ih + bias_hh), ``qk`` (16, 8) =
    proj_q(pos_table) @ proj_k.weight, ``w_out`` (16,), ``b_out`` scalar. Scratch:
    ``h_new`` (8, B), ``msg`` (16, B). Gate order i, f, g, o (PyTorch's).

    Every loop over lanes r is innermost with the small loops (k over the 8 state
    features) unrolled inside it, so the compiler vectorises across episodes.
    """
    n_chan = h.shape[0]
    for ch in range(n_chan):
        for j in range(_D):
            bi, bf, bg, bo = bias[j], bias[_D + j], bias[2 * _D + j], bias[3 * _D + j]
            xi, xf, xg, xo = w_x[j], w_x[_D + j], w_x[2 * _D + j], w_x[3 * _D + j]
            ai, af, ag, ao = w_a[j], w_a[_D + j], w_a[2 * _D + j], w_a[3 * _D + j]
            for r in range(n):
                o_r, a_r = inp[ch, r], a[r]
                zi = bi + xi * o_r + ai * a_r
                zf = bf + xf * o_r + af * a_r
                zg = bg + xg * o_r + ag * a_r
                zo = bo + xo * o_r + ao * a_r
                for k in range(_D):
                    hk = h[ch, k, r]
                    zi += w_hh[j, k] * hk
                    zf += w_hh[_D + j, k] * hk
                    zg += w_hh[2 * _D + j, k] * hk
                    zo += w_hh[3 * _D + j, k] * hk
                cell = _sigmoid32(zf) * c[ch, j, r] + _sigmoid32(zi) * tanh32(zg)
                c[ch, j, r] = cell
                h_new[j, r] = _sigmoid32(zo) * tanh32(cell)
        for j in range(_D):
            for r in range(n):
                h[ch, j, r] = h_new[j, r]
    for q in range(_N_QUERIES):
        for r in range(n):
            msg[q, r] = 0.0
    for ch in range(n_chan):
        for q in range(_N_QUERIES):
            for r in range(n):
                logit = qk[q, 0] * h[ch, 0, r]
                for k in range(1, _D):
                    logit += qk[q, k] * h[ch, k, r]
                msg[q, r] += tanh32(logit) * inp[ch, r]
    for r in range(n):
        out = b_out
        for q in range(_N_QUERIES):
            out += w_out[q] * tanh32(msg[q, r])
        a[r] = tanh32(out)


@_jit
def _move_lane(dst, src, xs, h, c, a, ep, ret, length):
    xs[:, dst] = xs[:, src]
    h[:, :, dst] = h[:, :, src]
    c[:, :, dst] = c[:, :, src]
    a[dst], ep[dst], ret[dst], length[dst] = a[src], ep[src], ret[src], length[src]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _run_segment(
    t0,
    t1,
    max_steps,
    block_member,
    n_live,
    xs,
    h,
    c,
    a,
    ep,
    ret,
    length,
    out_ret,
    out_len,
    perms,
    perm_index,
    copy_index,
    noise,
    w_hh,
    w_x,
    w_a,
    bias,
    qk,
    w_out,
    b_out,
):
    """Advance every block from step t0 to t1 (exclusive); see `FusedRollout`."""
    n_blocks, n_chan, d, width = h.shape
    n_perm = perms.shape[2]
    for blk in prange(n_blocks):
        n = n_live[blk]
        if n == 0:
            continue
        mxcsr = _get_mxcsr()
        _set_mxcsr(mxcsr | _FTZ_DAZ)
        p = block_member[blk]
        x_b, h_b, c_b, a_b = xs[blk], h[blk], c[blk], a[blk]
        ep_b, ret_b, len_b = ep[blk], ret[blk], length[blk]
        inp = np.zeros((n_chan, width), dtype=np.float32)
        raw = np.empty((5, width), dtype=np.float32)
        h_new = np.empty((d, width), dtype=np.float32)
        msg = np.empty((_N_QUERIES, width), dtype=np.float32)
        cos_th = np.empty(width)
        sin_th = np.empty(width)
        for t in range(t0, t1):
            k_perm = perm_index[t]
            for r in range(n):
                th = x_b[2, r]
                sin_th[r] = math.sin(th)
                cos_th[r] = math.cos(th)
                raw[0, r] = x_b[0, r]
                raw[1, r] = x_b[1, r]
                raw[2, r] = cos_th[r]
                raw[3, r] = sin_th[r]
                raw[4, r] = x_b[3, r]
            for r in range(n):
                e = ep_b[r]
                for j in range(n_perm):
                    inp[j, r] = raw[copy_index[perms[e, k_perm, j]], r]
                for j in range(n_perm, n_chan):
                    inp[j, r] = noise[t - t0, e, j - n_perm]
            # The policy runs on whole vectors: lanes n..n_vec-1 hold finished episodes'
            # stale (finite) state and compute values nobody reads; a scalar remainder
            # loop would cost more than the padding.
            n_vec = min(width, -(-n // _LANES) * _LANES)
            _policy_lanes(
                n_vec, inp, h_b, c_b, a_b, w_hh[p], w_x[p], w_a[p], bias[p], qk[p], w_out[p],
                b_out[p], h_new, msg,
            )  # fmt: skip
            for r in range(n):
                force = _FORCE_MAG * min(max(np.float64(a_b[r]), -1.0), 1.0)
                nx, nxd, nth, nthd = _euler(
                    x_b[0, r], x_b[1, r], x_b[2, r], x_b[3, r], sin_th[r], cos_th[r], force
                )
                x_b[0, r], x_b[1, r], x_b[2, r], x_b[3, r] = nx, nxd, nth, nthd
                ret_b[r] += _reward_from(math.cos(nth), math.cos(_track_phase(nx)))
                len_b[r] += 1
            last = t + 1 == max_steps
            for r in range(n - 1, -1, -1):
                if last or abs(x_b[0, r]) > _X_LIMIT:
                    out_ret[p, ep_b[r]] = ret_b[r]
                    out_len[p, ep_b[r]] = len_b[r]
                    n -= 1
                    if r != n:
                        _move_lane(r, n, x_b, h_b, c_b, a_b, ep_b, ret_b, len_b)
            if n == 0:
                break
        n_live[blk] = n
        _set_mxcsr(mxcsr)


@_jit
def _policy_step_batch(inp, h, c, a, w_hh, w_x, w_a, bias, qk, w_out, b_out):
    """`_policy_lanes` for a (R, C) batch of one member; the test hook for one-step maps.
    ``inp`` (C, R), ``h``, ``c`` (C, 8, R), ``a`` (R,), all updated in place."""
    width = inp.shape[1]
    d = h.shape[1]
    h_new = np.empty((d, width), dtype=np.float32)
    msg = np.empty((_N_QUERIES, width), dtype=np.float32)
    _policy_lanes(width, inp, h, c, a, w_hh, w_x, w_a, bias, qk, w_out, b_out, h_new, msg)


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
