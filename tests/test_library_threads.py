"""Processes that run one part per worker keep numpy's BLAS to one thread."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from inspection.library_threads import one_thread_per_call


def test_blas_pools_are_one_thread_after_the_limit() -> None:
    one_thread_per_call()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy loaded no BLAS that threadpoolctl can see"
    assert all(pool["num_threads"] == 1 for pool in blas), blas
