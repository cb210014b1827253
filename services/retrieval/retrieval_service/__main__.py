"""`python -m retrieval_service` starts the retrieval tier."""

from movierec_core.server import run_service
from retrieval_service.app import main

run_service("retrieval", main)
