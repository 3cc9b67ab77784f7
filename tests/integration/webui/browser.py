"""Chromium from the distribution, driven by Playwright: never a downloaded browser."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Quiet and offline: no sandbox (containers), no GPU, nothing fetched in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The Debian package's Chromium, if installed (`.ci/run` installs it)."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
