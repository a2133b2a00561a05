"""Twin rollouts: is the attention matrix equivariant when the inputs are reshuffled?

The layer computes, per input channel j, an LSTM state (h_j, c_j) and an attention
column ``A[:, j] = tanh(Q K_j^T)`` (16 queries). Two runs that feed the same physical
observations in two orders ``p`` and ``q`` are *equivalent* when every physical channel
gets the same attention column in both: ``A_q[:, j] = A_p[:, argsort(p)[q[j]]]`` (see
`anpolicy.study.attention`). Here: `align_attention` and `invariance_error` (that
comparison, vectorised), and `twin_rollout`: a *reference* run and a *twin* run from
the same start, both driven by the reference's actions (the same physical trajectory);
the twin's observation order changes at ``t_shuffle``, under a state intervention
(`TWIN_CONDITIONS`). `error_bands` / `value_bands`: the per-step error's median and
bootstrap bands over episodes. Shapes: R episodes, T steps, 16 queries x C channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from anpolicy import stats
from anpolicy.sim import physics
from anpolicy.sim.interventions import (
    Intervention,
    PermuteStateAtReshuffle,
    ResetStateAtReshuffle,
    StepContext,
    ZeroStateEveryStep,
    relative_permutation,
)
from anpolicy.stats import Z95

TWIN_CONDITIONS = {
    "none": "state untouched",
    "zero_hc": "h and c zeroed every step (both runs)",
    "relative": "state rows permuted with the relative permutation",
    "absolute": "state rows permuted with the absolute index (2025 study's code)",
    "reset": "h and c zeroed at the reshuffle (twin only)",
}


def column_map(perm_from, perm_to, n_channels: int | None = None):
    """Column index map taking attention in input order ``perm_from`` to ``perm_to``.

    ``perm_*`` (..., n) int arrays or tensors; returns (..., C) with
    ``argsort(perm_from)[perm_to]`` on the first n columns and the identity on
    appended (unpermuted) channels up to ``n_channels`` (default n).
    """
    pf, pt = torch.as_tensor(perm_from), torch.as_tensor(perm_to)
    rel = relative_permutation(pf, pt)
    n = rel.shape[-1]
    c = n if n_channels is None else int(n_channels)
    if c > n:
        extra = torch.arange(n, c, device=rel.device).expand(*rel.shape[:-1], c - n)
        rel = torch.cat([rel, extra], dim=-1)
    return rel


def align_attention(att, perm_from, perm_to):
    """Reorder the columns of ``att`` (..., 16, C), computed with input order
    ``perm_from``, into input order ``perm_to``: what the attention of a run fed in
    order ``perm_to`` must be if the layer is equivariant. Returns a tensor."""
    a = torch.as_tensor(att)
    cols = column_map(perm_from, perm_to, a.shape[-1])
    idx = cols.unsqueeze(-2).expand(*a.shape)
    return torch.gather(a, -1, idx)


def invariance_error(att_ref, att_other, perm_ref, perm_other, relative: bool = True):
    """Frobenius distance between the attention of a run fed in order ``perm_other`` and
    the column-permuted attention of a reference run fed in order ``perm_ref``, relative
    to the norm of the reference attention. Shapes (..., 16, C) and (..., n); returns
    (...) numpy float64. 0 means the columns followed the channels exactly.
    """
    ref = torch.as_tensor(att_ref, dtype=torch.float64)
    other = torch.as_tensor(att_other, dtype=torch.float64)
    aligned = align_attention(ref, perm_ref, perm_other)
    diff = torch.linalg.matrix_norm(other - aligned)
    norm = torch.linalg.matrix_norm(ref).clamp_min(1e-30)
    return (diff / norm).cpu().numpy()


@dataclass
class TwinResult:
    """Per step t (rows) and episode (columns); NaN once an episode has ended.

    ``error``: relative attention error (see `invariance_error`); ``action_diff``:
    |a_twin - a_ref|; ``perms``: (R, 2, 5) the orders before and after the reshuffle;
    ``traces[r]``: for recorded episodes, arrays over steps of both runs' attention,
    policy inputs and orders (keys ``att_ref``, ``att_twin``, ``obs_ref``, ``obs_twin``,
    ``perm_ref``, ``perm_twin``, ``action_ref``, ``action_twin``).
    """

    condition: str
    t_shuffle: int
    error: np.ndarray
    action_diff: np.ndarray
    perms: np.ndarray
    seed: int
    traces: dict = field(default_factory=dict)

    @property
    def steps(self) -> np.ndarray:
        return np.arange(self.error.shape[0])

    @property
    def n_episodes(self) -> int:
        return self.error.shape[1]

    def after(self, k: int) -> np.ndarray:
        """Errors of the episodes still running k steps after the reshuffle."""
        row = self.error[self.t_shuffle + k]
        return row[np.isfinite(row)]


def sample_twin_orders(rng: np.random.Generator, n_episodes: int, n: int = physics.OBS_DIM):
    """(R, 2, n): a random order drawn at reset and a different random one for the
    reshuffle (a permutation that changes nothing would not test anything)."""
    first = np.argsort(rng.random((n_episodes, n)), axis=-1)
    second = np.argsort(rng.random((n_episodes, n)), axis=-1)
    same = (first == second).all(axis=-1)
    while same.any():
        second[same] = np.argsort(rng.random((int(same.sum()), n)), axis=-1)
        same = (first == second).all(axis=-1)
    return np.stack([first, second], axis=1).astype(np.int64)


def _twin_hooks(condition: str) -> list[Intervention]:
    if condition not in TWIN_CONDITIONS:
        raise ValueError(
            f"unknown condition {condition!r}; expected one of {list(TWIN_CONDITIONS)}"
        )
    return {
        "none": [],
        "zero_hc": [ZeroStateEveryStep(("h", "c"))],
        "relative": [PermuteStateAtReshuffle("relative")],
        "absolute": [PermuteStateAtReshuffle("absolute")],
        "reset": [ResetStateAtReshuffle()],
    }[condition]


@torch.no_grad()
def twin_rollout(
    policy,
    params,
    n_episodes: int,
    seed: int = 0,
    condition: str = "none",
    t_shuffle: int = 100,
    window: int = 200,
    orders=None,
    record_episodes=(),
) -> TwinResult:
    """Reference and twin runs of one Attention Neuron from the same starts.

    Both runs are stepped for ``t_shuffle + window`` steps on one shared environment
    driven by the *reference's* actions, so they always see the same physical
    observations; each keeps its own LSTM state and previous action. The reference is
    fed in order ``orders[r, 0]`` throughout, the twin in ``orders[r, 0]`` before
    ``t_shuffle`` and ``orders[r, 1]`` from then on (``orders`` (R, 2, 5); default: random
    and different, drawn from ``seed``). The state intervention of ``condition`` (see
    ``TWIN_CONDITIONS``) is applied with the engine's hooks: ``zero_hc`` in both runs,
    the reshuffle interventions in the twin only (the reference never reshuffles).
    """
    if not getattr(policy, "has_lstm_state", False):
        raise ValueError("twin_rollout needs an Attention Neuron policy (LSTM state)")
    if t_shuffle < 1 or window < 1:
        raise ValueError("t_shuffle and window must be >= 1")
    n_steps = min(t_shuffle + window, physics.MAX_STEPS)
    hooks = _twin_hooks(condition)
    rng_start, rng_perm = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2)
    )
    starts = physics.sample_start_states(rng_start, n_episodes)
    if orders is None:
        orders = sample_twin_orders(rng_perm, n_episodes)
    orders = np.asarray(orders, dtype=np.int64)
    if orders.shape != (n_episodes, 2, physics.OBS_DIM):
        raise ValueError(f"orders must be (n_episodes, 2, 5), got {orders.shape}")

    p = torch.as_tensor(np.asarray(params, dtype=np.float32)).reshape(1, -1)
    weights = policy.prepare(p.expand(2, -1).contiguous())
    r = n_episodes
    first = torch.as_tensor(orders[:, 0])
    second = torch.as_tensor(orders[:, 1])
    perm = torch.stack([first, first])  # (2, R, 5)
    after = torch.stack([first, second])
    episode = torch.arange(r).expand(2, r)
    state = policy.initial_state(2, r, physics.OBS_DIM)
    env_state = torch.as_tensor(starts)
    alive = torch.ones(r, dtype=torch.bool)
    error = np.full((n_steps, r), np.nan)
    adiff = np.full((n_steps, r), np.nan)
    rec = {int(e): {} for e in record_episodes}

    for t in range(n_steps):
        alive2 = alive.expand(2, r)
        ctx = StepContext(t, episode, state, perm, alive2)
        if t == t_shuffle:
            untouched = {k: v[0].clone() for k, v in state.items() if k in ("h", "c")}
            for hook in hooks:
                hook.on_reshuffle(ctx, perm, after)
            for k, v in untouched.items():  # the reference run is never intervened on
                ctx.state[k] = torch.cat([v.unsqueeze(0), ctx.state[k][1:]])
            perm = ctx.perm = after
        obs_phys = physics.observation(env_state).to(torch.float32)  # (R, 5)
        obs = torch.gather(obs_phys.expand(2, r, -1), -1, perm)
        ctx.obs = obs
        for hook in hooks:
            hook.before_policy(ctx)
        action, state, att = policy.step(weights, obs, ctx.state)
        err = invariance_error(att[0], att[1], perm[0], perm[1])
        live = alive.numpy()
        error[t, live] = err[live]
        adiff[t, live] = (action[1] - action[0]).abs().double().numpy()[live]
        for e, tr in rec.items():
            if live[e]:
                for key, val in (
                    ("att_ref", att[0, e]),
                    ("att_twin", att[1, e]),
                    ("obs_ref", obs[0, e]),
                    ("obs_twin", obs[1, e]),
                    ("perm_ref", perm[0, e]),
                    ("perm_twin", perm[1, e]),
                    ("action_ref", action[0, e]),
                    ("action_twin", action[1, e]),
                ):
                    tr.setdefault(key, []).append(val.numpy().copy())
        env_state, _, off_track = physics.env_step(env_state, action[0].to(torch.float64))
        alive = alive & ~off_track
        if not alive.any():
            break
    traces = {e: {k: np.stack(v) for k, v in tr.items()} for e, tr in rec.items() if tr}
    return TwinResult(condition, t_shuffle, error, adiff, orders, int(seed), traces)


def closed_loop_pair(
    policy,
    params,
    n_episodes: int,
    seed: int,
    first,
    second,
    t_shuffle: int,
    condition: str = "none",
    steps_after: int = 1,
) -> tuple[dict, dict]:
    """Two ordinary rollouts from the same starts (same ``seed``), recorded: a reference
    fed in order ``first`` throughout and a run reshuffled to ``second`` at ``t_shuffle``,
    both with ``condition``'s interventions (``zero_hc`` acts in both; the reshuffle
    interventions fire only in the reshuffled run, the reference has no reshuffle).
    Both runs are identical before ``t_shuffle``, so at ``t_shuffle`` they see the same
    physical observation in two orders (afterwards their trajectories part).
    Returns the two trace dicts ``{episode: trace}`` (see `anpolicy.sim.rollout.rollout`)."""
    from anpolicy.sim.rollout import rollout
    from anpolicy.sim.schedules import PermutationSchedule

    kw = dict(record_episodes=range(n_episodes), max_steps=t_shuffle + steps_after)
    ref = rollout(
        policy, params, n_episodes, seed=seed,
        schedule=PermutationSchedule.given([first]),
        interventions=_twin_hooks(condition), **kw,
    )  # fmt: skip
    twin = rollout(
        policy, params, n_episodes, seed=seed,
        schedule=PermutationSchedule.given([first, second], steps=[t_shuffle]),
        interventions=_twin_hooks(condition), **kw,
    )  # fmt: skip
    pick = lambda res: {e: tr for (m, e), tr in res.traces.items() if m == 0}  # noqa: E731
    return pick(ref), pick(twin)


def error_bands(result: TwinResult, min_episodes: int = 10, n_boot: int = 200, seed: int = 0):
    """Per step with at least ``min_episodes`` running episodes: the mean error with a
    95 % percentile-bootstrap interval of the mean (``n_boot`` resamples; positive, so it
    can be drawn on a log scale; ``n_boot=0``: normal approximation), the median and
    quartiles. Returns arrays keyed ``t`` (steps after the reshuffle), ``n``, ``mean``,
    ``lo``, ``hi``, ``median``, ``q25``, ``q75``."""
    return value_bands(result.error, result.t_shuffle, min_episodes, n_boot, seed)


def value_bands(values, t_shuffle: int, min_episodes: int = 10, n_boot: int = 200, seed=0):
    """`error_bands` for any (T, R) array with NaN for finished episodes."""
    values = np.asarray(values, dtype=np.float64)
    n = np.isfinite(values).sum(axis=1)
    steps = np.nonzero(n >= min_episodes)[0]
    rng = np.random.default_rng(seed)
    out = {k: np.zeros(steps.size) for k in ("mean", "lo", "hi", "median", "q25", "q75")}
    for i, t in enumerate(steps):
        v = values[t][np.isfinite(values[t])]
        out["mean"][i] = v.mean()
        if n_boot:
            means = v[stats.bootstrap_indices(v.size, n_boot, rng)].mean(axis=1)
            out["lo"][i], out["hi"][i] = np.quantile(means, [0.025, 0.975])
        else:
            half = Z95 * v.std(ddof=1) / np.sqrt(v.size)
            out["lo"][i], out["hi"][i] = v.mean() - half, v.mean() + half
        out["q25"][i], out["median"][i], out["q75"][i] = np.quantile(v, [0.25, 0.5, 0.75])
    return {"t": steps - t_shuffle, "n": n[steps], **out}
