"""Pick the kernel implementation: Numba when it loads, else the plain-Python twin.

The compiled kernels are imported on first use, not when ``selfinstruct.dedup`` is imported, so
commands that never score anything do not pay Numba's import (about a second with SciPy present).
Set ``SELFINSTRUCT_PURE_PYTHON=1`` to force the twin (for debugging, or where Numba is missing).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from . import _kernels_py as python_kernels

__all__ = [
    "compiled_cache_ready",
    "get_kernels",
    "get_prefix",
    "kernel_name",
    "prefix_for",
    "python_kernels",
    "warm_up_in_background",
]

_chosen: ModuleType | None = None


def _compiled() -> ModuleType | None:
    try:
        from . import _kernels
    except ImportError:  # pragma: no cover - numba is a hard dependency; this is the escape hatch
        return None
    return _kernels


def get_kernels(backend: str = "auto") -> ModuleType:
    """The kernel module for ``backend`` ("auto", "numba" or "python")."""
    global _chosen
    if backend == "python":
        return python_kernels
    if backend == "numba":
        compiled = _compiled()
        if compiled is None:  # pragma: no cover
            raise ImportError("backend='numba' needs numba installed")
        return compiled
    if _chosen is None:
        forced = os.environ.get("SELFINSTRUCT_PURE_PYTHON", "") not in ("", "0")
        _chosen = python_kernels if forced else (_compiled() or python_kernels)
    return _chosen


def kernel_name() -> str:
    """ "numba" or "python": the implementation ``backend="auto"`` uses (loads it if needed)."""
    return "numba" if get_kernels() is not python_kernels else "python"


def get_prefix(backend: str = "auto") -> ModuleType:
    """The prefix-filter join module matching ``get_kernels(backend)`` (compiled or the twin)."""
    if get_kernels(backend) is python_kernels:
        from . import _prefix_py

        return _prefix_py
    from . import _prefix

    return _prefix


def prefix_for(kernels: ModuleType) -> ModuleType:
    """The prefix-filter module that goes with the kernel module ``kernels`` (compiled or twin)."""
    return get_prefix("python" if kernels is python_kernels else "numba")


def _numba_cache_dirs() -> list[Path]:
    """Where Numba keeps this package's compiled kernels (its in-tree, user-wide or set cache)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sub = f"{os.path.basename(here)}_{hashlib.sha1(here.encode()).hexdigest()}"
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return [Path(configured) / sub]
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    return [Path(here) / "__pycache__", user_cache / sub]


def compiled_cache_ready(kernel: str = "_prefix.best_matches") -> bool:
    """Whether Numba's disk cache holds ``kernel`` (module.function), so loading it takes ~1 s.

    Checked without importing Numba (the index files of the cache); a wrong guess only costs time.
    """
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    for directory in _numba_cache_dirs():
        if any(directory.glob(f"{kernel}-*.{tag}.nbi")):
            return True
    return False


def warm_up_in_background() -> bool:
    """Compile the kernels into Numba's disk cache in a detached process (once at a time).

    The first commands after an install then run on the plain-Python twin instead of waiting for
    the compiler, and later ones find the cache ready. Returns whether a process was started.
    """
    lock = Path(tempfile.gettempdir()) / (
        "selfinstruct-warmup-" + hashlib.sha1(str(_numba_cache_dirs()[0]).encode()).hexdigest()[:16]
    )
    try:
        if time.time() - lock.stat().st_mtime < 600:
            return False  # another warm-up is (probably) still compiling
        lock.unlink()
    except FileNotFoundError:
        pass
    try:
        lock.touch(exist_ok=False)
    except OSError:
        return False
    # An intermediate process starts the compiler in its own session and exits at once, so the
    # compiler outlives this process without being its child.
    launcher = (
        "import subprocess, sys; subprocess.Popen([sys.executable, '-m', 'selfinstruct.dedup._warm', "
        f"{str(lock)!r}], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL, start_new_session=True)"
    )
    subprocess.run([sys.executable, "-c", launcher], check=False, timeout=60)
    return True
