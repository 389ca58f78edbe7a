"""Prefix-filter kernels: the exact similarity join behind ``similar_pairs`` and ``dedup_file``.

ROUGE-L F of token sequences of lengths m and n with LCS L is ``2L / (m + n)``, and L is at most
the multiset overlap of the two sequences. So ``F >= t`` needs an overlap of at least
``alpha = ceil(t (m + n) / 2)``, and every filter of the exact set-similarity-join literature is
exact here too, with the LCS kernel as the final word:

* **Prefix filter** (AllPairs, Bayardo et al. 2007): sort each row's tokens by one global order
  (rarest first; the k-th copy of a token counts as its own element, placed right after the
  earlier copies). Two rows with overlap >= alpha share a token within their first
  ``len - alpha + 1`` sorted positions. Each row is indexed only under the distinct tokens of its
  prefix for the smallest alpha any partner length allows (``prefix_length``).
* **Length filter**: only partner lengths n with ``2 min(m, n) / (m + n) >= t`` can qualify. Posting
  lists are sorted by row length, so a probe reads only the lengths in its window; the window
  shrinks as the probe moves along its prefix (a row first met at position i shares at most
  m - i tokens).
* **Positional filter** (PPJoin, Xiao et al. 2008): a row first met at position i of the query
  and position j of its own sorted tokens shares no token ordered before that one (it would have
  been met earlier), so its overlap is at most ``min(m - i, n - j)``.

Bounds are compared with the same small slack as ``_kernels`` (a bound may let a row through that
cannot pass, never the reverse), and every decision is made on the exact float F.

This one source is compiled by Numba (this module) and run as plain Python (``_prefix_py``,
which executes this file with ``_PLAIN_PYTHON`` set); the LCS helpers come from ``_kernels`` or
``_kernels_py`` accordingly, so both give the same answers.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

_PLAIN = bool(globals().get("_PLAIN_PYTHON"))
_lcs: Any = importlib.import_module("._kernels_py" if _PLAIN else "._kernels", __package__)


def _no_jit(**_options: Any) -> Any:
    return lambda function: function


njit: Any = _no_jit if _PLAIN else importlib.import_module("numba").njit

__all__ = ["best_matches", "build_postings", "pair_join", "prefix_length", "sorted_tokens"]

_build_masks = _lcs._build_masks
_lcs_masked = _lcs._lcs_masked
_clear_slots = _lcs._clear_slots
fmeasure = _lcs.fmeasure
_reach = _lcs._reach
_window_lo = _lcs._window_lo
_window_hi = _lcs._window_hi


@njit(cache=True, nogil=True)
def prefix_length(n: int, threshold: float) -> int:
    """Sorted positions of a length-n row to index: n - alpha + 1 for the smallest usable alpha.

    The smallest overlap any partner needs is reached by the shortest admissible partner, whose
    length equals the overlap itself; 0 when no partner can reach the threshold.
    """
    for alpha in range(1, n + 1):
        if _reach(alpha, n, alpha, threshold):
            return n - alpha + 1
    return 0


@njit(cache=True, nogil=True)
def sorted_tokens(tokens: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``tokens`` in the global order (ascending ``rank``; -1, unknown, first), copies adjacent."""
    m = tokens.shape[0]
    keys = np.empty(m, dtype=np.int64)
    for p in range(m):
        t = tokens[p]
        keys[p] = (np.int64(rank[t]) << 32) + t if t >= 0 else -1
    keys = np.sort(keys)
    out = np.empty(m, dtype=np.int32)
    for p in range(m):
        out[p] = np.int32(keys[p] & 0xFFFFFFFF) if keys[p] >= 0 else -1
    return out


@njit(cache=True, nogil=True)
def build_postings(
    tok: np.ndarray,
    off: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    row_lo: int,
    row_hi: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Posting lists of rows [row_lo, row_hi) under their prefix tokens, each sorted by (length, row).

    Returns (p_off, p_row, p_len, p_pos): token t's list is entries ``p_off[t]:p_off[t + 1]``,
    each a row id, its length and the position of t's first copy in the row's sorted tokens.
    """
    vocab = rank.shape[0]
    rows = row_hi - row_lo
    lengths = np.empty(rows, dtype=np.int64)
    for y in range(rows):
        lengths[y] = off[row_lo + y + 1] - off[row_lo + y]
    order = np.argsort(lengths, kind="mergesort")
    counts = np.zeros(vocab + 1, dtype=np.int64)
    # Pass 1: each row's prefix (distinct tokens, first positions) into scratch, and list sizes.
    pre_off = np.zeros(rows + 1, dtype=np.int64)
    total = 0
    for y in range(rows):
        total += prefix_length(lengths[y], threshold)
    pre_tok = np.empty(total, dtype=np.int32)
    pre_pos = np.empty(total, dtype=np.int32)
    w = 0
    for y in range(rows):
        n = lengths[y]
        p = prefix_length(n, threshold)
        if p > 0:
            s = sorted_tokens(tok[off[row_lo + y] : off[row_lo + y + 1]], rank)
            for j in range(p):
                if j > 0 and s[j] == s[j - 1]:
                    continue
                pre_tok[w] = s[j]
                pre_pos[w] = j
                counts[s[j] + 1] += 1
                w += 1
        pre_off[y + 1] = w
    p_off = np.cumsum(counts)
    fill = p_off[:-1].copy()
    p_row = np.empty(w, dtype=np.int32)
    p_len = np.empty(w, dtype=np.int32)
    p_pos = np.empty(w, dtype=np.int32)
    # Pass 2: rows in (length, row) order, so every list comes out sorted.
    for k in range(rows):
        y = order[k]
        for q in range(pre_off[y], pre_off[y + 1]):
            t = pre_tok[q]
            e = fill[t]
            p_row[e] = row_lo + y
            p_len[e] = lengths[y]
            p_pos[e] = pre_pos[q]
            fill[t] = e + 1
    return p_off, p_row, p_len, p_pos


@njit(cache=True, nogil=True)
def _first_length(p_len: np.ndarray, a: int, z: int, n: int) -> int:
    """First q in [a, z) with p_len[q] >= n (the range is sorted by length)."""
    while a < z:
        mid = (a + z) >> 1
        if p_len[mid] < n:
            a = mid + 1
        else:
            z = mid
    return a


@njit(cache=True, nogil=True)
def best_matches(
    tok: np.ndarray,
    off: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    q_lo: int,
    q_hi: int,
    p_off: np.ndarray,
    p_row: np.ndarray,
    p_len: np.ndarray,
    p_pos: np.ndarray,
    visible_hi: int,
    kept: np.ndarray,
    settle: bool,
    strict: bool,
    best: np.ndarray,
    best_id: np.ndarray,
    state: np.ndarray,
    stamp_base: int,
    slot: np.ndarray,
) -> int:
    """Best exact ROUGE-L of each row j in [q_lo, q_hi) over the kept rows before it.

    A pool row y counts for j when ``kept[y]`` is set and ``y < min(j, visible_hi)``, and is
    found through the postings (which must cover it). ``best[j]``/``best_id[j]`` hold a score
    already known (or -1.0 / -1) and are raised in place (ties go to the lower id); scores are
    exact whenever they reach the threshold. With ``settle``, rows are decided in order and
    ``kept[j]`` is set when j is novel (``best < threshold``, or ``<=`` with ``strict``), so later
    rows see it. ``state`` (one int64 per row, below ``stamp_base`` on entry; row j stamps
    ``stamp_base + j - q_lo + 1``) and ``slot`` (one int32 per token id, all -1, left so) are this
    call's private scratch.

    Returns the number of LCS verifications done.
    """
    verified = 0
    stamp = np.int64(stamp_base)
    for j in range(q_lo, q_hi):
        stamp += 1
        lo_j = off[j]
        hi_j = off[j + 1]
        m = hi_j - lo_j
        if m > 0:
            query = tok[lo_j:hi_j]
            s = sorted_tokens(query, rank)
            masks, distinct = _build_masks(query, slot)
            f_best = best[j]
            y_best = best_id[j]
            bar = max(threshold, f_best)
            lo_len = _window_lo(m, bar)
            limit = min(j, visible_hi)
            for i in range(m):
                r = m - i
                if not _reach(r, m, r, bar):
                    break
                t = s[i]
                if t < 0 or (i > 0 and s[i - 1] == t):
                    continue
                hi_len = _window_hi(r, m, bar)
                a = _first_length(p_len, p_off[t], p_off[t + 1], lo_len)
                z = _first_length(p_len, a, p_off[t + 1], hi_len + 1)
                for q in range(a, z):
                    y = p_row[q]
                    if y >= limit or kept[y] == 0 or state[y] == stamp:
                        continue
                    state[y] = stamp
                    n = p_len[q]
                    if not _reach(min(r, n - p_pos[q]), m, n, bar):
                        continue
                    lcs = _lcs_masked(masks, m, slot, tok, off[y], off[y + 1])
                    verified += 1
                    f = fmeasure(lcs, m, n)
                    if f > f_best or (f == f_best and y < y_best):
                        f_best = f
                        y_best = y
                        if f > bar:
                            bar = f
                            lo_len = _window_lo(m, bar)
            _clear_slots(slot, distinct)
            best[j] = f_best
            best_id[j] = y_best
        if settle:
            novel = best[j] <= threshold if strict else best[j] < threshold
            kept[j] = 1 if novel else 0
    return verified


@njit(cache=True, nogil=True)
def pair_join(
    q_tok: np.ndarray,
    q_off: np.ndarray,
    q_lo: int,
    q_hi: int,
    i_tok: np.ndarray,
    i_off: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    strict: bool,
    self_join: bool,
    p_off: np.ndarray,
    p_row: np.ndarray,
    p_len: np.ndarray,
    p_pos: np.ndarray,
    state: np.ndarray,
    slot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j, F) with F >= threshold (> with ``strict``), j in [q_lo, q_hi) of the query rows.

    i indexes the indexed rows (``i_tok``/``i_off``, with postings ``p_*``); with ``self_join``
    the two are the same rows and only i < j is reported. Pairs come sorted by (j, i).
    ``state`` (one int64 per indexed row, all 0) and ``slot`` (one int32 per token id, all -1)
    are private scratch.
    """
    out_i = np.empty(16, dtype=np.int64)
    out_j = np.empty(16, dtype=np.int64)
    out_f = np.empty(16, dtype=np.float64)
    count = 0
    stamp = np.int64(0)
    for j in range(q_lo, q_hi):
        stamp += 1
        lo_j = q_off[j]
        hi_j = q_off[j + 1]
        m = hi_j - lo_j
        if m == 0:
            continue
        query = q_tok[lo_j:hi_j]
        s = sorted_tokens(query, rank)
        masks, distinct = _build_masks(query, slot)
        lo_len = _window_lo(m, threshold)
        first = count
        for i in range(m):
            r = m - i
            if not _reach(r, m, r, threshold):
                break
            t = s[i]
            if t < 0 or (i > 0 and s[i - 1] == t):
                continue
            hi_len = _window_hi(r, m, threshold)
            a = _first_length(p_len, p_off[t], p_off[t + 1], lo_len)
            z = _first_length(p_len, a, p_off[t + 1], hi_len + 1)
            for q in range(a, z):
                y = p_row[q]
                if (self_join and y >= j) or state[y] == stamp:
                    continue
                state[y] = stamp
                n = p_len[q]
                if not _reach(min(r, n - p_pos[q]), m, n, threshold):
                    continue
                lcs = _lcs_masked(masks, m, slot, i_tok, i_off[y], i_off[y + 1])
                f = fmeasure(lcs, m, n)
                if f > threshold or (f == threshold and not strict):
                    if count == out_i.shape[0]:
                        grown_i = np.empty(2 * count, dtype=np.int64)
                        grown_j = np.empty(2 * count, dtype=np.int64)
                        grown_f = np.empty(2 * count, dtype=np.float64)
                        grown_i[:count] = out_i
                        grown_j[:count] = out_j
                        grown_f[:count] = out_f
                        out_i = grown_i
                        out_j = grown_j
                        out_f = grown_f
                    out_i[count] = y
                    out_j[count] = j
                    out_f[count] = f
                    count += 1
        _clear_slots(slot, distinct)
        if count - first > 1:
            order = np.argsort(out_i[first:count])
            out_i[first:count] = out_i[first:count][order]
            out_f[first:count] = out_f[first:count][order]
    return out_i[:count], out_j[:count], out_f[:count]
