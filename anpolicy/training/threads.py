"""One place that holds a training process to its ``--threads``."""

from __future__ import annotations


def limit_threads(threads: int) -> None:
    """Hold torch, the fused engine and numpy's BLAS (pycma's eigendecomposition of the
    913 x 913 covariance, about a second per generation) to ``threads`` threads. An
    unlimited BLAS spins on every core: two runs side by side then each ran about six
    times slower per generation (measured: 1.8 -> 11 s)."""
    import torch
    from threadpoolctl import threadpool_limits

    from anpolicy.sim import fused

    torch.set_num_threads(threads)
    fused.set_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")
