"""Verdict thresholds, the tests of measured numbers against them, and the number formats.

Every threshold a sentence or a verdict uses is a named constant here (`THRESHOLDS`
lists them for the book), with the reason for its value. The tests (`below`, `above`,
`excludes_zero`, `within`, `change_class`, `shares_separate`) take
`anpolicy.stats.summarize`-like dicts (``mean``, ``ci95``, ``n``) or Wilson proportions
``(k, n)``; the formats (`ci`, `pct`, `share`) return plain strings. Returns are
per-episode sums of rewards; steps are environment steps.
"""

from __future__ import annotations

from anpolicy.stats import format_ci, proportion_ci

#: a paired change of the mean return counts as "no measurable change" when its 95 %
#: CI lies within +-EQUIVALENCE of the reference condition's mean return
EQUIVALENCE = 0.05


#: a condition "collapses" the return when its CI lies below COLLAPSE x the baseline's
#: lower CI end
COLLAPSE = 0.5


#: "robust" to extra channels: the paired difference's CI stays above -ROBUST_DROP x
#: the shuffled mean
ROBUST_DROP = 0.10


#: an attention entry is saturated when |A| > SATURATED
SATURATED = 0.99


#: the attention mismatch e_t is "present" when its CI lies above MISMATCH
MISMATCH = 1e-3


#: the mismatch has "faded" once the mean e_t is below FADED (1 % of the norm)
FADED = 1e-2


#: float32 round-off: largest e_t at the reshuffle below ROUNDOFF_MAX and mean below
#: ROUNDOFF_MEAN
ROUNDOFF_MAX = 1e-6


ROUNDOFF_MEAN = 1e-4


#: one step of the layer recomputed with its channels in another order: float32
#: round-off of sums over 16 x C terms of size up to ~1 (about 100 x float32's 1.2e-7)
ONE_STEP_ROUNDOFF = 1e-5


#: float64 check of the layer's exact properties: differences below FLOAT64_EXACT
FLOAT64_EXACT = 1e-9


#: the attention "filters" noise when its share of the attention magnitude lies more
#: than FILTER_MARGIN below the noise's share of columns
FILTER_MARGIN = 0.1


#: a recovery "within a few dozen steps" means a median below FEW_DOZEN steps
FEW_DOZEN = 50


#: episodes count as "the same" when their returns differ by at most IDENTICAL_ATOL
IDENTICAL_ATOL = 1e-3


#: the reward band of the recovery measure (per-step reward, in [-1, 1])
RECOVERY_TOL = 0.1


#: how an agent learns (`anpolicy.study.learning`): |Spearman rho| across snapshots at
#: or above TREND_RHO is a trend
TREND_RHO = 0.5


#: zeroing h, c keeps less than MEMORY_DEPENDENT of the return (whole CI below): the
#: snapshot depends on its memory
MEMORY_DEPENDENT = 0.5


#: "early": within this share of the run's training episodes
EARLY = 1 / 3


#: a change of the saturated share by SATURATION_CHANGE or more is a change
SATURATION_CHANGE = 0.10


#: the relative-permutation check fails on a share off 100 % by more than
#: RELATIVE_TOLERANCE, with its CI excluding 100 % (round-off alone moves paired returns
#: a little)
RELATIVE_TOLERANCE = 0.01


THRESHOLDS = {
    "EQUIVALENCE": EQUIVALENCE,
    "COLLAPSE": COLLAPSE,
    "ROBUST_DROP": ROBUST_DROP,
    "SATURATED": SATURATED,
    "MISMATCH": MISMATCH,
    "FADED": FADED,
    "ROUNDOFF_MAX": ROUNDOFF_MAX,
    "ROUNDOFF_MEAN": ROUNDOFF_MEAN,
    "FLOAT64_EXACT": FLOAT64_EXACT,
    "ONE_STEP_ROUNDOFF": ONE_STEP_ROUNDOFF,
    "FEW_DOZEN": FEW_DOZEN,
    "FILTER_MARGIN": FILTER_MARGIN,
    "IDENTICAL_ATOL": IDENTICAL_ATOL,
    "RECOVERY_TOL": RECOVERY_TOL,
    "TREND_RHO": TREND_RHO,
    "MEMORY_DEPENDENT": MEMORY_DEPENDENT,
    "EARLY": EARLY,
    "SATURATION_CHANGE": SATURATION_CHANGE,
    "RELATIVE_TOLERANCE": RELATIVE_TOLERANCE,
}


def ci(s: dict, digits: int = 0, sign: bool = False) -> str:
    """'164 [156, 172]' from a summary dict."""
    return format_ci(s, f"{'+' if sign else ''}.{digits}f")


def pct(frac: float, lo: float | None = None, hi: float | None = None, digits: int = 0) -> str:
    """'63 % [60, 66]' (or '63 %' without an interval)."""
    text = f"{100 * frac:.{digits}f} %"
    if lo is not None and hi is not None:
        text += f" [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return text


def share(k: int, n: int, digits: int = 1) -> str:
    """'10.6 % [9.3, 12.0] (212 of 2000)': a proportion with its Wilson 95 % CI."""
    lo, hi = proportion_ci(k, n)
    if n == 0:
        return "no episodes"
    return f"{pct(k / n, lo, hi, digits)} ({k} of {n})"


def below(s: dict, level: float) -> bool:
    """The whole 95 % CI lies below ``level``."""
    return s["ci95"][1] < level


def above(s: dict, level: float) -> bool:
    return s["ci95"][0] > level


def excludes_zero(s: dict) -> bool:
    """The whole 95 % CI lies on one side of 0."""
    return below(s, 0.0) or above(s, 0.0)


def within(s: dict, lo: float, hi: float) -> bool:
    return lo < s["ci95"][0] and s["ci95"][1] < hi


def change_class(diff: dict, reference_mean: float, margin: float = EQUIVALENCE) -> str:
    """'none' (CI within +-margin x reference), 'lower' / 'higher' (CI excludes 0 and
    the margin's side), or 'undecided'."""
    tol = margin * abs(reference_mean)
    if within(diff, -tol, tol):
        return "none"
    if below(diff, 0.0):
        return "lower"
    if above(diff, 0.0):
        return "higher"
    return "undecided"


def shares_separate(a: tuple[int, int], b: tuple[int, int]) -> int:
    """-1 if share a lies below share b (Wilson CIs do not overlap), +1 above, 0 else."""
    la, ha = proportion_ci(*a)
    lb, hb = proportion_ci(*b)
    if None in (la, lb):
        return 0
    if ha < lb:
        return -1
    if la > hb:
        return 1
    return 0


#: the explorer's single-episode comparison: two returns within SAME_RETURN of each other
#: are "the same" (episode returns are sums of 1000 rewards in [-1, 1]; 0.5 is far below
#: what any intervention changes and above float32 round-off of a repeated episode)
SAME_RETURN = 0.5
