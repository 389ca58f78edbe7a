"""Benchmark: ``dedup --ray`` against the local ``dedup_file`` on one machine, and a scaling model.

    python bench/bench_dedup_ray.py                       # 1M lines, one run each
    python bench/bench_dedup_ray.py --lines 100000 --repeats 3
    python bench/bench_dedup_ray.py --lines 300000 --minhash-lines 100000

All in one run, on the corpus of ``bench/dedup_corpus.py`` (instruction-like texts of 10-60 rouge
tokens, Zipf topic words, 15% near-duplicates of earlier items), written as JSONL as
``bench_dedup_scale.py`` writes it:

* the local ``dedup_file`` (all cores) and ``dedup_file_ray`` (a private local Ray with all cores),
  each in a fresh process (start-up and ``ray.init`` included), with rejects; their kept lines and
  rejects are compared byte for byte. Wall medians, the ratio Ray / local, each stage's time (local
  stages from its progress callback; Ray's from ``RayDedupResult.stage_seconds``), the pairs the
  join found and the bytes passed between tasks and the driver (``RayDedupResult.bytes_shuffled``:
  token blocks into joins, pairs out, masks in, rendered lines out);
* datasketch MinHash LSH (64 permutations, threshold 0.5) as LSH-only dedup tools use it: rows in
  input order, a row is dropped when the LSH of the kept rows returns any candidate, no
  verification. Time, and recall / precision of its dropped rows against the exact answer;
* a per-task cost model: ``join_task`` (the function the Ray workers run) timed on one thread for
  blocks of several sizes, fitted as ``t = c0 + c1 (l + r) + c2 w`` (w = l r across blocks,
  l (l - 1) / 2 inside one; a cross join's l is the earlier block's kept rows), checked against
  the tasks of the Ray run, and used with the measured read cost, Ray's per-task overhead, pair
  densities and the driver's serial part (resolve in input order + writing) in an event
  simulation of the command's schedule (``JoinPlan`` itself: self-joins at once, a block's
  kept-only cross joins once it is resolved, cross joins with all rows early while workers would
  idle; default block count) to project the wall time on 2, 8, 32 and 128 workers.

What a 2-core machine can show: Ray's fixed and per-task overhead against the local command on the
same cores, that the output is identical, the per-task cost curve and the serial share. What it
cannot show: any real speed-up (two workers, shared with other jobs), network transfer (the object
store is local shared memory here), stragglers, or memory pressure of many nodes; the projections
are a model from measured parts, not a measurement.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dedup_corpus import generate  # noqa: E402

from selfinstruct.dedup import tokenize, tokenize_block  # noqa: E402
from selfinstruct.distributed._dedup import _default_blocks as default_blocks  # noqa: E402
from selfinstruct.distributed._schedule import Join, JoinPlan  # noqa: E402
from selfinstruct.distributed._tasks import JoinOptions, join_task  # noqa: E402

OPTIONS = JoinOptions(threshold=0.7, rule="paper", tokenizer="rouge", stemmer=False)

LOCAL_CHILD = """
import json, sys, time
start = time.perf_counter()
from selfinstruct.dedup import dedup_file
src, out, rej = sys.argv[1:4]
marks = {}
def progress(stage, done, total):
    marks[stage] = time.perf_counter()  # the last call of each stage ends it
imported = time.perf_counter()
summary = dedup_file(src, out, rejects=rej, progress=progress)
end = time.perf_counter()
stages = {"start-up": imported - start, "read": marks["read"] - imported,
          "decide": marks["dedup"] - marks["read"], "write": end - marks["dedup"]}
print(json.dumps({"seconds": end - start, "kept": summary.kept, "rejected": summary.rejected,
                  "stages": stages, "workers": summary.workers}))
"""

RAY_CHILD = """
import dataclasses, json, sys, time
start = time.perf_counter()
from selfinstruct.distributed import dedup_file_ray
src, out, rej = sys.argv[1:4]
blocks = int(sys.argv[4]) or None
imported = time.perf_counter()
result = dedup_file_ray(src, out, rejects=rej, blocks=blocks)
record = dataclasses.asdict(result)
record["import_s"] = imported - start
record["total_s"] = time.perf_counter() - start
print(json.dumps(record))
"""

OVERHEAD_CHILD = """
import json, sys, time
import ray
ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
@ray.remote
def nothing(x):
    return x
ray.get([nothing.remote(0) for _ in range(50)])  # workers started
count = int(sys.argv[1])
start = time.perf_counter()
ray.get([nothing.remote(k) for k in range(count)])
print(json.dumps({"per_task_s": (time.perf_counter() - start) / count}))
ray.shutdown()
"""


def child(code: str, *args: str) -> tuple[dict[str, Any], float]:
    """Run ``code`` in a fresh interpreter; its last stdout line as JSON, and the wall time."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def minhash_dedup(texts: list[str]) -> tuple[np.ndarray, float]:
    """LSH-only keep-first: drop a row when the LSH of the kept rows has any candidate for it."""
    from selfinstruct.dedup._minhash import MinHashFinder

    start = time.perf_counter()
    finder = MinHashFinder(num_perm=64, threshold=0.5)
    kept = np.ones(len(texts), dtype=bool)
    for row, text in enumerate(texts):
        tokens = tokenize(text)
        if finder.query(tokens):
            kept[row] = False
        else:
            finder.insert(row, tokens)
    return kept, time.perf_counter() - start


def kept_rows(path: Path) -> np.ndarray:
    """The ``id`` of every record in an output file."""
    with open(path, "rb") as handle:
        return np.asarray([orjson.loads(line)["id"] for line in handle], dtype=np.int64)


def work(left: int, right: int | None) -> float:
    """Row pairs a join task compares in the worst case (the quadratic term of the model)."""
    return left * (left - 1) / 2 if right is None else float(left * right)


def calibrate(texts: list[str], sizes: list[int]) -> list[tuple[int, int | None, float]]:
    """Time ``join_task`` on one thread: a self-join and a cross join per size (median of 3 calls)."""
    points: list[tuple[int, int | None, float]] = []
    blocks = {}
    at = 0
    for size in sizes:
        blocks[size] = (
            tokenize_block(texts[at : at + size]),
            tokenize_block(texts[at + size : at + 2 * size]),
        )
        at += 2 * size
    join_task(blocks[sizes[0]][0], 0, 0, None, 0, 0, OPTIONS)  # kernels loaded before timing
    for size in sizes:
        first, second = blocks[size]
        for right in (None, second):
            runs = [join_task(first, 0, 0, right, size, 1, OPTIONS)[1].seconds for _ in range(3)]
            points.append((size, None if right is None else size, statistics.median(runs)))
    return points


def fit(points: list[tuple[int, int | None, float]]) -> np.ndarray:
    """Least-squares (c0, c1, c2) of ``t = c0 + c1 (l + r) + c2 w`` in relative error, clipped at 0."""
    rows = np.asarray(
        [[1.0, left + (right or 0), work(left, right)] for left, right, _ in points], dtype=np.float64
    )
    seconds = np.asarray([t for *_, t in points])
    weight = 1.0 / np.maximum(seconds, 1e-3)  # small and large tasks count alike
    coef, *_ = np.linalg.lstsq(rows * weight[:, None], seconds * weight, rcond=None)
    return np.clip(coef, 0.0, None)


def predict(coef: np.ndarray, left: int, right: int | None) -> float:
    return float(coef[0] + coef[1] * (left + (right or 0)) + coef[2] * work(left, right))


@dataclass(frozen=True)
class Shape:
    """What the projection scales from the measured run (per row and per pair, on this corpus)."""

    bytes_per_row: float
    kept_share: float  # rows an earlier block passes to a cross join
    self_density: float  # pairs found per row pair compared inside a block
    cross_density: float  # pairs found per (kept row, row) compared across blocks
    resolve_per_pair: float  # driver seconds
    write_tail: float  # seconds after the last resolve (the last block's lines), per block of the run


def schedule(
    n: int, seconds: Callable[[Join], float], workers: int, resolve_s: float
) -> tuple[float, list[Join]]:
    """Finish time of the join stage on ``workers``, and the joins run: an event simulation of
    ``JoinPlan``, the command's own schedule.

    Ray's queue is first come, first served; the driver resolves blocks in input order once all their
    joins are done (``resolve_s`` each, on one thread), then starts the resolved block's kept-only
    joins and, while fewer joins are in flight than there are workers, joins with all rows.
    """
    plan = JoinPlan(0, [1] * n, workers)
    queue: deque[tuple[float, Join]] = deque()  # (ready at, join)
    running: list[tuple[float, int, Join]] = []  # (finish at, order, join)
    done: list[Join] = []
    now = driver = 0.0
    order = itertools.count()  # ties in finish time go first come, first served

    def submit(joins: list[Join], at: float) -> None:
        queue.extend((at, join) for join in joins)

    submit(plan.start(), 0.0)
    submit(plan.fill(len(queue)), 0.0)
    while queue or running:
        while len(running) < workers and queue and queue[0][0] <= now:
            _, join = queue.popleft()
            heapq.heappush(running, (now + seconds(join), next(order), join))
        ready_at = queue[0][0] if queue and len(running) < workers else math.inf
        if ready_at < (running[0][0] if running else math.inf):
            now = ready_at  # a worker is idle until the driver starts more work
            continue
        now, _, join = heapq.heappop(running)
        done.append(join)
        plan.finished(join)
        while (block := plan.next_resolvable()) is not None:
            driver = max(driver, now) + resolve_s
            submit(plan.resolved(block, kept=1), driver)
        submit(plan.fill(len(queue) + len(running)), max(driver, now))
    return max(now, driver), done


def project(
    coef: np.ndarray, rows: int, workers: int, read_cpu: float, per_task: float, shape: Shape
) -> dict[str, float]:
    """Wall time of a dedup of ``rows`` on ``workers`` with the command's default block count.

    Self-joins compare every row pair of a block; a kept-only cross join the earlier block's kept
    rows with every row of the later one, a join started early all rows of both (task times from the
    fitted model). The pairs they find (densities measured in the run, the kept-only density also
    for early joins) set the driver's resolve time. Reading spreads over the workers; the write
    tail is the measured one, scaled to one block.
    """
    n = default_blocks(workers, round(rows * shape.bytes_per_row))
    size = math.ceil(rows / n)
    kept = max(1, round(size * shape.kept_share))
    cost = {
        "self": predict(coef, size, None),
        "kept": predict(coef, kept, size),
        "all": predict(coef, size, size),
    }
    found = {
        "self": shape.self_density * size * (size - 1) / 2,
        "kept": shape.cross_density * kept * size,
        "all": shape.cross_density * size * size,
    }

    def kind(join: Join) -> str:
        return "self" if join.left == join.right else "kept" if join.kept_only else "all"

    # The resolve time depends on the pairs, which depend on the schedule: two passes settle it.
    resolve_s = found["self"] * shape.resolve_per_pair
    for _ in range(2):
        joins_s, done = schedule(n, lambda join: cost[kind(join)], workers, resolve_s)
        pairs = sum(found[kind(join)] for join in done)
        resolve_s = pairs * shape.resolve_per_pair / n
    read = read_cpu / workers
    scheduling = (len(done) + 3 * n) * per_task  # join, count, read and render tasks, driver-side
    return {
        "blocks": n,
        "tasks": len(done),
        "eager": sum(kind(join) == "all" for join in done),
        "read": read,
        "join": joins_s,
        "join_cpu": sum(cost[kind(join)] for join in done),
        "pairs": pairs,
        "scheduling": scheduling,
        "total": read + scheduling + joins_s + shape.write_tail,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=0, help="Ray input blocks (0: the default)")
    parser.add_argument("--minhash-lines", type=int, default=None, help="default: --lines; 0 skips it")
    parser.add_argument("--calibrate", type=int, nargs="*", default=None, help="join task block sizes")
    parser.add_argument("--workers", type=int, nargs="*", default=[2, 8, 32, 128])
    parser.add_argument(
        "--project-lines", type=int, nargs="*", default=[1_000_000, 3_000_000], help="also project these"
    )
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    print(f"machine: {platform.machine()}, {cores} cores, load {os.getloadavg()[0]:.2f}; "
          f"python {platform.python_version()}")  # fmt: skip
    print("versions: " + ", ".join(f"{p} {metadata.version(p)}" for p in ("ray", "numba", "datasketch")))
    start = time.perf_counter()
    texts = generate(args.lines)
    print(f"corpus: {args.lines:,} texts in {time.perf_counter() - start:.0f} s "
          "(bench/dedup_corpus.py, seed 0, 10-60 tokens, 15% near-duplicates)")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(tmp)
        src = work_dir / "in.jsonl"
        src.write_bytes(b"".join(orjson.dumps({"id": i, "instruction": t}) + b"\n"
                                 for i, t in enumerate(texts)))  # fmt: skip
        file_bytes = src.stat().st_size
        print(f"file: {file_bytes / 1e6:.1f} MB JSONL")
        warm = work_dir / "warm.jsonl"
        head = src.read_bytes()[: 2 << 20]
        warm.write_bytes(head[: head.rfind(b"\n") + 1])
        # Numba's disk cache filled for both, Ray's workers included: they see read-only arrays from the
        # object store, a signature of their own (compiled once per install and node, about 30 s).
        child(LOCAL_CHILD, str(warm), str(work_dir / "w.jsonl"), str(work_dir / "wr.jsonl"))
        child(RAY_CHILD, str(warm), str(work_dir / "w.jsonl"), str(work_dir / "wr.jsonl"), "2")

        local_runs: list[tuple[dict[str, Any], float]] = []
        ray_runs: list[tuple[dict[str, Any], float]] = []
        same = True
        for _ in range(args.repeats):
            outs = {kind: (work_dir / f"{kind}.jsonl", work_dir / f"{kind}.rej.jsonl") for kind in ("l", "r")}
            local_runs.append(child(LOCAL_CHILD, str(src), *map(str, outs["l"])))
            ray_runs.append(child(RAY_CHILD, str(src), *map(str, outs["r"]), str(args.blocks)))
            same = same and all(
                a.read_bytes() == b.read_bytes() for a, b in zip(outs["l"], outs["r"], strict=True)
            )
        local_wall = statistics.median(w for _, w in local_runs)
        ray_wall = statistics.median(w for _, w in ray_runs)
        local, _ = local_runs[-1]
        ray, _ = ray_runs[-1]
        print(f"\nwhole file, {args.lines:,} lines, fresh process each, start-up included "
              f"(median of {args.repeats}):")  # fmt: skip
        print(f"  local dedup_file ({local['workers']} threads): {local_wall:.1f} s wall; kept "
              f"{local['kept']:,}, rejected {local['rejected']:,}")  # fmt: skip
        print(f"  dedup_file_ray ({ray['cpus']} CPUs, {ray['blocks']} blocks, {len(ray['joins'])} join "
              f"tasks): {ray_wall:.1f} s wall; ratio Ray / local {ray_wall / local_wall:.2f}x")  # fmt: skip
        print(f"  same kept lines and rejects, byte for byte: {same}")
        print("  local stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in local["stages"].items()))
        stages = {"import": ray["import_s"], **ray["stage_seconds"]}
        print("  Ray stages (s):   " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
              + "  (resolve is driver time inside join and write)")  # fmt: skip
        joins = ray["joins"]
        join_cpu = sum(j["seconds"] for j in joins)
        print(f"  pairs found {ray['pairs']:,}; bytes shuffled {ray['bytes_shuffled'] / 1e6:.1f} MB "
              f"({ray['bytes_shuffled'] / src.stat().st_size:.2f}x the input); join task CPU "
              f"{join_cpu:.1f} s in {len(joins)} tasks")  # fmt: skip
        ordered = sorted(joins, key=lambda j: (j["right_block"], j["left_block"]))
        if len(ordered) > 12:
            print(f"    (the first 12 of {len(ordered)})")
        for j in ordered[:12]:
            print(f"    join {j['left_block']}x{j['right_block']}: {j['left_rows']:,} x {j['right_rows']:,} "
                  f"rows, {j['pairs']:,} pairs, {j['seconds']:.1f} s")  # fmt: skip

        exact_dropped = np.ones(args.lines, dtype=bool)
        exact_dropped[kept_rows(outs["l"][0])] = False
    lsh_lines = args.lines if args.minhash_lines is None else min(args.minhash_lines, args.lines)
    if lsh_lines == args.lines:
        lsh_kept, lsh_seconds = minhash_dedup(texts)
        dropped = ~lsh_kept
        hit = int((dropped & exact_dropped).sum())
        wanted, got = int(exact_dropped.sum()), int(dropped.sum())
        print(f"\ndatasketch MinHash LSH dedup on {lsh_lines:,} (one thread, LSH only, no verification): "
              f"{lsh_seconds:.1f} s; dropped {got:,}; recall {hit / max(wanted, 1):.3f} of the "
              f"{wanted:,} exact rejects, precision {hit / max(got, 1):.3f}")  # fmt: skip
    else:
        print(f"\ndatasketch MinHash LSH: skipped (--minhash-lines {lsh_lines:,} < --lines)")

    overhead, _ = child(OVERHEAD_CHILD, "2000")
    per_task = overhead["per_task_s"]
    # Calibration on blocks smaller than the run's (each size is joined three times on one thread).
    sizes = args.calibrate or sorted({min(20_000, max(1000, args.lines // d)) for d in (64, 32, 16)})
    points = calibrate(texts, sizes)
    # The Ray run's own join tasks are points too (timed inside the workers, cores shared by the tasks).
    ray_points = [
        (j["left_rows"], None if j["left_block"] == j["right_block"] else j["right_rows"], j["seconds"])
        for j in joins
    ]
    coef = fit(points + ray_points)
    print(f"\ncost model of one join task (fitted on join_task timed on one thread, blocks "
          f"{', '.join(f'{s:,}' for s in sizes)}, and the Ray run's {len(joins)} tasks):")  # fmt: skip
    print(f"  t = {coef[0] * 1e3:.1f} ms + {coef[1] * 1e6:.2f} us x (l + r) + {coef[2] * 1e9:.3f} ns x w")
    for (left, right, seconds), where in zip(
        points + ray_points, ["one thread"] * len(points) + ["Ray run"] * len(ray_points), strict=True
    ):
        print(f"    {where}, {'self' if right is None else 'cross'} {left:,}: measured {seconds:.2f} s, "
              f"model {predict(coef, left, right):.2f} s")  # fmt: skip
    print(f"  Ray per-task overhead (2,000 empty tasks, driver round trip): {per_task * 1e3:.2f} ms")

    read_cpu = ray["stage_seconds"]["read"] * ray["cpus"]
    seconds = ray["stage_seconds"]
    resolve_share = seconds["resolve"] / (seconds["resolve"] + join_cpu + read_cpu)
    print(f"\nkeep-first pass: {resolve_share:.1%} of the work (resolve / (resolve + join CPU + read CPU))")
    self_joins = [j for j in joins if j["left_block"] == j["right_block"]]
    cross_joins = [j for j in joins if j["left_block"] != j["right_block"]]
    shape = Shape(
        bytes_per_row=file_bytes / args.lines,
        kept_share=local["kept"] / args.lines,
        self_density=sum(j["pairs"] for j in self_joins)
        / max(1, sum(work(j["left_rows"], None) for j in self_joins)),
        cross_density=sum(j["pairs"] for j in cross_joins)
        / max(1, sum(work(j["left_rows"], j["right_rows"]) for j in cross_joins)),
        resolve_per_pair=seconds["resolve"] / max(1, ray["pairs"]),
        write_tail=seconds["write"] / max(1, ray["blocks"]),
    )
    for rows in dict.fromkeys([args.lines, *args.project_lines]):
        # Reading grows with the rows; pair densities are this run's (they rise with the corpus on
        # this generator, whose near-duplicate groups grow with it: a projection, not a bound).
        print(f"\nprojection for {rows:,} lines (cluster up, no start-up; read "
              f"{read_cpu * rows / args.lines:.1f} CPU-s over the workers):")  # fmt: skip
        one = project(coef, rows, 1, read_cpu * rows / args.lines, per_task, shape)["total"]
        for workers in args.workers:
            p = project(coef, rows, workers, read_cpu * rows / args.lines, per_task, shape)
            joined = f"join {p['join']:.1f} of {p['join_cpu']:.0f} CPU-s in {p['tasks']} tasks"
            joined += f" ({p['eager']} started early)"
            print(f"  {workers:>4} workers: {p['total']:7.1f} s (read {p['read']:.1f}, {joined} on "
                  f"{p['blocks']} blocks, {p['pairs'] / 1e6:.1f}M pairs, scheduling "
                  f"{p['scheduling']:.2f}); speed-up vs 1 worker {one / p['total']:.1f}x")  # fmt: skip
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
