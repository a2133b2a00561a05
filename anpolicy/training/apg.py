"""Fine-tune an Attention Neuron by backpropagating the return through the simulator.

The cart-pole dynamics (`anpolicy.sim.physics`) and the reward are smooth functions of the
state, and the policy is a smooth function of its parameters, so the return of an
episode can be differentiated with respect to the parameters directly (an "analytic
policy gradient"). Over a whole 1000-step episode that gradient is useless (the closed
loop is chaotic during the swing-up), but over short windows it is informative and far
cheaper per unit of improvement than an evolution strategy's one number per episode.

One iteration:

1. draw ``batch`` fresh start states (the task's harder distribution) and run the
   differentiable policy (`anpolicy.sim.reference.ReferenceAttentionNeuron`, observations in
   their true order: a fixed permutation does not change an Attention Neuron's actions)
   through the float64 physics for up to 1000 steps;
2. every ``window`` steps, take a gradient step on minus the mean reward earned by the
   live episodes in that window, then detach the environment and LSTM states (truncated
   backpropagation through time); an episode stops contributing once its cart leaves
   the track;
3. every ``validate_every`` iterations, test the parameters with the batched engine on
   fixed held-out episodes (one random permutation per episode) and keep the best.

It is a fine-tuning step for an agent that already swings up (``--init-from``), not a
way to learn from scratch: windows of a second cannot see the payoff of a swing-up.
Checkpoints (parameters, Adam state, RNG, best) are written atomically every few
minutes; ``--resume`` continues a killed run.
Usage: ``python -m anpolicy apg --init-from data/agents/attention_neuron.npz
--minutes 30 --run-dir runs/apg``.
"""

from __future__ import annotations

import json
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
from anpolicy.store.checkpoint import RunClock, load_checkpoint
from anpolicy.store.checkpoint import save_checkpoint as save_checkpoint_file
from anpolicy.store.weights import load_agent, save_agent
from anpolicy.training.run_files import _log_upto, code_version


@dataclass
class APGConfig:
    """Knobs of an analytic-policy-gradient fine-tuning run."""

    init_from: str = "data/agents/attention_neuron.npz"  # Attention Neuron to start from
    minutes: float = 30.0  # wall-clock budget
    iterations: int = 100_000  # or this many iterations (batches of episodes)
    batch: int = 64  # episodes per iteration
    window: int = 100  # steps per truncated-BPTT window (one gradient step each)
    lr: float = 1e-3  # Adam learning rate
    grad_clip: float = 1.0  # gradient-norm clip per step
    upright_only: bool = False  # count a window's reward only for episodes whose pole
    # starts the window above the horizontal (cos theta > 0): improve the balance, leave
    # the swing-up (whose payoff a short window cannot see) to the evolution strategy
    validate_every: int = 5  # iterations between validations
    validate_episodes: int = 512
    validate_seed: int = 1_000_001
    test_episodes: int = 2000
    test_seed: int = 2_000_003
    seed: int = 0
    threads: int = 2
    checkpoint_minutes: float = 3.0
    run_dir: str = "runs/apg"


def train_iteration(
    model, opt, starts: torch.Tensor, window: int, grad_clip: float, upright_only: bool = False
) -> dict:
    """Run episodes from ``starts`` (B, 4) float64, stepping the optimizer every
    ``window`` steps. Returns the mean return and length of the batch."""
    b = starts.shape[0]
    state = starts.clone()
    alive = torch.ones(b, dtype=torch.bool)
    prev = torch.zeros(b)
    hc = None
    ret = torch.zeros(b, dtype=torch.float64)
    length = torch.zeros(b, dtype=torch.int64)
    losses = []
    for _ in range(0, physics.MAX_STEPS, window):
        window_reward = 0.0
        counted = alive & (torch.cos(state[:, 2].detach()) > 0) if upright_only else alive
        n_counted = int(counted.sum())
        for _step in range(window):
            obs = physics.observation(state).float()
            action, hc = model.step(obs, prev, hc)
            state, r, off_track = physics.env_step(state, action.double())
            r = r * alive
            window_reward = window_reward + (r * counted).sum()
            ret += r.detach()
            length += alive
            alive = alive & ~off_track
            counted = counted & alive
            prev = action
            if not alive.any():
                break
        loss = -window_reward / (max(n_counted, 1) * window)
        if n_counted:
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
        # truncate: the next window starts from the same states, without their history
        state, prev = state.detach(), prev.detach()
        hc = tuple(x.detach() for x in hc)
        if not alive.any():
            break
    return {
        "return": float(ret.mean()),
        "length": float(length.float().mean()),
        "loss": float(np.mean(losses)) if losses else float("nan"),
    }


def validate(params: np.ndarray, n: int, seed: int) -> dict:
    res = rollout(
        AttentionNeuronPolicy(), params, n, seed=seed, schedule=PermutationSchedule.at_reset()
    )
    return summarize(res.returns[0], res.lengths[0])


def apg(cfg: APGConfig, resume: bool = False, progress: bool = True) -> Path:
    torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    ckpt = run / "checkpoint.pkl"
    model = ReferenceAttentionNeuron()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if resume:
        if not ckpt.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
        st = load_checkpoint(ckpt, keys=("iter", "params", "opt"))
        model.load_flat(st["params"][None])
        opt.load_state_dict(st["opt"])
        # keep only log lines up to the checkpoint: the rest is redone
        log_path = run / "log.jsonl"
        log_path.write_text(_log_upto(log_path, st["iter"], key="iter"))
    else:
        if ckpt.exists():
            raise FileExistsError(f"{run} already holds a run; use --resume or another --run-dir")
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        policy, init, _ = load_agent(cfg.init_from)
        if policy.spec() != AttentionNeuronPolicy().spec():
            raise ValueError(f"--init-from {cfg.init_from} holds a {policy.spec()} policy")
        model.load_flat(init[None])
        v = validate(init, cfg.validate_episodes, cfg.validate_seed)
        st = {
            "iter": 0,
            "wall_s": 0.0,
            "env_steps": 0,
            "rng": np.random.default_rng(cfg.seed),
            "best": (v["mean"], 0, init),
            "code_version": code_version(),
        }
        with open(run / "log.jsonl", "w") as f:
            f.write(
                json.dumps({"iter": 0, "wall_s": 0.0, "val_mean": v["mean"], "val_se": v["se"]})
                + "\n"
            )
    log = open(run / "log.jsonl", "a")
    clock = RunClock(st["wall_s"], cfg.checkpoint_minutes)
    elapsed = clock.elapsed

    def save_checkpoint():
        st["wall_s"] = elapsed()
        st["params"] = model.flat()
        st["opt"] = opt.state_dict()
        save_checkpoint_file(ckpt, st)

    bar = tqdm(total=cfg.iterations, initial=st["iter"], disable=not progress, desc="apg")
    while st["iter"] < cfg.iterations and elapsed() < 60 * cfg.minutes:
        starts = torch.as_tensor(physics.sample_start_states(st["rng"], cfg.batch))
        row = train_iteration(model, opt, starts, cfg.window, cfg.grad_clip, cfg.upright_only)
        st["iter"] += 1
        st["env_steps"] += int(row["length"] * cfg.batch)
        row = {"iter": st["iter"], "wall_s": round(elapsed(), 1), **row}
        if st["iter"] % cfg.validate_every == 0:
            params = model.flat()
            v = validate(params, cfg.validate_episodes, cfg.validate_seed)
            row["val_mean"], row["val_se"] = v["mean"], v["se"]
            if v["mean"] > st["best"][0]:
                st["best"] = (v["mean"], st["iter"], params)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(1)
        bar.set_postfix(ret=f"{row['return']:.0f}", val=f"{row.get('val_mean', float('nan')):.0f}")
        if clock.checkpoint_due():
            save_checkpoint()
            clock.saved()
    bar.close()
    save_checkpoint()
    log.close()
    best_val, best_iter, params = st["best"]
    test = validate(params, cfg.test_episodes, cfg.test_seed)
    meta = {
        "config": asdict(cfg),
        "selected_iteration": best_iter,
        "validation_mean": best_val,
        "test": test,
        "wall_s": round(st["wall_s"], 1),
        "env_steps": st["env_steps"],
        "code_version": st["code_version"],
    }
    (run / "result.json").write_text(json.dumps(meta, indent=2))
    return save_agent(run / "agent.npz", AttentionNeuronPolicy(), params, meta)
