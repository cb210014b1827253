"""One BLAS thread per process, set before numpy loads its BLAS: the tiers scale with replicas, not
threads. Under a CPU limit (or beside other processes on a small machine) OpenBLAS's default of one
thread per core made the ranker's MMR step ~10x slower (services/ranker/README.md, "Latency")."""

from __future__ import annotations

import os


def one_blas_thread() -> None:
    """Default OMP/OpenBLAS/MKL to one thread (an operator's explicit setting wins). Call it first thing
    in a ``__main__``, before anything imports numpy; later it has no effect."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
