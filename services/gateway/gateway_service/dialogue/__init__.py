"""The dialogue package: understand → state → plan → reply (see understanding.py for the contract)."""
