"""Offline jobs: they build the artifacts the tiers serve (jobs/README.md).

Jobs may import the serving packages' pure functions and artifact loaders; serving code never imports
``movierec_jobs`` (tests/jobs/test_jobs_boundary.py checks it), so the tier images carry no job code.
"""
