"""Numba kernels: bit-parallel LCS over token ids and the index search built on it.

Every function here has a plain-Python twin of the same name and signature in ``_kernels_py``;
``selfinstruct.dedup._backend`` picks one at import. Compiled code is cached on disk
(``cache=True``), so only the first run on a machine pays the compile time.

LCS is the bit-vector recurrence of Allison & Dix (1986) in Hyyrö's form: with ``M[c]`` the
bit-set of positions where the query holds token ``c`` and ``V`` starting all ones, each token ``c``
of the other sequence does ``U = V & M[c]; V = (V + U) | (V - U)``; the LCS length is the number of
zero bits left in ``V``. Because ``U`` is a subset of ``V``, ``V - U`` never borrows, so sequences
longer than 64 tokens only need the carry of the addition propagated across words. Tokens of the
other sequence that do not occur in the query have ``M[c] = 0`` and leave ``V`` unchanged, so they are
skipped with one table look-up.

The ROUGE-L F-measure is computed with rouge-score's float64 expression,
``P = L / n``, ``R = L / m``, ``2 * P * R / (P + R)``, so scores are bit-identical to it.
Pruning uses exact integer bounds compared with a small slack (``_SLACK``): a bound may let a row
through that cannot pass, never the reverse; every decision is made on the exact float.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "compact",
    "fmeasure",
    "index_row",
    "lcs_length",
    "score_rows",
    "search",
]

_SLACK = 1e-9
_LEN_BITS = 20
_LEN_MASK = (1 << _LEN_BITS) - 1
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@njit(cache=True, nogil=True)
def fmeasure(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F-measure exactly as rouge-score computes it (0.0 when either side is empty)."""
    if m == 0 or n == 0 or lcs == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    return 2 * precision * recall / (precision + recall)


@njit(cache=True, nogil=True)
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int(np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56)))


@njit(cache=True, nogil=True)
def _zeros_low(v: np.ndarray, m: int) -> int:
    """Number of zero bits among the low ``m`` bits of the multi-word vector ``v``."""
    zeros = 0
    words = (m + 63) >> 6
    for w in range(words):
        bits = 64 if (w + 1) * 64 <= m else m - w * 64
        word = ~v[w]
        if bits < 64:
            word &= (_ONE << np.uint64(bits)) - _ONE
        zeros += _popcount(word)
    return zeros


@njit(cache=True, nogil=True)
def _lcs_masked(masks: np.ndarray, m: int, slot: np.ndarray, other: np.ndarray, lo: int, hi: int) -> int:
    """LCS of the query (as ``masks`` rows, ``slot[token]`` -> row or -1) and ``other[lo:hi]``."""
    words = (m + 63) >> 6
    if words == 1:
        v = _ALL
        for p in range(lo, hi):
            s = slot[other[p]]
            if s < 0:
                continue
            u = v & masks[s, 0]
            v = (v + u) | (v - u)
        word = ~v
        if m < 64:
            word &= (_ONE << np.uint64(m)) - _ONE
        return _popcount(word)
    vec = np.full(words, _ALL, dtype=np.uint64)
    for p in range(lo, hi):
        s = slot[other[p]]
        if s < 0:
            continue
        carry = _ZERO
        for w in range(words):
            x = vec[w]
            u = x & masks[s, w]
            total = x + u
            c1 = total < x
            total2 = total + carry
            c2 = total2 < total
            vec[w] = total2 | (x - u)
            carry = _ONE if (c1 or c2) else _ZERO
    return _zeros_low(vec, m)


@njit(cache=True, nogil=True)
def _build_masks(query: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``slot`` for the query's known tokens; return (masks, distinct tokens in slot order)."""
    m = query.shape[0]
    words = max(1, (m + 63) >> 6)
    distinct = np.empty(m, dtype=np.int32)
    k = 0
    for p in range(m):
        t = query[p]
        if t >= 0 and slot[t] < 0:
            slot[t] = k
            distinct[k] = t
            k += 1
    masks = np.zeros((max(k, 1), words), dtype=np.uint64)
    for p in range(m):
        t = query[p]
        if t >= 0:
            s = slot[t]
            masks[s, p >> 6] |= _ONE << np.uint64(p & 63)
    return masks, distinct[:k]


@njit(cache=True, nogil=True)
def _clear_slots(slot: np.ndarray, distinct: np.ndarray) -> None:
    for i in range(distinct.shape[0]):
        slot[distinct[i]] = -1


@njit(cache=True, nogil=True)
def lcs_length(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common subsequence of two int32 token-id arrays (ids >= 0)."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return 0
    top = 0
    for p in range(a.shape[0]):
        top = max(top, a[p])
    for p in range(b.shape[0]):
        top = max(top, b[p])
    slot = np.full(top + 1, -1, dtype=np.int32)
    masks, _ = _build_masks(a, slot)
    return _lcs_masked(masks, a.shape[0], slot, b, 0, b.shape[0])


@njit(cache=True, nogil=True)
def score_rows(
    query: np.ndarray,
    rows: np.ndarray,
    row_tok: np.ndarray,
    row_off: np.ndarray,
    slot: np.ndarray,
) -> np.ndarray:
    """Exact ROUGE-L F of ``query`` against each pool row in ``rows`` (``slot`` all -1, left so)."""
    out = np.zeros(rows.shape[0], dtype=np.float64)
    m = query.shape[0]
    if m == 0:
        return out
    masks, distinct = _build_masks(query, slot)
    for i in range(rows.shape[0]):
        y = rows[i]
        lo = row_off[y]
        hi = row_off[y + 1]
        lcs = _lcs_masked(masks, m, slot, row_tok, lo, hi) if distinct.shape[0] > 0 else 0
        out[i] = fmeasure(lcs, m, hi - lo)
    _clear_slots(slot, distinct)
    return out


# -- posting lists ------------------------------------------------------------------------------
# A posting store is (data, start, cap, nxt, htf, used): chains of blocks of entries per token;
# block b holds data[start[b] : start[b] + cap[b]] and links to nxt[b] (-1 at the end);
# htf[0, t], htf[1, t], htf[2, t] are token t's head block, tail block and the tail's fill;
# used = [data words used, blocks used]. New blocks double in size (4 .. 1024), so a common
# token walks few links; the caller keeps room for 1024 words and one block per distinct token.
# A token's head block is kept sorted by (length, row), so a search reads only the lengths it
# can use there; ``compact`` moves each token's whole list into one sorted head block.


@njit(cache=True, nogil=True)
def _append(
    t: int,
    entry: int,
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    used: np.ndarray,
) -> bool:
    """Post ``entry`` (the newest row) under ``t``; False if that row is already there."""
    tail = htf[1, t]
    if tail >= 0:
        first = start[tail]
        fill = htf[2, t]
        if tail == htf[0, t]:
            # Head block: insert after every entry of the same or a shorter length.
            n = entry & _LEN_MASK
            p = first + fill
            while p > first and (data[p - 1] & _LEN_MASK) > n:
                p -= 1
            if p > first and data[p - 1] == entry:
                return False
            if fill < cap[tail]:
                for q in range(first + fill, p, -1):
                    data[q] = data[q - 1]
                data[p] = entry
                htf[2, t] += 1
                return True
        elif data[first + fill - 1] == entry:
            return False
    if tail < 0 or htf[2, t] == cap[tail]:
        size = 4 if tail < 0 else min(2 * cap[tail], 1024)
        b = used[1]
        start[b] = used[0]
        cap[b] = size
        nxt[b] = -1
        used[0] += size
        used[1] += 1
        if tail < 0:
            htf[0, t] = b
        else:
            nxt[tail] = b
        htf[1, t] = b
        htf[2, t] = 0
        tail = b
    data[start[tail] + htf[2, t]] = entry
    htf[2, t] += 1
    return True


@njit(cache=True, nogil=True)
def index_row(
    tokens: np.ndarray,
    row: int,
    df: np.ndarray,
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    used: np.ndarray,
) -> None:
    """Post ``row`` under each of its distinct tokens and count it in their document frequency.

    Entries are ``row << 20 | min(length, 2**20 - 1)``: the length rides along so a search can
    skip rows outside its length window without touching per-row memory. Rows must be indexed
    in increasing order.
    """
    entry = (np.int64(row) << _LEN_BITS) | min(tokens.shape[0], _LEN_MASK)
    for p in range(tokens.shape[0]):
        t = tokens[p]
        if _append(t, entry, data, start, cap, nxt, htf, used):
            df[t] += 1


@njit(cache=True, nogil=True)
def compact(
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    data2: np.ndarray,
    start2: np.ndarray,
    cap2: np.ndarray,
    nxt2: np.ndarray,
    htf2: np.ndarray,
    used2: np.ndarray,
) -> None:
    """Copy a posting store into an empty one (large enough): one block per token, sorted."""
    pos = 0
    blocks = 0
    for t in range(htf.shape[1]):
        b = htf[0, t]
        if b < 0:
            continue
        first = pos
        while b >= 0:
            fill = htf[2, t] if b == htf[1, t] else cap[b]
            for q in range(start[b], start[b] + fill):
                e = data[q]
                data2[pos] = ((e & _LEN_MASK) << 43) | (e >> _LEN_BITS)
                pos += 1
            b = nxt[b]
        data2[first:pos] = np.sort(data2[first:pos])
        for q in range(first, pos):
            k = data2[q]
            data2[q] = ((k & ((np.int64(1) << 43) - 1)) << _LEN_BITS) | (k >> 43)
        start2[blocks] = first
        cap2[blocks] = pos - first
        nxt2[blocks] = -1
        htf2[0, t] = blocks
        htf2[1, t] = blocks
        htf2[2, t] = pos - first
        blocks += 1
    used2[0] = pos
    used2[1] = blocks


@njit(cache=True, nogil=True)
def _length_at_least(data: np.ndarray, a: int, z: int, n: int) -> int:
    """First q in [a, z) whose entry's length is >= n (entries there sorted by length)."""
    while a < z:
        mid = (a + z) >> 1
        if (data[mid] & _LEN_MASK) < n:
            a = mid + 1
        else:
            z = mid
    return a


@njit(cache=True, nogil=True)
def _reach(lcs_bound: int, m: int, n: int, bar: float) -> bool:
    """Could a pair with LCS <= ``lcs_bound`` and lengths m, n score >= ``bar`` (with slack)?"""
    b = min(lcs_bound, m, n)
    if b <= 0:
        return False
    return 2.0 * b >= (bar - _SLACK) * (m + n)


_NO_LIMIT = 1 << 62
_COUNT_MARGIN = 4


@njit(cache=True, nogil=True)
def _window_lo(m: int, bar: float) -> int:
    """Smallest row length n with ``_reach(n, m, n, bar)`` (m + 1 when there is none)."""
    n = 1
    while n <= m and not _reach(n, m, n, bar):
        n += 1
    return n


@njit(cache=True, nogil=True)
def _window_hi(r: int, m: int, bar: float) -> int:
    """Largest row length n with ``_reach(r, m, n, bar)``, given that ``_reach(r, m, r, bar)``.

    A row sharing at most ``r`` of the query's tokens has LCS <= r, so it can reach the bar only
    when n <= 2r / bar - m; the float estimate is corrected with ``_reach`` itself, so the window
    is exactly the set of lengths ``_reach`` lets through (it is an interval: [lo, hi]).
    """
    if bar - _SLACK <= 0.0:
        return _NO_LIMIT
    x = 2.0 * r / (bar - _SLACK) - m
    if x >= 1e15:
        return _NO_LIMIT
    h = max(int(x), r)
    while _reach(r, m, h + 1, bar):
        h += 1
    while h > r and not _reach(r, m, h, bar):
        h -= 1
    return h


_STATE_SHIFT = 24
_SEED_TOKENS = 2
_SEED_ROWS = 32
_PARTIAL_MASK = (1 << 24) - 1


@njit(cache=True, nogil=True)
def search(
    query: np.ndarray,
    threshold: float,
    nearest: bool,
    init_best: float,
    init_id: int,
    stamp_value: int,
    row_tok: np.ndarray,
    row_off: np.ndarray,
    df: np.ndarray,
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    slot: np.ndarray,
    state: np.ndarray,
) -> tuple[float, int, int]:
    """Best exact ROUGE-L of ``query`` over the pool, pruned by exact bounds.

    ``query`` holds token ids (-1 for tokens the pool has never seen). First the rows holding the
    query's rarest tokens (when those are rare) are verified: a near-duplicate usually shares
    them, and the best score so far is the bar (if above the threshold). Pass 1 walks the posting
    lists of the query's tokens, rarest first, and stops once a row sharing none of the walked
    tokens could not reach the bar (LCS <= shared tokens: prefix filtering); rows met are
    pruned by length and by shared-token counts (count filtering; a few more lists are walked
    just to count when many rows survive), and the rest verified. A row first met at step j
    shares at most remaining[j] tokens, which caps its length; as j grows only short rows can
    still be new, so each list's length-sorted head block is read only within that window (a bit
    wider, for counting), and a row's bound adds back the steps whose window left it out. Every
    row that could score >= ``threshold`` is verified, so a returned score >= ``threshold`` is the
    exact maximum. With ``nearest``, pass 2 repeats the walk with the bar lowered to the best
    score found, verifying rows as met, which yields the exact maximum below the threshold too.
    ``init_best``/``init_id`` seed the search with an already verified row (or -1.0 / -1).
    Scratch: ``slot`` is all -1 on entry and exit; ``state[y] >> 24`` equal to ``stamp_value``
    (pass 1) or ``stamp_value + 1`` (pass 2) marks rows met in this call, the low 24 bits hold
    1 + shared-token count (0: pruned). The caller advances ``stamp_value`` by 2 per call.

    Returns (best score or -1.0, best row or -1, rows verified).
    """
    m = query.shape[0]
    best = init_best
    best_id = init_id
    verified = 0
    if m == 0:
        return best, best_id, verified
    masks, distinct = _build_masks(query, slot)
    k = distinct.shape[0]
    if k == 0:
        _clear_slots(slot, distinct)
        return best, best_id, verified
    counts = np.zeros(k, dtype=np.int64)
    for p in range(m):
        if query[p] >= 0:
            counts[slot[query[p]]] += 1
    keys = np.empty(k, dtype=np.int64)
    for i in range(k):
        keys[i] = (np.int64(df[distinct[i]]) << 32) + distinct[i]
    order = np.argsort(keys)
    remaining = np.zeros(k + 1, dtype=np.int64)
    for j in range(k - 1, -1, -1):
        remaining[j] = remaining[j + 1] + counts[order[j]]

    # Seed: verify the few rows holding the query's rarest tokens. A near-duplicate usually shares
    # them, and a high score found now raises the bar, which shortens the probe below.
    for j in range(min(_SEED_TOKENS, k)):
        t = distinct[order[j]]
        if df[t] > _SEED_ROWS:
            break
        b = htf[0, t]
        while b >= 0:
            lo_b = start[b]
            fill = htf[2, t] if b == htf[1, t] else cap[b]
            for q in range(lo_b, lo_b + fill):
                y = data[q] >> _LEN_BITS
                lo = row_off[y]
                hi = row_off[y + 1]
                lcs = _lcs_masked(masks, m, slot, row_tok, lo, hi)
                verified += 1
                f = fmeasure(lcs, m, hi - lo)
                if f > best or (f == best and y < best_id):
                    best = f
                    best_id = y
            b = nxt[b]

    # Pass 1: prefix + count filtering at bar max(threshold, best).
    # A row first met at step j shares at most remaining[j] tokens, so only lengths in
    # [lo, hi_len] can still become candidates, and hi_len shrinks as j grows. Rows met earlier
    # are counted up to his[j] (hi_len for a few more shared tokens, so that count filtering
    # still prunes them); longer ones are skipped there and their bound adds those steps back.
    bar = max(threshold, best)
    lo_len = _window_lo(m, bar)
    his = np.empty(k, dtype=np.int64)
    mark = np.int64(stamp_value) << _STATE_SHIFT
    cand = np.empty(64, dtype=np.int32)
    n_cand = 0
    stop = k
    for j in range(k):
        r = remaining[j]
        if not _reach(r, m, r, bar):
            stop = j
            break
        hi_len = _window_hi(r, m, bar)
        count_len = _window_hi(min(r + _COUNT_MARGIN, m), m, bar)
        his[j] = count_len
        c = counts[order[j]]
        t = distinct[order[j]]
        b = htf[0, t]
        while b >= 0:
            qa = start[b]
            qz = qa + (htf[2, t] if b == htf[1, t] else cap[b])
            if b == htf[0, t]:
                qa = _length_at_least(data, qa, qz, lo_len)
                qz = _length_at_least(data, qa, qz, count_len + 1)
            for q in range(qa, qz):
                entry = data[q]
                y = entry >> _LEN_BITS
                n = entry & _LEN_MASK
                if n == _LEN_MASK:
                    n = row_off[y + 1] - row_off[y]
                if n < lo_len or n > count_len:
                    continue  # outside this step's length window
                s = state[y]
                if (s >> _STATE_SHIFT) != stamp_value:
                    if n <= hi_len and _reach(r, m, n, bar):
                        state[y] = mark | (c + 1)
                        if n_cand == cand.shape[0]:
                            grown = np.empty(2 * n_cand, dtype=np.int32)
                            grown[:n_cand] = cand
                            cand = grown
                        cand[n_cand] = y
                        n_cand += 1
                    else:
                        state[y] = mark
                elif (s & _PARTIAL_MASK) != 0:
                    state[y] = s + c
            b = nxt[b]
    walked = stop
    # Count filtering only sees the walked tokens (rest = what may be shared beyond them). When
    # many candidates survive, walking a few more lists to count them (no new candidates) costs
    # less than verifying them all, and tightens the bound.
    while walked > 0 and stop < k and df[distinct[order[stop]]] <= 2 * n_cand:
        c = counts[order[stop]]
        t = distinct[order[stop]]
        b = htf[0, t]
        while b >= 0:
            qa = start[b]
            qz = qa + (htf[2, t] if b == htf[1, t] else cap[b])
            if b == htf[0, t]:
                # Candidates are no longer than the first step's window allowed.
                qa = _length_at_least(data, qa, qz, lo_len)
                qz = _length_at_least(data, qa, qz, his[0] + 1)
            for q in range(qa, qz):
                y = data[q] >> _LEN_BITS
                s = state[y]
                if (s >> _STATE_SHIFT) == stamp_value and (s & _PARTIAL_MASK) != 0:
                    state[y] = s + c
            b = nxt[b]
        stop += 1
    rest = remaining[stop]
    for i in range(n_cand):
        y = cand[i]
        lo = row_off[y]
        hi = row_off[y + 1]
        n = hi - lo
        shared = (state[y] & _PARTIAL_MASK) - 1
        # Steps from the first whose window excluded this row's length were not counted for it.
        a, z = 0, walked
        while a < z:
            mid = (a + z) >> 1
            if his[mid] < n:
                z = mid
            else:
                a = mid + 1
        skipped = remaining[a] - remaining[walked]
        if not _reach(shared + skipped + rest, m, n, max(threshold, best)):
            continue
        lcs = _lcs_masked(masks, m, slot, row_tok, lo, hi)
        verified += 1
        f = fmeasure(lcs, m, n)
        if f > best or (f == best and y < best_id):
            best = f
            best_id = y

    if nearest and best < threshold:
        # Pass 2: the exact maximum lies below the threshold. A row first met at step j shares
        # at most remaining[j] tokens; verify rows as met while that could beat the best.
        seen2 = stamp_value + 1
        mark2 = np.int64(seen2) << _STATE_SHIFT
        lo_len = _window_lo(m, max(best, 0.0))
        for j in range(k):
            r = remaining[j]
            if not _reach(r, m, r, max(best, 0.0)):
                break
            # Rows longer than this (it only shrinks) can never be verified from here on.
            hi_len = _window_hi(r, m, max(best, 0.0))
            t = distinct[order[j]]
            b = htf[0, t]
            while b >= 0:
                qa = start[b]
                qz = qa + (htf[2, t] if b == htf[1, t] else cap[b])
                if b == htf[0, t]:
                    qa = _length_at_least(data, qa, qz, lo_len)
                    qz = _length_at_least(data, qa, qz, hi_len + 1)
                for q in range(qa, qz):
                    entry = data[q]
                    y = entry >> _LEN_BITS
                    n = entry & _LEN_MASK
                    if n == _LEN_MASK:
                        n = row_off[y + 1] - row_off[y]
                    if n > hi_len or not _reach(n, m, n, max(best, 0.0)):
                        continue  # outside the length window (the bar only rises)
                    if (state[y] >> _STATE_SHIFT) == seen2:
                        continue
                    state[y] = mark2
                    lo = row_off[y]
                    hi = row_off[y + 1]
                    n = hi - lo
                    if not _reach(r, m, n, max(best, 0.0)):
                        continue
                    lcs = _lcs_masked(masks, m, slot, row_tok, lo, hi)
                    verified += 1
                    f = fmeasure(lcs, m, n)
                    if f > best or (f == best and y < best_id):
                        best = f
                        best_id = y
                b = nxt[b]
    _clear_slots(slot, distinct)
    return best, best_id, verified
