"""`python -m profile_service` starts the profile tier."""

from movierec_core.server import run_service
from profile_service.app import main

run_service("profile", main)
