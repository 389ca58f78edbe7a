"""Benchmark ``selfinstruct complete --batch`` against the fake server's Batch API, beside online mode.

The fake server runs in its own process with a virtual clock (``--batch-time-scale``: virtual
seconds per real second), so a batch that "takes" tens of minutes runs in seconds. Parts:

(a) online: ``complete`` over the whole input (the reference output);
(b) batch, uninterrupted: ``complete --batch``, N runs (median wall time), each against a fresh
    server state: output file identical to (a);
(c) batch, killed twice: SIGKILL while it polls (once during ``in_progress``, once later),
    re-run the same command each time; then counts what the server created and answered:
    every custom id answered once (0 paid twice), 0 batches created again on resume, and the
    output identical to (a).

Workload: 100,000 requests by default, as a user's file would mix them: completion prompts of
5-300 words (some non-ASCII), 1 in 8 a chat request, 1 in 50 with n=2, varied max_tokens; 1%
of batch lines fail (500/429, sent again in a new batch) and 25% of batches run out of their
window part-way (the rest sent again).

Usage: python bench/bench_batch.py [--requests 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import orjson
from bench_engine import fetch_counts, reset_counts, server_process

WORDS = (
    "river market garden theory engine castle winter signal harbor pattern violin desert museum "
    "algebra recipe lantern orbit meadow circuit novel glacier rhythm canyon ledger bakery comet "
    "café naïve façade über résumé"
).split()


def write_input(path: Path, count: int, seed: int = 0) -> None:
    """A realistic mixed input file (see the module docstring)."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        for i in range(count):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 300)))
            record: dict[str, object] = {"id": i, "max_tokens": rng.choice((16, 64, 128, 256))}
            if i % 8 == 0:
                record["messages"] = [
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": f"Summarize: {words}"},
                ]
            else:
                record["prompt"] = f"Continue the text: {words}"
            if i % 50 == 1:
                record["n"] = 2
            handle.write(orjson.dumps(record) + b"\n")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def command(url: str, source: Path, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "selfinstruct", "complete", str(source), "-o", str(output),
        "--model", "bench-model", "--base-url", url, "--no-progress", *extra,
    ]  # fmt: skip


def run(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])}... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed, result


def ledger_events(output: Path) -> list[str]:
    path = output.with_name(output.name + ".batches.jsonl")
    if not path.exists():
        return []
    lines = path.read_bytes().splitlines(keepends=True)
    return [orjson.loads(line)["event"] for line in lines if line.endswith(b"\n")]


def kill_mid_poll(args: list[str], url: str, output: Path, *, after_polls: int) -> int:
    """Start the command, SIGKILL it once the server has seen ``after_polls`` more status polls."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    start_polls = fetch_counts(url).get("batch_polls", 0)
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while fetch_counts(url).get("batch_polls", 0) < start_polls + after_polls:
        if process.poll() is not None:
            raise RuntimeError(f"the batch job ended before it could be killed: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise RuntimeError("the batch job never polled")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    events = ledger_events(output)
    return events.count("created") - events.count("collected")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 requests, 1 run")
    options = parser.parse_args()
    if options.quick:
        options.requests, options.runs = 10_000, 1
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    versions = {name: metadata.version(name) for name in ("selfinstruct", "aiohttp", "orjson")}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    # Virtual time: 25 requests/s per batch, so 50,000 lines "take" ~35 min; 400x makes it ~5 s.
    flags = (
        "--batch-time-scale", "400", "--batch-requests-per-second", "25",
        "--batch-line-error-rate", "0.01", "--batch-expire-rate", "0.25", "--batch-window", "1800",
    )  # fmt: skip
    batch_flags = ("--batch", "--poll-interval", "0.2")
    with tempfile.TemporaryDirectory() as tmp, server_process(*flags) as url:
        root = Path(tmp)
        source = root / "in.jsonl"
        write_input(source, options.requests)
        lines = sum(1 for _ in open(source, "rb"))
        print(
            f"workload: {options.requests:,} lines ({source.stat().st_size / 1e6:.1f} MB), "
            "1/8 chat, 1/50 n=2; batch lines: 1% fail, 25% of batches expire part-way"
        )

        online_time, _ = run(command(url, source, root / "online.jsonl", "--concurrency", "256"))
        reference = digest(root / "online.jsonl")
        print(f"(a) online: {online_time:.1f} s, output {reference}")

        times, same = [], []
        for index in range(options.runs):
            reset_counts(url)
            output = root / f"batch{index}.jsonl"
            elapsed, result = run(command(url, source, output, *batch_flags))
            counts = fetch_counts(url)
            times.append(elapsed)
            same.append(digest(output) == reference)
            created, expired = counts.get("batch_created", 0), counts.get("batch_expired", 0)
            failed, twice = counts.get("batch_lines_failed", 0), counts.get("batch_paid_twice", 0)
            print(
                f"(b) batch run {index + 1}: {elapsed:.1f} s; batches created {created}, expired {expired}, "
                f"lines failed {failed}, paid twice {twice}; same output as online: {same[-1]}"
            )
        print(
            f"(b) batch median {statistics.median(times):.1f} s over {len(times)} runs; all same: {all(same)}"
        )

        reset_counts(url)
        output = root / "killed.jsonl"
        args = command(url, source, output, *batch_flags)
        open_first = kill_mid_poll(args, url, output, after_polls=6)
        created_before = fetch_counts(url).get("batch_created", 0)
        open_second = kill_mid_poll(args, url, output, after_polls=6)
        created_between = fetch_counts(url).get("batch_created", 0) - created_before
        elapsed, result = run(args)
        counts = fetch_counts(url)
        summary = [line for line in result.stderr.splitlines() if "batches:" in line and "answered" in line]
        print(
            f"(c) killed twice mid-poll ({open_first} and {open_second} batches open at the kills); "
            f"the second run created {created_between} batches (only for lines that had failed or "
            f"expired: see paid twice below); last run {elapsed:.1f} s"
        )
        print(f"    last run: {summary[-1].split(': ', 1)[1] if summary else '?'}")
        print(
            f"    server: {counts.get('batch_created', 0)} batches created in all, "
            f"{counts.get('batch_lines_ok', 0):,} lines answered for {lines:,} input lines "
            f"(+{lines // 50:,} second samples), paid twice {counts.get('batch_paid_twice', 0)}; "
            f"same output as online: {digest(output) == reference}"
        )


if __name__ == "__main__":
    main()
