"""Plain-Python twins of ``_kernels``: same names, signatures, arrays and results, no Numba.

Python integers are unbounded, so the bit-parallel LCS needs no multi-word carry here. The
index arrays are read and written exactly as the compiled kernels do, so the two are
interchangeable under one index; the scratch arrays (``slot``, ``stamp``, ``partial``) are accepted
for the common signature and left untouched (dicts and sets do their job here).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fmeasure", "index_row", "lcs_length", "score_rows", "search"]

_SLACK = 1e-9
_LEN_BITS = 20
_LEN_MASK = (1 << _LEN_BITS) - 1
_SEED_TOKENS = 2
_SEED_ROWS = 32


def fmeasure(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F-measure exactly as rouge-score computes it (0.0 when either side is empty)."""
    if m == 0 or n == 0 or lcs == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    return 2 * precision * recall / (precision + recall)


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
    row: int,
    data: np.ndarray,
    start: np.ndarray,
    cap: np.ndarray,
    nxt: np.ndarray,
    htf: np.ndarray,
    used: np.ndarray,
) -> None:
    tail = int(htf[1, t])
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
    data[start[tail] + htf[2, t]] = row
    htf[2, t] += 1


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
        _append(t, entry, data, start, cap, nxt, htf, used)
        df[t] += 1


def _reach(lcs_bound: int, m: int, n: int, bar: float) -> bool:
    b = min(lcs_bound, m, n)
    if b <= 0:
        return False
    return 2.0 * b >= (bar - _SLACK) * (m + n)


def _postings(
    t: int, data: np.ndarray, start: np.ndarray, cap: np.ndarray, nxt: np.ndarray, htf: np.ndarray
) -> list[int]:
    rows: list[int] = []
    b = int(htf[0, t])
    while b >= 0:
        fill = int(htf[2, t]) if b == htf[1, t] else int(cap[b])
        first = int(start[b])
        rows.extend(entry >> _LEN_BITS for entry in data[first : first + fill].tolist())
        b = int(nxt[b])
    return rows


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
        for y in _postings(t, data, start, cap, nxt, htf):
            verify(y)

    bar = max(threshold, best)
    cand: list[int] = []
    shared: dict[int, int] = {}
    stop = len(order)
    for j, t in enumerate(order):
        r = remaining[j]
        if not _reach(r, m, r, bar):
            stop = j
            break
        for y in _postings(t, data, start, cap, nxt, htf):
            if y not in shared:
                n = int(row_off[y + 1] - row_off[y])
                if _reach(r, m, n, bar):
                    shared[y] = counts[t]
                    cand.append(y)
                else:
                    shared[y] = -1
            elif shared[y] >= 0:
                shared[y] += counts[t]
    while stop < len(order) and df[order[stop]] <= 2 * len(cand):
        for y in _postings(order[stop], data, start, cap, nxt, htf):
            if shared.get(y, -1) >= 0:
                shared[y] += counts[order[stop]]
        stop += 1
    rest = remaining[stop]
    for y in cand:
        n = int(row_off[y + 1] - row_off[y])
        if _reach(shared[y] + rest, m, n, max(threshold, best)):
            verify(y)

    if nearest and best < threshold:
        seen: set[int] = set()
        for j, t in enumerate(order):
            r = remaining[j]
            if not _reach(r, m, r, max(best, 0.0)):
                break
            for y in _postings(t, data, start, cap, nxt, htf):
                if y in seen:
                    continue
                seen.add(y)
                n = int(row_off[y + 1] - row_off[y])
                if _reach(r, m, n, max(best, 0.0)):
                    verify(y)
    return best, best_id, verified
