"""`python -m profile_service` starts the profile tier."""

from movierec_core.threads import one_blas_thread

one_blas_thread()  # before numpy loads its BLAS

from movierec_core.server import run_service  # noqa: E402
from profile_service.app import main  # noqa: E402

run_service("profile", main)
