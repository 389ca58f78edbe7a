"""Connecting to Ray: join a cluster when told where it is, else start a private one on loopback."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError

__all__ = ["import_ray", "ray_session"]


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ConfigError(
            "the distributed dedup needs Ray: pip install 'selfinstruct[ray]' (on every node)"
        ) from error
    return ray


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module, connected.

    An already initialised Ray is borrowed as it is. Otherwise ``address`` (or ``RAY_ADDRESS``)
    names a running cluster to join (``"auto"`` finds one started on this machine by ``ray start``);
    with neither (or ``"local"``), a new private Ray is started on 127.0.0.1 with ``num_cpus`` CPUs
    (default: all) and no dashboard, and shut down on exit. It never joins a Ray that happens to be
    running on this machine unless told to: ``ray.init()`` with no address would.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address != "local":
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    else:
        if num_cpus is not None and num_cpus < 1:
            raise ConfigError(f"num_cpus must be >= 1, got {num_cpus}")
        ray.init(
            address="local",  # a new Ray of our own, never one left running here
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    try:
        yield ray
    finally:
        ray.shutdown()
