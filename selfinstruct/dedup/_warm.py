"""Compile every dedup kernel into Numba's disk cache: ``python -m selfinstruct.dedup._warm [LOCK]``.

Started in the background by the first dedup after an install (``_backend.warm_up_in_background``);
removes LOCK when done. Also usable by hand, e.g. in a Docker build step.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._blocks import TokenBlock


def warm_up() -> None:
    """Run each compiled kernel once on tiny inputs (compiling and caching it)."""
    import orjson

    from . import NoveltyIndex, _pool_postings, dedup_file, similar_pairs, tokenize_block

    texts = ["write a poem about the sea", "write a poem about the sea today", "the cat sat", "a b c d"]
    similar_pairs(texts, backend="numba", workers=1)
    similar_pairs(texts, texts, backend="numba", workers=1)
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "in.jsonl"
        source.write_bytes(b"".join(orjson.dumps({"instruction": t}) + b"\n" for t in texts))
        dedup_file(source, Path(directory) / "out.jsonl", backend="numba", workers=1)
    index = NoveltyIndex(backend="numba")
    for k in range(80):
        index.add_if_novel(f"{texts[k % 4]} {k}")
    # A pool past the scanned tail, so that a check compacts the full lists and builds prefix
    # postings with the index's own arrays; a novel text with nearest=True searches the full lists.
    for k in range(_pool_postings.TAIL_ROWS + 64):
        index.add(f"item {k} of {k % 7} and {k % 11} under {k % 13}")
    index.check(texts[0])
    index.check("a text unlike any other", nearest=True)
    _warm_block_joins(tokenize_block(texts))


def _warm_block_joins(block: TokenBlock) -> None:
    """Joins of tokenized blocks, as the distributed join runs them in Ray workers: there the blocks
    arrive from the object store as read-only arrays, which Numba compiles as other types."""
    from ._join import similar_pairs

    frozen = replace(block, tokens=block.tokens.copy(), offsets=block.offsets.copy())
    frozen.tokens.flags.writeable = False
    frozen.offsets.flags.writeable = False
    for left, right in [(block, None), (frozen, None), (block, block), (frozen, frozen), (block, frozen)]:
        similar_pairs(left, right, backend="numba", workers=1)


def main(argv: list[str]) -> int:
    try:
        warm_up()
    finally:
        if len(argv) > 1:
            Path(argv[1]).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
