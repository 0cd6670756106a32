"""Fixtures for SuiteCRM tests (helpers in suite_world.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the helper module beside this file
from suite_world import make_suite_provider, settings, sf, suite, suite_world  # noqa: F401  (fixtures)
