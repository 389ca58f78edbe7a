"""Soak: ``selfinstruct complete`` through a faulty server, killed three times at random, resumed.

The fake server runs in its own process and injects, per request: 10% 429 (Retry-After 50 ms),
5% 500, 2% connections dropped mid-body, 2% garbage 200 bodies (half truncated JSON, half an
HTML error page), 1% answers whose ``usage`` counts are ``"ten"``/null/12.5/-3. Each request
also waits ``--latency`` on the server, so many are in flight when a kill lands.

Parts:
(a) reference: one uninterrupted ``complete`` over the input (wall time, output texts);
(b) soak: the same command in a fresh directory, SIGKILLed when the journal reaches three random
    points (uniform over 5-90% of the requests), re-run after each kill, then run to the end
    (re-run again while some lines still hold a retryable error, as a user would).

Checked at the end (exit 1 if any fails): the output has every id exactly once and in order,
no error lines, the same texts as (a); the journal holds each key once; the server answered no
request body twice beyond what was in flight at the kills (at most ``--concurrency`` per kill).

Workload: ``--requests`` (10,000) prompts of 5-200 words (some non-ASCII), 1 in 8 a chat request
with a system message, ``max_tokens`` among 16/64/128/256.

Usage: python bench/soak.py [--requests 10000] [--concurrency 32] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from bench_batch import WORDS
from bench_engine import fetch_counts, reset_counts, server_process

FAULTS = {
    "--rate-429": "0.10",
    "--rate-500": "0.05",
    "--rate-drop": "0.02",
    "--rate-garbage": "0.02",
    "--rate-odd-usage": "0.01",
    "--retry-after": "0.05",
}
KILLS = 3


def write_input(path: Path, count: int, seed: int) -> None:
    """The workload (see the module docstring); every request body is distinct."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        for i in range(count):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 200)))
            record: dict[str, Any] = {"id": i, "max_tokens": rng.choice((16, 64, 128, 256))}
            if i % 8 == 0:
                record["messages"] = [
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": f"Item {i}. Summarize: {words}"},
                ]
            else:
                record["prompt"] = f"Item {i}. Continue: {words}"
            handle.write(orjson.dumps(record) + b"\n")


def command(source: Path, output: Path, url: str, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "selfinstruct.cli.complete",
        str(source),
        "-o",
        str(output),
        "--model",
        "soak-model",
        "--base-url",
        url,
        "--concurrency",
        str(concurrency),
        "--max-retries",
        "10",
    ]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}


def journal_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def run_to_end(argv: list[str]) -> tuple[int, float, str]:
    """Run the command to its end: (exit code, seconds, stderr)."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=environment(), capture_output=True, text=True, timeout=3600)
    return done.returncode, time.perf_counter() - started, done.stderr


def run_until(argv: list[str], journal: Path, target: int) -> tuple[bool, float, int]:
    """Start the command and SIGKILL it once the journal has ``target`` lines.

    Returns (killed, seconds, journal lines at the kill); not killed when it finished first.
    """
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while process.poll() is None:
            lines = journal_lines(journal)
            if lines >= target:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True, time.perf_counter() - started, lines
            time.sleep(0.02)
        return False, time.perf_counter() - started, journal_lines(journal)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


def read_output(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def journal_keys(path: Path) -> list[str]:
    return [orjson.loads(line)["key"] for line in path.read_bytes().splitlines() if line.strip()]


def soak(requests: int, concurrency: int, seed: int, latency: float, workdir: Path) -> dict[str, Any]:
    """Run parts (a) and (b); return the figures and the checks."""
    source = workdir / "in.jsonl"
    write_input(source, requests, seed)
    rng = random.Random(seed)
    targets = sorted(int(rng.uniform(0.05, 0.9) * requests) for _ in range(KILLS))
    figures: dict[str, Any] = {"requests": requests, "concurrency": concurrency, "kill_targets": targets}
    flags = [f for pair in FAULTS.items() for f in pair] + ["--latency", str(latency), "--seed", str(seed)]
    with server_process(*flags) as url:
        reference = workdir / "reference" / "out.jsonl"
        reference.parent.mkdir()
        code, seconds, stderr = run_to_end(command(source, reference, url, concurrency))
        reruns = 0
        while code == 1 and reruns < 3:  # a request that failed every retry: re-run, as a user would
            reruns += 1
            code, more, stderr = run_to_end(command(source, reference, url, concurrency))
            seconds += more
        if code != 0:
            raise RuntimeError(f"the reference run failed ({code}): {stderr[-2000:]}")
        figures["reference"] = {"seconds": round(seconds, 2), "reruns": reruns, "server": fetch_counts(url)}
        reset_counts(url)

        output = workdir / "soak" / "out.jsonl"
        output.parent.mkdir()
        journal = Path(f"{output}.journal")
        argv = command(source, output, url, concurrency)
        passes: list[dict[str, Any]] = []
        for target in targets:
            killed, seconds, lines = run_until(argv, journal, target)
            passes.append({"killed": killed, "seconds": round(seconds, 2), "journal_lines": lines})
        code, seconds, stderr = run_to_end(argv)
        reruns = 0
        while code == 1 and reruns < 3:
            reruns += 1
            code, more, stderr = run_to_end(argv)
            seconds += more
        passes.append({"killed": False, "seconds": round(seconds, 2), "exit": code, "reruns": reruns})
        server = fetch_counts(url)
    figures["passes"] = passes
    figures["soak_seconds"] = round(sum(p["seconds"] for p in passes), 2)
    figures["server"] = server
    figures["last_summary"] = stderr.strip().splitlines()[0] if stderr.strip() else ""

    records = read_output(output)
    expected = read_output(reference)
    keys = journal_keys(journal)
    kills = sum(p["killed"] for p in passes)
    checks = {
        "exit 0": code == 0,
        "every id once, in order": [r["id"] for r in records] == list(range(requests)),
        "no error lines": all(r["error"] is None for r in records),
        "same texts as uninterrupted": [r.get("text") for r in records] == [r.get("text") for r in expected],
        "journal keys unique": len(keys) == len(set(keys)) == requests,
        "answered twice <= in flight at kills": server.get("answered_again", 0) <= kills * concurrency,
        f"killed {KILLS} times": kills == KILLS,
    }
    figures["kills"] = kills
    figures["answered_twice"] = server.get("answered_again", 0)
    figures["odd_usage_answers"] = server.get("odd_usage", 0)
    figures["checks"] = checks
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.02, help="server seconds per request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="selfinstruct-soak-") as tmp:
        figures = soak(args.requests, args.concurrency, args.seed, args.latency, Path(tmp))
    figures["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    figures["versions"] = {name: metadata.version(name) for name in ("selfinstruct", "aiohttp")}
    ok = all(figures["checks"].values())
    if args.json:
        print(orjson.dumps(figures).decode())
        return 0 if ok else 1
    server = figures["server"]
    print(f"machine: {figures['machine']}; versions: {figures['versions']}")
    print(
        f"workload: {args.requests:,} requests, concurrency {args.concurrency}, server latency "
        f"{args.latency * 1000:.0f} ms, faults {' '.join(f'{k} {v}' for k, v in FAULTS.items())}"
    )
    print(f"reference (uninterrupted): {figures['reference']['seconds']:.1f} s")
    for number, entry in enumerate(figures["passes"], 1):
        what = f"killed at {entry['journal_lines']:,} journal lines" if entry["killed"] else "ran to the end"
        print(f"  pass {number}: {entry['seconds']:.1f} s, {what}")
    ratio = figures["soak_seconds"] / figures["reference"]["seconds"]
    print(f"soak total: {figures['soak_seconds']:.1f} s ({ratio:.2f}x the uninterrupted run)")
    print(
        f"server: {server.get('requests', 0):,} HTTP requests for {args.requests:,} answers; "
        + ", ".join(f"{k} {server.get(k, 0):,}" for k in ("rate_limited", "server_error", "dropped"))
        + f", garbage {server.get('garbage', 0):,}"
        + f", odd usage {figures['odd_usage_answers']:,}; answered twice {figures['answered_twice']} "
        f"(bound {figures['kills']} kills x {args.concurrency} in flight)"
    )
    print(f"last pass: {figures['last_summary']}")
    for name, passed in figures["checks"].items():
        print(f"  [{'ok' if passed else 'FAIL'}] {name}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
