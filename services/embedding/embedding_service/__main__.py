"""`python -m embedding_service` starts the embedding tier."""

from movierec_core.threads import one_blas_thread

one_blas_thread()  # before numpy loads its BLAS (torch's intra-op threads are EMBEDDING_TORCH_THREADS)

from embedding_service.app import main  # noqa: E402
from movierec_core.server import run_service  # noqa: E402

run_service("embedding", main)
