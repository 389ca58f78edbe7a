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
* **Bitmap filter** (Sandes et al. 2020): each posting entry carries the 64-bit signature of its
  row's token hash buckets; query tokens in buckets the row lacks cannot be shared, which caps
  the overlap from those 8 bytes while the scan reads the list in order, before it touches any
  per-row state (most entries of common tokens end there, with no random memory access).
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

__all__ = [
    "best_match",
    "best_matches",
    "build_postings",
    "pair_join",
    "prefix_length",
    "sorted_tokens",
    "wide_signatures",
]

_build_masks = _lcs._build_masks
_lcs_masked = _lcs._lcs_masked
_clear_slots = _lcs._clear_slots
fmeasure = _lcs.fmeasure
_reach = _lcs._reach
_window_lo = _lcs._window_lo
_window_hi = _lcs._window_hi
_popcount = _lcs._popcount


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
def _bucket(t: int) -> int:
    """The signature bit of token id ``t`` (0..63)."""
    return (t ^ (t >> 6) ^ (t >> 12) ^ (t >> 18)) & 63


@njit(cache=True, nogil=True)
def _signature(row: np.ndarray) -> np.uint64:
    """A row's 64-bit signature: bit ``_bucket(t)`` set for each of its known tokens t (t >= 0).

    Posting entries carry it, so ``_shared_bound`` caps the overlap of a query with the entry's
    row from 8 bytes (the bitmap filter): a query token whose bit the row lacks cannot be shared.
    """
    sig = np.uint64(0)
    for p in range(row.shape[0]):
        if row[p] >= 0:
            sig |= np.uint64(1) << np.uint64(_bucket(row[p]))
    return sig


@njit(cache=True, nogil=True)
def _second_signature(row: np.ndarray) -> np.uint64:
    """A row's second 64-bit signature, from another hash of its tokens (``_wide_bucket`` mod 64).

    Posting entries carry it beside ``_signature``: an entry that passes the first signature's
    bound is checked against this independent one before its row's memory is touched.
    """
    sig = np.uint64(0)
    for p in range(row.shape[0]):
        if row[p] >= 0:
            sig |= np.uint64(1) << np.uint64(_wide_bucket(row[p]) & 63)
    return sig


_WIDE_WORDS = 4  # 256 buckets


@njit(cache=True, nogil=True)
def _wide_bucket(t: int) -> int:
    """The wide-signature bit of token id ``t`` (0..255): bits 24-31 of a multiplicative hash.

    The product stays below 2**59, so it is the same in int64 (Numba) and Python integers.
    """
    return (((int(t) & 0x7FFFFFF) * 2654435761) >> 24) & 255


@njit(cache=True, nogil=True)
def wide_signatures(tok: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Each row's 256-bit signature (one uint64[4] row per row): bit ``_wide_bucket(t)`` per token.

    ``_probe`` reads it once per candidate row, before any LCS: with four times the buckets of
    the posting entries' signature, far fewer unrelated rows pass the shared-token bound.
    """
    rows = off.shape[0] - 1
    wide = np.zeros((rows, _WIDE_WORDS), dtype=np.uint64)
    for y in range(rows):
        wide[y] = _wide_signature(tok[off[y] : off[y + 1]])
    return wide


@njit(cache=True, nogil=True)
def _wide_signature(row: np.ndarray) -> np.ndarray:
    """One row's 256-bit signature: bit ``_wide_bucket(t)`` of its known tokens t (t >= 0)."""
    sig = np.zeros(_WIDE_WORDS, dtype=np.uint64)
    for p in range(row.shape[0]):
        if row[p] >= 0:
            b = _wide_bucket(row[p])
            sig[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return sig


@njit(cache=True, nogil=True)
def _bucket_tables(query: np.ndarray) -> np.ndarray:
    """For each byte k of a signature and each value v: the query tokens in the buckets v has."""
    counts = np.zeros(64, dtype=np.int32)
    for p in range(query.shape[0]):
        if query[p] >= 0:
            counts[_bucket(query[p])] += 1
    tables = np.zeros((8, 256), dtype=np.int32)
    for k in range(8):
        for bit in range(8):
            low = 1 << bit
            for v in range(low, 2 * low):
                tables[k, v] = tables[k, v - low] + counts[8 * k + bit]
    return tables


# Partner lengths up to this many get a precomputed overlap need (longer ones ask ``_reach``).
_NEED_TABLE = 4096
_NEVER = 1 << 30


@njit(cache=True, nogil=True)
def _need(m: int, n: int, bar: float) -> int:
    """The fewest shared tokens with which a length-n row could reach ``bar`` (``_reach``)."""
    cap = min(m, n)
    b = max(1, int((bar * (m + n)) // 2) - 1)
    while b <= cap and not _reach(b, m, n, bar):
        b += 1
    return b if b <= cap else _NEVER


@njit(cache=True, nogil=True)
def _needs(m: int, hi: int, bar: float) -> np.ndarray:
    """``_need(m, n, bar)`` for n in [0, top], top = min(hi, _NEED_TABLE), then a 0 at top + 1.

    The 0 lets a longer row through the first, table-driven test; it is then asked exactly.
    """
    top = min(hi, _NEED_TABLE)
    need = np.empty(top + 2, dtype=np.int32)
    need[0] = _NEVER
    for n in range(1, top + 1):
        need[n] = _need(m, n, bar)
    need[top + 1] = 0
    return need


@njit(cache=True, nogil=True)
def _shared_bound(tables: np.ndarray, sig: np.uint64) -> int:
    """Query tokens that fall in the buckets of a row's signature: at least the shared ones."""
    total = 0
    for k in range(8):
        total += tables[k, int((sig >> np.uint64(8 * k)) & np.uint64(255))]
    return total


@njit(cache=True, nogil=True)
def _mask_bytes(s: np.ndarray) -> int:
    """Bytes the LCS bit masks of a query need (its sorted tokens ``s``): distinct x words x 8."""
    distinct = 0
    for p in range(s.shape[0]):
        if s[p] >= 0 and (p == 0 or s[p] != s[p - 1]):
            distinct += 1
    return distinct * ((s.shape[0] + 63) >> 6) * 8


@njit(cache=True, nogil=True)
def _same_rows(a_tok: np.ndarray, a: int, b_tok: np.ndarray, b: int, n: int) -> bool:
    """Whether ``a_tok[a:a + n]`` equals ``b_tok[b:b + n]``."""
    for p in range(n):
        if a_tok[a + p] != b_tok[b + p]:
            return False
    return True


@njit(cache=True, nogil=True)
def build_postings(
    tok: np.ndarray,
    off: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Posting lists of ``rows`` (int64 row ids) under their prefix tokens, in two parts per token.

    Returns (p_off, p_row, p_len, p_pos, p_sig, p_sig2). Token t's list is in two parts, each sorted by
    (length, row): entries ``p_off[2t]:p_off[2t + 1]`` are the rows whose first copy of t lies
    within their short prefix (``_short_prefix``), ``p_off[2t + 1]:p_off[2t + 2]`` the others.
    An entry of the second part can only pair with a longer query (``_probe`` reads it for
    those alone). Each entry is a row id, its length, the position of t's first copy in the
    row's sorted tokens and the row's two signatures (``_signature``, ``_second_signature``).
    ``rows`` must be increasing.
    """
    vocab = rank.shape[0]
    count = rows.shape[0]
    lengths = np.empty(count, dtype=np.int64)
    for k in range(count):
        lengths[k] = off[rows[k] + 1] - off[rows[k]]
    order = np.argsort(lengths, kind="mergesort")
    counts = np.zeros(2 * vocab + 1, dtype=np.int64)
    # Pass 1: each row's prefix (distinct tokens, first positions, part) into scratch, and sizes.
    pre_off = np.zeros(count + 1, dtype=np.int64)
    total = 0
    for k in range(count):
        total += prefix_length(lengths[k], threshold)
    pre_list = np.empty(total, dtype=np.int64)
    pre_pos = np.empty(total, dtype=np.int32)
    row_sig = np.zeros(count, dtype=np.uint64)
    row_sig2 = np.zeros(count, dtype=np.uint64)
    w = 0
    for k in range(count):
        p = prefix_length(lengths[k], threshold)
        if p > 0:
            row = tok[off[rows[k]] : off[rows[k] + 1]]
            row_sig[k] = _signature(row)
            row_sig2[k] = _second_signature(row)
            s = sorted_tokens(row, rank)
            short = _short_prefix(lengths[k], threshold)
            for j in range(p):
                if j > 0 and s[j] == s[j - 1]:
                    continue
                pre_list[w] = 2 * np.int64(s[j]) + (0 if j < short else 1)
                pre_pos[w] = j
                counts[pre_list[w] + 1] += 1
                w += 1
        pre_off[k + 1] = w
    p_off = np.cumsum(counts)
    fill = p_off[:-1].copy()
    p_row = np.empty(w, dtype=np.int32)
    p_len = np.empty(w, dtype=np.int32)
    p_pos = np.empty(w, dtype=np.int32)
    p_sig = np.empty(w, dtype=np.uint64)
    p_sig2 = np.empty(w, dtype=np.uint64)
    # Pass 2: rows in (length, row) order, so every list comes out sorted.
    for i in range(count):
        k = order[i]
        for q in range(pre_off[k], pre_off[k + 1]):
            part = pre_list[q]
            e = fill[part]
            p_row[e] = rows[k]
            p_len[e] = lengths[k]
            p_pos[e] = pre_pos[q]
            p_sig[e] = row_sig[k]
            p_sig2[e] = row_sig2[k]
            fill[part] = e + 1
    return p_off, p_row, p_len, p_pos, p_sig, p_sig2


@njit(cache=True, nogil=True)
def _short_prefix(n: int, threshold: float) -> int:
    """Sorted positions of a length-n row through which any partner of length <= n must pass.

    A partner no longer than the row needs at least ``_need(n, n)`` shared tokens, so the first
    shared one lies within the first ``n - _need(n, n) + 1`` positions of the row.
    """
    return n - _need(n, n, threshold) + 1


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


_LOW = 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _doubled(a: np.ndarray, count: int) -> np.ndarray:
    """``a``'s first ``count`` entries in an int32 array twice that size."""
    grown = np.empty(2 * count, dtype=np.int32)
    grown[:count] = a[:count]
    return grown


@njit(cache=True, nogil=True)
def _grown(
    count: int, c_row: np.ndarray, c_seen: np.ndarray, c_x: np.ndarray, c_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four candidate arrays with room for twice ``count`` entries."""
    return _doubled(c_row, count), _doubled(c_seen, count), _doubled(c_x, count), _doubled(c_y, count)


@njit(cache=True, nogil=True)
def _probe(
    s: np.ndarray,
    bar: float,
    p_off: np.ndarray,
    p_row: np.ndarray,
    p_len: np.ndarray,
    p_pos: np.ndarray,
    p_sig: np.ndarray,
    p_sig2: np.ndarray,
    limit: int,
    kept: np.ndarray,
    wide: np.ndarray,
    state: np.ndarray,
    stamp: int,
    c_row: np.ndarray,
    c_seen: np.ndarray,
    c_x: np.ndarray,
    c_y: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates for a query (sorted tokens ``s``) among the indexed rows y < limit with kept[y].

    ``p_off`` has one row of list offsets per level of postings (``build_postings`` output, each
    level's entries in the shared ``p_*`` arrays); a row is indexed in at most one level.
    ``bar`` must be at least the threshold the postings were built with.

    Walks the query's prefix. An entry is passed over, from the entry alone, when its row's
    signature caps the shared tokens below what its length needs to reach ``bar`` (bitmap
    filter: first the shared signature bits plus the query's tokens that share a bit with
    another, then, if that passes, ``_shared_bound`` and the entry's second signature
    ``p_sig2``). A row first met at query position i and
    row position j is admitted only if ``min(m - i, n - j)`` could reach ``bar`` (positional
    filter) and the row's wide signature (``wide[y]``, from ``wide_signatures``) leaves it
    enough shared tokens. For each candidate k: ``c_seen[k]`` counts the query's copies of the
    tokens met so far (an upper bound on the shared elements there) and ``c_x[k]``/``c_y[k]``
    the positions just past the last one in the query and the row. No shared element can be left before those
    (it would precede the last token met in the global order, so it was met), so the overlap is
    at most ``c_seen + min(m - c_x, n - c_y)``. Returns (count, and the four arrays, grown if
    needed).
    """
    m = s.shape[0]
    count = 0
    lo_len = _window_lo(m, bar)
    mark = np.int64(stamp) << 32
    known = 0
    for p in range(m):
        if s[p] >= 0:
            known += 1
    q_sig = _signature(s)
    spill = known - _popcount(q_sig)  # known tokens beyond the first in their bucket
    q_sig2 = _second_signature(s)
    spill2 = known - _popcount(q_sig2)
    q_wide = _wide_signature(s)
    wide_spill = known
    for w in range(_WIDE_WORDS):
        wide_spill -= _popcount(q_wide[w])
    tables = _bucket_tables(s)
    need = _needs(m, _window_hi(m, m, bar) if _reach(m, m, m, bar) else 0, bar)
    top = need.shape[0] - 2
    passing = np.empty(1024, dtype=np.int64)
    ranges = np.empty((2 * p_off.shape[0], 2), dtype=np.int64)
    i = 0
    while i < m:
        r = m - i
        if not _reach(r, m, r, bar):
            break
        t = s[i]
        c = 1
        while i + c < m and s[i + c] == t:
            c += 1
        if t < 0:
            i += c
            continue
        hi_len = _window_hi(r, m, bar)
        # Token t's entries in each level: its short-prefix part for every length in the window,
        # its other part for the lengths above m alone (see ``build_postings``).
        spans = 0
        # A token newer than every level (a growing pool's) has no lists there.
        levels = p_off.shape[0] if 2 * t + 2 < p_off.shape[1] else 0
        for level in range(levels):
            for part in range(2):
                first = p_off[level, 2 * t + part]
                end = p_off[level, 2 * t + part + 1]
                a = _first_length(p_len, first, end, lo_len if part == 0 else max(lo_len, m + 1))
                z = _first_length(p_len, a, end, hi_len + 1)
                if a < z:
                    ranges[spans, 0] = a
                    ranges[spans, 1] = z
                    spans += 1
        for span in range(spans):
            a = ranges[span, 0]
            z = ranges[span, 1]
            # Bitmap and positional filters in two passes: a branch-free sweep keeps the entries
            # whose shared bits in both signatures could do, and whose position leaves enough
            # tokens (the signature bounds hold for every entry of a row: failing them, it is
            # never a candidate), then only those are looked at. The sweep reads the entry
            # arrays in order; the survivors' rows are the only random accesses.
            if passing.shape[0] < z - a:
                passing = np.empty(2 * (z - a), dtype=np.int64)
            kept_entries = 0
            for q in range(a, z):
                passing[kept_entries] = q
                n = p_len[q]
                needed = need[min(n, top + 1)]
                kept_entries += (
                    (_popcount(q_sig & p_sig[q]) + spill >= needed)
                    & (_popcount(q_sig2 & p_sig2[q]) + spill2 >= needed)
                    & (min(r, n - p_pos[q]) >= needed)
                )
            for e in range(kept_entries):
                q = passing[e]
                n = p_len[q]
                sig = p_sig[q]
                if n <= top:
                    needed = need[n]
                else:
                    needed = _need(m, n, bar)
                    if _popcount(q_sig & sig) + spill < needed:
                        continue
                if spill > 0 and _shared_bound(tables, sig) < needed:
                    continue
                if _popcount(q_sig2 & p_sig2[q]) + spill2 < needed:
                    continue  # a long row (past the table) is checked here
                # Positional filter, before the row's state is read: a row failing it here fails
                # at every later token too (r only falls, j only rises), and a candidate met
                # before keeps its earlier, looser bound.
                j = p_pos[q]
                if min(r, n - j) < needed:
                    continue
                y = p_row[q]
                if y >= limit or kept[y] == 0:
                    continue
                # The row's wide signature before its state: most rows fail it, and reading the
                # state (one more random access) is then not needed, as failing holds for every
                # entry of the row.
                shared = wide_spill
                for w in range(_WIDE_WORDS):
                    shared += _popcount(q_wide[w] & wide[y, w])
                if shared < needed:
                    continue
                st = state[y]
                if (st >> 32) == stamp:
                    k = st & _LOW
                    c_seen[k] += c
                    c_x[k] = i + c
                    c_y[k] = j + 1
                    continue
                if count == c_row.shape[0]:
                    c_row, c_seen, c_x, c_y = _grown(count, c_row, c_seen, c_x, c_y)
                c_row[count] = y
                c_seen[count] = c
                c_x[count] = i + c
                c_y[count] = j + 1
                state[y] = mark | count
                count += 1
        i += c
    return count, c_row, c_seen, c_x, c_y


@njit(cache=True, nogil=True)
def _duplicate(f: float, threshold: float, strict: bool) -> bool:
    """Whether a score makes a duplicate (``>= threshold``, or ``>`` with ``strict``)."""
    return f > threshold if strict else f >= threshold


@njit(cache=True, nogil=True)
def _best_first(
    count: int,
    c_row: np.ndarray,
    c_seen: np.ndarray,
    c_x: np.ndarray,
    c_y: np.ndarray,
    off: np.ndarray,
    m: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): candidates by decreasing overlap bound (ties in the order met), and the bounds.

    Verifying the likeliest partners first raises the bar (and finds a duplicate) early, so
    fewer of the rest need an LCS.
    """
    bounds = np.empty(count, dtype=np.int32)
    starts = np.zeros(m + 2, dtype=np.int64)
    for k in range(count):
        y = c_row[k]
        n = off[y + 1] - off[y]
        b = min(max(c_seen[k] + min(m - c_x[k], n - c_y[k]), 0), m)
        bounds[k] = b
        starts[m - b + 1] += 1
    for v in range(1, m + 2):
        starts[v] += starts[v - 1]
    order = np.empty(count, dtype=np.int64)
    for k in range(count):
        v = m - bounds[k]
        order[starts[v]] = k
        starts[v] += 1
    return order, bounds


@njit(cache=True, nogil=True)
def _verify(
    query: np.ndarray,
    s: np.ndarray,
    bar: float,
    threshold: float,
    strict: bool,
    first_only: bool,
    f_best: float,
    y_best: int,
    count: int,
    c_row: np.ndarray,
    c_seen: np.ndarray,
    c_x: np.ndarray,
    c_y: np.ndarray,
    tok: np.ndarray,
    off: np.ndarray,
    slot: np.ndarray,
    mask_budget: int,
) -> tuple[float, int, int, bool]:
    """Verify a query's candidates (from ``_probe``) best first; raise (f_best, y_best) in place.

    ``query`` is the query's tokens, ``s`` the same sorted; candidate rows are read from
    ``tok``/``off``. Ties go to the lower row; with ``first_only`` the walk stops at the first
    duplicate. The LCS bit masks are built when first needed; if they would exceed
    ``mask_budget`` bytes, only an identical row can be verified, and any other candidate that
    needs verification makes the call give up (``failed``). Returns (best score, best row,
    verifications, failed).
    """
    m = query.shape[0]
    verified = 0
    masks = np.zeros((1, 1), dtype=np.uint64)
    distinct = np.empty(0, dtype=np.int32)
    built = False
    too_big = count > 0 and _mask_bytes(s) > mask_budget
    order, bounds = _best_first(count, c_row, c_seen, c_x, c_y, off, m)
    for k in order:
        if first_only and _duplicate(f_best, threshold, strict):
            break
        y = c_row[k]
        n = off[y + 1] - off[y]
        if not _reach(bounds[k], m, n, bar):
            continue
        if too_big:
            if n != m or not _same_rows(query, 0, tok, off[y], m):
                return f_best, y_best, verified, True
            lcs = m
        else:
            if not built:
                masks, distinct = _build_masks(query, slot)
                built = True
            lcs = _lcs_masked(masks, m, slot, tok, off[y], off[y + 1])
        verified += 1
        f = fmeasure(lcs, m, n)
        if f > f_best or (f == f_best and y < y_best):
            f_best = f
            y_best = y
            if f > bar:
                bar = f
    if built:
        _clear_slots(slot, distinct)
    return f_best, y_best, verified, False


@njit(cache=True, nogil=True)
def _tail_candidates(
    s: np.ndarray,
    bar: float,
    lo: int,
    hi: int,
    off: np.ndarray,
    wide: np.ndarray,
    count: int,
    c_row: np.ndarray,
    c_seen: np.ndarray,
    c_x: np.ndarray,
    c_y: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add the rows [lo, hi), which no postings cover, to a query's candidates (sorted tokens ``s``).

    A row is passed over when its length is outside the query's window or its wide signature
    leaves it too few shared tokens; a candidate's bound is that signature count (``c_seen``,
    with ``c_x``/``c_y`` at the ends, so ``_best_first`` adds nothing to it).
    """
    m = s.shape[0]
    if m == 0 or not _reach(m, m, m, bar):
        return count, c_row, c_seen, c_x, c_y
    lo_len = _window_lo(m, bar)
    hi_len = _window_hi(m, m, bar)
    q_wide = _wide_signature(s)
    wide_spill = 0
    for p in range(m):
        if s[p] >= 0:
            wide_spill += 1
    for w in range(_WIDE_WORDS):
        wide_spill -= _popcount(q_wide[w])
    for y in range(lo, hi):
        n = off[y + 1] - off[y]
        if n < lo_len or n > hi_len:
            continue
        shared = wide_spill
        for w in range(_WIDE_WORDS):
            shared += _popcount(q_wide[w] & wide[y, w])
        shared = min(shared, m, n)
        if not _reach(shared, m, n, bar):
            continue
        if count == c_row.shape[0]:
            c_row, c_seen, c_x, c_y = _grown(count, c_row, c_seen, c_x, c_y)
        c_row[count] = y
        c_seen[count] = shared
        c_x[count] = m
        c_y[count] = n
        count += 1
    return count, c_row, c_seen, c_x, c_y


@njit(cache=True, nogil=True)
def best_match(
    query: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    init_best: float,
    init_id: int,
    p_off: np.ndarray,
    p_row: np.ndarray,
    p_len: np.ndarray,
    p_pos: np.ndarray,
    p_sig: np.ndarray,
    p_sig2: np.ndarray,
    indexed: int,
    rows: int,
    kept: np.ndarray,
    wide: np.ndarray,
    tok: np.ndarray,
    off: np.ndarray,
    state: np.ndarray,
    stamp: int,
    slot: np.ndarray,
    mask_budget: int,
) -> tuple[float, int, int, bool]:
    """Best exact ROUGE-L of one query over the pool rows [0, ``rows``), where it reaches ``threshold``.

    ``query`` holds token ids (-1: a token the pool has never seen; ids below ``rank``'s
    size). Rows below ``indexed`` are found through the postings (levels as in ``_probe``, built
    with ``threshold``), rows [indexed, rows) by a scan (``_tail_candidates``); ``wide`` holds
    every row's ``wide_signatures``. ``init_best``/``init_id`` are a score already known (or
    -1.0 / -1). ``state`` (one int64 per row, stamps below ``stamp`` on entry) and ``slot``
    (all -1, left so) are private scratch. The score returned is exact, and the maximum over the
    pool, whenever it reaches ``threshold``. Returns (best score, best row, rows verified, failed),
    ``failed`` as in ``_verify`` (the answer is then incomplete).
    """
    m = query.shape[0]
    if m == 0:
        return init_best, init_id, 0, False
    s = sorted_tokens(query, rank)
    bar = max(threshold, init_best)
    c_row = np.empty(64, dtype=np.int32)
    c_seen = np.empty(64, dtype=np.int32)
    c_x = np.empty(64, dtype=np.int32)
    c_y = np.empty(64, dtype=np.int32)
    count, c_row, c_seen, c_x, c_y = _probe(
        s, bar, p_off, p_row, p_len, p_pos, p_sig, p_sig2, indexed, kept, wide, state, stamp, c_row, c_seen,
        c_x, c_y,
    )  # fmt: skip
    count, c_row, c_seen, c_x, c_y = _tail_candidates(
        s, bar, indexed, rows, off, wide, count, c_row, c_seen, c_x, c_y
    )
    return _verify(
        query, s, bar, threshold, False, False, init_best, init_id, count, c_row, c_seen, c_x, c_y,
        tok, off, slot, mask_budget,
    )  # fmt: skip


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
    p_sig: np.ndarray,
    p_sig2: np.ndarray,
    visible_hi: int,
    kept: np.ndarray,
    wide: np.ndarray,
    settle: bool,
    strict: bool,
    first_only: bool,
    best: np.ndarray,
    best_id: np.ndarray,
    state: np.ndarray,
    stamp_base: int,
    slot: np.ndarray,
    mask_budget: int,
    error: np.ndarray,
) -> int:
    """Best exact ROUGE-L of each row j in [q_lo, q_hi) over the kept rows before it.

    A pool row y counts for j when ``kept[y]`` is set and ``y < min(j, visible_hi)``, and is
    found through the postings (which must cover it; ``p_off`` holds one row of offsets per
    level, as in ``_probe``). ``wide`` holds every row's ``wide_signatures``.

    ``best[j]``/``best_id[j]`` hold a score already known (or -1.0 / -1) and are raised in place
    (ties go to the lower id); scores are exact whenever they reach the threshold. With
    ``settle``, rows are decided in order and ``kept[j]`` is set when j is novel (``best <
    threshold``, or ``<=`` with ``strict``), so later rows see it. With ``first_only``, only
    novelty counts: a row stops at the first duplicate found (``best[j]`` is then that pair's
    score, not always the best). Candidates are verified best first (``_best_first``).

    ``state`` (one int64 per row, stamps below ``stamp_base + 1`` on entry; row j stamps
    ``stamp_base + j - q_lo + 1``) and ``slot`` (one int32 per token id, all -1, left so)
    are this call's private scratch.

    The LCS bit masks of a query are built when it first needs one (a long row with no partner
    never pays for them). A query whose masks would exceed ``mask_budget`` bytes can only be
    matched with an identical row; if it needs any other verification, ``error[0]`` is set to
    its row and the call returns early.

    Returns the number of LCS verifications done.
    """
    verified = 0
    c_row = np.empty(64, dtype=np.int32)
    c_seen = np.empty(64, dtype=np.int32)
    c_x = np.empty(64, dtype=np.int32)
    c_y = np.empty(64, dtype=np.int32)
    for j in range(q_lo, q_hi):
        stamp = stamp_base + j - q_lo + 1
        lo_j = off[j]
        hi_j = off[j + 1]
        m = hi_j - lo_j
        if m > 0 and not (first_only and _duplicate(best[j], threshold, strict)):
            query = tok[lo_j:hi_j]
            s = sorted_tokens(query, rank)
            f_best = best[j]
            y_best = best_id[j]
            bar = max(threshold, f_best)
            count, c_row, c_seen, c_x, c_y = _probe(
                s, bar, p_off, p_row, p_len, p_pos, p_sig, p_sig2, min(j, visible_hi), kept, wide, state,
                stamp, c_row, c_seen, c_x, c_y,
            )  # fmt: skip
            f_best, y_best, done, failed = _verify(
                query, s, bar, threshold, strict, first_only, f_best, y_best, count, c_row, c_seen,
                c_x, c_y, tok, off, slot, mask_budget,
            )  # fmt: skip
            verified += done
            if failed:
                error[0] = j
                return verified
            best[j] = f_best
            best_id[j] = y_best
        if settle:
            kept[j] = 0 if _duplicate(best[j], threshold, strict) else 1
    return verified


@njit(cache=True, nogil=True)
def pair_join(
    q_tok: np.ndarray,
    q_off: np.ndarray,
    q_lo: int,
    q_hi: int,
    i_tok: np.ndarray,
    i_off: np.ndarray,
    i_wide: np.ndarray,
    rank: np.ndarray,
    threshold: float,
    strict: bool,
    self_join: bool,
    p_off: np.ndarray,
    p_row: np.ndarray,
    p_len: np.ndarray,
    p_pos: np.ndarray,
    p_sig: np.ndarray,
    p_sig2: np.ndarray,
    state: np.ndarray,
    slot: np.ndarray,
    mask_budget: int,
    error: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j, F) with F >= threshold (> with ``strict``), j in [q_lo, q_hi) of the query rows.

    i indexes the indexed rows (``i_tok``/``i_off``, their ``wide_signatures`` ``i_wide``, with
    postings ``p_*``); with ``self_join``
    the two are the same rows and only i < j is reported. Pairs come sorted by (j, i).
    ``state`` (one int64 per indexed row, all 0) and ``slot`` (one int32 per token id, all -1)
    are private scratch. ``mask_budget`` and ``error`` work as in ``best_matches`` (on an error
    the pairs found so far are returned).
    """
    out_i = np.empty(16, dtype=np.int64)
    out_j = np.empty(16, dtype=np.int64)
    out_f = np.empty(16, dtype=np.float64)
    count = 0
    everyone = np.ones(i_off.shape[0] - 1, dtype=np.uint8)
    levels = p_off.reshape((1, p_off.shape[0]))
    c_row = np.empty(64, dtype=np.int32)
    c_seen = np.empty(64, dtype=np.int32)
    c_x = np.empty(64, dtype=np.int32)
    c_y = np.empty(64, dtype=np.int32)
    for j in range(q_lo, q_hi):
        lo_j = q_off[j]
        hi_j = q_off[j + 1]
        m = hi_j - lo_j
        if m == 0:
            continue
        query = q_tok[lo_j:hi_j]
        s = sorted_tokens(query, rank)
        limit = j if self_join else everyone.shape[0]
        n_cand, c_row, c_seen, c_x, c_y = _probe(
            s, threshold, levels, p_row, p_len, p_pos, p_sig, p_sig2, limit, everyone, i_wide, state,
            j + 1, c_row, c_seen, c_x, c_y,
        )  # fmt: skip
        masks = np.zeros((1, 1), dtype=np.uint64)
        distinct = np.empty(0, dtype=np.int32)
        built = False
        too_big = n_cand > 0 and _mask_bytes(s) > mask_budget
        first = count
        for k in range(n_cand):
            y = c_row[k]
            n = i_off[y + 1] - i_off[y]
            if not _reach(c_seen[k] + min(m - c_x[k], n - c_y[k]), m, n, threshold):
                continue
            if too_big:
                if n != m or not _same_rows(q_tok, lo_j, i_tok, i_off[y], m):
                    error[0] = j
                    return out_i[:count], out_j[:count], out_f[:count]
                lcs = m
            else:
                if not built:
                    masks, distinct = _build_masks(query, slot)
                    built = True
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
        if built:
            _clear_slots(slot, distinct)
        if count - first > 1:
            order = np.argsort(out_i[first:count])
            out_i[first:count] = out_i[first:count][order]
            out_f[first:count] = out_f[first:count][order]
    return out_i[:count], out_j[:count], out_f[:count]
