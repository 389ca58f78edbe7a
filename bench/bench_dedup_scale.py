"""Benchmark: dedup as the pool grows, the prefix-filter join against the 0.1 index and the peers.

    python bench/bench_dedup_scale.py                      # pools 100k/300k/1M, files 100k/300k/1M
    python bench/bench_dedup_scale.py --pools 100000 --files 100000 --baseline-files 100000
    python bench/bench_dedup_scale.py --first-run          # also: first dedup in a fresh venv

Needs the bench extra for its peers (``pip install -e ".[bench]"``: rapidfuzz, rouge-score).

All in one run, on the corpus of ``bench/dedup_corpus.py`` (instruction-like texts of 10-60 rouge
tokens, Zipf topic words, 15% near-duplicates of earlier items):

* per-check latency (p50/p99 over 300 held-out candidates, one thread, tokenizing included) of
  the library's ``NoveltyIndex.check`` (the pool grown one text at a time, as a run grows it), its
  ``check(nearest=True)`` p50, and the 0.1 index (``bench/baseline_index.py``, a copy of the
  previous ``NoveltyIndex``) at each pool size;
* rapidfuzz ``process.cdist`` with ``LCSseq`` over token ids: one candidate against a sample of
  the pool, scaled to the pool size (a linear scan, as a brute-force peer would do);
* datasketch MinHash LSH (64 permutations, threshold 0.5): index time, query time and recall of
  the exact duplicate pairs (from ``similar_pairs``) on the smallest pool;
* whole-file ``dedup_file`` (all cores, start-up included: each in a fresh process) with its peak
  RSS, and the 0.1 CLI algorithm (``check_batch`` of 256 lines on all cores) on the baseline sizes,
  checking that both keep exactly the same lines;
* with ``--first-run``: ``pip install`` of this checkout into a new venv, then the first
  ``selfinstruct dedup`` of a 1k-line file there (Numba's cache empty).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dedup_corpus import generate  # noqa: E402

from selfinstruct.dedup import NoveltyIndex, similar_pairs, tokenize  # noqa: E402
from selfinstruct.dedup._join import default_workers  # noqa: E402

PROBES = 300


def ms(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def index_checks(pool: list[str], probes: list[str]) -> tuple[list[float], list[float], float]:
    """Seconds per ``NoveltyIndex.check`` (tokenizing included) and per ``check(nearest=True)``,
    and the seconds it took to grow the pool (one text at a time, a check every 1,000)."""
    index = NoveltyIndex(threshold=0.7, backend="numba")
    start = time.perf_counter()
    for k, text in enumerate(pool):
        index.add(text)
        if k % 1000 == 999:
            index.check(text)  # a run checks as it grows: its postings form levels and a tail
    built = time.perf_counter() - start
    plain, nearest = [], []
    for text in probes:
        start = time.perf_counter()
        index.check(text)
        plain.append(time.perf_counter() - start)
    for text in probes:
        start = time.perf_counter()
        index.check(text, nearest=True)
        nearest.append(time.perf_counter() - start)
    return plain, nearest, built


def baseline_checks(pool: list[str], probes: list[str]) -> tuple[list[float], float]:
    """Seconds per ``check`` of the 0.1 index, and the seconds it took to build the pool."""
    from baseline_index import NoveltyIndex

    index = NoveltyIndex(threshold=0.7)
    start = time.perf_counter()
    for text in pool:
        index.add(text)
    built = time.perf_counter() - start
    out = []
    for text in probes:
        start = time.perf_counter()
        index.check(text)
        out.append(time.perf_counter() - start)
    return out, built


NO_RAPIDFUZZ = 'rapidfuzz (a peer, not a dependency of selfinstruct) is missing: pip install -e ".[bench]"'


def rapidfuzz_version() -> str:
    """rapidfuzz's version; exits saying how to install it when it is missing (it is a bench peer)."""
    try:
        return metadata.version("rapidfuzz")
    except metadata.PackageNotFoundError:
        raise SystemExit(NO_RAPIDFUZZ) from None


def rapidfuzz_per_check(pool: list[str], probes: list[str], sample: int = 20_000) -> float:
    """Seconds for one candidate scanned against the whole pool with rapidfuzz cdist (scaled)."""
    try:
        from rapidfuzz import process
        from rapidfuzz.distance import LCSseq
    except ImportError:
        raise SystemExit(NO_RAPIDFUZZ) from None

    vocab: dict[str, int] = {}

    def chars(text: str) -> str:
        out = []
        for token in tokenize(text):
            code = 0x100 + vocab.setdefault(token, len(vocab))
            out.append(chr(code + 0x800 if code >= 0xD800 else code))
        return "".join(out)

    choices = [chars(t) for t in pool[:sample]]
    queries = [chars(t) for t in probes[:20]]
    start = time.perf_counter()
    process.cdist(queries, choices, scorer=LCSseq.similarity, workers=1)
    seconds = time.perf_counter() - start
    return seconds / len(queries) * len(pool) / len(choices)


def minhash(pool: list[str], probes: int = 2000) -> dict[str, float]:
    """datasketch LSH on the pool: build and query time, recall of the exact duplicate pairs."""
    from selfinstruct.dedup._minhash import MinHashFinder

    tokens = [tokenize(t) for t in pool]
    start = time.perf_counter()
    finder = MinHashFinder(num_perm=64, threshold=0.5)
    for row, toks in enumerate(tokens):
        finder.insert(row, toks)
    built = time.perf_counter() - start
    exact_start = time.perf_counter()
    pairs = similar_pairs(pool)
    exact_seconds = time.perf_counter() - exact_start
    rng = np.random.default_rng(1)
    sampled = set(rng.choice(len(pool), size=min(probes, len(pool)), replace=False).tolist())
    wanted = [(i, j) for i, j, _ in pairs if j in sampled]
    start = time.perf_counter()
    found = {j: set(finder.query(tokens[j])) for j in sampled}
    queried = time.perf_counter() - start
    hits = sum(1 for i, j in wanted if i in found[j])
    return {
        "build_s": built,
        "query_ms": queried / len(sampled) * 1e3,
        "recall": hits / max(len(wanted), 1),
        "pairs_sampled": len(wanted),
        "exact_self_join_s": exact_seconds,
        "exact_pairs": len(pairs),
    }


CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
start = time.perf_counter()
kind, src, out = sys.argv[1:4]
if kind == "new":
    from selfinstruct.dedup import dedup_file
    summary = dedup_file(src, out)
    kept = summary.kept
else:
    import orjson
    from baseline_index import NoveltyIndex
    from selfinstruct.jsonl import dumps_line
    from selfinstruct.dedup._join import default_workers
    index = NoveltyIndex(threshold=0.7)
    kept = 0
    with open(src, "rb") as handle, open(out, "wb") as sink:
        batch = []
        def settle():
            global kept
            for record, match in zip(batch, index.check_batch([r["instruction"] for r in batch],
                                                              workers=default_workers())):
                if match.novel:
                    kept += 1
                    sink.write(dumps_line(record))
            batch.clear()
        for line in handle:
            batch.append(orjson.loads(line))
            if len(batch) == 256:
                settle()
        if batch:
            settle()
# VmHWM is this process's own peak (ru_maxrss would include the parent's, inherited at fork).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"seconds": time.perf_counter() - start, "kept": kept, "rss_mb": hwm / 1024}}))
"""


def whole_file(kind: str, src: Path, out: Path) -> dict[str, float]:
    """Run one whole-file dedup in a fresh process; wall time (start-up included) and peak RSS."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(here=str(HERE)), kind, str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def first_run(corpus: list[str], workdir: Path) -> dict[str, float]:
    """pip install this checkout into a new venv; time the first dedup of a 1k-line file there."""
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    start = time.perf_counter()
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(HERE.parent)], check=True, capture_output=True
    )
    installed = time.perf_counter() - start
    src = workdir / "first.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"instruction": t}) + b"\n" for t in corpus[:1000]))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(workdir / "numba-cache")}
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(
            [str(venv / "bin" / "selfinstruct"), "dedup", str(src), "-o", str(workdir / "o.jsonl")],
            check=True,
            env=env,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return {"install_s": installed, "first_s": times[0], "second_s": times[1], "bytes": src.stat().st_size}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--baseline-pools", type=int, nargs="*", default=[100_000, 300_000])
    parser.add_argument("--files", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--baseline-files", type=int, nargs="*", default=[100_000, 300_000])
    parser.add_argument("--first-run", action="store_true")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({default_workers()} usable), "
          f"load {os.getloadavg()[0]:.2f}; python {platform.python_version()}")  # fmt: skip
    print(
        "versions: "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("numba", "numpy", "datasketch"))
        + f", rapidfuzz {rapidfuzz_version()}"
    )
    largest = max([*args.pools, *args.files, 1000])
    start = time.perf_counter()
    corpus = generate(largest + PROBES)
    print(f"corpus: {largest + PROBES:,} texts generated in {time.perf_counter() - start:.0f} s "
          "(bench/dedup_corpus.py, seed 0, 10-60 tokens, 15% near-duplicates)")  # fmt: skip
    probes = corpus[largest : largest + PROBES]

    index_checks(corpus[:1000], probes[:5])  # compile / load the kernels before timing
    print("\nper-check latency of the library (NoveltyIndex.check, tokenizing included), one thread, ms:")
    p50_at: dict[int, float] = {}
    for size in sorted(args.pools):
        plain, nearest, built = index_checks(corpus[:size], probes)
        p50, p99 = ms(plain)
        p50_at[size] = p50
        line = (f"  pool {size:>9,}: check p50 {p50:.3f} / p99 {p99:.3f}; nearest=True p50 "
                f"{ms(nearest)[0]:.3f} (pool grown in {built:.0f} s)")  # fmt: skip
        if size in args.baseline_pools:
            base, built = baseline_checks(corpus[:size], probes)
            b50, b99 = ms(base)
            line += f"; 0.1 index {b50:.3f} / {b99:.3f} (x{b50 / p50:.1f} at p50)"
        rf = rapidfuzz_per_check(corpus[:size], probes)
        line += f"; rapidfuzz cdist scan {rf * 1e3:.1f} (x{rf * 1e3 / p50:.0f})"
        print(line, flush=True)
    if len(p50_at) > 1:
        low, high = min(p50_at), max(p50_at)
        print(
            f"  p50 growth {low:,} -> {high:,}: x{p50_at[high] / p50_at[low]:.2f} "
            f"for x{high / low:.0f} the pool"
        )

    small = min(min(args.pools) if args.pools else 100_000, len(corpus))
    found = minhash(corpus[:small])
    print(f"\ndatasketch MinHash LSH on {small:,}: built in {found['build_s']:.1f} s, "
          f"{found['query_ms']:.3f} ms per query, recall {found['recall']:.3f} of "
          f"{found['pairs_sampled']:,} exact duplicate pairs (sampled); exact similar_pairs self-join "
          f"{found['exact_self_join_s']:.1f} s for all {found['exact_pairs']:,} pairs")  # fmt: skip

    print("\nwhole-file dedup (fresh process each, start-up included):")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for size in sorted(args.files):
            src = workdir / f"in{size}.jsonl"
            src.write_bytes(b"".join(orjson.dumps({"id": i, "instruction": t}) + b"\n"
                                     for i, t in enumerate(corpus[:size])))  # fmt: skip
            new = whole_file("new", src, workdir / "new.jsonl")
            line = (f"  {size:>9,} lines: dedup_file {new['wall_s']:.1f} s wall, peak RSS "
                    f"{new['rss_mb']:.0f} MB, kept {new['kept']:,}")  # fmt: skip
            if size in args.baseline_files:
                old = whole_file("old", src, workdir / "old.jsonl")
                same = (workdir / "new.jsonl").read_bytes() == (workdir / "old.jsonl").read_bytes()
                line += (f"; 0.1 index {old['wall_s']:.1f} s, {old['rss_mb']:.0f} MB "
                         f"(x{old['wall_s'] / new['wall_s']:.1f}); same kept lines: {same}")  # fmt: skip
            print(line, flush=True)
        if args.first_run:
            first = first_run(corpus, workdir)
            print(f"\nfresh venv: pip install {first['install_s']:.0f} s; first `selfinstruct dedup` of 1k "
                  f"lines ({first['bytes'] / 1024:.0f} KB) {first['first_s']:.2f} s, second "
                  f"{first['second_s']:.2f} s")  # fmt: skip
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
