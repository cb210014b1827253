"""`python -m embedding_service` starts the embedding tier."""

from movierec_core.server import run_service

from embedding_service.app import main

run_service("embedding", main)
