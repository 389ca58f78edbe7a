"""One two-node Ray cluster on this machine for every distributed dedup test (starting Ray takes seconds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A head and a worker node, one CPU each, not connected; every process stopped afterwards.

    The nodes take the machine's own address (traffic stays on the host): a cluster bound to
    127.0.0.1 cannot be joined, as ``ray.init`` rewrites a loopback address to the node's IP.
    """
    ray = pytest.importorskip("ray")
    # Ray starts its workers at nice 15: on a busy shared host (CI) they then get a few percent of a
    # core and a join that takes a second here takes minutes. These tests run them as the suite runs.
    os.environ.setdefault("RAY_worker_niceness", "0")
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    made = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    made.add_node(num_cpus=1)
    try:
        yield made
    finally:
        if ray.is_initialized():
            ray.shutdown()
        made.shutdown()
