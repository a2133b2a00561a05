"""Evolution strategies with one ask/tell interface (maximising fitness).

- `CMAES`: pycma's CMA-ES (the original authors' optimizer); ``diagonal=True`` gives
  separable CMA-ES.
- `IPOPCMAES`: CMA-ES restarted with a doubled population each time a run converges
  (Auger & Hansen 2005), so that a noisy task gets ever larger populations to average over.
- `PGPE`: policy-gradient parameter exploration with symmetric (antithetic) sampling,
  centred-rank fitness shaping, Adam on the centre and a bounded per-parameter step-size
  update (the variant EvoJAX uses for this task).

All are picklable, so a checkpoint is just the pickled optimizer; ``stds`` gives each one's
per-coordinate sampling standard deviations (n,), which a later run can start from
(`anpolicy.training.run_files.save_sampling_state`).
"""

from __future__ import annotations

import numpy as np


def centered_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` mapped linearly to [-0.5, 0.5] (ties broken by order)."""
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ranks / (len(x) - 1) - 0.5


STEP_RULES = ("pycma", "csa", "tpa")


def _adapt_sigma(step_rule: str):
    """pycma's ``AdaptSigma`` option for a step-size rule (see `CMAES`)."""
    if step_rule == "pycma":
        return True  # pycma chooses: CSA, or from pycma 4.5 on TPA at n >= 300
    from cma.sigma_adaptation import CMAAdaptSigmaCSA, CMAAdaptSigmaTPA

    if step_rule == "csa":
        return CMAAdaptSigmaCSA
    if step_rule == "tpa":
        return CMAAdaptSigmaTPA
    raise ValueError(f"unknown CMA-ES step-size rule {step_rule!r}; use one of {STEP_RULES}")


class CMAES:
    """pycma CMA-ES. ``ask() -> (popsize, n)``, ``tell(fitness (popsize,))``.

    ``step_rule`` chooses the step-size adaptation: ``"pycma"`` leaves it to the
    installed pycma; pycma 4.5.0 (pinned here) uses two-point adaptation (TPA) for
    n >= 300 (our n = 913). Every earlier release we checked (3.0.3 through 4.4.4; 3.0.x
    was current when Tang & Ha trained in 2021) used cumulative step-size adaptation
    (CSA) there unless the covariance was diagonal: ``"csa"`` restores that (the same
    ``cs`` = 0.070 and damping 1.070 at n = 913, population 256, as pycma 3.0.3 computes).

    pycma draws its samples from ``opts["randn"]``, numpy's global random state by
    default; here it is a private ``RandomState`` seeded as pycma would seed the global
    one (the same samples), so other code cannot perturb it and a pickled optimizer
    (a checkpoint) carries its state and resumes exactly.
    """

    def __init__(
        self,
        n: int,
        popsize: int,
        sigma0: float,
        seed: int,
        diagonal: bool = False,
        x0: np.ndarray | None = None,
        step_rule: str = "pycma",
        coordinate_scales: np.ndarray | None = None,
    ):
        import cma

        opts = {"popsize": popsize, "seed": int(seed) + 1, "verbose": -9}
        opts["AdaptSigma"] = _adapt_sigma(step_rule)
        if diagonal:
            opts["CMA_diagonal"] = True
        if coordinate_scales is not None:  # pycma's CMA_stds: sigma0 times these, per coordinate
            opts["CMA_stds"] = np.asarray(coordinate_scales, dtype=np.float64)
        x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
        opts["randn"] = np.random.RandomState(opts["seed"]).randn
        self.es = cma.CMAEvolutionStrategy(x0, sigma0, opts)
        self._asked = None

    def ask(self) -> np.ndarray:
        self._asked = self.es.ask()
        return np.asarray(self._asked)

    def tell(self, fitness: np.ndarray) -> None:
        self.es.tell(self._asked, (-np.asarray(fitness, dtype=np.float64)).tolist())

    @property
    def center(self) -> np.ndarray:
        return np.asarray(self.es.mean)

    @property
    def step_size(self) -> float:
        return float(self.es.sigma)

    @property
    def stds(self) -> np.ndarray:
        """Per-coordinate standard deviations (n,) of the sampling distribution: the step
        size times pycma's coordinate scales and sqrt(diag C) (for full CMA-ES the
        correlations of C are not in it)."""
        return np.asarray(self.es.stds, dtype=np.float64)


# pycma's own stopping criteria that mean "this run has converged or stalled" (the budget
# criteria maxiter / maxfevals / ftarget are the trainer's business, not a restart's)
_CONVERGED = {
    "tolfun",
    "tolfunhist",
    "tolx",
    "tolstagnation",
    "tolflatfitness",
    "conditioncov",
    "noeffectaxis",
    "noeffectcoord",
}


class IPOPCMAES:
    """IPOP-CMA-ES over pycma: when the current run converges (its step size falls below
    ``restart_step_size``, or one of pycma's convergence criteria fires), start a fresh
    CMA-ES from ``x0`` with ``sigma0`` and the population times ``popsize_factor`` (at
    most ``max_popsize``). ``ask() -> (popsize_now, n)``; the population grows across
    restarts. ``restarts`` counts them; ``history`` holds ``(restart, popsize)`` per run.
    """

    def __init__(
        self,
        n: int,
        popsize: int,
        sigma0: float,
        seed: int,
        x0: np.ndarray | None = None,
        restart_step_size: float = 1e-3,
        popsize_factor: int = 2,
        max_popsize: int = 4096,
        step_rule: str = "pycma",
    ):
        if restart_step_size <= 0 or popsize_factor < 1:
            raise ValueError("restart_step_size must be > 0 and popsize_factor >= 1")
        self.n, self.sigma0, self.seed = n, sigma0, int(seed)
        self.x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64).copy()
        self.restart_step_size, self.popsize_factor = restart_step_size, popsize_factor
        self.max_popsize = max_popsize
        _adapt_sigma(step_rule)  # an unknown rule fails here, not at the first restart
        self.step_rule = step_rule
        self.popsize, self.restarts = popsize, 0
        self.history = [(0, popsize)]
        self._run = self._new_run()

    def _new_run(self) -> CMAES:
        # each run its own sampling seed, derived from the one seed of the optimizer
        seed = int(np.random.SeedSequence([self.seed, self.restarts]).generate_state(1)[0])
        rule = getattr(self, "step_rule", "pycma")  # checkpoints from before the option
        return CMAES(self.n, self.popsize, self.sigma0, seed % 2**31, x0=self.x0, step_rule=rule)

    def converged(self) -> bool:
        stops = set(self._run.es.stop()) & _CONVERGED
        return bool(stops) or self._run.step_size < self.restart_step_size

    def ask(self) -> np.ndarray:
        if self.converged():
            self.restarts += 1
            self.popsize = min(self.popsize * self.popsize_factor, self.max_popsize)
            self.history.append((self.restarts, self.popsize))
            self._run = self._new_run()
        return self._run.ask()

    def tell(self, fitness: np.ndarray) -> None:
        self._run.tell(fitness)

    @property
    def center(self) -> np.ndarray:
        return self._run.center

    @property
    def step_size(self) -> float:
        return self._run.step_size

    @property
    def stds(self) -> np.ndarray:
        return self._run.stds


class Adam:
    """Adam ascent on a vector (state kept in numpy)."""

    def __init__(self, n: int, lr: float, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.m, self.v, self.t = np.zeros(n), np.zeros(n), 0

    def step(self, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad**2
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class PGPE:
    """PGPE with antithetic sampling, centred ranks and Adam.

    ``popsize`` must be even: members 2k and 2k+1 are ``center +/- eps_k``,
    ``eps_k ~ N(0, diag(stdev^2))``; ``stdev`` starts at ``init_stdev`` in every
    coordinate, or at ``stdev0`` (n,) where given.
    """

    def __init__(
        self,
        n: int,
        popsize: int,
        seed: int,
        center_lr: float = 0.037,
        stdev_lr: float = 0.078,
        init_stdev: float = 0.082,
        stdev_max_change: float = 0.2,
        x0: np.ndarray | None = None,
        stdev0: np.ndarray | None = None,
    ):
        if popsize % 2:
            raise ValueError(f"PGPE needs an even population, got {popsize}")
        self.popsize = popsize
        self.rng = np.random.default_rng(seed)
        self.center = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64).copy()
        self.stdev = np.full(n, init_stdev) if stdev0 is None else np.array(stdev0, dtype=float)
        self.stdev_lr, self.stdev_max_change = stdev_lr, stdev_max_change
        self.adam = Adam(n, center_lr)
        self._eps = None

    def ask(self) -> np.ndarray:
        eps = self.rng.standard_normal((self.popsize // 2, len(self.center))) * self.stdev
        self._eps = eps
        pop = np.empty((self.popsize, len(self.center)))
        pop[0::2] = self.center + eps
        pop[1::2] = self.center - eps
        return pop

    def tell(self, fitness: np.ndarray) -> None:
        f = centered_ranks(np.asarray(fitness, dtype=np.float64)).reshape(-1, 2)
        eps = self._eps
        diff = f[:, 0] - f[:, 1]
        avg = f.mean(axis=1) - f.mean()
        grad_center = (eps * diff[:, None] * 0.5).mean(axis=0)
        grad_stdev = (avg[:, None] * (eps**2 - self.stdev**2) / self.stdev).mean(axis=0)
        self.center = self.center + self.adam.step(grad_center)
        bound = np.abs(self.stdev) * self.stdev_max_change
        self.stdev = self.stdev + np.clip(self.stdev_lr * grad_stdev, -bound, bound)

    @property
    def step_size(self) -> float:
        return float(np.mean(self.stdev))

    @property
    def stds(self) -> np.ndarray:
        return np.asarray(self.stdev, dtype=np.float64).copy()
