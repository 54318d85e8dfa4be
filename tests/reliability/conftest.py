"""Settings of the reliability suite: the ``reliability`` marker and the long mode.

``WQM_LONG`` is read once, at import: the root conftest's autouse fixture
removes every ``WQM_*`` variable before each test runs, so a test could not
see it later.
"""

from __future__ import annotations

import os

import pytest

#: True when the long mode is asked for (``WQM_LONG=1 pytest tests/reliability``).
LONG = os.environ.get("WQM_LONG", "").strip().lower() in {"1", "true", "yes", "on"}


def scaled(default: int, long: int) -> int:
    """``default`` in the bounded run, ``long`` in the long mode."""
    return long if LONG else default


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker here: pyproject belongs to the lead and lists only ``slow``."""
    config.addinivalue_line(
        "markers", "reliability: reliability suite (bounded by default; WQM_LONG=1 for long mode)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which mode ran, so a report of timings can be read correctly."""
    return f"wqm reliability suite: {'LONG' if LONG else 'bounded'} mode"
