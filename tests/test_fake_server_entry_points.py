"""The fake servers run as processes (as the benchmarks use them) and stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("selfinstruct.testing.server", id="server"),
        pytest.param("selfinstruct.testing.fake_model", id="fake-model"),
    ],
)
def test_serves_until_sigterm_then_reports_counts(module: str) -> None:
    """The base URL comes first on stdout, a request is answered, SIGTERM exits 0 with counts on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base_url}/models", timeout=30) as response:
            assert json.load(response)["object"] == "list"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert json.loads(stderr.strip().splitlines()[-1])["models"] == 1
