"""LCS and F-measure kernels, compiled and plain-Python, against a reference and each other."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from dedup_helpers import BACKENDS
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import scoring

from selfinstruct.dedup import _kernels, _kernels_py


def dp_lcs(a: list[int], b: list[int]) -> int:
    """Textbook O(mn) LCS, the reference."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


token_lists = st.one_of(
    st.lists(st.integers(0, 6), max_size=40),
    st.lists(st.integers(0, 30), min_size=60, max_size=200),
    st.lists(st.integers(0, 3), min_size=63, max_size=130),
)


@pytest.mark.parametrize("k", BACKENDS)
@given(a=token_lists, b=token_lists)
@settings(max_examples=300, deadline=None)
def test_lcs_length_matches_dynamic_programming(k: ModuleType, a: list[int], b: list[int]) -> None:
    """Bit-parallel LCS equals the DP answer, including multi-word (> 64 token) queries."""
    got = k.lcs_length(np.array(a, dtype=np.int32), np.array(b, dtype=np.int32))
    assert got == dp_lcs(a, b)


@pytest.mark.parametrize(
    ("m", "n"),
    [
        pytest.param(64, 64, id="one-full-word"),
        pytest.param(65, 3, id="spills-one-bit"),
        pytest.param(128, 128, id="two-full-words"),
        pytest.param(200, 150, id="four-words"),
    ],
)
@pytest.mark.parametrize("k", BACKENDS)
def test_lcs_word_boundaries(k: ModuleType, m: int, n: int) -> None:
    """Lengths at and across 64-bit word boundaries give the DP answer, with carries across words."""
    rng = np.random.default_rng(m * 1000 + n)
    for _ in range(20):
        a = rng.integers(0, 3, m).astype(np.int32)
        b = rng.integers(0, 3, n).astype(np.int32)
        assert k.lcs_length(a, b) == dp_lcs(a.tolist(), b.tolist())
    same = np.zeros(m, dtype=np.int32)
    assert k.lcs_length(same, same) == m


@pytest.mark.parametrize("k", BACKENDS)
@given(m=st.integers(0, 300), n=st.integers(0, 300), data=st.data())
@settings(max_examples=500, deadline=None)
def test_fmeasure_is_rouge_scores_float(k: ModuleType, m: int, n: int, data: st.DataObject) -> None:
    """fmeasure(L, m, n) is the same float64 as rouge-score's P/R/F arithmetic."""
    lcs = data.draw(st.integers(0, min(m, n)))
    if m == 0 or n == 0:
        expected = 0.0
    else:
        expected = scoring.fmeasure(lcs / n, lcs / m)
    assert k.fmeasure(lcs, m, n) == expected


@pytest.mark.parametrize("k", BACKENDS)
def test_fmeasure_boundary_differs_from_two_l_over_m_plus_n(k: ModuleType) -> None:
    """m=7, n=13, L=7 scores 0.7000000000000001, not 2L/(m+n) = 0.7."""
    assert k.fmeasure(7, 7, 13) == 0.7000000000000001
    assert 2 * 7 / (7 + 13) == 0.7


def test_twins_agree_on_score_rows() -> None:
    """score_rows gives identical floats from both implementations."""
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 90, 50)
    row_off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    row_tok = rng.integers(0, 12, int(row_off[-1])).astype(np.int32)
    rows = np.arange(50, dtype=np.int32)
    for _ in range(10):
        query = rng.integers(-1, 12, int(rng.integers(0, 80))).astype(np.int32)
        slot = np.full(12, -1, dtype=np.int32)
        compiled = _kernels.score_rows(query, rows, row_tok, row_off, slot)
        assert (slot == -1).all()
        plain = _kernels_py.score_rows(query, rows, row_tok, row_off, slot)
        assert compiled.tolist() == plain.tolist()


def test_pure_python_switch() -> None:
    """SELFINSTRUCT_PURE_PYTHON=1 selects the plain twin at import, and it gives the same score."""
    import os
    import subprocess
    import sys

    code = "from selfinstruct.dedup import kernel_name as k, rouge_l as r; print(k(), r('a b c', 'a c'))"
    env = {**os.environ, "SELFINSTRUCT_PURE_PYTHON": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["python", "0.8"]


def test_import_does_not_load_numba() -> None:
    """Importing selfinstruct.dedup leaves Numba unloaded until a kernel is first needed."""
    import subprocess
    import sys

    code = (
        "import sys, selfinstruct.dedup as d; before = 'numba' in sys.modules; "
        "d.NoveltyIndex().add('x'); print(before, 'numba' in sys.modules, d.kernel_name())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "numba"]
