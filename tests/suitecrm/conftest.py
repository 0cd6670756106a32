"""Fixtures for SuiteCRM tests (helpers in suite_world.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the helper module beside this file
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))  # engine_world, the engine tests' helper
from suite_world import make_suite_provider, settings, sf, suite, suite_world  # noqa: F401  (fixtures)
from tenants.loopback import servers  # noqa: F401  (a fixture: the loopback servers a test starts)
