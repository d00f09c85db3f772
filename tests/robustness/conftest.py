"""Fixtures of the fault and abuse suite: helpers importable as `robust_tools`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
