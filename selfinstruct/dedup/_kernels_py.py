"""Plain-Python twins of ``_kernels``: same names, signatures, arrays and results, no Numba.

Python integers are unbounded, so the bit-parallel LCS needs no multi-word carry here. The
index arrays are read and written exactly as the compiled kernels do, so the two are
interchangeable under one index; the scratch arrays (``slot``, ``stamp``, ``partial``) are accepted
for the common signature and left untouched (dicts and sets do their job here).
"""

from __future__ import annotations

import numpy as np

__all__ = ["compact", "fmeasure", "index_row", "lcs_length", "score_rows", "search"]

_SLACK = 1e-9
_LEN_BITS = 20
_LEN_MASK = (1 << _LEN_BITS) - 1
_SEED_TOKENS = 2
_SEED_ROWS = 32
_NO_LIMIT = 1 << 62
_COUNT_MARGIN = 4


def fmeasure(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F-measure exactly as rouge-score computes it (0.0 when either side is empty)."""
    if m == 0 or n == 0 or lcs == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    return 2 * precision * recall / (precision + recall)


def _popcount(x: int | np.unsignedinteger) -> int:
    """Set bits of ``x``."""
    return int(x).bit_count()


def _masks(query: list[int]) -> dict[int, int]:
    masks: dict[int, int] = {}
    for position, token in enumerate(query):
        if token >= 0:
            masks[token] = masks.get(token, 0) | (1 << position)
    return masks


def _lcs(masks: dict[int, int], m: int, other: list[int]) -> int:
    full = (1 << m) - 1
    v = full
    for token in other:
        mask = masks.get(token)
        if mask is None:
            continue
        u = v & mask
        v = ((v + u) | (v - u)) & full
    return m - bin(v).count("1")


def lcs_length(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common subsequence of two int32 token-id arrays (ids >= 0)."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return 0
    return _lcs(_masks(a.tolist()), a.shape[0], b.tolist())


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
    masks = _masks(query.tolist())
    for i, y in enumerate(rows.tolist()):
        lo, hi = int(row_off[y]), int(row_off[y + 1])
        out[i] = fmeasure(_lcs(masks, m, row_tok[lo:hi].tolist()), m, hi - lo)
    return out


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
    tail = int(htf[1, t])
    if tail >= 0:
        first, fill = int(start[tail]), int(htf[2, t])
        if tail == htf[0, t]:
            # Head block: kept sorted by (length, row), as in the Numba kernel.
            n = entry & _LEN_MASK
            p = first + fill
            while p > first and (int(data[p - 1]) & _LEN_MASK) > n:
                p -= 1
            if p > first and data[p - 1] == entry:
                return False
            if fill < cap[tail]:
                data[p + 1 : first + fill + 1] = data[p : first + fill].copy()
                data[p] = entry
                htf[2, t] += 1
                return True
        elif data[first + fill - 1] == entry:
            return False
    if tail < 0 or htf[2, t] == cap[tail]:
        size = 4 if tail < 0 else min(2 * int(cap[tail]), 1024)
        b = int(used[1])
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

    Entries are ``row << 20 | min(length, 2**20 - 1)``, as in the Numba kernel.
    """
    entry = (row << _LEN_BITS) | min(int(tokens.shape[0]), _LEN_MASK)
    for t in dict.fromkeys(tokens.tolist()):
        if _append(t, entry, data, start, cap, nxt, htf, used):
            df[t] += 1


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
    pos = blocks = 0
    for t in range(htf.shape[1]):
        if htf[0, t] < 0:
            continue
        entries = _entries(t, data, start, cap, nxt, htf)
        entries.sort(key=lambda e: (e & _LEN_MASK, e >> _LEN_BITS))
        data2[pos : pos + len(entries)] = entries
        start2[blocks], cap2[blocks], nxt2[blocks] = pos, len(entries), -1
        htf2[0, t] = htf2[1, t] = blocks
        htf2[2, t] = len(entries)
        pos += len(entries)
        blocks += 1
    used2[0], used2[1] = pos, blocks


def _reach(lcs_bound: int, m: int, n: int, bar: float) -> bool:
    b = min(lcs_bound, m, n)
    if b <= 0:
        return False
    return 2.0 * b >= (bar - _SLACK) * (m + n)


def _window_lo(m: int, bar: float) -> int:
    n = 1
    while n <= m and not _reach(n, m, n, bar):
        n += 1
    return n


def _window_hi(r: int, m: int, bar: float) -> int:
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


def _entries(
    t: int, data: np.ndarray, start: np.ndarray, cap: np.ndarray, nxt: np.ndarray, htf: np.ndarray
) -> list[int]:
    out: list[int] = []
    b = int(htf[0, t])
    while b >= 0:
        fill = int(htf[2, t]) if b == htf[1, t] else int(cap[b])
        first = int(start[b])
        out.extend(data[first : first + fill].tolist())
        b = int(nxt[b])
    return out


def _postings(
    t: int,
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    row_off: np.ndarray,
) -> list[tuple[int, int]]:
    """(row, length) of each row posted under ``t``."""
    out: list[tuple[int, int]] = []
    for entry in _entries(t, data, start, cap, nxt, htf):
        y, n = entry >> _LEN_BITS, entry & _LEN_MASK
        if n == _LEN_MASK:
            n = int(row_off[y + 1] - row_off[y])
        out.append((y, n))
    return out


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
    """Best exact ROUGE-L of ``query`` over the pool, pruned by exact bounds (see the Numba kernel)."""
    m = query.shape[0]
    best, best_id, verified = float(init_best), int(init_id), 0
    q = query.tolist()
    masks = _masks(q)
    if m == 0 or not masks:
        return best, best_id, verified
    counts: dict[int, int] = {}
    for t in q:
        if t >= 0:
            counts[t] = counts.get(t, 0) + 1
    order = sorted(counts, key=lambda t: (int(df[t]), t))
    remaining = [0] * (len(order) + 1)
    for j in range(len(order) - 1, -1, -1):
        remaining[j] = remaining[j + 1] + counts[order[j]]

    def verify(y: int) -> None:
        nonlocal best, best_id, verified
        lo, hi = int(row_off[y]), int(row_off[y + 1])
        f = fmeasure(_lcs(masks, m, row_tok[lo:hi].tolist()), m, hi - lo)
        verified += 1
        if f > best or (f == best and y < best_id):
            best, best_id = f, y

    for t in order[:_SEED_TOKENS]:
        if df[t] > _SEED_ROWS:
            break
        for y, _ in _postings(t, data, start, cap, nxt, htf, row_off):
            verify(y)

    # Length windows as in the Numba kernel: new candidates at step j have length <= hi, counts
    # are kept for lengths <= his[j]; the bound adds back the steps a length was not counted at.
    bar = max(threshold, best)
    lo_len = _window_lo(m, bar)
    his: list[int] = []
    cand: list[int] = []
    shared: dict[int, int] = {}
    stop = len(order)
    for j, t in enumerate(order):
        r = remaining[j]
        if not _reach(r, m, r, bar):
            stop = j
            break
        hi_len = _window_hi(r, m, bar)
        his.append(_window_hi(min(r + _COUNT_MARGIN, m), m, bar))
        for y, n in _postings(t, data, start, cap, nxt, htf, row_off):
            if n < lo_len or n > his[j]:
                continue
            if y not in shared:
                if n <= hi_len and _reach(r, m, n, bar):
                    shared[y] = counts[t]
                    cand.append(y)
                else:
                    shared[y] = -1
            elif shared[y] >= 0:
                shared[y] += counts[t]
    walked = stop
    while walked > 0 and stop < len(order) and df[order[stop]] <= 2 * len(cand):
        for y, _ in _postings(order[stop], data, start, cap, nxt, htf, row_off):
            if shared.get(y, -1) >= 0:
                shared[y] += counts[order[stop]]
        stop += 1
    rest = remaining[stop]
    for y in cand:
        n = int(row_off[y + 1] - row_off[y])
        first = next((j for j in range(walked) if his[j] < n), walked)
        skipped = remaining[first] - remaining[walked]
        if _reach(shared[y] + skipped + rest, m, n, max(threshold, best)):
            verify(y)

    if nearest and best < threshold:
        seen: set[int] = set()
        for j, t in enumerate(order):
            r = remaining[j]
            if not _reach(r, m, r, max(best, 0.0)):
                break
            for y, n in _postings(t, data, start, cap, nxt, htf, row_off):
                if y in seen:
                    continue
                seen.add(y)
                if _reach(r, m, n, max(best, 0.0)):
                    verify(y)
    return best, best_id, verified


# -- the helpers ``_prefix`` calls, with the compiled kernels' signatures ---------------------


def _build_masks(query: np.ndarray, slot: np.ndarray) -> tuple[dict[int, int], np.ndarray]:
    """The query's bit masks by token (``slot`` is not used here) and its distinct known tokens."""
    masks = _masks(query.tolist())
    return masks, np.fromiter(masks, dtype=np.int32, count=len(masks))


def _lcs_masked(masks: dict[int, int], m: int, slot: np.ndarray, other: np.ndarray, lo: int, hi: int) -> int:
    """LCS of the query (as ``masks``) and ``other[lo:hi]``."""
    return _lcs(masks, m, other[lo:hi].tolist())


def _clear_slots(slot: np.ndarray, distinct: np.ndarray) -> None:
    """Nothing to clear: the twin keeps its masks in a dict."""
