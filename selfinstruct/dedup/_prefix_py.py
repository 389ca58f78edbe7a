"""Plain-Python twin of ``_prefix``: the same source file, executed without Numba.

Running one source both ways keeps the two from drifting apart; only the LCS helpers differ
(Python integers as bit vectors, from ``_kernels_py``).
"""

from __future__ import annotations

from pathlib import Path

_PLAIN_PYTHON = True
_SOURCE = Path(__file__).with_name("_prefix.py")
exec(compile(_SOURCE.read_text(encoding="utf-8"), str(_SOURCE), "exec"), globals())
