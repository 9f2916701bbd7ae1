"""One thread per call inside numerical libraries, for processes that run one part per worker.

The station's workers (and replay's worker processes) already keep every core busy with one part
each. A BLAS pool beside them only adds threads that spin waiting for work: with OpenBLAS's default
pool the small products of `inspection.area_resize` made `inspection bench` fall from 0.69 to 0.39 of
the bare model's throughput, and the model's own p50 from 5.3 to 9.9 ms. threadpoolctl finds whichever
BLAS numpy loaded (OpenBLAS, MKL, BLIS) and sets its pool at run time, where an environment variable
would have to be set before numpy is first imported.
"""

from __future__ import annotations

import numpy  # noqa: F401 - loads numpy's BLAS: threadpoolctl finds only libraries already loaded
from threadpoolctl import threadpool_limits


def one_thread_per_call() -> None:
    """Limits BLAS (and OpenMP) pools in this process to the calling thread, for the process's life."""
    threadpool_limits(limits=1)
