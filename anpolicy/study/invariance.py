"""The Attention Neuron's invariance properties, measured on open-loop streams.

`invariance_properties` runs the same observation streams (`anpolicy.study.stream_runs`)
under permutations fixed for the episode, reshuffles with and without the state moved
along (relative permutation) and zeroed state, and returns the largest action
differences (float32; `INVARIANCE_EXPECTED` says what each should be, `invariance_table`
lays them out); `explain_step` writes one step out (attention A, h, c, features m,
action); `run_stream64` / `invariance_float64` repeat the reshuffle check in float64,
where round-off is ~1e-15 (actions in [-1, 1]).
"""

from __future__ import annotations

import numpy as np
import torch

from anpolicy.sim.interventions import (
    PermuteStateAtReshuffle,
    ZeroStateEveryStep,
    relative_permutation,
)
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.study.stream_runs import random_permutations, random_stream, run_stream


def invariance_properties(
    policy,
    params,
    n_steps: int = 200,
    n_streams: int = 16,
    reshuffle_step: int = 100,
    seed: int = 0,
    n_channels: int = 5,
    stream=None,
) -> dict:
    """Measure the five invariance properties of the Attention Neuron on observation
    streams: ``stream`` (T, R, C) if given (e.g. from `closed_loop_stream`), else
    `random_stream` (n_steps, n_streams, n_channels, seed).

    Every stream is run unshuffled (the reference) and under permutations ``p1`` (from
    step 0) and ``p2`` (from ``reshuffle_step``), one random pair per stream; stream 0
    uses the identity as ``p1`` so that (e) covers that case too. Returns a dict of
    results, each with ``max_abs_diff`` (the largest |difference| over steps, streams and
    members) and a one-line ``claim``:

    - ``a_fixed``: ``p1`` throughout vs unshuffled (actions);
    - ``b_relative``: reshuffle with `PermuteStateAtReshuffle("relative")` vs unshuffled;
    - ``c_no_intervention``: reshuffle, state left in place vs unshuffled, after the
      reshuffle (``before`` holds the difference before it, which is zero by (a));
    - ``d_zero_state``: h and c zeroed every step: attention under the reshuffle schedule
      vs the unshuffled attention with its columns permuted (``action_diff`` too);
    - ``e_absolute``: `PermuteStateAtReshuffle("absolute")` vs ``"relative"`` after the
      reshuffle, per stream: actions (``per_stream``) and the hidden state after the
      reshuffle step (``per_stream_state``), split by whether ``p1`` was the identity.

    ``traces`` holds the actions (T, P, R) of each condition for plotting.
    """
    if stream is None:
        stream = random_stream(n_steps, n_streams, n_channels, seed=seed)
    stream = torch.as_tensor(stream, dtype=torch.float32)
    n_steps, n_streams, n = stream.shape
    if not 1 <= reshuffle_step < n_steps:
        raise ValueError(f"reshuffle_step must be in [1, {n_steps}), got {reshuffle_step}")
    p1 = random_permutations(n_streams, n, seed=seed + 1)
    p2 = random_permutations(n_streams, n, seed=seed + 2)
    p1[0] = torch.arange(n)
    shuffled = dict(perms=torch.stack([p1, p2]), change_steps=[reshuffle_step])
    k = reshuffle_step

    def diff(a, b):
        return float(np.max(np.abs(a - b)))

    base = run_stream(policy, params, stream)
    fixed = run_stream(policy, params, stream, perms=p1)
    rel = run_stream(
        policy, params, stream, interventions=[PermuteStateAtReshuffle("relative")], **shuffled
    )
    plain = run_stream(policy, params, stream, **shuffled)
    absolute = run_stream(
        policy, params, stream, interventions=[PermuteStateAtReshuffle("absolute")], **shuffled
    )
    zero = [ZeroStateEveryStep(("h", "c"))]
    z_base = run_stream(policy, params, stream, interventions=zero)
    z_shuf = run_stream(policy, params, stream, interventions=zero, **shuffled)
    # unshuffled attention, columns permuted like the observation: A'[:, j] = A[:, perm[j]]
    perm_t = z_shuf.perm  # (T, R, n)
    idx = np.broadcast_to(perm_t[:, None, :, None, :], z_base.attention.shape)
    expected = np.take_along_axis(z_base.attention, idx, axis=-1)

    per_stream = np.abs(absolute.actions[k:] - rel.actions[k:]).max(axis=(0, 1))
    # the state right after the reshuffle step (same input, different rows moved in)
    per_stream_state = np.abs(absolute.h[k] - rel.h[k]).max(axis=(0, 2, 3))
    moved = (relative_permutation(p1, p2) != p2).any(-1).numpy()
    p1_identity = (p1 == torch.arange(n)).all(-1).numpy()
    return {
        "a_fixed": {
            "claim": "a fixed permutation from the first step leaves every action unchanged",
            "max_abs_diff": diff(fixed.actions, base.actions),
        },
        "b_relative": {
            "claim": "a reshuffle with the state rows moved by the relative permutation "
            "leaves every action unchanged",
            "max_abs_diff": diff(rel.actions, base.actions),
        },
        "c_no_intervention": {
            "claim": "a reshuffle without moving the state changes the actions",
            "max_abs_diff": diff(plain.actions[k:], base.actions[k:]),
            "before": diff(plain.actions[:k], base.actions[:k]),
        },
        "d_zero_state": {
            "claim": "with h and c zeroed every step the attention columns permute "
            "exactly with the observation",
            "max_abs_diff": diff(z_shuf.attention, expected),
            "action_diff": diff(z_shuf.actions, z_base.actions),
        },
        "e_absolute": {
            "claim": "the absolute-index state permutation differs from the relative one "
            "whenever the previous permutation was not the identity",
            "max_abs_diff": float(per_stream.max()),
            "per_stream": per_stream.tolist(),
            "per_stream_state": per_stream_state.tolist(),
            "min_state_diff_non_identity": float(
                per_stream_state[~p1_identity].min(initial=np.inf)
            ),
            "max_state_diff_identity": float(per_stream_state[p1_identity].max(initial=0.0)),
            "p1_identity": p1_identity.tolist(),
            "moved_differently": moved.tolist(),
            "max_abs_diff_identity": float(per_stream[p1_identity].max(initial=0.0)),
            "min_abs_diff_non_identity": float(per_stream[~p1_identity].min(initial=np.inf)),
        },
        "traces": {
            "unshuffled": base.actions,
            "fixed": fixed.actions,
            "relative": rel.actions,
            "no_intervention": plain.actions,
            "absolute": absolute.actions,
        },
        "reshuffle_step": k,
        "n_steps": n_steps,
        "n_streams": n_streams,
        "p1": p1.numpy(),
        "p2": p2.numpy(),
    }


@torch.no_grad()
def explain_step(policy, params, obs, prev_action: float = 0.0, h=None, c=None) -> dict:
    """One Attention Neuron step for a single episode, by the plain ``torch.nn`` module
    (`anpolicy.sim.reference.ReferenceAttentionNeuron`, independent of the batched
    `policy.step`), returning every intermediate tensor by name: ``lstm_input`` (C, 2),
    ``h``, ``c`` (C, 8), ``K`` (C, 32), ``Q`` (16, 32), ``A`` (16, C), ``m`` (16,),
    ``action`` (1,)."""
    net = ReferenceAttentionNeuron(policy.hidden_dim, policy.msg_dim, policy.pos_em_dim)
    net.load_flat(params)
    o = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1)
    n, d = o.shape[0], policy.pos_em_dim
    h = torch.zeros(n, d) if h is None else torch.as_tensor(h, dtype=torch.float32)
    c = torch.zeros(n, d) if c is None else torch.as_tensor(c, dtype=torch.float32)
    action, (h1, c1), p = net.step(o[None], torch.tensor([float(prev_action)]), (h, c), True)
    out = {
        "o_t": o,
        "lstm_input": p["lstm_input"],
        "h": h1,
        "c": c1,
        "K": p["K"][0],
        "P (positions)": net.positions,
        "Q": p["Q"],
        "A": p["A"][0],
        "m": p["m"][0],
        "action": action,
    }
    return {k: v.numpy() for k, v in out.items()}


INVARIANCE_LABELS = {
    "a_fixed": "(a) fixed permutation from step 0: actions",
    "b_relative": "(b) reshuffle + relative state permutation: actions",
    "c_no_intervention": "(c) reshuffle, state left in place: actions after it",
    "d_zero_state": "(d) h, c zeroed each step: attention vs permuted columns",
    "e_absolute": "(e) absolute vs relative state permutation: actions after it",
}


INVARIANCE_EXPECTED = {
    "a_fixed": "0",
    "b_relative": "0",
    "c_no_intervention": "> 0",
    "d_zero_state": "0",
    "e_absolute": "> 0 unless perm_1 = identity",
}


def invariance_table(props: dict):
    """A pandas table of `invariance_properties` results: one row per property, the
    expected value and the measured max |difference| of each setting in ``props``."""
    import pandas as pd

    table = pd.DataFrame(
        {name: [r[k]["max_abs_diff"] for k in INVARIANCE_LABELS] for name, r in props.items()},
        index=list(INVARIANCE_LABELS.values()),
    )
    table.insert(0, "expected", list(INVARIANCE_EXPECTED.values()))
    table.index.name = "property"
    return table


def _step64(w: dict, pos, o, prev_a, h, c, zero_state: bool = False):
    """One Attention Neuron step in float64 for R streams: ``o`` (R, C), ``prev_a`` (R,),
    ``h``, ``c`` (R, C, 8). Returns (action (R,), h, c, A (R, 16, C))."""
    if zero_state:
        h, c = torch.zeros_like(h), torch.zeros_like(c)
    x = torch.stack([o, prev_a[:, None].expand_as(o)], dim=-1)  # (R, C, 2)
    gates = x @ w["lstm.weight_ih"].T + w["lstm.bias_ih"] + h @ w["lstm.weight_hh"].T
    gates = gates + w["lstm.bias_hh"]
    i, f, g, og = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(og) * torch.tanh(c)
    keys = h @ w["proj_k.weight"].T  # (R, C, 32)
    queries = pos @ w["proj_q.weight"].T  # (16, 32)
    att = torch.tanh(torch.einsum("qd,rcd->rqc", queries, keys))  # (R, 16, C)
    msg = torch.tanh(torch.einsum("rqc,rc->rq", att, o))
    action = torch.tanh(msg @ w["out.weight"].reshape(-1) + w["out.bias"].reshape(()))
    return action, h, c, att


def run_stream64(policy, params, stream, perms=None, change_step=None, relative=True,
                 zero_state=False):  # fmt: skip
    """`run_stream` in float64 for one parameter vector: ``perms`` (2, R, C) with a
    reshuffle from ``perms[0]`` to ``perms[1]`` at ``change_step`` (state rows moved by
    the relative permutation when ``relative``), or (R, C) throughout, or None.
    Returns (actions (T, R), attention (T, R, 16, C)) as float64 numpy arrays."""
    w = {k: v[0].to(torch.float64) for k, v in policy.unflatten(params).items()}
    pos = policy.positions.to(torch.float64)
    x = torch.as_tensor(np.asarray(stream), dtype=torch.float64)
    n_steps, r, n = x.shape
    if perms is None:
        perms = torch.arange(n).expand(r, n)
    perms = torch.as_tensor(perms)
    perm = perms[0] if perms.ndim == 3 else perms
    h = torch.zeros(r, n, w["proj_k.weight"].shape[1], dtype=torch.float64)
    c, a = torch.zeros_like(h), torch.zeros(r, dtype=torch.float64)
    actions, atts = [], []
    for t in range(n_steps):
        if perms.ndim == 3 and t == change_step:
            if relative:
                rows = torch.gather(torch.argsort(perm, dim=-1), -1, perms[1])
                idx = rows[..., None].expand_as(h)
                h, c = torch.gather(h, 1, idx), torch.gather(c, 1, idx)
            perm = perms[1]
        o = torch.gather(x[t], -1, perm)
        a, h, c, att = _step64(w, pos, o, a, h, c, zero_state)
        actions.append(a)
        atts.append(att)
    return torch.stack(actions).numpy(), torch.stack(atts).numpy()


def invariance_float64(policy, params, stream, reshuffle_step: int, seed: int = 0) -> dict:
    """Properties (a), (b), (d) of `invariance_properties` recomputed in float64 on the
    same stream and permutations: ``{key: max |difference|}``, plus ``first_step_f32``:
    the largest float32 action difference of (a) at step 0 (one step of round-off)."""
    stream = torch.as_tensor(np.asarray(stream), dtype=torch.float64)
    _, n_streams, n = stream.shape
    p1 = random_permutations(n_streams, n, seed=seed + 1)
    p2 = random_permutations(n_streams, n, seed=seed + 2)
    p1[0] = torch.arange(n)
    base_a, base_att = run_stream64(policy, params, stream)
    fixed_a, _ = run_stream64(policy, params, stream, perms=p1)
    rel_a, _ = run_stream64(policy, params, stream, torch.stack([p1, p2]), reshuffle_step)
    z_base_a, z_base_att = run_stream64(policy, params, stream, zero_state=True)
    _, z_att = run_stream64(policy, params, stream, torch.stack([p1, p2]), reshuffle_step,
                            relative=False, zero_state=True)  # fmt: skip
    perm_t = np.concatenate(
        [np.broadcast_to(p1.numpy(), (reshuffle_step, n_streams, n)),
         np.broadcast_to(p2.numpy(), (stream.shape[0] - reshuffle_step, n_streams, n))]
    )  # fmt: skip
    idx = np.broadcast_to(perm_t[:, :, None, :], z_base_att.shape)
    want = np.take_along_axis(z_base_att, idx, axis=-1)  # column j carries channel perm[j]
    f32 = run_stream(policy, params, stream[:1].float(), perms=p1).actions
    f32_base = run_stream(policy, params, stream[:1].float()).actions
    return {
        "a_fixed": float(np.abs(fixed_a - base_a).max()),
        "b_relative": float(np.abs(rel_a - base_a).max()),
        "d_zero_state": float(np.abs(z_att - want).max()),
        "first_step_f32": float(np.abs(f32[0] - f32_base[0]).max()),
    }
