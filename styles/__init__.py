"""The console's stylesheets (.tcss), shipped as package data next to this file."""

from __future__ import annotations

from pathlib import Path

STYLES = Path(__file__).resolve().parent


def tcss(name: str) -> Path:
    """Absolute path of `<name>.tcss`, so Textual finds it wherever the package is installed."""
    return STYLES / f"{name}.tcss"
