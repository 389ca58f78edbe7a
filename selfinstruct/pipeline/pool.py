"""The run's pool: accepted machine instructions and the novelty indexes that admit them.

This is the only state the dedup stage touches (it runs in a worker thread, one answer at a time).
From ``THREADS_FROM`` pool items on, an answer's candidates are checked against the pool together
on ``workers`` threads (the kernels release the GIL); the decisions are the one-by-one ones for
any number of workers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..dedup import Match, NoveltyIndex, default_workers

__all__ = ["THREADS_FROM", "Admission", "InstructionPool"]

# Below this many pool items, threads cost more than they save on one answer's ~15 candidates
# (bench/bench_pool.py, 2 cores: 0.7x at 10k items, 1.0x at 30k, 1.3x at 100k).
THREADS_FROM = 30_000


@dataclass(frozen=True)
class Admission:
    """One instruction the pool admitted, numbered from 1 in admission order, and its neighbours."""

    number: int
    instruction: str
    nearest: str | None  # the most similar earlier instruction or seed (None unless recorded)
    score: float | None
    seed_nearest: str | None  # the most similar seed
    seed_score: float


class InstructionPool:
    """Seed and machine instructions under one ROUGE-L novelty test, up to ``limit`` machine ones.

    Args:
        seed_texts: the seed instructions (in the pool, never admitted or counted).
        threshold, tokenizer, rule: the novelty test (see ``NoveltyIndex``).
        limit: machine instructions to admit at most.
        record_nearest: find each admitted instruction's most similar pool item (exact, costs more).
        workers: threads checking one answer's candidates (default: all cores).
    """

    def __init__(
        self,
        seed_texts: Sequence[str],
        *,
        threshold: float,
        tokenizer: str,
        rule: str,
        limit: int,
        record_nearest: bool,
        workers: int | None = None,
    ) -> None:
        self.index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, rule=rule)
        self.seed_index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, rule=rule)
        for text in seed_texts:
            self.index.add(text)
            self.seed_index.add(text)
        self.texts: list[str] = []  # admitted machine instructions, in order
        self.limit = limit
        self.record_nearest = record_nearest
        self.workers = workers or default_workers()

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def full(self) -> bool:
        return len(self.texts) >= self.limit

    def admit(self, candidates: Sequence[str], rejected: Counter[str]) -> list[Admission]:
        """Judge candidates in order, each against the pool as the earlier ones left it.

        A near-duplicate counts as ``rejected["similar"]``; candidates after the pool is full are
        not looked at.
        """
        admitted: list[Admission] = []
        nearest = self.record_nearest
        judged = self._judged(candidates)
        for text in candidates:
            if self.full:  # before the next match: taking it adds a novel text to the index
                break
            match = next(judged)
            if not match.novel:
                rejected["similar"] += 1
                continue
            seed_match = self.seed_index.check(text, nearest=True)
            self.texts.append(text)
            admitted.append(
                Admission(
                    number=len(self.texts),
                    instruction=text,
                    nearest=match.nearest_text if nearest else None,
                    score=float(match.score) if nearest else None,
                    seed_nearest=seed_match.nearest_text,
                    seed_score=float(seed_match.score),
                )
            )
        return admitted

    def _judged(self, candidates: Sequence[str]) -> Iterator[Match]:
        """Each candidate's match; a novel candidate joins the index when its match is taken.

        Lazy, so that the candidates after the pool is full are never added.
        """
        nearest = self.record_nearest
        if self.workers == 1 or len(self.index) < THREADS_FROM or len(candidates) < 2:
            for text in candidates:
                yield self.index.add_if_novel(text, nearest=nearest)
            return
        # Judged as if the earlier ones had been added; add=False leaves the index as it is.
        matches = self.index.check_batch(candidates, add=False, nearest=nearest, workers=self.workers)
        for text, match in zip(candidates, matches, strict=True):
            if match.novel:
                self.index.add(text)
            yield match
