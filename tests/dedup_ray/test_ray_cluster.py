"""``dedup_file_ray`` on a two-node ``ray.cluster_utils.Cluster`` (loopback), and never joining it unasked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray_helpers import run_local, write_records

from selfinstruct.distributed import dedup_file_ray

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

TEXTS = [
    f"write a {adjective} poem about the {thing}"
    for adjective in ("short", "long", "sad")
    for thing in ("sea", "sky", "cat", "war")
] * 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head and a worker node, one CPU each, on 127.0.0.1; every process stopped afterwards."""
    if ray.is_initialized():  # pragma: no cover - a module before this one left Ray running
        ray.shutdown()
    made = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    made.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    try:
        yield made
    finally:
        if ray.is_initialized():
            ray.shutdown()
        made.shutdown()


def test_no_address_starts_a_private_ray_beside_a_running_one(cluster: Any, tmp_path: Path) -> None:
    """With a Ray already running here, no address means a new private Ray, not joining that one."""
    input_path = write_records(tmp_path / "in.jsonl", TEXTS)
    result = dedup_file_ray(input_path, tmp_path / "out.jsonl", num_cpus=1, blocks=2)
    assert result.cpus == 1  # the cluster has 2: a plain ray.init(num_cpus=1) would have failed joining it
    assert not ray.is_initialized()  # and the private Ray is shut down again
    assert run_local(input_path, tmp_path / "local.jsonl", tmp_path / "local_rejects.jsonl") == 0
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
