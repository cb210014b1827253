"""The load generator lives in loadtest/ (run as ``PYTHONPATH=loadtest python -m movierec_load``): put it on
sys.path for these tests too."""

from __future__ import annotations

import sys
from pathlib import Path

LOADTEST_DIR = Path(__file__).resolve().parents[2] / "loadtest"
if str(LOADTEST_DIR) not in sys.path:
    sys.path.insert(0, str(LOADTEST_DIR))
