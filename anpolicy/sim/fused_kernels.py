"""The fused engine's compiled kernels: the Attention Neuron and the physics, block by block.

`_run_segment` advances a segment of steps for blocks of up to `MAX_BLOCK` episodes of
one population member each (``prange`` over blocks; the episodes of a block are the
innermost loops, which the compiler turns into SIMD instructions over `_LANES` float32
lanes); `_policy_lanes` is one policy step for a block, `_policy_step_batch` one step for
a batch (the tests' check against the PyTorch policy). `tanh32` is a rational
approximation of tanh (max abs error 3.2e-7 in float32). The physics is
`anpolicy.sim.physics.euler_update`, `track_phase` and `reward_from`, compiled here
without contraction into fused multiply-adds, so that it computes bit for bit what numpy
computes. Arrays are float32 (policy) and float64 (cart state, returns); steps are
environment steps. `anpolicy.sim.fused` drives these kernels.
"""

from __future__ import annotations

import math
import platform

import numpy as np
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
