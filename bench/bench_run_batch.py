"""Benchmark ``selfinstruct run --batch`` against ``selfinstruct run`` on the same fake model.

The fake model (``selfinstruct.testing.fake_model``) is served from its own process with a virtual
Batch API clock, so batches that would take hours run in seconds. Both runs use the same seed;
the script checks that the data files are byte-identical (the issue's promise: the bootstrap stays
online, classification and instance requests go through batches, the data does not change), then
prints wall times and where the requests went (online calls vs batch lines, batches created,
lines paid twice). 2% of batch lines fail (sent again) and 10% of batches expire part-way.

    python bench/bench_run_batch.py                  # 5,000 instructions
    python bench/bench_run_batch.py --num 500        # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bench_engine import fetch_counts, reset_counts

DATA_FILES = ("instructions.jsonl", "tasks.jsonl", "rejections.json")


def start_fake_model() -> tuple[subprocess.Popen[str], str]:
    """The fake model with a fast Batch API clock in its own process; returns (process, URL)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selfinstruct.testing.fake_model",
            "--port",
            "0",
            "--batch-time-scale",
            "2000",
            "--batch-requests-per-second",
            "50",
            "--batch-line-error-rate",
            "0.02",
            "--batch-expire-rate",
            "0.1",
            "--batch-window",
            "3600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit(f"fake model did not start: {process.stderr.read() if process.stderr else ''}")
    return process, url


def run(url: str, out_dir: Path, num: int, *extra: str) -> float:
    """Wall seconds of one ``selfinstruct run`` (fails loudly on a non-zero exit)."""
    command = [
        sys.executable,
        "-m",
        "selfinstruct",
        "run",
        "-o",
        str(out_dir),
        "--num-instructions",
        str(num),
        "--base-url",
        url,
        "--model",
        "fake",
        "--seed",
        "0",
        "--no-progress",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": "sk-bench"}
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=5000, help="accepted instructions (default 5,000)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"selfinstruct {version('selfinstruct')}, aiohttp {version('aiohttp')}")
    print(f"workload: run of {args.num:,} instructions on the fake model, seed 0, online vs --batch\n")
    process, url = start_fake_model()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_run_batch_") as tmp:
            online_dir, batch_dir = Path(tmp) / "online", Path(tmp) / "batch"
            reset_counts(url)
            online_seconds = run(url, online_dir, args.num)
            online = fetch_counts(url)
            reset_counts(url)
            batch_seconds = run(url, batch_dir, args.num, "--batch", "--poll-interval", "0.2")
            batched = fetch_counts(url)
            same = all(
                (online_dir / name).read_bytes() == (batch_dir / name).read_bytes() for name in DATA_FILES
            )
            tasks = sum(1 for _ in (online_dir / "tasks.jsonl").open())
    finally:
        process.terminate()
        process.communicate(timeout=15)
    print(f"{'':<10}{'wall s':>9}{'online calls':>14}{'batch lines':>13}{'batches':>9}{'paid twice':>12}")
    print(f"{'online':<10}{online_seconds:>9.1f}{online.get('requests', 0):>14,}{0:>13,}{0:>9}{0:>12}")
    print(
        f"{'--batch':<10}{batch_seconds:>9.1f}{batched.get('requests', 0):>14,}"
        f"{batched.get('batch_lines_ok', 0):>13,}{batched.get('batch_created', 0):>9,}"
        f"{batched.get('batch_paid_twice', 0):>12}"
    )
    print(f"\n{tasks:,} tasks; instructions, tasks and rejections identical to online: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
