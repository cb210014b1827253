"""`python -m retrieval_service` starts the retrieval tier."""

import os

# Before numpy/FAISS load their BLAS: one thread per process (2 shared cores; scale with replicas).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from movierec_core.server import run_service  # noqa: E402
from retrieval_service.app import main  # noqa: E402

run_service("retrieval", main)
