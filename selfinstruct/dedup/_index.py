"""``NoveltyIndex``: a growing pool of instructions that answers "is this one new?" exactly.

Layout (all numpy, grown by doubling): the pool's token ids in CSR form (``row_tok``/``row_off``)
and two indexes over them. The decision comes from prefix postings (``_pool_postings``): each
row is listed only under its rarest tokens, so a check reads a small part of the pool and
verifies the few rows the exact length, bitmap and positional filters leave with the
bit-parallel LCS kernel. The full inverted index (every row under every token, chains of blocks,
see ``_kernels.index_row``) serves ``nearest=True`` when the candidate is novel: the most
similar row below the threshold shares no particular token with it, so that search walks the
query's tokens rarest first and stops once a row sharing none of the walked tokens could not
beat the best score found (``_kernels.search``). Each token's list there starts with a block
sorted by row length, so frequent tokens are read only for the short rows that can still
qualify; rows added since the last compaction sit in unsorted tail blocks until the next one.
Bounds only discard rows that provably score below the bar, so every decision is that of an
exhaustive rouge-score scan.

Thread safety: every public method takes one lock, so an index may be shared by threads (calls
run one at a time). ``check_batch(..., workers=N)`` checks a batch against the pool on N threads,
each with private scratch arrays (the kernels release the GIL), then settles the batch in order.
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from ..errors import ConfigError
from ._backend import compiled_cache_ready, get_kernels, prefix_for, python_kernels, warm_up_in_background
from ._pool_postings import PoolPostings, ProbeScratch
from ._tokenize import TOKENIZERS, get_tokenizer

__all__ = ["IndexConfig", "IndexStatistics", "Match", "NoveltyIndex"]

RULES = ("paper", "original")
MODES = ("exact", "approximate")
BACKENDS = ("auto", "numba", "python")
_SNAPSHOT_MAGIC = b"SELFINSTRUCT-NOVELTY-INDEX-2\n"
_STAMP_LIMIT = (1 << 31) - 4
# Kernels ``_warm`` compiles late, and how often (seconds) a twin-backed index looks for them.
_LAST_KERNELS = ("_prefix.best_match", "_kernels.compact")
_UPGRADE_POLL = 2.0
# From this pool size on, ``nearest=True`` checks go through the prefix postings first (a
# rejected text then needs nothing else). Below it the full search alone is as fast, and a pool
# asked only for nearest items never pays for keeping the postings (bench/bench_pool.py,
# bench/bench_pipeline.py).
NEAREST_PREFIX_FROM = 100_000


@dataclass(frozen=True)
class Match:
    """The verdict on one candidate.

    Attributes:
        novel: True when the candidate may join the pool under the index's rule.
        score: the best exact ROUGE-L found; in exact mode, the exact maximum over the pool when the
            candidate was rejected or ``nearest=True`` was asked (0.0 for an empty pool). In
            approximate mode, the best among the pool items MinHash proposed.
        nearest: id of the pool item with that score (lowest id on ties); None when the pool is
            empty or no pool item shares a token with the candidate.
        nearest_text: the text of that pool item, or None.
        id: the id the candidate received when it was added, else None.
    """

    novel: bool
    score: float
    nearest: int | None
    nearest_text: str | None
    id: int | None = None


@dataclass(frozen=True)
class IndexStatistics:
    """A snapshot of an index's counters (``NoveltyIndex.statistics()``).

    Attributes:
        items: texts in the pool.
        vocabulary: distinct tokens seen.
        checks: candidates judged (check, add_if_novel, check_batch items).
        verified: pool rows whose LCS was computed, over all checks; ``verified / checks / items``
            is the share of the pool the bounds could not rule out.
    """

    items: int
    vocabulary: int
    checks: int
    verified: int


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    """Settings of a ``NoveltyIndex`` (validated here; see ``NoveltyIndex`` for their meaning)."""

    threshold: float = 0.7
    tokenizer: str = "rouge"
    use_stemmer: bool = False
    rule: str = "paper"
    mode: str = "exact"
    minhash: bool = False
    num_perm: int = 64
    lsh_threshold: float = 0.5
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ConfigError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        if self.rule not in RULES:
            raise ConfigError(
                f"rule must be 'paper' (keep if every score < threshold) or 'original' "
                f"(reject only if a score > threshold), got {self.rule!r}"
            )
        if self.mode not in MODES:
            raise ConfigError(f"mode must be 'exact' or 'approximate' (MinHash LSH only), got {self.mode!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not 2 <= self.num_perm <= 1024:
            raise ConfigError(f"num_perm must be in [2, 1024], got {self.num_perm!r}")
        if not 0.0 < self.lsh_threshold < 1.0:
            raise ConfigError(f"lsh_threshold must be in (0, 1), got {self.lsh_threshold!r}")

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _compiled_ready() -> bool:
    """Whether Numba's cache holds the kernels an index uses (compiled late by ``_warm``)."""
    return all(compiled_cache_ready(kernel) for kernel in _LAST_KERNELS)


def _grow(array: np.ndarray, needed: int, fill: int) -> np.ndarray:
    if needed <= array.shape[0]:
        return array
    size = max(needed, 2 * array.shape[0], 16)
    grown = np.full(size, fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


def _new_store(vocab: int) -> list[np.ndarray]:
    """An empty posting store: [data (int64 entries), start, cap, nxt, htf, used] (see ``_kernels``)."""
    htf = np.full((3, vocab), -1, dtype=np.int32)
    htf[2, :] = 0
    return [
        np.zeros(4096, dtype=np.int64),
        np.zeros(1024, dtype=np.int64),
        np.zeros(1024, dtype=np.int32),
        np.full(1024, -1, dtype=np.int32),
        htf,
        np.zeros(2, dtype=np.int64),
    ]


def _reserve(store: list[np.ndarray], distinct: int, vocab: int) -> None:
    """Make room for one row posting under ``distinct`` tokens, with token ids below ``vocab``."""
    data, start, cap, nxt, htf, used = store
    store[0] = _grow(data, int(used[0]) + 1024 * distinct, 0)
    if int(used[1]) + distinct > start.shape[0]:
        store[1] = _grow(start, int(used[1]) + distinct, 0)
        store[2] = _grow(cap, store[1].shape[0], 0)
        store[3] = _grow(nxt, store[1].shape[0], -1)
    if vocab > htf.shape[1]:
        grown = np.full((3, max(vocab, 2 * htf.shape[1])), -1, dtype=np.int32)
        grown[2, :] = 0
        grown[:, : htf.shape[1]] = htf
        store[4] = grown


def _compacted(k: Any, store: list[np.ndarray]) -> list[np.ndarray]:
    """The store with each token's postings in one block sorted by length (``_kernels.compact``)."""
    data, start, cap, nxt, htf, used = store
    blocks = max(int(np.count_nonzero(htf[0] >= 0)), 1)
    out: list[np.ndarray] = [
        np.zeros(max(int(used[0]), 4096), dtype=np.int64),
        np.zeros(max(blocks, 1024), dtype=np.int64),
        np.zeros(max(blocks, 1024), dtype=np.int32),
        np.full(max(blocks, 1024), -1, dtype=np.int32),
        np.full(htf.shape, -1, dtype=np.int32),
        np.zeros(2, dtype=np.int64),
    ]
    out[4][2, :] = 0
    k.compact(data, start, cap, nxt, htf, *out)
    return out


class _Scratch:
    """Per-thread scratch arrays for a search (see ``_kernels.search``)."""

    def __init__(self, slot: np.ndarray, state: np.ndarray) -> None:
        self.slot = slot
        self.state = state
        self.probe = ProbeScratch()
        self.stamp_value = 2
        self.checks = 0
        self.verified = 0

    def next_stamp(self) -> int:
        self.stamp_value += 2
        return self.stamp_value


class NoveltyIndex:
    """A growing pool of texts with an exact ROUGE-L novelty test.

    Args:
        threshold: the ROUGE-L bar (0.7 in SELF-INSTRUCT).
        tokenizer: ``"rouge"`` (rouge-score's tokenizer, the default) or ``"unicode"`` (letters and
            digits of every script, CJK split per character).
        use_stemmer: Porter-stem tokens longer than 3 characters, as rouge-score does (needs nltk).
        rule: ``"paper"`` keeps a candidate only if every score is < threshold; ``"original"``
            rejects only if some score is > threshold (the released code's comparison).
        mode: ``"exact"`` decides exactly as an exhaustive rouge-score scan would; ``"approximate"``
            only verifies the pool items a MinHash LSH query returns (faster, may miss duplicates).
        minhash: in exact mode, verify MinHash LSH candidates first (early reject); never changes
            a decision.
        backend: ``"auto"`` (Numba when available), ``"numba"`` or ``"python"`` (the plain twin).

    Raises:
        ConfigError: a setting out of range.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.7,
        tokenizer: str = "rouge",
        use_stemmer: bool = False,
        rule: str = "paper",
        mode: str = "exact",
        minhash: bool = False,
        num_perm: int = 64,
        lsh_threshold: float = 0.5,
        backend: str = "auto",
    ) -> None:
        self.config = IndexConfig(
            threshold=threshold,
            tokenizer=tokenizer,
            use_stemmer=use_stemmer,
            rule=rule,
            mode=mode,
            minhash=minhash,
            num_perm=num_perm,
            lsh_threshold=lsh_threshold,
            backend=backend,
        )
        self._k: Any = get_kernels(backend)
        self._prefix: Any = prefix_for(self._k)  # the prefix-filter kernels that go with ``_k``
        # Right after an install Numba's cache is empty and compiling the kernels takes 10-40 s:
        # start on the plain twin (same arrays, same answers) while a background process fills
        # the cache, and switch once it is there.
        self._upgrade_at: float | None = None
        if backend == "auto" and self._k is not python_kernels and not _compiled_ready():
            self._k, self._prefix = python_kernels, prefix_for(python_kernels)
            warm_up_in_background()
            self._upgrade_at = time.monotonic() + _UPGRADE_POLL
        self._tokenize = get_tokenizer(tokenizer, use_stemmer=use_stemmer)
        self._lock = threading.RLock()
        self._texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._n_tok = 0
        self._stamp_value = 2
        self._compacted_rows = 0
        self._checks = 0
        self._verified = 0
        self._init_arrays()
        self._postings = PoolPostings(threshold)
        self._probe = ProbeScratch()
        self._lsh: Any = None
        if mode == "approximate" or minhash:
            from ._minhash import MinHashFinder

            self._lsh = MinHashFinder(num_perm=num_perm, threshold=lsh_threshold)

    def _init_arrays(self) -> None:
        self._row_tok = np.zeros(1024, dtype=np.int32)
        self._row_off = np.zeros(257, dtype=np.int64)
        self._stamp = np.zeros(256, dtype=np.int64)
        self._df = np.zeros(256, dtype=np.int32)
        self._slot = np.full(256, -1, dtype=np.int32)
        self._full = _new_store(256)

    # -- public API ---------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """The ROUGE-L bar of this index."""
        return self.config.threshold

    @property
    def texts(self) -> list[str]:
        """The added texts in id order (the live list: read it, do not modify it)."""
        return self._texts

    def __len__(self) -> int:
        return len(self._texts)

    def __repr__(self) -> str:
        return f"NoveltyIndex(len={len(self)}, threshold={self.config.threshold}, rule={self.config.rule!r})"

    def statistics(self) -> IndexStatistics:
        """Counters so far: pool size, vocabulary, candidates checked, rows verified."""
        with self._lock:
            return IndexStatistics(len(self._texts), len(self._vocab), self._checks, self._verified)

    def tokenize(self, text: str) -> list[str]:
        """The tokens this index scores ``text`` by."""
        return self._tokenize(text)

    def add(self, text: str) -> int:
        """Add ``text`` unconditionally; return its id (its insertion position)."""
        with self._lock:
            return self._add(text, self._tokenize(text))

    def check(self, text: str, *, nearest: bool = False) -> Match:
        """Judge ``text`` against the pool without adding it.

        With ``nearest=True`` the score and nearest item are the exact maximum over the pool even
        when the candidate is novel (costs more: rows far below the threshold must be searched).
        """
        with self._lock:
            return self._check(self._tokenize(text), nearest)

    def add_if_novel(self, text: str, *, nearest: bool = False) -> Match:
        """Judge ``text`` and add it when novel; ``Match.id`` is then its new id."""
        with self._lock:
            tokens = self._tokenize(text)
            match = self._check(tokens, nearest)
            if not match.novel:
                return match
            new_id = self._add(text, tokens)
            return Match(
                novel=True,
                score=match.score,
                nearest=match.nearest,
                nearest_text=match.nearest_text,
                id=new_id,
            )

    def check_batch(
        self, texts: Iterable[str], *, add: bool = True, nearest: bool = False, workers: int = 1
    ) -> list[Match]:
        """Judge texts in order, exactly as one-by-one calls would; earlier novel texts count.

        Each text is first checked against the pool as it was before the batch (with ``workers``
        threads: the kernels release the GIL), then, in order, against the batch's earlier novel
        texts; the two results combine into exactly the one-by-one answer.
        With ``add=False`` the index is left unchanged, but a text novel earlier in the batch
        still rejects a later near-duplicate; such a batch item is reported with the id it would
        have received (``len(index) + k`` for the k-th novel text) and ``Match.id`` stays None.

        Raises:
            ConfigError: ``workers`` < 1.
        """
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers!r}")
        texts = list(texts)
        with self._lock:
            if add and workers == 1:
                return [self.add_if_novel(text, nearest=nearest) for text in texts]
            tokens = [self._tokenize(text) for text in texts]
            pooled = self._check_many(tokens, nearest, workers)
            local = NoveltyIndex(**self.config.as_dict())
            offset = len(self)
            results: list[Match] = []
            for text, toks, pool_match in zip(texts, tokens, pooled, strict=True):
                local_match = local._check(toks, nearest)
                best = pool_match
                if local_match.nearest is not None and (
                    pool_match.nearest is None or local_match.score > pool_match.score
                ):
                    best = Match(
                        novel=False,
                        score=local_match.score,
                        nearest=local_match.nearest + offset,
                        nearest_text=local_match.nearest_text,
                    )
                novel = pool_match.novel and local_match.novel
                new_id = None
                if novel:
                    local._add(text, toks)
                    if add:
                        new_id = self._add(text, toks)
                results.append(
                    Match(
                        novel=novel,
                        score=best.score,
                        nearest=best.nearest,
                        nearest_text=best.nearest_text,
                        id=new_id,
                    )
                )
            return results

    def snapshot(self) -> bytes:
        """Serialize the whole index (settings, texts, arrays) to bytes for ``restore``."""
        with self._lock:
            meta = orjson.dumps(
                {
                    "config": self.config.as_dict(),
                    "texts": self._texts,
                    "vocab": list(self._vocab),
                    "n_tok": self._n_tok,
                }
            )
            n, v = len(self._texts), len(self._vocab)
            data, start, cap, nxt, htf, used = self._full
            buffer = io.BytesIO()
            np.savez(
                buffer,
                meta=np.frombuffer(meta, dtype=np.uint8),
                row_tok=self._row_tok[: self._n_tok],
                row_off=self._row_off[: n + 1],
                df=self._df[:v],
                data=data[: used[0]],
                start=start[: used[1]],
                cap=cap[: used[1]],
                nxt=nxt[: used[1]],
                htf=htf[:, :v],
                used=used,
            )
            return _SNAPSHOT_MAGIC + buffer.getvalue()

    @classmethod
    def restore(cls, data: bytes) -> NoveltyIndex:
        """Rebuild an index from ``snapshot()`` bytes.

        Raises:
            ConfigError: the bytes are not a snapshot of this format.
        """
        if not data.startswith(_SNAPSHOT_MAGIC):
            raise ConfigError("not a NoveltyIndex snapshot (missing header)")
        try:
            arrays = np.load(io.BytesIO(data[len(_SNAPSHOT_MAGIC) :]), allow_pickle=False)
            meta = orjson.loads(arrays["meta"].tobytes())
            index = cls(**meta["config"])
            index._texts = list(meta["texts"])
            index._vocab = {token: i for i, token in enumerate(meta["vocab"])}
            index._n_tok = int(meta["n_tok"])
            n, v = len(index._texts), len(index._vocab)
            index._row_tok = _grow(arrays["row_tok"].astype(np.int32), max(index._n_tok, 16), 0)
            index._row_off = _grow(arrays["row_off"].astype(np.int64), n + 2, 0)
            index._stamp = np.zeros(index._row_off.shape[0], dtype=np.int64)
            index._df = _grow(arrays["df"].astype(np.int32), v + 1, 0)
            index._slot = np.full(index._df.shape[0], -1, dtype=np.int32)
            htf = np.full((3, index._df.shape[0]), -1, dtype=np.int32)
            htf[2, :] = 0
            htf[:, :v] = arrays["htf"]
            index._full = [
                arrays["data"].astype(np.int64),
                arrays["start"].astype(np.int64),
                arrays["cap"].astype(np.int32),
                arrays["nxt"].astype(np.int32),
                htf,
                arrays["used"].astype(np.int64),
            ]
            _reserve(index._full, 1, v + 1)
            if (
                index._row_off.shape[0] < n + 1
                or int(index._row_off[n]) != index._n_tok
                or int(index._full[5][1]) > index._full[1].shape[0]
            ):
                raise ValueError("arrays do not fit together")
            # Head blocks must be sorted by length (older snapshots were not): compact.
            index._full = _compacted(index._k, index._full)
            _reserve(index._full, 1, v + 1)
            index._compacted_rows = n
        except (KeyError, ValueError, OSError, TypeError, zipfile.BadZipFile) as error:
            raise ConfigError(f"corrupt NoveltyIndex snapshot: {error}") from error
        if index._lsh is not None:
            for row, text in enumerate(index._texts):
                index._lsh.insert(row, index._tokenize(text))
        return index

    # -- internals ----------------------------------------------------------------------------

    def _encode(self, tokens: Sequence[str]) -> np.ndarray:
        return np.fromiter(map(self._vocab.get, tokens, repeat(-1)), dtype=np.int32, count=len(tokens))

    def _add(self, text: str, tokens: list[str]) -> int:
        vocab = self._vocab
        ids = [vocab.setdefault(t, len(vocab)) for t in tokens]
        v = len(vocab)
        if v > self._df.shape[0]:
            self._df = _grow(self._df, v, 0)
            self._slot = _grow(self._slot, v, -1)
        row = len(self._texts)
        if row + 2 > self._row_off.shape[0]:
            self._row_off = _grow(self._row_off, row + 2, 0)
            self._stamp = _grow(self._stamp, self._row_off.shape[0], 0)
        start = self._n_tok
        self._row_tok = _grow(self._row_tok, start + len(ids), 0)
        self._row_tok[start : start + len(ids)] = ids
        _reserve(self._full, len(ids), v)
        self._k.index_row(self._row_tok[start : start + len(ids)], row, self._df, *self._full)
        self._n_tok = start + len(ids)
        self._row_off[row + 1] = self._n_tok
        self._texts.append(text)
        if self._lsh is not None:
            self._lsh.insert(row, tokens)
        return row

    def _next_stamp(self) -> int:
        self._stamp_value += 2
        if self._stamp_value >= _STAMP_LIMIT:
            self._stamp[:] = 0
            self._stamp_value = 2
        return self._stamp_value

    def _compact_if_due(self) -> None:
        """Re-sort the posting lists by length once the rows appended since make up > 1/9 of them.

        A search reads a list's sorted head block only in its length window but its unsorted
        tail in full; compacting at every 1/8 of growth keeps that tail small at a cost
        proportional to the pool, so the amortized cost per added row stays constant.
        """
        rows = len(self._texts)
        if rows - self._compacted_rows > max(64, self._compacted_rows >> 3):
            self._full = _compacted(self._k, self._full)
            self._compacted_rows = rows

    def _uses_postings(self, nearest: bool) -> bool:
        """Whether a check with this ``nearest`` goes through the prefix postings."""
        return self.config.mode == "exact" and (not nearest or len(self._texts) >= NEAREST_PREFIX_FROM)

    def _sync_postings(self, nearest: bool) -> None:
        """Bring the prefix postings (the exact decision's index) up to the pool, if a check needs them."""
        if self._uses_postings(nearest):
            rows, vocab = len(self._texts), len(self._vocab)
            self._postings.sync(self._prefix, self._row_tok, self._row_off, rows, vocab)

    def _check_many(self, tokens: list[list[str]], nearest: bool, workers: int) -> list[Match]:
        """Check each token list against the current pool, on up to ``workers`` threads."""
        self._compact_if_due()
        self._sync_postings(nearest)
        if workers == 1 or len(tokens) < 2 * workers or not self._texts:
            return [self._check(toks, nearest) for toks in tokens]
        from concurrent.futures import ThreadPoolExecutor

        def chunk(part: list[list[str]]) -> tuple[list[Match], _Scratch]:
            # Private scratch per thread: the kernels write to slot and state.
            scratch = _Scratch(np.full(self._slot.shape[0], -1, dtype=np.int32), np.zeros_like(self._stamp))
            return [self._check(toks, nearest, scratch) for toks in part], scratch

        size = -(-len(tokens) // workers)
        parts = [tokens[i : i + size] for i in range(0, len(tokens), size)]
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            done = list(pool.map(chunk, parts))
        for _, scratch in done:
            self._checks += scratch.checks
            self._verified += scratch.verified
        return [match for matches, _ in done for match in matches]

    def _maybe_upgrade(self) -> None:
        """Switch from the twin to the compiled kernels once the background compile is cached."""
        if self._upgrade_at is None or time.monotonic() < self._upgrade_at:
            return
        if _compiled_ready():
            self._k = get_kernels("auto")
            self._prefix = prefix_for(self._k)
            self._upgrade_at = None
        else:
            self._upgrade_at = time.monotonic() + _UPGRADE_POLL

    def _check(self, tokens: list[str], nearest: bool, scratch: _Scratch | None = None) -> Match:
        config = self.config
        if scratch is None:
            self._maybe_upgrade()
            self._checks += 1
            self._compact_if_due()
            self._sync_postings(nearest)
            slot, state, stamp_value, probe = self._slot, self._stamp, self._next_stamp(), self._probe
        else:
            scratch.checks += 1
            slot, state, stamp_value, probe = scratch.slot, scratch.state, scratch.next_stamp(), scratch.probe
        if not self._texts:
            return Match(novel=True, score=0.0, nearest=None, nearest_text=None)
        query = self._encode(tokens)
        best, best_id = self._lsh_best(tokens, query, slot) if self._lsh is not None else (-1.0, -1)
        if config.mode == "exact":
            best, best_id, verified = self._exact_best(
                query, (best, best_id), nearest, slot, state, stamp_value, probe
            )
            if scratch is None:
                self._verified += verified
            else:
                scratch.verified += verified
        if config.rule == "paper":
            novel = best < config.threshold
        else:
            novel = best <= config.threshold
        if best_id < 0 or best <= 0.0:
            return Match(novel=novel, score=0.0, nearest=None, nearest_text=None)
        return Match(novel=novel, score=best, nearest=best_id, nearest_text=self._texts[best_id])

    def _lsh_best(self, tokens: list[str], query: np.ndarray, slot: np.ndarray) -> tuple[float, int]:
        """The best exact score among the pool items MinHash LSH proposes (or -1.0, -1)."""
        rows = self._lsh.query(tokens) if len(query) else None
        if not rows:
            return -1.0, -1
        rows_arr = np.array(sorted(rows), dtype=np.int32)
        scores = self._k.score_rows(query, rows_arr, self._row_tok, self._row_off, slot)
        i = int(np.argmax(scores))
        return (float(scores[i]), int(rows_arr[i])) if scores[i] > 0.0 else (-1.0, -1)

    def _exact_best(
        self,
        query: np.ndarray,
        init: tuple[float, int],
        nearest: bool,
        slot: np.ndarray,
        state: np.ndarray,
        stamp_value: int,
        probe: ProbeScratch,
    ) -> tuple[float, int, int]:
        """(best score, its row, rows verified): exact whenever it reaches the threshold, and the
        exact maximum over the pool with ``nearest``.

        The decision comes from the prefix postings; the full lists are searched only for the
        nearest item below the threshold (or for a text too long for the prefix kernel). With
        ``nearest`` and a pool under ``NEAREST_PREFIX_FROM`` the full search does it all.
        """
        found = None
        if self._uses_postings(nearest):
            found = self._postings.best(self._prefix, query, init, self._row_tok, self._row_off, probe, slot)
        best, best_id, verified = found if found is not None else (*init, 0)
        if found is None or (nearest and best < self.config.threshold):
            best, best_id, more = self._k.search(
                query,
                self.config.threshold,
                nearest,
                best,
                best_id,
                stamp_value,
                self._row_tok,
                self._row_off,
                self._df,
                *self._full[:5],
                slot,
                state,
            )
            verified += int(more)
        return float(best), int(best_id), verified
