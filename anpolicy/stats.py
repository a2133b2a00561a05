"""Statistics for episode returns: means with 95 % confidence intervals.

Returns of this task are bimodal (doomed starts near 0, good episodes near 800), so
intervals use the normal approximation only for large n (it is accurate at the
hundreds-of-episodes scale used here) and a percentile bootstrap is available.
"""

from __future__ import annotations

import numpy as np

SHORT_EPISODE = 50  # steps: episodes shorter than this count as "short" (doomed starts)
Z95 = 1.959963984540054


def summarize(returns, lengths=None) -> dict:
    """Mean, sd, standard error, 95 % CI (normal), n, and the share of short episodes."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if r.size == 0 or not np.isfinite(r).all():
        raise ValueError("returns must be a non-empty array of finite numbers")
    n = r.size
    sd = float(r.std(ddof=1)) if n > 1 else 0.0
    se = sd / np.sqrt(n)
    out = {
        "mean": float(r.mean()),
        "sd": sd,
        "se": float(se),
        "ci95": [float(r.mean() - Z95 * se), float(r.mean() + Z95 * se)],
        "n": int(n),
    }
    if lengths is not None:
        length = np.asarray(lengths).reshape(-1)
        out["frac_short"] = float((length < SHORT_EPISODE).mean())
    return out


def proportion_ci(k: int, n: int) -> list:
    """Wilson 95 % interval of a proportion k / n ([None, None] when n is 0)."""
    if n == 0:
        return [None, None]
    z, p = Z95, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else float(max(0.0, centre - half))
    hi = 1.0 if k == n else float(min(1.0, centre + half))
    return [lo, hi]


def paired_difference(a, b) -> dict:
    """Mean of ``a - b`` over paired episodes (same starts), with its 95 % CI."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal shapes, got {a.shape} and {b.shape}")
    return summarize(a - b)


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) indices: each row draws ``n`` of ``range(n)`` with replacement (the
    one bootstrap resampling; paired samples index every array with the same rows)."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_ci(x, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple:
    """Percentile bootstrap CI of the mean of ``x``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    means = x[bootstrap_indices(x.size, n_boot, rng)].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def format_ci(s: dict | None, spec: str = ".0f", n: bool = False, minus_zero: bool = True) -> str:
    """'491 [483, 499]' from a summary dict (``mean``, ``ci95``; ``n`` with ``n=True``:
    '491 [483, 499] (n=10000)'), each number formatted with ``spec`` ('+.1f', '.3g');
    'n/a' for None. ``minus_zero=False`` writes a number that rounds to zero as 0, not -0.
    """
    if not s:
        return "n/a"

    def f(v):
        text = format(v, spec)
        return format(0.0, spec) if not minus_zero and float(text) == 0 else text

    lo, hi = s["ci95"]
    text = f"{f(s['mean'])} [{f(lo)}, {f(hi)}]"
    return f"{text} (n={s['n']})" if n else text


def format_mean_ci(s: dict, digits: int = 0) -> str:
    """'491 [483, 499] (n=10000)' from a `summarize` dict."""
    return format_ci(s, f".{digits}f", n=True)
