"""``dedup_file_ray`` on a two-node Ray (2 CPUs) against the local ``selfinstruct dedup``, byte for byte."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray_helpers import corpora, many_near_duplicates, ray_options, run_local, write_records

from selfinstruct.cli import main
from selfinstruct.distributed import RayDedupProgress, dedup_file_ray
from selfinstruct.distributed._schedule import Join, JoinPlan
from selfinstruct.errors import InputError

ray = pytest.importorskip("ray")

POOL = ["Write a poem about the sea.", "Tell a story about a cat."]
TEXTS = [
    "Write a poem about the sea!",
    "Give three tips for staying healthy.",
    "give 3 tips for staying healthy",
    "Translate the sentence into French.",
    "Write a short poem about the sea.",
    "Tell a short story about a cat.",
    "Translate this sentence into French.",
    "",
    "Give three tips for staying healthy!",
]


@pytest.fixture(scope="module", autouse=True)
def connected(ray_cluster: Any) -> Iterator[None]:
    """The driver joins the session's two-node cluster for this module."""
    ray.init(address=ray_cluster.address, log_to_driver=False)
    yield
    ray.shutdown()


def same_as_local(
    tmp_path: Path,
    input_path: Path,
    *extra: str,
    against: tuple[Path, ...] = (),
    blocks: int | None = None,
    **kwargs: Any,
) -> Any:
    """Run both; assert equal outputs and rejects; return the distributed result."""
    out, rej = tmp_path / "local.jsonl", tmp_path / "local_rejects.jsonl"
    assert run_local(input_path, out, rej, *extra, against=against) == 0
    ray_out, ray_rej = tmp_path / "ray.jsonl", tmp_path / "ray_rejects.jsonl"
    result = dedup_file_ray(
        input_path, ray_out, rejects=ray_rej, against=against, blocks=blocks, **ray_options(extra), **kwargs
    )
    assert ray_out.read_bytes() == out.read_bytes()
    assert ray_rej.read_bytes() == rej.read_bytes()
    return result


@pytest.mark.parametrize("blocks", [1, 3])
def test_a_byte_order_mark_is_skipped_as_locally(tmp_path: Path, blocks: int) -> None:
    """A file saved with a UTF-8 byte-order mark gives the local command's outputs."""
    plain = write_records(tmp_path / "plain.jsonl", TEXTS)
    marked = tmp_path / "marked.jsonl"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    result = same_as_local(tmp_path, marked, blocks=blocks)
    assert result.read == len(TEXTS)


@pytest.mark.parametrize("blocks", [1, 2, 3, 9])
def test_same_output_as_local_with_a_pool(tmp_path: Path, blocks: int) -> None:
    """Kept lines and rejects (nearest in the pool or the input) equal the local command's."""
    input_path = write_records(tmp_path / "in.jsonl", TEXTS)
    pool = write_records(tmp_path / "pool.jsonl", POOL)
    result = same_as_local(tmp_path, input_path, against=(pool,), blocks=blocks)
    assert (result.read, result.kept, result.rejected, result.pooled) == (9, 3, 6, 2)
    assert 1 <= result.blocks <= blocks  # byte cuts landing in one line make one range
    assert (result.blocks > 1) == (blocks > 1)
    assert result.pairs >= 5


@given(texts=corpora, pool=corpora, blocks=st.integers(1, 5), threshold=st.sampled_from([0.7, 0.5]))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_same_output_as_local_on_near_duplicate_corpora(
    tmp_path: Path, texts: list[str], pool: list[str], blocks: int, threshold: float
) -> None:
    """Hypothesis corpora dense in near-duplicates: identical outputs for any number of blocks."""
    input_path = write_records(tmp_path / "in.jsonl", texts)
    pools = (write_records(tmp_path / "pool.jsonl", pool),) if pool else ()
    same_as_local(tmp_path, input_path, "--threshold", str(threshold), against=pools, blocks=blocks)


def test_original_rule_and_unicode_tokenizer(tmp_path: Path) -> None:
    """The other rule and tokenizer give the local answers too."""
    input_path = write_records(tmp_path / "in.jsonl", [*TEXTS, "東京 大阪", "東京 大阪 京都"])
    same_as_local(tmp_path, input_path, "--rule", "original", "--tokenizer", "unicode", blocks=3)


def test_skipped_lines_are_counted_like_local(tmp_path: Path) -> None:
    """With skip_invalid, broken and field-less lines are skipped and counted; outputs still equal."""
    input_path = tmp_path / "in.jsonl"
    input_path.write_bytes(
        b'{"instruction": "write a poem about the sea"}\n{broken\n\n{"other": 1}\n'
        b'{"instruction": "write a poem about the sea!"}\n[1]\n{"instruction": "tell a story"}'
    )
    result = same_as_local(tmp_path, input_path, "--skip-invalid", blocks=3)
    assert (result.read, result.kept, result.rejected, result.invalid) == (3, 2, 1, 3)
    assert result.invalid_examples[0].startswith(f"{input_path}:2: invalid JSON")


def test_a_block_with_no_valid_rows_between_others(tmp_path: Path) -> None:
    """A middle block whose lines are all skipped holds back no join: outputs still equal local's."""
    head = write_records(tmp_path / "head.jsonl", many_near_duplicates(1000, seed=1)).read_bytes()
    middle = write_records(tmp_path / "middle.jsonl", many_near_duplicates(1000, seed=2)).read_bytes()
    input_path = tmp_path / "in.jsonl"
    # Blocks: head, broken lines, middle, middle again (its pairs come from the join of the last two).
    input_path.write_bytes(head + b"{broken\n" * (len(head) // 8) + middle + middle)
    result = same_as_local(tmp_path, input_path, "--skip-invalid", blocks=4)
    assert result.blocks == 4
    assert result.rejected >= 1000


class _KeptRowsOnly(JoinPlan):
    def fill(self, in_flight: int) -> list[Join]:
        return []


class _AllAtOnce(JoinPlan):
    def fill(self, in_flight: int) -> list[Join]:
        return super().fill(in_flight=-(10**9))


@pytest.mark.parametrize(
    ("plan", "eager"),
    [pytest.param(_KeptRowsOnly, 0, id="kept-rows-only"), pytest.param(_AllAtOnce, 15, id="all-at-once")],
)
def test_any_schedule_gives_the_local_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: type[JoinPlan], eager: int
) -> None:
    """Joins waiting for kept rows, or all started at once with every row: the same outputs."""
    monkeypatch.setattr("selfinstruct.distributed._dedup.JoinPlan", plan)
    input_path = write_records(tmp_path / "in.jsonl", many_near_duplicates(3000))
    result = same_as_local(tmp_path, input_path, blocks=6)
    assert result.eager_joins == eager
    assert len(result.joins) == 21
    assert result.rejected > 500


def test_first_bad_line_is_the_error(tmp_path: Path) -> None:
    """Without skip_invalid the error names the first bad line, as the local command does."""
    input_path = tmp_path / "in.jsonl"
    input_path.write_bytes(b'{"instruction": "a"}\n' * 50 + b'{"other": 1}\n' + b"{broken\n" * 3)
    with pytest.raises(InputError, match=r"in\.jsonl:51: field 'instruction' is missing"):
        dedup_file_ray(input_path, tmp_path / "out.jsonl", blocks=4)
    assert not (tmp_path / "out.jsonl").exists()


def test_empty_input_and_progress(tmp_path: Path) -> None:
    """An empty file gives an empty output; progress reports each stage on a real file."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = dedup_file_ray(empty, tmp_path / "out.jsonl")
    assert (result.read, result.kept) == (0, 0)
    assert (tmp_path / "out.jsonl").read_bytes() == b""

    seen: list[RayDedupProgress] = []
    input_path = write_records(tmp_path / "in.jsonl", TEXTS * 3)
    result = dedup_file_ray(input_path, tmp_path / "out.jsonl", blocks=3, progress=seen.append)
    assert {p.stage for p in seen} >= {"read", "join"}
    joins = [p for p in seen if p.stage == "join"]
    assert joins[-1].pairs == result.pairs
    assert max(p.done for p in joins) == max(p.total for p in joins)
    assert len(result.joins) == 6  # 3 self-joins and 3 cross joins


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    """A missing input or pool is named in the error."""
    with pytest.raises(InputError, match="no such file"):
        dedup_file_ray(tmp_path / "nope.jsonl", tmp_path / "out.jsonl")


def _running_join_workers(raylet: int) -> list[int]:
    """Pids of this Ray's worker processes busy in a join task (their title says so)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            title = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == raylet and title.startswith(b"ray::join_task"):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Ray's workers through /proc")
def test_a_worker_killed_mid_join_changes_nothing(tmp_path: Path) -> None:
    """SIGKILL a worker while it runs a join: Ray retries the task and the outputs still equal local's."""
    input_path = write_records(tmp_path / "in.jsonl", many_near_duplicates(6000))
    # A worker's parent is this Ray's raylet (a lambda travels by value, a test module would not import).
    raylet = ray.get(ray.remote(lambda: os.getppid()).remote())
    killed: list[int] = []

    def kill_one_join(update: RayDedupProgress) -> None:
        if killed or update.stage != "join" or update.done != 1:
            return
        deadline = time.monotonic() + 10
        while not killed and time.monotonic() < deadline:
            for pid in _running_join_workers(raylet)[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    result = same_as_local(tmp_path, input_path, blocks=10, progress=kill_one_join)
    assert killed, "no join task was running to be killed"
    assert result.rejected > 1000
    assert len(result.joins) == 55


def test_command_line_on_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``selfinstruct dedup --ray`` writes the local command's files and says it ran on Ray."""
    input_path = write_records(tmp_path / "in.jsonl", TEXTS)
    pool = write_records(tmp_path / "pool.jsonl", POOL)
    assert run_local(input_path, tmp_path / "local.jsonl", tmp_path / "local_rej.jsonl", against=(pool,)) == 0
    capsys.readouterr()
    argv = [
        "dedup",
        str(input_path),
        "-o",
        str(tmp_path / "ray.jsonl"),
        "--rejects",
        str(tmp_path / "ray_rej.jsonl"),
    ]
    assert main([*argv, "--against", str(pool), "--ray", "--ray-blocks", "3", "--no-progress"]) == 0
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray_rej.jsonl").read_bytes() == (tmp_path / "local_rej.jsonl").read_bytes()
    summary = capsys.readouterr().out
    assert summary.startswith("dedup: read 9, kept 3, rejected 6 (against a pool of 2) in ")
    # The shared cluster has 2 CPUs, but a node removed by an earlier test may still be counted a while
    assert re.search(r" on Ray \(\d+ CPUs, 3 blocks, 9 join tasks, \d+ pairs\) -> ", summary), summary
