"""Batched policies: the Attention Neuron (Tang & Ha 2021) and an FNN baseline.

Parameters are flat vectors batched as ``(P, n_params)`` (P = population members).
Observations are ``(P, R, C)``: R episodes per member, C observation channels. A policy
step maps ``(obs, state)`` to ``(action (P, R), new state, attention)`` with a handful
of batched tensor ops; nothing loops over episodes in Python.

The flat layout of `AttentionNeuronPolicy` is the original authors' (PyTorch parameter
order, row-major), so their published ``model.npz`` loads unchanged:
``lstm.weight_ih (32, 2), lstm.weight_hh (32, 8), lstm.bias_ih (32), lstm.bias_hh (32),
proj_q.weight (32, 8), proj_k.weight (32, 8), out.weight (1, 16), out.bias (1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from anpolicy.sim.physics import OBS_DIM


def pos_table(n_pos: int, dim: int) -> np.ndarray:
    """Sinusoidal position table (n_pos, dim), float32 (computed in float64, then rounded).

    ``angle[p, j] = p / 10000 ** (2 * (j // 2) / dim)``; sin on even columns, cos on odd.
    """
    pos = np.arange(n_pos, dtype=np.float64)[:, None]
    j = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return table.astype(np.float32)


def check_params(params, n_params: int) -> torch.Tensor:
    """Return ``params`` as a float32 tensor (P, n_params); raise ValueError if malformed."""
    t = torch.as_tensor(params)
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n_params:
        raise ValueError(
            f"expected parameters of shape (P, {n_params}) or ({n_params},), "
            f"got {tuple(torch.as_tensor(params).shape)}"
        )
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise ValueError(f"parameters contain {bad} non-finite values (NaN or inf)")
    return t.to(torch.float32)


def _check_obs(obs, weights_p: int, n_channels: int | None = None, state=None) -> torch.Tensor:
    """The boundary check of ``step``: ``obs`` as a float32 tensor (P, R, C), or ValueError.

    Accepts numpy arrays and any real floating dtype (float64, float16: converted to
    float32); refuses other dtypes by name, a shape that does not match the weights'
    population P, the policy's channel count or the state's (P, R, C), and NaN or inf.
    """
    if not isinstance(obs, torch.Tensor):
        try:
            obs = torch.as_tensor(np.asarray(obs))
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"observations must be a float array (P, R, C): {e}") from None
    if not obs.is_floating_point():
        raise ValueError(
            f"observations must be floating point (float32; float64 is converted), "
            f"got dtype {obs.dtype}"
        )
    if obs.ndim != 3 or obs.shape[0] != weights_p:
        raise ValueError(f"observations must be (P={weights_p}, R, C), got {tuple(obs.shape)}")
    if n_channels is not None and obs.shape[2] != n_channels:
        raise ValueError(f"this policy takes {n_channels} observation channels, got {obs.shape[2]}")
    if state is not None:
        layouts = {"h": "(P, R, C, 8)", "c": "(P, R, C, 8)", "prev_action": "(P, R)"}
        for key, layout in layouts.items():
            if key not in state:
                continue
            want = tuple(obs.shape[:2]) if key == "prev_action" else tuple(obs.shape)
            if tuple(state[key].shape[: len(want)]) != want:
                raise ValueError(
                    f"observations of shape (P, R, C) = {tuple(obs.shape)} do not match the "
                    f"state: {key!r} has shape {tuple(state[key].shape)}, {layout} (build it "
                    "with initial_state(P, R, C) for the channels you feed)"
                )
    if obs.dtype != torch.float32:
        obs = obs.to(torch.float32)
    if not torch.isfinite(obs).all():
        bad = int((~torch.isfinite(obs)).sum())
        raise ValueError(
            f"observations contain {bad} non-finite values (NaN or inf); the policy would "
            "return NaN actions"
        )
    return obs


class _FlatLayout:
    """Named slices of a flat parameter vector. ``shapes``: list of (name, shape)."""

    shapes: list[tuple[str, tuple[int, ...]]]

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for _, s in self.shapes)

    def unflatten(self, params) -> dict[str, torch.Tensor]:
        """Split (P, n_params) into named tensors of shape (P, *shape)."""
        flat = check_params(params, self.n_params)
        out, i = {}, 0
        for name, shape in self.shapes:
            k = math.prod(shape)
            out[name] = flat[:, i : i + k].reshape(flat.shape[0], *shape)
            i += k
        return out

    def flatten(self, named: dict) -> torch.Tensor:
        """Inverse of `unflatten`: named (P, *shape) tensors to (P, n_params)."""
        parts = [torch.as_tensor(named[n]).reshape(-1, math.prod(s)) for n, s in self.shapes]
        return torch.cat(parts, dim=1)


@dataclass(frozen=True)
class ANWeights:
    """Per-member tensors of the Attention Neuron, prepared once per rollout.

    ``lstm_w_t`` (4, P, 8, 11), gate-major (i, f, g, o): columns 0-7 = weight_hh,
    column 8 = weight_ih[:, 0] (observation), 9 = weight_ih[:, 1] (previous action),
    10 = bias_ih + bias_hh; the rows of the cell gate g are doubled.
    ``qk_t`` (P, 16, 8) = ``2 proj_q(pos_table) @ proj_k.weight``, so that the attention
    logits are ``qk_t @ h / 2``.
    ``out_w_t`` (P, 1, 16), ``out_b`` (P, 1, 1).
    """

    lstm_w_t: torch.Tensor
    qk_t: torch.Tensor
    out_w_t: torch.Tensor
    out_b: torch.Tensor

    @property
    def population(self) -> int:
        return self.lstm_w_t.shape[1]


class AttentionNeuronPolicy(_FlatLayout):
    """Attention Neuron layer + tanh output head (913 parameters with the defaults).

    Per observation channel i: ``h_i, c_i = LSTMCell([o_i, a_{t-1}], (h_i, c_i))`` (hidden 8,
    state zero at episode start, ``a_{-1} = 0``); ``Q = proj_q(pos_table(16, 8))``,
    ``K = proj_k(h)``; attention ``A = tanh(Q K^T)`` (16, C); ``m = tanh(A o)`` (16);
    ``a = tanh(out(m))``. The number of channels C is free (e.g. 5 + noise channels).

    State: ``{"h": (P, R, C, 8), "c": (P, R, C, 8), "prev_action": (P, R)}``, float32.
    """

    kind = "attention_neuron"
    has_lstm_state = True

    def __init__(
        self,
        hidden_dim: int = 16,
        msg_dim: int = 32,
        pos_em_dim: int = 8,
        attention_transform=None,
    ):
        """``attention_transform``: optional ablation hook, a function mapping the
        attention (P, R, 16, C) to a replacement of the same shape (e.g. uniform weights)
        before it weighs the observation. ``positions`` (16, 8) may be replaced after
        construction (e.g. shuffled queries); `prepare` reads it."""
        self.hidden_dim, self.msg_dim, self.pos_em_dim = hidden_dim, msg_dim, pos_em_dim
        self.attention_transform = attention_transform
        g = 4 * pos_em_dim
        self.shapes = [
            ("lstm.weight_ih", (g, 2)),
            ("lstm.weight_hh", (g, pos_em_dim)),
            ("lstm.bias_ih", (g,)),
            ("lstm.bias_hh", (g,)),
            ("proj_q.weight", (msg_dim, pos_em_dim)),
            ("proj_k.weight", (msg_dim, pos_em_dim)),
            ("out.weight", (1, hidden_dim)),
            ("out.bias", (1,)),
        ]
        self.positions = torch.from_numpy(pos_table(hidden_dim, pos_em_dim))

    def spec(self) -> dict:
        return {
            "kind": self.kind,
            "hidden_dim": self.hidden_dim,
            "msg_dim": self.msg_dim,
            "pos_em_dim": self.pos_em_dim,
        }

    def prepare(self, params, device: str | torch.device = "cpu") -> ANWeights:
        """Turn flat parameters (P, 913) into `ANWeights` on ``device``."""
        w = self.unflatten(params)
        lstm_w = torch.cat(
            [
                w["lstm.weight_hh"].transpose(1, 2),
                w["lstm.weight_ih"].transpose(1, 2),
                (w["lstm.bias_ih"] + w["lstm.bias_hh"]).unsqueeze(1),
            ],
            dim=1,
        )
        q = self.positions @ w["proj_q.weight"].transpose(1, 2)  # (P, 16, 32)
        qk = (q @ w["proj_k.weight"]).transpose(1, 2)  # (P, 8, 16)
        # tanh(z) = 2 sigmoid(2z) - 1: doubling the cell-gate columns and qk lets one
        # sigmoid pass serve all four gates, and the attention use a sigmoid too
        # (sigmoid is ~3x cheaper than tanh in PyTorch's CPU kernels).
        d = self.pos_em_dim
        lstm_w[:, :, 2 * d : 3 * d] *= 2.0
        return ANWeights(
            lstm_w_t=lstm_w.transpose(1, 2)
            .reshape(-1, 4, d, d + 3)
            .transpose(0, 1)
            .contiguous()
            .to(device),
            qk_t=(2.0 * qk).transpose(1, 2).contiguous().to(device),
            out_w_t=w["out.weight"].contiguous().to(device),
            out_b=w["out.bias"].reshape(-1, 1, 1).to(device),
        )

    def initial_state(self, population: int, n_episodes: int, n_channels: int, device="cpu"):
        """Zero state for (P, R) episodes with C channels.

        ``h`` and ``c`` are (P, R, C, 8) views of feature-major (P, 8, C, R) storage,
        the layout `step` computes in (so no copies are made between steps).
        """
        z = torch.zeros(population, self.pos_em_dim, n_channels, n_episodes, device=device)
        return {
            "h": z.permute(0, 3, 2, 1),
            "c": z.clone().permute(0, 3, 2, 1),
            "prev_action": torch.zeros(population, n_episodes, device=device),
        }

    def step(self, weights: ANWeights, obs, state: dict):
        """One step. ``obs`` (P, R, C) float32 (float64 and numpy arrays are converted).

        Returns ``(action (P, R), new_state, attention (P, R, 16, C))``. Refuses with a
        ValueError naming the problem an observation whose shape does not match the
        weights' population or the state's (P, R, C), a non-float dtype, or NaN/inf.
        """
        obs = _check_obs(obs, weights.population, state=state)
        return self.step_unchecked(weights, obs, state)

    def step_unchecked(self, weights: ANWeights, obs: torch.Tensor, state: dict):
        """`step` without the input checks, for engines that build ``obs`` (P, R, C) float32
        themselves (`anpolicy.sim.rollout`; the checks cost about as much as a step there).

        Internally every per-channel quantity is feature-major, (P, features, C, R): each
        LSTM gate is a contiguous block, the matmuls have a long inner dimension, and the
        attention's sum over channels adds contiguous slices.
        """
        p, r, c = obs.shape
        d, n = self.pos_em_dim, r * c
        h = state["h"].permute(0, 3, 2, 1).reshape(p, d, n)  # no copy for our own layout
        cell = state["c"].permute(0, 3, 2, 1).reshape(p, d, n)
        obs_cr = obs.transpose(1, 2)  # (P, C, R)
        x = torch.cat(
            [
                h,
                obs_cr.reshape(p, 1, n),
                state["prev_action"].view(p, 1, 1, r).expand(p, 1, c, r).reshape(p, 1, n),
                torch.ones(p, 1, n, dtype=obs.dtype, device=obs.device),
            ],
            dim=1,
        )  # (P, 11, C*R)
        # gates (4, P, 8, C*R) in PyTorch's order i, f, g, o; one sigmoid for all of them
        gates = torch.einsum("gpij,pjn->gpin", weights.lstm_w_t, x).sigmoid_()
        i, f, g2, o = gates.unbind(0)
        # c' = f c + i tanh(g), with tanh(g) = 2 sigmoid(2g) - 1
        cell = torch.addcmul(f * cell, i, g2.mul_(2.0).sub_(1.0))
        h = o * torch.sigmoid(2.0 * cell).mul_(2.0).sub_(1.0)
        att = torch.einsum("pkd,pdn->pkn", weights.qk_t, h).sigmoid_().mul_(2.0).sub_(1.0)
        att = att.view(p, self.hidden_dim, c, r)  # tanh(Q K^T), (P, 16, C, R)
        if self.attention_transform is not None:
            new = self.attention_transform(att.permute(0, 3, 1, 2))
            if new.shape != (p, r, self.hidden_dim, c):
                raise ValueError(f"attention_transform must keep shape {(p, r, 16, c)}")
            att = new.permute(0, 2, 3, 1)
        msg = torch.tanh((att * obs_cr.unsqueeze(1)).sum(dim=2))  # (P, 16, R)
        # a 1 x 16 output layer: a broadcast product is far cheaper than P tiny matmuls
        out = (weights.out_w_t.view(p, self.hidden_dim, 1) * msg).sum(dim=1)  # (P, R)
        action = torch.tanh(out + weights.out_b.view(p, 1))
        new_state = {
            "h": h.view(p, d, c, r).permute(0, 3, 2, 1),
            "c": cell.view(p, d, c, r).permute(0, 3, 2, 1),
            "prev_action": action,
        }
        return action, new_state, att.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class FNNWeights:
    """Per-member layers of the FNN: lists of (P, in, out) weights and (P, 1, out) biases."""

    ws: tuple
    bs: tuple

    @property
    def population(self) -> int:
        return self.ws[0].shape[0]


class FNNPolicy(_FlatLayout):
    """Feed-forward baseline: obs_dim -> 16 -> 16 -> 1, tanh everywhere (Tang & Ha's FNN).

    Flat layout (PyTorch order): ``l1.weight (16, obs_dim), l1.bias, l2.weight (16, 16),
    l2.bias, out.weight (1, 16), out.bias`` (385 parameters for 5 inputs). Stateless; its
    state dict only carries the previous action so that interventions can read it.
    """

    kind = "fnn"
    has_lstm_state = False

    def __init__(self, obs_dim: int = OBS_DIM, hidden: tuple[int, ...] = (16, 16)):
        self.obs_dim, self.hidden = obs_dim, tuple(hidden)
        sizes = [obs_dim, *self.hidden, 1]
        names = [f"l{k + 1}" for k in range(len(self.hidden))] + ["out"]
        self.shapes = []
        for name, n_in, n_out in zip(names, sizes[:-1], sizes[1:], strict=True):
            self.shapes += [(f"{name}.weight", (n_out, n_in)), (f"{name}.bias", (n_out,))]

    def spec(self) -> dict:
        return {"kind": self.kind, "obs_dim": self.obs_dim, "hidden": list(self.hidden)}

    def prepare(self, params, device: str | torch.device = "cpu") -> FNNWeights:
        w = self.unflatten(params)
        names = [n[: -len(".weight")] for n, _ in self.shapes if n.endswith(".weight")]
        ws = tuple(w[f"{n}.weight"].transpose(1, 2).contiguous().to(device) for n in names)
        bs = tuple(w[f"{n}.bias"].unsqueeze(1).to(device) for n in names)
        return FNNWeights(ws=ws, bs=bs)

    def initial_state(self, population: int, n_episodes: int, n_channels: int, device="cpu"):
        if n_channels != self.obs_dim:
            raise ValueError(
                f"this FNN takes {self.obs_dim} observation channels, got {n_channels} "
                "(an FNN cannot take extra noise or duplicated channels)"
            )
        return {"prev_action": torch.zeros(population, n_episodes, device=device)}

    def step(self, weights: FNNWeights, obs, state: dict):
        """One step. ``obs`` (P, R, obs_dim) float32 (float64 is converted). Returns
        ``(action (P, R), state, None)``; checks its input as `AttentionNeuronPolicy.step`."""
        obs = _check_obs(obs, weights.population, self.obs_dim, state=state)
        return self.step_unchecked(weights, obs, state)

    def step_unchecked(self, weights: FNNWeights, obs: torch.Tensor, state: dict):
        """`step` without the input checks (for `anpolicy.sim.rollout`)."""
        x = obs
        for w, b in zip(weights.ws, weights.bs, strict=True):
            x = torch.tanh(torch.baddbmm(b, x, w))
        action = x.squeeze(-1)
        return action, {"prev_action": action}, None


# The fields a spec may hold, per kind, and the range of each size (larger sizes are
# refused before anything is allocated).
SPEC_FIELDS = {
    "attention_neuron": ("hidden_dim", "msg_dim", "pos_em_dim"),
    "fnn": ("obs_dim", "hidden"),
}
MAX_SIZE = 4096


def _size(kind: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{kind} spec field {name!r} must be an integer, got {value!r}")
    if not 1 <= value <= MAX_SIZE:
        raise ValueError(f"{kind} spec field {name!r} must be in 1..{MAX_SIZE}, got {value}")
    return int(value)


def make_policy(spec: dict):
    """Build a policy from its `spec()` dictionary; ValueError (naming the field) for an
    unknown kind, unknown fields, or sizes that are not integers in 1..4096."""
    if not isinstance(spec, dict):
        raise ValueError(f"a policy spec must be a dict, got {type(spec).__name__}")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    classes = {AttentionNeuronPolicy.kind: AttentionNeuronPolicy, FNNPolicy.kind: FNNPolicy}
    if not isinstance(kind, str) or kind not in classes:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {sorted(classes)}")
    unknown = sorted(set(spec) - set(SPEC_FIELDS[kind]))
    if unknown:
        raise ValueError(
            f"unknown {kind} spec fields {unknown}; expected some of {list(SPEC_FIELDS[kind])}"
        )
    for name, value in spec.items():
        if name == "hidden":
            if not isinstance(value, list | tuple) or len(value) > 16:
                raise ValueError(f"fnn spec field 'hidden' must be a list of sizes, got {value!r}")
            spec[name] = tuple(_size(kind, "hidden", v) for v in value)
        else:
            spec[name] = _size(kind, name, value)
    return classes[kind](**spec)
