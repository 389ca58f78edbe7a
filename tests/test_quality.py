"""Static checks on the package: ruff (lint + import order) and mypy (types)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "ruff", "check", "selfinstruct", "tests", "bench"], id="ruff"),
        pytest.param([sys.executable, "-m", "mypy", "selfinstruct"], id="mypy"),
    ],
)
def test_static_check_passes(command: list[str]) -> None:
    """The package passes the linter and the type checker with the project's config."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
