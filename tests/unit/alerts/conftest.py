"""Shared helpers for the alert ingestion unit tests: the wire fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WIRE_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wire"


@pytest.fixture
def wire_bytes() -> Callable[[str], bytes]:
    """Raw bytes of `tests/fixtures/wire/<name>`."""
    return lambda name: (WIRE_FIXTURES / name).read_bytes()


@pytest.fixture
def wire_json() -> Callable[[str], dict[str, Any]]:
    """Decoded `tests/fixtures/wire/<name>`, to modify in a test."""
    return lambda name: json.loads((WIRE_FIXTURES / name).read_text())
