"""`python -m ranker_service` starts the ranker tier."""

from movierec_core.server import run_service
from ranker_service.app import main

run_service("ranker", main)
