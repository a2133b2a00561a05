"""Fit the rational tanh of the fused engine: tanh(x) ~ x P(x^2) / Q(x^2) on [0, 9].

P has degree 6 and Q degree 3 in s = x^2, Q(0) = 1. The fit is a linear least-squares
problem in the coefficients (x P(s) - tanh(x) (Q(s) - 1) = tanh(x)), re-weighted by
1 / |Q| a few times so that the residual it minimises approaches the true error
(Loeb's iteration). Prints the coefficients that anpolicy/sim/fused.py holds and the max
abs error of the float32 evaluation there, on a dense grid over [-12, 12].

    python scripts/fit_tanh.py
"""

from __future__ import annotations

import numpy as np

X_MAX = 9.0  # float32 tanh is 1.0 beyond ~9.01
P_DEGREE, Q_DEGREE = 6, 3


def fit(n_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (P: ascending powers of s, Q: ascending, Q[0] = 1), float64."""
    x = np.unique(
        np.concatenate(
            [np.linspace(0, X_MAX, 40_000), X_MAX * (1 - np.cos(np.linspace(0, np.pi / 2, 40_000)))]
        )
    )
    t, s = np.tanh(x), x * x
    weight = np.ones_like(x)
    cols_p = x[:, None] * s[:, None] ** np.arange(P_DEGREE + 1)
    cols_q = -(t[:, None] * s[:, None] ** np.arange(1, Q_DEGREE + 1))
    a = np.concatenate([cols_p, cols_q], axis=1)
    for _ in range(n_iter):
        aw = a * weight[:, None]
        scale = np.abs(aw).max(axis=0)
        coef = np.linalg.lstsq(aw / scale, t * weight, rcond=None)[0] / scale
        p, q = coef[: P_DEGREE + 1], np.concatenate([[1.0], coef[P_DEGREE + 1 :]])
        weight = 1.0 / np.abs(np.polynomial.polynomial.polyval(s, q))
    return p, q


def float32_error(p: np.ndarray, q: np.ndarray) -> float:
    """Max abs error of the float32 Horner evaluation (as in fused.tanh32) on [-12, 12]."""
    x = np.linspace(-12, 12, 2_400_001).astype(np.float32)
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    xc = np.clip(x, np.float32(-X_MAX), np.float32(X_MAX))
    s = xc * xc

    def horner(c, s):
        acc = np.full_like(s, c[-1])
        for k in c[-2::-1]:
            acc = acc * s + k
        return acc

    approx = xc * horner(p32, s) / horner(q32, s)
    return float(np.abs(approx.astype(np.float64) - np.tanh(x.astype(np.float64))).max())


if __name__ == "__main__":
    p, q = fit()
    print("P (ascending powers of x^2):", ", ".join(f"{v:.8e}" for v in p))
    print("Q (ascending powers of x^2):", ", ".join(f"{v:.8e}" for v in q))
    print(f"max abs error in float32 on [-12, 12]: {float32_error(p, q):.2e}")
