"""The soak (bench/soak.py) in short: complete through every fault, killed three times, resumed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_short_soak_ends_with_every_line_once_and_nothing_paid_twice_beyond_in_flight() -> None:
    """300 requests, 10% 429 / 5% 500 / 2% drops / 2% garbage / 1% odd usage, 3 SIGKILLs: all checks hold."""
    done = subprocess.run(
        [sys.executable, str(SOAK), "--requests", "300", "--concurrency", "8", "--seed", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert figures["checks"] == dict.fromkeys(figures["checks"], True), figures
    assert done.returncode == 0
    assert figures["kills"] == 3
    assert figures["answered_twice"] <= 3 * 8
    server = figures["server"]
    assert server["rate_limited"] > 0
    assert server["server_error"] > 0
    assert server["dropped"] + server["garbage"] > 0
