"""`python -m embedding_service` starts the embedding tier."""

from embedding_service.app import main
from movierec_core.server import run_service

run_service("embedding", main)
