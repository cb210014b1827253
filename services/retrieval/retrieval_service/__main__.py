"""`python -m retrieval_service` starts the retrieval tier."""

from movierec_core.threads import one_blas_thread

one_blas_thread()  # before numpy/FAISS load their BLAS

from movierec_core.server import run_service  # noqa: E402
from retrieval_service.app import main  # noqa: E402

run_service("retrieval", main)
