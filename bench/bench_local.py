"""Benchmark the embedded local model server: start time, tokens/s and requests/s at concurrency 1/4/8.

Serves the embedded SmolLM2-135M-Instruct (or ``--model-path``) with ``serve_local_model`` and sends
the requests a ``selfinstruct run`` sends, built by the pipeline's own prompt code: bootstrap
prompts (8 instructions from our seeds, the paper's sampling parameters and stops) and instance
prompts (2 few-shot demos, temperature 0), one bootstrap to two instance requests, with the
compact answer budget a local run uses (256 tokens). Each level sends
``--requests`` requests with at most C in flight; figures are medians of ``--runs`` runs.

Also reported: the server's start time (process start to the first answer of ``/v1/models``), its
peak memory (VmHWM of the server process), and reproducibility: the same requests with a fixed
``seed`` give the same answers at concurrency 1 and 8 (temperature 0 and the bootstrap's 0.7).

Peer: llama-cpp-python's ``llama_cpp.server`` (the previous backend) at the same levels, when it is
installed (it builds from source; not part of any extra any more).

``--sweep`` serves with every threads x slots pair given and sends ``slots`` requests at a time:
how slots and threads were chosen.

Usage: python bench/bench_local.py [--requests 24] [--runs 3] [--threads N] [--slots N]
       python bench/bench_local.py --sweep --sweep-threads 1,2 --sweep-slots 1,2,4,8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from selfinstruct.local import LocalModel, default_slots, default_threads, serve_local_model
from selfinstruct.local._model import resolve_model_path
from selfinstruct.pipeline import prompts
from selfinstruct.pipeline.seeds import load_instance_examples, load_seed_tasks

LEVELS = (1, 4, 8)


@dataclass(frozen=True)
class Level:
    """One run at one concurrency: wall time, completion tokens and requests answered."""

    concurrency: int
    seconds: float
    completion_tokens: int
    prompt_tokens: int
    requests: int

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


def workload(count: int, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """``count`` (path, body) pairs shaped like a run's requests (see the module docstring)."""
    rng = random.Random(seed)
    seeds = load_seed_tasks()
    demos = load_instance_examples()
    instructions = [task.instruction for task in seeds]
    requests: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        if i % 3 == 0:
            prompt = prompts.bootstrap_prompt(rng.sample(instructions, 8))
            params = prompts.bootstrap_params(chat=False, compact=True)
        else:
            task = rng.choice(seeds)
            chosen = [d for d in demos if d.is_classification == task.is_classification] or demos
            prompt = prompts.instance_prompt(
                rng.sample(chosen, min(2, len(chosen))),
                task.instruction,
                is_classification=task.is_classification,
            )
            params = prompts.instance_params(
                chat=False, is_classification=task.is_classification, max_instances=5, compact=True
            )
        requests.append(("/completions", {"prompt": prompt, **params, "seed": rng.randrange(2**31)}))
    return requests


async def send_all(
    base_url: str, model: str, requests: Sequence[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[Level, list[str]]:
    """Send every request with at most ``concurrency`` in flight; the level's figures and the texts."""
    gate = asyncio.Semaphore(concurrency)
    texts: list[str] = [""] * len(requests)
    usage = [0, 0]
    timeout = aiohttp.ClientTimeout(total=900)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(index: int, path: str, body: dict[str, Any]) -> None:
            async with gate:
                async with session.post(f"{base_url}{path}", json={"model": model, **body}) as response:
                    answer = await response.json(content_type=None)
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}: {answer}")
            texts[index] = answer["choices"][0]["text"]
            usage[0] += answer["usage"]["completion_tokens"]
            usage[1] += answer["usage"]["prompt_tokens"]

        started = time.perf_counter()
        await asyncio.gather(*(one(i, path, body) for i, (path, body) in enumerate(requests)))
        seconds = time.perf_counter() - started
    return Level(concurrency, seconds, usage[0], usage[1], len(requests)), texts


def peak_rss_mb(pid: int | None) -> float | None:
    """The process's peak resident memory in MB (VmHWM), or None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


@contextlib.asynccontextmanager
async def serve_peer(model_path: Path, threads: int) -> AsyncIterator[LocalModel]:
    """llama-cpp-python's server on a free loopback port (the previous backend), one request at a time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    alias = model_path.name.removesuffix(".gguf")
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
        "--n_threads_batch", str(threads), "--logits_all", "false",
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: ASYNC220 - a benchmark helper; starting it blocks for microseconds
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base_url}/models") as response:
                        if response.status == 200:
                            break
                if process.poll() is not None:
                    raise RuntimeError("llama_cpp.server exited while starting")
                await asyncio.sleep(0.1)
        yield LocalModel(
            base_url, alias, pid=process.pid, startup_seconds=time.perf_counter() - started, slots=1
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def measure(
    name: str, server: contextlib.AbstractAsyncContextManager[LocalModel], args: argparse.Namespace
) -> dict[int, Level]:
    """Start the server, run every level ``args.runs`` times, print and return the median levels."""
    async with server as local:
        requests = workload(args.requests)
        await send_all(local.base_url, local.model, requests[:2], 2)  # warm-up, not counted
        medians: dict[int, Level] = {}
        for concurrency in args.levels:
            runs = [
                (await send_all(local.base_url, local.model, requests, concurrency))[0]
                for _ in range(args.runs)
            ]
            medians[concurrency] = sorted(runs, key=lambda level: level.seconds)[len(runs) // 2]
        probe = workload(8, seed=1)
        _, first = await send_all(local.base_url, local.model, probe, 1)
        _, again = await send_all(local.base_url, local.model, probe, 8)
        rss = peak_rss_mb(local.pid)
        print(
            f"\n{name}: start {local.startup_seconds:.2f} s, slots {local.slots}, peak RSS {rss or 0:.0f} MB"
        )
    for level in medians.values():
        print(
            f"  concurrency {level.concurrency}: {level.seconds:6.1f} s  "
            f"{level.tokens_per_second:6.1f} tok/s  "
            f"{level.requests_per_second:5.2f} req/s  ({level.completion_tokens} completion tokens, "
            f"{level.prompt_tokens} prompt tokens)"
        )
    same = sum(a == b for a, b in zip(first, again, strict=True))
    print(f"  same seed, concurrency 1 vs 8: {same}/{len(first)} answers identical")
    return medians


async def sweep(args: argparse.Namespace) -> None:
    """Every threads x slots pair, each sent ``slots`` requests at a time."""
    for threads in args.sweep_threads:
        for slots in args.sweep_slots:
            args.levels = (slots,)
            await measure(
                f"threads {threads}, slots {slots}", serve_local_model(n_threads=threads, slots=slots), args
            )


async def main_async(args: argparse.Namespace) -> None:
    if args.sweep:
        await sweep(args)
        return
    ours = await measure(
        "selfinstruct (xllamacpp llama-server)",
        serve_local_model(args.model_path, n_threads=args.threads, slots=args.slots),
        args,
    )
    if importlib.util.find_spec("llama_cpp") is None:
        print("\npeer llama-cpp-python: not installed (pip builds it from source: 20+ minutes on 2 cores)")
        return
    path = resolve_model_path(args.model_path)
    peer = await measure(
        "peer: llama-cpp-python llama_cpp.server", serve_peer(path, args.threads or default_threads()), args
    )
    print("\nratio (ours / peer), tokens per second:")
    for concurrency, level in ours.items():
        ratio = level.tokens_per_second / peer[concurrency].tokens_per_second
        print(f"  concurrency {concurrency}: {ratio:.2f}x")


def parse_list(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=24, help="requests per level (24)")
    parser.add_argument("--runs", type=int, default=3, help="runs per level; the median is reported (3)")
    parser.add_argument("--threads", type=int, default=None, help="server threads (default: the launcher's)")
    parser.add_argument("--slots", type=int, default=None, help="server slots (default: the launcher's)")
    parser.add_argument("--levels", type=parse_list, default=LEVELS, help="concurrency levels (1,4,8)")
    parser.add_argument("--sweep", action="store_true", help="threads x slots at concurrency = slots")
    parser.add_argument("--sweep-threads", type=parse_list, default=(1, 2))
    parser.add_argument("--sweep-slots", type=parse_list, default=(1, 2, 4, 8))
    args = parser.parse_args()
    threads = args.threads or default_threads()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"python {platform.python_version()}, xllamacpp {metadata.version('xllamacpp')}")
    print(
        f"workload: {args.requests} run-shaped completion requests per level (1 bootstrap : 2 instance), "
        f"median of {args.runs}; server threads {threads}, slots {args.slots or default_slots(threads)}"
    )
    asyncio.run(main_async(args))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
