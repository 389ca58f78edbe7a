"""Fixtures for the local-server tests: a stand-in server script and process helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from local_procs import FAKE_SERVER

from selfinstruct.local import _server


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio (the backend the CLI uses)."""
    return "asyncio"


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Factory: a "model file" for the stand-in server in the given mode; the launcher runs the stand-in."""
    monkeypatch.setattr(_server, "_SERVER_TARGET", str(FAKE_SERVER))
    monkeypatch.setattr(_server, "check_server_installed", lambda: None)
    monkeypatch.setattr(_server, "_STOP_GRACE_SECONDS", 1.0)

    def make(mode: str) -> Path:
        path = tmp_path / f"fake-{mode}.gguf"
        path.write_text(json.dumps({"mode": mode}), encoding="utf-8")
        return path

    return make
