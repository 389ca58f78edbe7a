"""The run's pool: accepted machine instructions and the novelty indexes that admit them.

This is the only state the dedup stage touches (it runs in a worker thread, one answer at a time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..dedup import NoveltyIndex

__all__ = ["Admission", "InstructionPool"]


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
    ) -> None:
        self.index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, rule=rule)
        self.seed_index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, rule=rule)
        for text in seed_texts:
            self.index.add(text)
            self.seed_index.add(text)
        self.texts: list[str] = []  # admitted machine instructions, in order
        self.limit = limit
        self.record_nearest = record_nearest

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
        for text in candidates:
            if self.full:
                break
            match = self.index.add_if_novel(text, nearest=nearest)
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
