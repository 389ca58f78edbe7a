"""Benchmark: selfinstruct's exact ROUGE-L novelty check against the peers, on a generated corpus.

    python bench/bench_dedup.py            # full: pools of 1k/10k/20k/50k/100k, 100k-line CLI run
    python bench/bench_dedup.py --quick    # pools of 1k/10k/20k, 20k-line CLI run

Per-candidate latency of ``NoveltyIndex.check`` (p50/p99 over held-out candidates, one thread),
and in the same run the ratio to
  (a) rouge-score as the original SELF-INSTRUCT code used it: ``scorer.score(new, item)`` per pool item,
  (b) Stanford Alpaca's variant: pool pre-tokenized once, ``rouge_scorer._score_lcs`` per pool item,
  (c) rapidfuzz ``process.cdist`` with ``LCSseq`` over token ids (then rouge-score's F arithmetic),
(a) and (b) are timed on a sample of the pool and scaled to the pool size (they are linear scans).
Also: exactness against rouge-score on sampled pairs, the index's decisions against an exhaustive
scan, MinHash (exact mode with LSH early reject, and approximate mode with its recall), and the
wall time of ``python -m selfinstruct dedup`` on the whole corpus plus cold/warm start on a tiny file.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_corpus import generate  # noqa: E402

from selfinstruct.dedup import NoveltyIndex, kernel_name, rouge_l, tokenize  # noqa: E402


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def time_checks(index: NoveltyIndex, probes: list[str], *, nearest: bool) -> list[float]:
    """Seconds per ``index.check`` call."""
    out = []
    for text in probes:
        start = time.perf_counter()
        index.check(text, nearest=nearest)
        out.append(time.perf_counter() - start)
    return out


def rouge_fmeasure(lcs: np.ndarray, m: int, n: np.ndarray) -> np.ndarray:
    """rouge-score's F arithmetic, vectorized (same float64 operations, same order)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / n
        recall = lcs / m
        f = 2 * precision * recall / (precision + recall)
    return np.where((lcs > 0) & (n > 0) & (m > 0), f, 0.0)


class RapidfuzzScan:
    """Peer (c): one ``cdist`` call over the whole pool per candidate, token ids as sequences."""

    def __init__(self, pool_tokens: list[list[str]]) -> None:
        from rapidfuzz import process
        from rapidfuzz.distance import LCSseq

        self.vocab: dict[str, int] = {}
        self.pool = [[self.vocab.setdefault(t, len(self.vocab)) for t in toks] for toks in pool_tokens]
        self.lengths = np.array([len(p) for p in self.pool], dtype=np.float64)
        self._cdist, self._scorer = process.cdist, LCSseq.similarity

    def scores(self, tokens: list[str]) -> np.ndarray:
        query = [self.vocab.get(t, -1 - i) for i, t in enumerate(tokens)]
        lcs = self._cdist([query], self.pool, scorer=self._scorer, workers=1, dtype=np.int32)[0]
        return rouge_fmeasure(lcs.astype(np.float64), len(tokens), self.lengths)


def peer_per_item_seconds(pool: list[str], probes: list[str], sample: int) -> tuple[float, float]:
    """Seconds per pool item for (a) scorer.score and (b) pre-tokenized _score_lcs."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    items = pool[:sample]
    start = time.perf_counter()
    for probe in probes:
        for item in items:
            scorer.score(probe, item)
    original = (time.perf_counter() - start) / (len(probes) * len(items))
    tokenized = [scorer._tokenizer.tokenize(item) for item in items]
    start = time.perf_counter()
    for probe in probes:
        probe_tokens = scorer._tokenizer.tokenize(probe)
        for item_tokens in tokenized:
            rouge_scorer._score_lcs(probe_tokens, item_tokens)
    alpaca = (time.perf_counter() - start) / (len(probes) * len(items))
    return original, alpaca


def exactness(
    pool: list[str], probes: list[str], index: NoveltyIndex, scan: RapidfuzzScan, pairs: int
) -> str:
    """Float mismatches against rouge-score on sampled pairs; decision/score mismatches vs a full scan."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = np.random.default_rng(1)
    float_bad = checked = 0
    decision_bad = score_bad = near_bad = 0
    for probe in probes:
        for j in rng.choice(len(pool), size=max(1, pairs // len(probes)), replace=False):
            checked += 1
            float_bad += rouge_l(pool[j], probe) != scorer.score(pool[j], probe)["rougeL"].fmeasure
        full = scan.scores(tokenize(probe))
        best = float(full.max()) if len(full) else 0.0
        # rouge-score itself on every pool item the scan puts near the best or near the threshold.
        for j in np.flatnonzero(full >= min(best, 0.6) - 1e-9)[:200]:
            checked += 1
            float_bad += float(full[j]) != scorer.score(pool[j], probe)["rougeL"].fmeasure
        match = index.check(probe, nearest=True)
        decision_bad += match.novel != (best < index.threshold)
        score_bad += match.score != best
        near_bad += best > 0 and match.nearest != int(np.flatnonzero(full == best)[0])
    return (
        f"{float_bad} float mismatches in {checked} pairs scored by rouge-score; "
        f"{decision_bad} decision, {score_bad} max-score, {near_bad} nearest-id mismatches "
        f"in {len(probes)} candidates vs an exhaustive scan of {len(pool):,} items"
    )


def run_cli(
    path: Path, out: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``python -m selfinstruct dedup`` (start-up included), its summary."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "selfinstruct", "dedup", str(path), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller pools and corpus")
    parser.add_argument("--probes", type=int, default=1000, help="held-out candidates per pool size")
    parser.add_argument("--runs", type=int, default=3, help="runs of the CLI timing (median reported)")
    args = parser.parse_args()

    sizes = [1_000, 10_000, 20_000] if args.quick else [1_000, 10_000, 20_000, 50_000, 100_000]
    corpus_size = 20_000 if args.quick else 100_000
    probes_n = min(args.probes, 300) if args.quick else args.probes
    print("bench_dedup: exact ROUGE-L novelty check (selfinstruct.dedup) vs rouge-score, Alpaca, rapidfuzz")
    print(
        f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, kernel={kernel_name()}"
    )
    versions = ("numba", "numpy", "datasketch", "rapidfuzz", "rouge-score", "nltk", "orjson")
    print("versions: " + ", ".join(f"{name} {metadata.version(name)}" for name in versions))
    t0 = time.perf_counter()
    corpus = generate(max(sizes) + probes_n + 2_000, seed=0)
    probes = corpus[max(sizes) + 2_000 :][:probes_n]
    lengths = [len(tokenize(t)) for t in corpus[:20_000]]
    print(
        f"workload: generated instruction corpus ({len(corpus):,} texts, {time.perf_counter() - t0:.1f} s), "
        f"rouge tokens min/median/max {min(lengths)}/{statistics.median(lengths):.0f}/{max(lengths)}, "
        f"~15% perturbed copies of earlier items; pool = first N texts (added unconditionally); "
        f"{len(probes)} held-out candidates (checked, not added); threshold 0.7, rule=paper"
    )
    NoveltyIndex().add_if_novel("warm up the compiled kernels")  # loads/compiles Numba first

    print()
    header = (
        f"{'pool':>7} | {'check p50':>9} {'p99':>7} | {'nearest p50':>11} {'p99':>7} | "
        f"{'rapidfuzz':>9} {'ratio':>6} | {'alpaca':>9} {'ratio':>8} | {'original':>9} {'ratio':>8} | reject"
    )
    print(header + "\n" + "-" * len(header))
    per_item = peer_per_item_seconds(corpus[:1_000], probes[:3], 1_000)
    index = NoveltyIndex()
    added = 0
    build_seconds = 0.0
    results = {}
    for size in sizes:
        start = time.perf_counter()
        while added < size:
            index.add(corpus[added])
            added += 1
        build_seconds += time.perf_counter() - start
        before = index.statistics()
        check = time_checks(index, probes, nearest=False)
        after = index.statistics()
        share = (after.verified - before.verified) / (after.checks - before.checks) / size
        near = time_checks(index, probes, nearest=True)
        rejected = sum(not index.check(p).novel for p in probes) / len(probes)
        scan = RapidfuzzScan([tokenize(t) for t in corpus[:size]])
        rf_probes = probes[: max(20, min(200, 2_000_000 // size))]
        rf = []
        for text in rf_probes:
            begin = time.perf_counter()
            scores = scan.scores(tokenize(text))
            bool(scores.max() >= 0.7)
            rf.append(time.perf_counter() - begin)
        c50, c99 = percentiles(check)
        n50, n99 = percentiles(near)
        rf50 = percentiles(rf)[0]
        original, alpaca = per_item[0] * size * 1e3, per_item[1] * size * 1e3
        results[size] = (c50, n50, scan)
        print(
            f"{size:>7,} | {c50:>7.3f}ms {c99:>5.2f}ms | {n50:>9.3f}ms {n99:>5.2f}ms | "
            f"{rf50:>7.2f}ms {rf50 / c50:>5.0f}x | {alpaca:>7.0f}ms {alpaca / c50:>7.0f}x | "
            f"{original:>7.0f}ms {original / c50:>7.0f}x | {rejected:.0%} {share:.3%}"
        )
    print(
        f"(index build: {build_seconds:.2f} s for {added:,} adds; (a)/(b) scaled from "
        f"{per_item[0] * 1e6:.1f} / {per_item[1] * 1e6:.1f} us per pool item measured on 3 x 1,000 pairs; "
        f"rapidfuzz p50 over up to 200 candidates, workers=1; reject: share of candidates rejected; "
        f"verified: share of the pool whose LCS a check computed, mean)"
    )
    if 20_000 in results and max(sizes) > 20_000:
        top = max(sizes)
        print(
            f"scaling: p50 at {top:,} / p50 at 20,000 = {results[top][0] / results[20_000][0]:.2f} "
            f"(check), {results[top][1] / results[20_000][1]:.2f} (nearest)"
        )

    print("\nexactness (default exact mode):")
    size = 20_000
    exact_index = NoveltyIndex()
    for text in corpus[:size]:
        exact_index.add(text)
    print("  " + exactness(corpus[:size], probes[:300], exact_index, results[size][2], 20_000))

    print(f"\nMinHash (datasketch, 64 permutations, LSH threshold 0.5), pool {size:,}:")
    for label, kwargs in (
        ("exact + LSH early reject", {"minhash": True}),
        ("approximate", {"mode": "approximate"}),
    ):
        other = NoveltyIndex(**kwargs)  # type: ignore[arg-type]
        start = time.perf_counter()
        for text in corpus[:size]:
            other.add(text)
        build = time.perf_counter() - start
        timing = time_checks(other, probes, nearest=False)
        truth = [exact_index.check(p) for p in probes]
        got = [other.check(p) for p in probes]
        duplicates = sum(not t.novel for t in truth)
        found = sum((not t.novel) and (not g.novel) for t, g in zip(truth, got, strict=True))
        wrong = sum(t.novel != g.novel for t, g in zip(truth, got, strict=True))
        p50, p99 = percentiles(timing)
        print(
            f"  {label:<26} check p50 {p50:.3f} ms p99 {p99:.2f} ms; recall {found}/{duplicates} "
            f"({found / max(duplicates, 1):.1%}); decisions unlike exact: {wrong}; build {build:.1f} s"
        )

    print("\nselfinstruct dedup (subprocess, start-up included):")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        big = tmp_path / "corpus.jsonl"
        with open(big, "wb") as handle:
            for i, text in enumerate(corpus[:corpus_size]):
                handle.write(orjson.dumps({"id": i, "instruction": text}) + b"\n")
        for workers in (1, 2):
            walls, cpus = [], []
            summary = ""
            for _ in range(args.runs):
                wall, cpu, summary = run_cli(big, tmp_path / "out.jsonl", extra=("--workers", str(workers)))
                walls.append(wall)
                cpus.append(cpu)
            print(
                f"  {corpus_size:,} lines, --workers {workers}: wall median {statistics.median(walls):.2f} s,"
                f" CPU median {statistics.median(cpus):.2f} s, {args.runs} runs ({summary.split(' -> ')[0]})"
            )
        small = tmp_path / "small.jsonl"
        with open(small, "wb") as handle:
            for i, text in enumerate(corpus[:1_000]):
                handle.write(orjson.dumps({"id": i, "instruction": text}) + b"\n")
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
        cold = run_cli(small, tmp_path / "t.jsonl", env)[0]
        warm = statistics.median(run_cli(small, tmp_path / "t.jsonl", env)[0] for _ in range(3))
        tiny = tmp_path / "tiny.jsonl"
        tiny.write_bytes(b'{"instruction": "a b c"}\n{"instruction": "a b c d"}\n')
        twin = statistics.median(run_cli(tiny, tmp_path / "t.jsonl")[0] for _ in range(3))
        base = statistics.median(run_cli_version() for _ in range(3))
        print(
            f"  1,000 lines ({small.stat().st_size // 1024} KB, Numba kernels): cold start (empty Numba "
            f"cache, compiles) {cold:.2f} s; warm (cached) {warm:.2f} s"
        )
        print(
            f"  2-line file (< 64 KB: plain-Python kernels, Numba not loaded) {twin:.2f} s; "
            f"bare 'python -c import selfinstruct' {base:.2f} s"
        )
        print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


def run_cli_version() -> float:
    """Wall seconds of a bare interpreter importing the package (the start-up floor)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import selfinstruct"], check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
