"""Pick the kernel implementation once, at import: Numba when it loads, else the Python twin.

Set ``SELFINSTRUCT_PURE_PYTHON=1`` to force the twin (for debugging, or where Numba is missing).
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["KERNEL", "kernels", "python_kernels"]

from . import _kernels_py as python_kernels


def _load() -> tuple[str, ModuleType]:
    if os.environ.get("SELFINSTRUCT_PURE_PYTHON", "") not in ("", "0"):
        return "python", python_kernels
    try:
        from . import _kernels as compiled
    except ImportError:  # pragma: no cover - numba is a hard dependency; this is the escape hatch
        return "python", python_kernels
    return "numba", compiled


KERNEL, kernels = _load()
