"""Evolution strategies with one ask/tell interface (maximising fitness).

- `CMAES`: pycma's CMA-ES (the original authors' optimizer); ``diagonal=True`` gives
  separable CMA-ES.
- `PGPE`: policy-gradient parameter exploration with symmetric (antithetic) sampling,
  centred-rank fitness shaping, Adam on the centre and a bounded per-parameter step-size
  update (the variant EvoJAX uses for this task).

Both are picklable, so a checkpoint is just the pickled optimizer.
"""

from __future__ import annotations

import numpy as np


def centered_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` mapped linearly to [-0.5, 0.5] (ties broken by order)."""
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ranks / (len(x) - 1) - 0.5


class CMAES:
    """pycma CMA-ES. ``ask() -> (popsize, n)``, ``tell(fitness (popsize,))``."""

    def __init__(
        self,
        n: int,
        popsize: int,
        sigma0: float,
        seed: int,
        diagonal: bool = False,
        x0: np.ndarray | None = None,
    ):
        import cma

        opts = {"popsize": popsize, "seed": int(seed) + 1, "verbose": -9}
        if diagonal:
            opts["CMA_diagonal"] = True
        x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
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
    ``eps_k ~ N(0, diag(stdev^2))``.
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
    ):
        if popsize % 2:
            raise ValueError(f"PGPE needs an even population, got {popsize}")
        self.popsize = popsize
        self.rng = np.random.default_rng(seed)
        self.center = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64).copy()
        self.stdev = np.full(n, init_stdev)
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
