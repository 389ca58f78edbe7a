"""Benchmark the request engine against peers, all in one run against the local fake server.

The fake server (``python -m selfinstruct.testing.server``) runs in its own process, one per
configuration, so client and server do not share an event loop or a core's time slice. Parts:

(a) overhead: requests/s at concurrency 64/256/1024, zero latency, for the engine (with and
    without its journal), a bare aiohttp ``gather`` loop, and the official ``openai`` AsyncOpenAI;
(b) efficiency at 0.2 s latency and concurrency 256: throughput / (256 / 0.2);
(c) limiter accuracy: most requests sent in any window vs the limit, scaled down in time (the
    RPM limit applies over a 5 s window instead of 60 s; same mechanism, 12x faster);
(d) fault run: 10% 429 (retry-after-ms 10) + 5% 500: every request completes exactly once;
(e) peak RSS at 10k vs 100k requests, each in a fresh subprocess (engine and the bare gather loop);
(f) the engine's own CPU per request: a transport that answers at once (no HTTP, no server), so
    what is left is the window, limiter, retry bookkeeping, stats and result building.

Usage: python bench/bench_engine.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from selfinstruct.engine import Engine, EngineConfig, Request, read_journal

MODEL = "fake-model"


@contextmanager
def server_process(*flags: str) -> Iterator[str]:
    """Start the fake server in its own process; yield its base URL; stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "selfinstruct.testing.server", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(
                f"fake server did not start: {process.stderr.read() if process.stderr else ''}"
            )
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def fetch_counts(url: str) -> dict[str, int]:
    """The server's outcome counts (from its /_fake/counts endpoint)."""

    async def get() -> dict[str, int]:
        async with aiohttp.ClientSession() as session:
            async with session.get(url.removesuffix("/v1") + "/_fake/counts") as response:
                return dict(orjson.loads(await response.read()))

    return asyncio.run(get())


def reset_counts(url: str) -> None:
    async def post() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(url.removesuffix("/v1") + "/_fake/reset") as response:
                await response.read()

    asyncio.run(post())


def prompts(n: int) -> Iterator[Request]:
    for i in range(n):
        yield Request(
            prompt=f"write a short line about item number {i}", params={"max_tokens": 16}, id=str(i)
        )


# -- clients ------------------------------------------------------------------------------------


async def run_engine(url: str, n: int, concurrency: int, journal: bool = False) -> float:
    """Requests/s of the engine over ``n`` requests."""
    config = EngineConfig(model=MODEL, base_urls=[url], api_key=None, concurrency=concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl" if journal else None
        start = time.perf_counter()
        async with Engine(config, journal=path) as engine:
            done = 0
            async for result in engine.run(prompts(n)):
                if not result.ok:
                    raise RuntimeError(f"engine request failed: {result.error}")
                done += 1
        elapsed = time.perf_counter() - start
    assert done == n
    return n / elapsed


async def run_bare(url: str, n: int, concurrency: int) -> float:
    """Requests/s of a bare aiohttp loop: a semaphore and ``gather`` over all requests."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, i: int) -> str:
        body = {"model": MODEL, "prompt": f"write a short line about item number {i}", "max_tokens": 16}
        async with semaphore, session.post(url + "/completions", json=body) as response:
            payload = await response.json()
            return str(payload["choices"][0]["text"])

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        texts = await asyncio.gather(*(one(session, i) for i in range(n)))
    elapsed = time.perf_counter() - start
    assert len(texts) == n
    return n / elapsed


async def run_openai(url: str, n: int, concurrency: int) -> float:
    """Requests/s of the official AsyncOpenAI client with a semaphore and ``gather``."""
    import httpx2
    import openai

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = openai.AsyncOpenAI(
        base_url=url,
        api_key="bench",
        max_retries=0,
        timeout=120.0,  # the default 5 s connect timeout trips when 1024 connections open at once
        http_client=openai.DefaultAsyncHttpxClient(limits=limits),
    )
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with semaphore:
            answer = await client.completions.create(
                model=MODEL, prompt=f"write a short line about item number {i}", max_tokens=16
            )
            return answer.choices[0].text

    start = time.perf_counter()
    try:
        texts = await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await client.close()
    elapsed = time.perf_counter() - start
    assert len(texts) == n
    return n / elapsed


def median_rate(runs: int, make: Callable[[], Coroutine[Any, Any, float]], n: int = 0) -> tuple[float, float]:
    """Median requests/s over ``runs`` fresh event loops, and median client CPU us per request.

    A failed run counts as nan and is reported on stderr, so one peer failing hides nothing else.
    CPU time (this process only) is less sensitive than wall time to other load on the machine.
    """
    rates, cpu = [], []
    for _ in range(runs):
        started = time.process_time()
        try:
            rates.append(asyncio.run(make()))
        except Exception as error:
            print(f"    [run failed: {type(error).__name__}: {error}]", file=sys.stderr)
            rates.append(float("nan"))
        cpu.append((time.process_time() - started) / n * 1e6 if n else float("nan"))
    return statistics.median(rates), statistics.median(cpu)


# -- parts --------------------------------------------------------------------------------------


def part_overhead(runs: int, n: int, n_openai: int) -> None:
    print(f"\n(a) overhead: zero latency, requests/s (median of {runs} runs)")
    print(f"    workload: {n:,} completions per run ({n_openai:,} for openai), max_tokens=16")
    print("    req/s (and client CPU us per request in brackets)")
    print(
        f"    {'concurrency':>11} {'engine':>14} {'engine+journal':>14} {'bare gather':>14} {'openai':>14}"
        f" {'eng/bare':>8} {'eng/openai':>10}"
    )
    with server_process() as url:
        for concurrency in (64, 256, 1024):
            engine = median_rate(runs, lambda c=concurrency: run_engine(url, n, c), n)
            journal = median_rate(runs, lambda c=concurrency: run_engine(url, n, c, journal=True), n)
            bare = median_rate(runs, lambda c=concurrency: run_bare(url, n, c), n)
            official = median_rate(runs, lambda c=concurrency: run_openai(url, n_openai, c), n_openai)
            cells = " ".join(
                f"{f'{rate:,.0f} ({cpu:.0f})':>14}" for rate, cpu in (engine, journal, bare, official)
            )
            print(
                f"    {concurrency:>11} {cells} {engine[0] / bare[0]:>8.2f} {engine[0] / official[0]:>10.1f}"
            )


def part_efficiency(runs: int, waves: int) -> None:
    concurrency, latency = 256, 0.2
    bound = concurrency / latency
    n = concurrency * waves
    print(
        f"\n(b) efficiency: latency {latency} s, concurrency {concurrency}, {n:,} requests;"
        f" Little's-law bound {bound:,.0f}/s (median of {runs})"
    )
    with server_process("--latency", str(latency)) as url:
        engine, _ = median_rate(runs, lambda: run_engine(url, n, concurrency, journal=True))
        bare, _ = median_rate(runs, lambda: run_bare(url, n, concurrency))
        official, _ = median_rate(runs, lambda: run_openai(url, n, concurrency))
    for name, rate in (("engine+journal", engine), ("bare gather", bare), ("openai", official)):
        print(f"    {name:<15} {rate:>8,.0f}/s  efficiency {rate / bound:.3f}")


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def part_limiter(limit: int, window: float, windows: int) -> None:
    n = limit * windows
    print(
        f"\n(c) limiter accuracy: {limit} requests per {window:g} s window"
        f" (an RPM of {limit * 60 / window:,.0f}"
        f" scaled {60 / window:g}x faster), {n:,} requests, concurrency 256; server enforces the same limit"
    )
    with server_process("--rpm-limit", str(limit), "--limit-window", str(window)) as url:
        sent: list[float] = []

        async def on_start(session: Any, context: Any, params: Any) -> None:
            sent.append(time.monotonic())

        async def go() -> float:
            trace = aiohttp.TraceConfig()
            trace.on_request_start.append(on_start)
            config = EngineConfig(
                model=MODEL, base_urls=[url], api_key=None, concurrency=256, rpm=limit, limit_window=window
            )
            start = time.monotonic()
            async with aiohttp.ClientSession(trace_configs=[trace]) as session:
                async with Engine(config, session=session) as engine:
                    async for result in engine.run(prompts(n)):
                        assert result.ok, result.error
            return time.monotonic() - start

        elapsed = asyncio.run(go())
        counts = fetch_counts(url)
    busiest = max_in_window(sent, window)
    # Steady-state rate: requests after the first window, over the time they took.
    first = sent[0]
    later = [t for t in sent if t >= first + window]
    steady = (len(later) - 1) / (later[-1] - later[0]) * window if len(later) > 1 else float("nan")
    print(
        f"    most requests in any {window:g} s window: {busiest}"
        f" (limit {limit}; ratio {busiest / limit:.3f})"
    )
    print(
        f"    achieved rate after the first window: {steady:.1f} per window"
        f" ({steady / limit:.3f} of the limit)"
    )
    print(f"    server 429s: {counts.get('limit_exceeded', 0)}; total {elapsed:.1f} s")


def part_faults(n: int) -> None:
    print(
        f"\n(d) fault run: 10% 429 (retry-after-ms 10) + 5% 500, {n:,} requests, concurrency 256, journal on"
    )
    with server_process(
        "--rate-429", "0.1", "--rate-500", "0.05", "--retry-after", "0.01", "--seed", "1"
    ) as url:

        async def go() -> tuple[list[str], Any, float, int]:
            config = EngineConfig(model=MODEL, base_urls=[url], api_key=None, concurrency=256, max_retries=30)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "journal.jsonl"
                start = time.perf_counter()
                async with Engine(config, journal=path) as engine:
                    ids = [r.request.id or "" async for r in engine.run(prompts(n)) if r.ok]
                elapsed = time.perf_counter() - start
                journaled = len({r.key for r in read_journal(path)})
            return ids, engine.statistics(), elapsed, journaled

        ids, stats, elapsed, journaled = asyncio.run(go())
        counts = fetch_counts(url)
    once = len(ids) == len(set(ids)) == n
    print(f"    completed ok: {len(ids):,}/{n:,}; distinct ids {len(set(ids)):,}; journal keys {journaled:,}")
    print(
        f"    server: {counts.get('requests', 0):,} requests, {counts.get('ok', 0):,} answered ok,"
        f" {counts.get('rate_limited', 0):,} x 429, {counts.get('server_error', 0):,} x 500"
    )
    print(f"    retries by cause: {dict(stats.retries)}; {elapsed:.1f} s ({n / elapsed:,.0f}/s)")
    print(f"    every request exactly once: {'YES' if once and counts.get('ok') == n else 'NO'}")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (VmHWM; ru_maxrss as a fallback)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(kind: str, url: str, n: int) -> None:
    """Run ``n`` requests and print the peak RSS in MB (called in a fresh subprocess)."""
    if kind == "engine":
        asyncio.run(run_engine(url, n, 256, journal=True))
    else:
        asyncio.run(run_bare(url, n, 256))
    print(peak_rss_mb())


def part_memory(small: int, large: int) -> None:
    print(f"\n(e) peak RSS (fresh process each), concurrency 256: {small:,} vs {large:,} requests")
    with server_process() as url:
        for kind in ("engine", "bare"):
            peaks = []
            for n in (small, large):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-child", kind, url, str(n)],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=1800,
                )
                peaks.append(float(out.stdout.strip().splitlines()[-1]))
            label = "engine+journal" if kind == "engine" else "bare gather"
            print(
                f"    {label:<15} {peaks[0]:7.1f} MB -> {peaks[1]:7.1f} MB  (ratio {peaks[1] / peaks[0]:.2f})"
            )


def part_engine_cpu(runs: int, n: int) -> None:
    from selfinstruct.engine import Usage
    from selfinstruct.engine.http import Completion, RateLimitInfo

    answer = Completion("text", "stop", Usage(3, 2), None, RateLimitInfo(), 1, MODEL)

    async def instant(session: aiohttp.ClientSession, url: str, body: bytes, **_: Any) -> Completion:
        return answer

    async def drive(concurrency: int) -> float:
        config = EngineConfig(
            model=MODEL, base_urls=["http://unused.invalid/v1"], api_key=None, concurrency=concurrency
        )
        start = time.perf_counter()
        async with Engine(config, transport=instant) as engine:
            done = sum([1 async for result in engine.run(prompts(n)) if result.ok])
        assert done == n
        return n / (time.perf_counter() - start)

    print(f"\n(f) engine only: a transport that answers at once, {n:,} requests, median of {runs} runs")
    for concurrency in (64, 256):
        rate, cpu = median_rate(runs, lambda c=concurrency: drive(c), n)
        print(f"    concurrency {concurrency:>4}: {rate:>9,.0f} req/s, {cpu:5.1f} us CPU per request")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run (smaller workloads, 1 run each)")
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per measurement (median); default 3, quick 1"
    )
    parser.add_argument("--memory-child", nargs=3, metavar=("KIND", "URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        kind, url, n = args.memory_child
        memory_child(kind, url, int(n))
        return 0
    runs = args.runs or (1 if args.quick else 3)
    print("bench_engine: the selfinstruct request engine vs peers, against a local fake server (own process)")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()},"
        f" Python {platform.python_version()}"
    )
    versions = {name: metadata.version(name) for name in ("aiohttp", "anyio", "orjson", "openai", "httpx2")}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if args.quick:
        part_overhead(runs, n=2_000, n_openai=500)
        part_efficiency(runs, waves=4)
        part_limiter(limit=100, window=2.0, windows=4)
        part_faults(1_000)
        part_memory(2_000, 20_000)
        part_engine_cpu(runs, 5_000)
    else:
        part_overhead(runs, n=6_000, n_openai=1_500)
        part_efficiency(runs, waves=16)
        part_limiter(limit=500, window=5.0, windows=5)
        part_faults(10_000)
        part_memory(10_000, 100_000)
        part_engine_cpu(max(runs, 5), 20_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
