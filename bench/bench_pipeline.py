"""Benchmark: a whole SELF-INSTRUCT run (bootstrap + filters + dedup + classification + instances).

The model is ``selfinstruct.testing.fake_model.FakeModel`` served by the fake OpenAI server in a
separate process at zero latency, so the figure is the pipeline's own cost (plus HTTP on loopback).
Reports wall time and the share spent in dedup, prompt building, parsing and file I/O (perf_counter
accumulators inside the pipeline), request counts and rates, and, for scale, an estimate of the
dedup time of the original design (rouge-score against the whole pool for every candidate),
measured per pair on this machine and multiplied by the comparisons this run implies.

    python bench/bench_pipeline.py                 # quick smoke run (2,000 instructions)
    python bench/bench_pipeline.py --num 50000     # the target workload
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake model server in its own process; returns (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "selfinstruct.testing.fake_model", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit(
            f"fake model server did not start: {process.stderr.read() if process.stderr else ''}"
        )
    return process, url


def rouge_score_pair_seconds(texts: list[str], pairs: int = 3000) -> float:
    """Median seconds per pair for rouge-score's rougeL (the original design's dedup primitive)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(pairs):
            scorer.score(rng.choice(texts), rng.choice(texts))
        timings.append((time.perf_counter() - start) / pairs)
    return statistics.median(timings)


async def one_run(args: argparse.Namespace, url: str, out_dir: Path) -> tuple[object, float]:
    from selfinstruct.engine import EngineConfig
    from selfinstruct.pipeline.run import RunConfig, generate

    config = RunConfig(
        out_dir=out_dir,
        num_instructions=args.num,
        chat=args.chat,
        seed=args.seed,
        window=args.window,
        record_nearest=not args.no_nearest,
    )
    engine = EngineConfig(
        model="fake", base_urls=[url], concurrency=args.concurrency, api_key=None, max_retries=2
    )
    last = [0.0]

    def progress(p: object) -> None:
        from selfinstruct.pipeline.run import Progress

        assert isinstance(p, Progress)
        now = time.monotonic()
        if now - last[0] > 15:
            last[0] = now
            print(
                f"  ... {p.accepted:,}/{p.target:,} accepted, {p.bootstrap_answers:,} bootstrap answers, "
                f"{p.elapsed:.0f}s",
                flush=True,
            )

    start = time.perf_counter()
    summary = await generate(config, engine_config=engine, progress=progress)
    return summary, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num", type=int, default=2000, help="accepted instructions (default 2,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs (median reported)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--chat", action="store_true", help="chat prompts instead of completion prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency per request (s)")
    parser.add_argument("--window", type=int, default=None, help="bootstrap requests in flight")
    parser.add_argument(
        "--no-nearest", action="store_true", help="do not record each accepted instruction's nearest match"
    )
    args = parser.parse_args()

    import selfinstruct.dedup as dedup
    from selfinstruct.pipeline.seeds import load_seed_tasks

    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    libs = ("numba", "numpy", "anyio", "aiohttp", "orjson")
    print("libraries: " + ", ".join(f"{name} {version(name)}" for name in libs))
    print(
        f"workload: {args.num:,} accepted instructions with classification and instances, "
        f"{'chat' if args.chat else 'completion'} prompts, concurrency {args.concurrency}, FakeModel server "
        f"in a separate process at {args.latency * 1000:.0f} ms latency, seed {args.seed}, "
        f"window {args.window or 'auto'}, nearest {'off' if args.no_nearest else 'on'}; "
        f"{args.repeat} run(s)"
    )
    server, url = start_server(args.latency)
    walls, summaries = [], []
    try:
        for run in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
                summary, wall = anyio.run(one_run, args, url, Path(tmp) / "run")
                walls.append(wall)
                summaries.append(summary)
                print(f"run {run + 1}: {wall:.1f}s wall, status {summary.status}")  # type: ignore[attr-defined]
    finally:
        server.terminate()
        server.wait(timeout=30)
    index = walls.index(statistics.median_low(walls))
    summary, wall = summaries[index], walls[index]
    t = summary.timings  # type: ignore[attr-defined]
    calls = summary.calls + summary.replayed  # type: ignore[attr-defined]
    rejected = summary.rejections["instructions"]  # type: ignore[attr-defined]
    candidates = summary.accepted + rejected.get("similar", 0)  # type: ignore[attr-defined]
    kernel = dedup.kernel_name() if hasattr(dedup, "kernel_name") else getattr(dedup, "KERNEL", "?")
    print(f"LCS kernel used by the dedup index: {kernel}")
    print()
    print(
        f"median wall time: {wall:.1f}s for {summary.accepted:,} accepted instructions "  # type: ignore[attr-defined]
        f"({summary.accepted / wall:,.0f}/s); {summary.tasks:,} tasks, {summary.instances:,} instances"
    )  # type: ignore[attr-defined]
    print(f"requests: {calls:,} ({calls / wall:,.0f}/s), of which {summary.bootstrap_requests:,} bootstrap")  # type: ignore[attr-defined]
    print(
        f"novelty checks: {candidates:,} candidates after the heuristic filters, "
        f"{rejected.get('similar', 0):,} similar"
    )
    for name in ("dedup", "prompt", "parse", "io"):
        print(f"  {name:<7} {t.get(name, 0.0):8.2f}s  {100 * t.get(name, 0.0) / wall:5.1f}% of wall")
    rest = wall - sum(t.get(n, 0.0) for n in ("dedup", "prompt", "parse", "io"))
    print(f"  {'other':<7} {rest:8.2f}s  {100 * rest / wall:5.1f}% (engine, HTTP, event loop)")
    seeds = [s.instruction for s in load_seed_tasks()]
    per_pair = rouge_score_pair_seconds(seeds)
    comparisons = candidates * (len(seeds) + summary.accepted / 2)  # type: ignore[attr-defined]
    original = comparisons * per_pair
    print(
        f"original design (rouge-score vs the whole pool, one core): {per_pair * 1e6:.0f} us/pair x "
        f"{comparisons:,.0f} pairs = {original:,.0f}s ({original / 3600:.1f} h); "
        f"our dedup {t.get('dedup', 0.0):.1f}s: {original / max(t.get('dedup', 1e-9), 1e-9):,.0f}x faster"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
