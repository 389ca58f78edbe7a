"""MinHash LSH over token sets (datasketch): finds likely near-duplicates without a full scan.

Used to verify probable duplicates first (exact mode with ``minhash=True``) and as the only
candidate source in ``mode="approximate"``. datasketch (and the SciPy it imports) is loaded only
when an index asks for it, so the default exact path starts fast; it is an extra
(``pip install "selfinstruct[minhash]"``), as no command uses these modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["MinHashFinder"]


class MinHashFinder:
    """A MinHash LSH index keyed by row id over each row's set of tokens."""

    def __init__(self, *, num_perm: int = 64, threshold: float = 0.5, seed: int = 1) -> None:
        try:
            from datasketch import LeanMinHash, MinHash, MinHashLSH
        except ImportError as error:
            raise ConfigError(
                "the MinHash modes (minhash=True, mode='approximate') need datasketch: "
                'pip install "selfinstruct[minhash]"'
            ) from error

        self._minhash_cls = MinHash
        self._lean_cls = LeanMinHash
        self._num_perm = num_perm
        template = MinHash(num_perm=num_perm, seed=seed)
        # Reusing the permutations avoids regenerating them for every sketch (the slow part).
        self._permutations = template.permutations
        self._scheme = template.scheme
        self._seed = seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

    def _sketch(self, tokens: Sequence[str]) -> Any:
        sketch = self._minhash_cls(
            num_perm=self._num_perm, seed=self._seed, permutations=self._permutations, scheme=self._scheme
        )
        sketch.update_batch([token.encode("utf-8") for token in set(tokens)])
        return sketch

    def insert(self, row: int, tokens: Sequence[str]) -> None:
        """Index ``row`` under the MinHash of its token set (rows without tokens are skipped)."""
        if tokens:
            self._lsh.insert(row, self._lean_cls(self._sketch(tokens)), check_duplication=False)

    def query(self, tokens: Sequence[str]) -> list[int]:
        """Rows whose token sets probably have Jaccard similarity above the LSH threshold."""
        if not tokens:
            return []
        return list(self._lsh.query(self._sketch(tokens)))
