"""``dedup_file_ray`` on the two-node cluster of conftest, and never joining a running Ray unasked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray_helpers import corpora, many_near_duplicates, run_local, write_records

from selfinstruct.distributed import RayDedupProgress, dedup_file_ray

ray = pytest.importorskip("ray")

POOL = ["Write a short poem about the sea", "Describe the w1 of w2"]
TEXTS = [
    f"write a {adjective} poem about the {thing}"
    for adjective in ("short", "long", "sad")
    for thing in ("sea", "sky", "cat", "war")
] * 3


def test_no_address_starts_a_private_ray_beside_a_running_one(ray_cluster: Any, tmp_path: Path) -> None:
    """With a Ray already running here, no address means a new private Ray, not joining that one."""
    input_path = write_records(tmp_path / "in.jsonl", TEXTS)
    result = dedup_file_ray(input_path, tmp_path / "out.jsonl", num_cpus=1, blocks=2)
    assert result.cpus == 1  # the cluster has 2: a plain ray.init(num_cpus=1) would have failed joining it
    assert not ray.is_initialized()  # and the private Ray is shut down again
    assert run_local(input_path, tmp_path / "local.jsonl", tmp_path / "local_rejects.jsonl") == 0
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()


@pytest.fixture
def joined(ray_cluster: Any) -> Iterator[Any]:
    """The test's driver connected to the two-node cluster (disconnected afterwards)."""
    ray.init(address=ray_cluster.address, log_to_driver=False)
    try:
        yield ray_cluster
    finally:
        ray.shutdown()


def same_as_local(tmp_path: Path, texts: list[str], pool: list[str], **kwargs: Any) -> Any:
    """Run the local command and ``dedup_file_ray``; assert identical outputs and rejects."""
    input_path = write_records(tmp_path / "in.jsonl", texts)
    pools = (write_records(tmp_path / "pool.jsonl", pool),) if pool else ()
    assert run_local(input_path, tmp_path / "l.jsonl", tmp_path / "l_rej.jsonl", against=pools) == 0
    result = dedup_file_ray(
        input_path, tmp_path / "r.jsonl", rejects=tmp_path / "r_rej.jsonl", against=pools, **kwargs
    )
    assert (tmp_path / "r.jsonl").read_bytes() == (tmp_path / "l.jsonl").read_bytes()
    assert (tmp_path / "r_rej.jsonl").read_bytes() == (tmp_path / "l_rej.jsonl").read_bytes()
    return result


def test_joining_the_cluster_by_address(ray_cluster: Any, tmp_path: Path) -> None:
    """Given the cluster's address, the dedup runs on both nodes' CPUs and gives the local outputs."""
    result = same_as_local(tmp_path, many_near_duplicates(800), POOL, address=ray_cluster.address, blocks=4)
    assert result.cpus == 2
    assert result.pool_blocks >= 1
    assert not ray.is_initialized()  # the driver left the cluster, which keeps running


@given(texts=corpora, pool=corpora, blocks=st.integers(1, 4))
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_near_duplicate_corpora_on_two_nodes(
    joined: Any, tmp_path_factory: Any, texts: list[str], pool: list[str], blocks: int
) -> None:
    """Hypothesis corpora dense in near-duplicates: the two-node answer is the local one."""
    same_as_local(tmp_path_factory.mktemp("case"), texts, pool, blocks=blocks)


def test_a_node_lost_mid_join_changes_nothing(joined: Any, tmp_path: Path) -> None:
    """Remove the worker node while joins run: its tasks rerun and its blocks are rebuilt elsewhere."""
    worker = next(iter(joined.worker_nodes))
    removed: list[Any] = []

    def remove_worker_node(update: RayDedupProgress) -> None:
        if not removed and update.stage == "join" and update.done == 1:
            joined.remove_node(worker, allow_graceful=False)
            removed.append(worker)

    result = same_as_local(
        tmp_path, many_near_duplicates(2500, seed=1), POOL, blocks=8, progress=remove_worker_node
    )
    assert removed
    assert len(result.joins) == 36 + 8  # 8 self-joins, 28 cross joins, one pool block against each
    joined.add_node(num_cpus=1)  # the cluster as it was, for any later test
    # Until the control plane has declared the removed node dead, later jobs may still be scheduled on
    # it; one that was hung in CI (Ray 2.60). Later tests start on a settled cluster.
    joined.wait_for_nodes(timeout=120)
