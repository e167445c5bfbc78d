"""Shared pytest set-up. The environment variables come first: gradio reads them at import time."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

#: Every shared fixture, defined once (tests/support/fixtures.py).
pytest_plugins = ["tests.support.fixtures"]
