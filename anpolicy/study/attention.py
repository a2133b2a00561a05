"""Attention analysis: is the Attention Neuron's attention matrix equivariant?

The layer computes, per input channel j, an LSTM state (h_j, c_j) and an attention
column ``A[:, j] = tanh(Q K_j^T)`` (16 queries). With ``policy_obs[j] = obs[perm[j]]``,
input column j carries physical channel ``perm[j]``. Two runs that feed the same
physical observations in two orders ``p`` and ``q`` are *equivalent* when every physical
channel gets the same attention column in both, i.e.

    A_q[:, j] = A_p[:, argsort(p)[q[j]]]      (j < n_permuted)

which is ``A_q = A_p P`` with the permutation matrix ``P[i, j] = [i == argsort(p)[q[j]]]``
-- the same index map as the correct ("relative") permutation of the LSTM state rows,
`anpolicy.sim.interventions.relative_permutation`. Appended noise channels are not permuted.

Tools here:
- `align_attention`, `invariance_error`: the comparison above, vectorised;
- `twin_rollout`: a *reference* run and a *twin* run from the same start, both driven
  by the reference's actions (so both see the same physical trajectory); the twin's
  observation order changes at ``t_shuffle``. The attention of the twin is compared
  with the column-permuted attention of the reference at every step, under a state
  intervention (none, zero h and c every step in both runs, permute the state rows at
  the reshuffle with the relative or the 2025 study's absolute index map, or reset);
- `AttentionStats`: a rollout hook accumulating what the attention looks at (per
  physical channel and noise channels) and what the 16 output features m_k respond to.
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

OBS_NAMES = ("x", "x_dot", "cos_theta", "sin_theta", "theta_dot")

TWIN_CONDITIONS = {
    "none": "state untouched",
    "zero_hc": "h and c zeroed every step (both runs)",
    "relative": "state rows permuted with the relative permutation",
    "absolute": "state rows permuted with the absolute index (2025 study's code)",
    "reset": "h and c zeroed at the reshuffle (twin only)",
}


# ---------------------------------------------------------------- the comparison


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


# ---------------------------------------------------------------- the twin rollout


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


# ----------------------------------------------------------- attention statistics


class AttentionStats(Intervention):
    """Accumulate, over every live step of a rollout (per population member):

    - ``att_abs`` (P, 16, G): mean |A[k, j]| over input columns j grouped by what they
      carry: G = 5 physical variables, plus one group "noise" if noise channels exist;
    - ``contrib_abs`` (P, 16, G): mean |A[k, j] o_j|, the size of each group's term in
      ``m_k = tanh(sum_j A[k, j] o_j)``;
    - moments of the 16 features m_k and of the physical observations, for
      `feature_correlation`.

    Columns are assigned to physical variables with the permutation in force
    (``perm[j] % 5``), so the statistics do not depend on the input order.
    ``every``: sample one step in ``every`` (t = 0, every, 2 every, ...) to save time.
    """

    name = "attention_stats"

    def __init__(self, episodes=None, every: int = 1):
        super().__init__(episodes)
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.sums: dict = {}

    def after_policy(self, ctx):
        if ctx.t % self.every:
            return
        if ctx.attention is None:
            raise ValueError("AttentionStats needs a policy that returns attention")
        n_perm, n_members = ctx.n_permuted, ctx.attention.shape[0]
        c = ctx.attention.shape[-1]
        n_groups = physics.OBS_DIM + (1 if c > n_perm else 0)
        live = self.mask(ctx) & ctx.alive  # (P, S)
        d = physics.OBS_DIM
        for p in range(n_members):
            sel = live[p].nonzero().squeeze(-1)
            n = sel.numel()
            att = ctx.attention[p, sel]  # (N, 16, C)
            obs = ctx.obs[p, sel]  # (N, C)
            order = torch.argsort(ctx.perm[p, sel], dim=-1)  # column of physical channel i
            contrib = att * obs[:, None, :]
            m = torch.tanh(contrib.sum(dim=-1))  # (N, 16)
            phys = torch.gather(obs, 1, order[:, :d])  # the first copy of each variable

            def by_group(a, order=order, n=n):
                """(N, 16, C) -> (16, G) sums over steps and the columns of each group."""
                real = torch.gather(a[..., :n_perm], 2, order[:, None, :].expand(n, 16, n_perm))
                real = real.reshape(n, 16, n_perm // d, d).sum(dim=(0, 2))
                if c == n_perm:
                    return real.double()
                return torch.cat([real, a[..., n_perm:].sum(dim=(0, 2))[:, None]], 1).double()

            count = torch.full((n_groups,), float(n * (n_perm // d)), dtype=torch.float64)
            if n_groups > d:
                count[d] = float(n * (c - n_perm))
            add = {
                "count": count,  # columns seen per group
                "att": by_group(att),
                "att_abs": by_group(att.abs()),
                "saturated": by_group((att.abs() > 0.99).float()),
                "contrib_abs": by_group(contrib.abs()),
                "n": torch.tensor(float(n), dtype=torch.float64),
                "m": m.double().sum(0),
                "m2": (m * m).double().sum(0),
                "x": phys.double().sum(0),
                "x2": (phys * phys).double().sum(0),
                "mx": m.double().T @ phys.double(),  # (16, 5)
            }
            for key, value in add.items():
                acc = self.sums.setdefault(key, [0.0] * n_members)
                acc[p] = acc[p] + value

    def summary(self) -> dict:
        """Numpy arrays: ``att_abs``, ``contrib_abs`` (P, 16, G) means per column,
        ``groups`` (names), ``corr`` (P, 16, 5) correlation of m_k with each variable,
        ``steps`` (P,) live steps counted."""
        if not self.sums:
            raise ValueError("no steps recorded")
        s = {k: np.stack([np.asarray(x, np.float64) for x in v]) for k, v in self.sums.items()}
        count = np.maximum(s["count"][:, None, :], 1)
        n = s["n"][:, None]
        m_mean, x_mean = s["m"] / n, s["x"] / n
        m_var = s["m2"] / n - m_mean**2
        x_var = s["x2"] / n - x_mean**2
        cov = s["mx"] / n[..., None] - m_mean[:, :, None] * x_mean[:, None, :]
        denom = np.sqrt(np.maximum(m_var, 0)[:, :, None] * np.maximum(x_var, 0)[:, None, :])
        corr = np.where(denom > 0, cov / np.where(denom > 0, denom, 1), np.nan)
        groups = list(OBS_NAMES) + (["noise"] if s["count"].shape[1] > physics.OBS_DIM else [])
        return {
            "att": s["att"] / count,
            "att_abs": s["att_abs"] / count,
            "saturated": s["saturated"] / count,
            "contrib_abs": s["contrib_abs"] / count,
            "groups": groups,
            "corr": corr,
            "steps": s["n"],
        }


# ------------------------------------------------------------------ reporting


def summarize_or_none(x) -> dict | None:
    """`anpolicy.stats.summarize` of the finite values of ``x``; None if there are none."""
    from anpolicy.stats import summarize

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    return summarize(x) if x.size else None


def format_ci(s: dict | None, spec: str = ".3g") -> str:
    """'0.135 [0.129, 0.141] (n=463)' with any format spec, no '-0'; 'n/a' for None."""
    return stats.format_ci(s, spec, n=True, minus_zero=False)


def steps_below(bands: dict, level: float) -> int | None:
    """First step after the reshuffle (>= 0) from which the mean error stays below
    ``level`` for the rest of the window; None if it never does."""
    t, mean = bands["t"], bands["mean"]
    after = t >= 0
    above = np.nonzero(after & ~(mean < level))[0]
    if not above.size:
        return int(t[after][0]) if after.any() else None
    last = above[-1]
    return int(t[last + 1]) if last + 1 < t.size else None


def derangement(seed: int, n: int = physics.OBS_DIM) -> np.ndarray:
    """A random permutation of range(n) that moves every element (seeded)."""
    rng = np.random.default_rng(seed)
    p = rng.permutation(n)
    while (p == np.arange(n)).any():
        p = rng.permutation(n)
    return p


def reshuffle_heatmap_pairs(policy, params, n_episodes: int, seed: int, t_shuffle: int,
                            conditions=("none", "zero_hc", "relative")):  # fmt: skip
    """`closed_loop_pair` for each condition (identity order, then a derangement at
    ``t_shuffle``) and the first episode that runs past the reshuffle in all of them.
    Returns ``(pairs, episode)``; ValueError if no recorded episode gets there."""
    first, second = np.arange(physics.OBS_DIM), derangement(seed)
    pairs = {
        c: closed_loop_pair(policy, params, n_episodes, seed, first, second, t_shuffle, c)
        for c in conditions
    }
    for e in range(n_episodes):
        if all(
            len(ref[e]["action"]) > t_shuffle and len(tw[e]["action"]) > t_shuffle
            for ref, tw in pairs.values()
        ):
            return pairs, e
    raise ValueError(f"no recorded episode runs past step {t_shuffle}: record more episodes")
