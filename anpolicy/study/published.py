"""Published numbers of the two papers this book checks (the one place they are kept).

Chapters, verdicts and the conclusions read them from here; a test scans the chapters
for these numbers typed in by hand.

- `TANG_HA_2021`: Tang & Ha (2021), CartPoleSwingUpHarder, mean and sd of the return
  over 1000 test episodes. Keys follow the book's condition names: ``none``
  (unshuffled), ``reset`` (one permutation per episode), ``every_<t>`` (reshuffled
  every t steps during the episode), ``duplicated`` ("10 obs (5 duplicated)"),
  ``noise_5`` (5 extra N(0, 0.1^2) channels).
- `STUDY_2025`: the 2025 study "The Attention Neuron Is Not Truly Permutation
  Invariant", as its code ran: reshuffles every k steps for k in its sweep (its text
  says "every time step"), 30 episodes per point, mean +- s.e.m., one seed, the authors'
  weights; "zeroing the LSTM state" zeroed only c (49 vs 425).
- `AUTHORS_TEST_LOGS`: the authors' own evaluation logs of their weights (100 episodes).
- `EVOJAX_PGPE_MLP`: the MLP result of EvoJAX's PGPE benchmark on CartPoleSwingUpHarder
  ("CartPole (hard)", the evosax-benchmarks table: 631.1, target 600 within 1,000
  iterations), the reference for our FNN.
"""

from __future__ import annotations

import numpy as np

from anpolicy.stats import Z95

TANG_HA_2021 = {
    "n": 1000,
    "fnn": {"none": (593.0, 433.0), "reset": (38.0, 120.0)},
    "an": {
        "none": (472.0, 426.0),
        "reset": (471.0, 426.0),
        "duplicated": (471.0, 425.0),
        "noise_5": (461.0, 410.0),
        "every_25": (107.0, 146.0),
        "every_50": (163.0, 198.0),
        "every_100": (242.0, 254.0),
        "every_200": (318.0, 310.0),
        "every_500": (407.0, 380.0),
    },
}
TANG_HA_INTERVALS = (25, 50, 100, 200, 500)

STUDY_2025 = {
    "k": (500, 333, 250, 200, 167, 143),
    "episodes_per_point": 30,
    "zero_state": {"zeroed": 49.0, "baseline": 425.0},
}

AUTHORS_TEST_LOGS = {
    "shuffled": {"mean": 516.57, "sd": 420.37, "n": 100},
    "noise_5": {"mean": 489.93, "sd": 410.20, "n": 100},
}


def published_summary(mean: float, sd: float, n: int = 1000) -> dict:
    """A `summarize`-like dict (normal 95 % CI) from a published mean, sd and n."""
    se = sd / np.sqrt(n)
    return {"mean": mean, "sd": sd, "se": se, "ci95": [mean - Z95 * se, mean + Z95 * se], "n": n}


def tang_ha(agent: str, condition: str) -> str:
    """'472 ± 426' (mean ± sd) or '' where Tang & Ha report nothing."""
    pair = TANG_HA_2021[agent].get(condition)
    return "" if pair is None else f"{pair[0]:.0f} ± {pair[1]:.0f}"


def tang_ha_kept(condition: str) -> float | None:
    """Tang & Ha's return under ``condition`` as a share of their unshuffled 472."""
    pair = TANG_HA_2021["an"].get(condition)
    return None if pair is None else pair[0] / TANG_HA_2021["an"]["none"][0]


# Tang & Ha's training run (paper and released code): pycma CMA-ES from x0 = 0 with
# sigma0 0.1, population 256, 16 rollouts per fitness on one task seed per generation,
# 14,000 generations, no shuffling, on 256 CPUs for about three days.
TANG_HA_TRAINING = {
    "generations": 14000,
    "popsize": 256,
    "rollouts": 16,
    "sigma0": 0.1,
    "episodes": 14000 * 256 * 16,  # 57.3 M
    "cpu_hours": 256 * 72,  # ~18,000
    "test_reset": TANG_HA_2021["an"]["reset"][0],  # their test score, shuffled at reset
}

# EvoJAX's PGPE benchmark, CartPole (hard), MLP policy: its reported average test return
EVOJAX_PGPE_MLP = 631.1
