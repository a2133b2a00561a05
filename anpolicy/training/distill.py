"""Distil an Attention Neuron from a trained teacher (DAgger + backpropagation through time).

Evolution strategies spend most of their budget on episodes whose only output is one
number. A teacher policy (our FNN, trained with PGPE in minutes) gives a target action at
every step instead, and the Attention Neuron can be fitted to it by gradient descent:

1. roll out the student on fresh episodes; at each step the executed action is the
   teacher's with probability beta (decaying per iteration, DAgger), else the student's;
   record observations, executed actions and the teacher's action for every step;
2. keep the last ``buffer_iters`` iterations of episodes; fit the student to the teacher's
   actions over whole episodes (BPTT through the per-channel LSTM, previous actions fed
   from the data), mean squared error on valid steps, clipped gradients, Adam;
3. every ``validate_every`` iterations test the student (with one random permutation per
   episode) on fixed held-out episodes and keep the best parameters.

The student is then a starting point for ES fine-tuning (``train --init-from``).
Usage: ``python -m anpolicy distill --teacher data/agents/fnn.npz --minutes 30
--run-dir runs/distill``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from anpolicy.sim import physics
from anpolicy.sim.policy import AttentionNeuronPolicy
from anpolicy.sim.reference import ReferenceAttentionNeuron
from anpolicy.sim.rollout import rollout
from anpolicy.sim.schedules import PermutationSchedule
from anpolicy.stats import summarize
from anpolicy.store.weights import load_agent, save_agent


@dataclass
class DistillConfig:
    """Knobs of a distillation run."""

    teacher: str = "data/agents/fnn.npz"  # teacher weights (any 5-input policy file)
    minutes: float = 30.0  # wall-clock budget
    iterations: int = 10_000  # or this many DAgger iterations
    episodes_per_iter: int = 64  # fresh episodes collected per iteration
    buffer_iters: int = 8  # iterations of episodes kept for fitting
    updates_per_iter: int = 4  # gradient steps per iteration
    batch: int = 64  # episodes per gradient step
    lr: float = 3e-3  # Adam learning rate
    grad_clip: float = 1.0  # gradient-norm clip
    beta0: float = 1.0  # probability of executing the teacher's action, first iteration
    beta_decay: float = 0.85  # multiplied into beta every iteration
    init_scale: float = 0.1  # std of the student's initial parameters
    init_from: str = ""  # start the student from these Attention Neuron weights instead
    validate_every: int = 10  # iterations between validations
    validate_episodes: int = 512
    validate_seed: int = 1_000_001
    test_episodes: int = 2000
    test_seed: int = 2_000_003
    seed: int = 0
    threads: int = 1
    run_dir: str = "runs/distill"


@torch.no_grad()
def collect(student, teacher, t_weights, n: int, beta: float, rng: np.random.Generator):
    """Run n episodes; returns obs (T, n, 5), executed actions (T, n), teacher actions
    (T, n), valid mask (T, n) as tensors."""
    state = torch.as_tensor(physics.sample_start_states(rng, n))
    alive = torch.ones(n, dtype=torch.bool)
    prev = torch.zeros(n)
    hc = None
    t_state = {"prev_action": torch.zeros(1, n)}
    obs_l, exe_l, tea_l, mask_l = [], [], [], []
    for _ in range(physics.MAX_STEPS):
        obs = physics.observation(state).float()
        a_student, hc = student.step(obs, prev, hc)
        a_teacher, t_state, _ = teacher.step(t_weights, obs[None], t_state)
        a_teacher = a_teacher[0]
        use_teacher = torch.from_numpy(rng.random(n) < beta)
        executed = torch.where(use_teacher, a_teacher, a_student)
        obs_l.append(obs)
        exe_l.append(executed)
        tea_l.append(a_teacher)
        mask_l.append(alive.clone())
        state, _, off_track = physics.env_step(state, executed.double())
        alive &= ~off_track
        prev = executed
        if not alive.any():
            break
    return torch.stack(obs_l), torch.stack(exe_l), torch.stack(tea_l), torch.stack(mask_l)


def fit_step(student, opt, batch, grad_clip: float) -> float:
    """One gradient step of BPTT over whole episodes. batch: (obs, exe, tea, mask)."""
    obs, exe, tea, mask = batch
    hc = None
    prev = torch.zeros(obs.shape[1])
    loss, count = 0.0, mask.sum().clamp(min=1)
    for t in range(obs.shape[0]):
        if not mask[t].any():
            break
        a, hc = student.step(obs[t], prev, hc)
        loss = loss + (((a - tea[t]) ** 2) * mask[t]).sum()
        prev = exe[t]
    loss = loss / count
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(student.parameters(), grad_clip)
    opt.step()
    return float(loss)


def _pad_cat(episodes):
    """Concatenate collected batches along episodes, padding time to the longest."""
    t_max = max(e[0].shape[0] for e in episodes)
    out = []
    for k in range(4):
        parts = []
        for e in episodes:
            x = e[k]
            pad = t_max - x.shape[0]
            if pad:
                x = torch.cat([x, torch.zeros(pad, *x.shape[1:], dtype=x.dtype)])
            parts.append(x)
        out.append(torch.cat(parts, dim=1))
    return out


def distill(cfg: DistillConfig, progress: bool = True) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    teacher, t_params, _ = load_agent(cfg.teacher)
    t_weights = teacher.prepare(t_params)
    student = ReferenceAttentionNeuron()
    if cfg.init_from:
        init_policy, init_params, _ = load_agent(cfg.init_from)
        if init_policy.spec() != AttentionNeuronPolicy().spec():
            raise ValueError(f"--init-from {cfg.init_from} holds a {init_policy.spec()} policy")
        student.load_flat(init_params)
    else:
        with torch.no_grad():
            for p in student.parameters():
                p.normal_(0.0, cfg.init_scale)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    an = AttentionNeuronPolicy()
    buffer, best, beta = [], None, cfg.beta0
    log = open(run / "log.jsonl", "w")
    t0 = time.time()
    bar = tqdm(total=cfg.iterations, disable=not progress, desc="distill", unit="it")
    it = 0
    while it < cfg.iterations and time.time() - t0 < 60 * cfg.minutes:
        buffer.append(collect(student, teacher, t_weights, cfg.episodes_per_iter, beta, rng))
        buffer = buffer[-cfg.buffer_iters :]
        data = _pad_cat(buffer)
        losses = []
        for _ in range(cfg.updates_per_iter):
            n_avail = data[0].shape[1]
            idx = torch.from_numpy(rng.choice(n_avail, min(cfg.batch, n_avail), replace=False))
            losses.append(fit_step(student, opt, [d[:, idx] for d in data], cfg.grad_clip))
        it += 1
        beta *= cfg.beta_decay
        row = {
            "iter": it,
            "wall_s": round(time.time() - t0, 1),
            "loss": float(np.mean(losses)),
            "beta": beta,
            "mean_len": float(buffer[-1][3].sum(0).float().mean()),
        }
        if it % cfg.validate_every == 0:
            params = student.flat()
            res = rollout(
                an,
                params,
                cfg.validate_episodes,
                seed=cfg.validate_seed,
                schedule=PermutationSchedule.at_reset(),
            )
            row["val_mean"] = float(res.returns.mean())
            if best is None or row["val_mean"] > best[0]:
                best = (row["val_mean"], it, params)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", val=f"{row.get('val_mean', float('nan')):.0f}")
    bar.close()
    if best is None:
        best = (float("nan"), it, student.flat())
    res = rollout(
        an, best[2], cfg.test_episodes, seed=cfg.test_seed, schedule=PermutationSchedule.at_reset()
    )
    meta = {
        "config": asdict(cfg),
        "selected_iteration": best[1],
        "validation_mean": best[0],
        "test": summarize(res.returns[0], res.lengths[0]),
        "wall_s": round(time.time() - t0, 1),
    }
    (run / "result.json").write_text(json.dumps(meta, indent=2))
    return save_agent(run / "student.npz", an, best[2], meta)
