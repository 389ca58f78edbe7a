"""Benchmark: the run's dedup stage (``InstructionPool.admit``) one by one and on all cores.

    python bench/bench_pool.py                          # pools 10k, 30k, 100k
    python bench/bench_pool.py --pools 50000 --answers 100

On the corpus of ``bench/dedup_corpus.py`` (instruction-like texts of 10-60 rouge tokens, Zipf
topic words, 15% near-duplicates of earlier items): a pool of N machine instructions (after 175
seed-sized texts), then answers of 15 candidates each (a bootstrap answer's share), admitted
with the nearest item recorded, as ``selfinstruct run`` does by default. Per answer, median over
the answers: the candidates checked one by one (``NoveltyIndex.add_if_novel``, what the pool does
below ``THREADS_FROM`` items) and batched on all cores (``NoveltyIndex.check_batch``), with the
ratio. The decisions are the same in both modes (checked here too).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dedup_corpus import generate  # noqa: E402

from selfinstruct.dedup import kernel_name  # noqa: E402
from selfinstruct.pipeline.pool import Admission, InstructionPool  # noqa: E402

SEEDS = 175
CANDIDATES = 15


def per_answer(
    texts: list[str], size: int, answers: int, workers: int, threads_from: int
) -> tuple[float, list[Admission]]:
    """Median seconds per answer, and the admissions, for one mode."""
    settings = {"threshold": 0.7, "tokenizer": "rouge", "rule": "paper", "record_nearest": True}
    pool = InstructionPool(texts[:SEEDS], limit=10**9, workers=workers, **settings)
    for text in texts[SEEDS:size]:
        pool.index.add(text)
    rest = texts[size : size + CANDIDATES * answers]
    seconds: list[float] = []
    admitted: list[Admission] = []
    with mock.patch("selfinstruct.pipeline.pool.THREADS_FROM", threads_from):
        for at in range(0, len(rest), CANDIDATES):
            start = time.perf_counter()
            admitted += pool.admit(rest[at : at + CANDIDATES], Counter())
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), admitted


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, nargs="*", default=[10_000, 30_000, 100_000])
    parser.add_argument("--answers", type=int, default=60)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    versions = (
        f"python {platform.python_version()}, numba {metadata.version('numba')}, kernels {kernel_name()}"
    )
    print(f"machine: {platform.machine()}, {cores} cores, load {os.getloadavg()[0]:.2f}; {versions}")
    texts = generate(max(args.pools) + CANDIDATES * args.answers)
    print(f"workload: answers of {CANDIDATES} candidates (median of {args.answers}), nearest recorded")
    for size in args.pools:
        one, reference = per_answer(texts, size, args.answers, 1, 0)
        all_cores, got = per_answer(texts, size, args.answers, cores, 0)
        print(f"  pool {size:>9,}: one by one {one * 1e3:6.2f} ms; batched on {cores} threads "
              f"{all_cores * 1e3:6.2f} ms ({one / all_cores:.2f}x one by one); "
              f"same decisions: {got == reference}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
