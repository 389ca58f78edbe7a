"""Pick the kernel implementation: Numba when it loads, else the plain-Python twin.

The compiled kernels are imported on first use, not when ``selfinstruct.dedup`` is imported, so
commands that never score anything do not pay Numba's import (about a second with SciPy present).
Set ``SELFINSTRUCT_PURE_PYTHON=1`` to force the twin (for debugging, or where Numba is missing).
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _kernels_py as python_kernels

__all__ = ["get_kernels", "get_prefix", "kernel_name", "python_kernels"]

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
    """"numba" or "python": the implementation ``backend="auto"`` uses (loads it if needed)."""
    return "numba" if get_kernels() is not python_kernels else "python"


def get_prefix(backend: str = "auto") -> ModuleType:
    """The prefix-filter join module matching ``get_kernels(backend)`` (compiled or the twin)."""
    if get_kernels(backend) is python_kernels:
        from . import _prefix_py

        return _prefix_py
    from . import _prefix

    return _prefix
