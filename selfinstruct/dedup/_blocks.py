"""Texts tokenized once into token ids (``TokenBlock``), to score or join many times.

A block carries its own vocabulary, so blocks made in different processes can be joined: the
join maps one block's ids onto the other's (``align``), which costs one look-up per distinct token.
Blocks pickle cheaply (a tuple of strings and two numpy arrays).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._tokenize import get_tokenizer

__all__ = ["TokenBlock", "align", "tokenize_block"]


@dataclass(frozen=True, eq=False)
class TokenBlock:
    """Tokenized texts: row k's token ids are ``tokens[offsets[k]:offsets[k + 1]]``.

    Attributes:
        vocab: the token strings, indexed by id.
        tokens: int32 token ids of all rows, concatenated.
        offsets: int64 row boundaries (``len(self) + 1`` entries, starting at 0).
        tokenizer: the tokenizer name the block was made with.
        stemmer: whether tokens were Porter-stemmed.
    """

    vocab: tuple[str, ...]
    tokens: np.ndarray
    offsets: np.ndarray
    tokenizer: str = "rouge"
    stemmer: bool = False

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def row(self, k: int) -> list[str]:
        """The tokens of row ``k``."""
        return [self.vocab[t] for t in self.tokens[self.offsets[k] : self.offsets[k + 1]].tolist()]


def tokenize_block(texts: Iterable[str], *, tokenizer: str = "rouge", stemmer: bool = False) -> TokenBlock:
    """Tokenize ``texts`` once into a ``TokenBlock`` (reusable by ``similar_pairs``).

    Raises:
        ConfigError: unknown tokenizer, or ``stemmer`` without nltk installed.
    """
    tokenize = get_tokenizer(tokenizer, use_stemmer=stemmer)
    vocab: dict[str, int] = {}
    ids: list[int] = []
    offsets = [0]
    setdefault = vocab.setdefault
    for text in texts:
        ids.extend([setdefault(token, len(vocab)) for token in tokenize(text)])
        offsets.append(len(ids))
    return TokenBlock(
        vocab=tuple(vocab),
        tokens=np.array(ids, dtype=np.int32),
        offsets=np.array(offsets, dtype=np.int64),
        tokenizer=tokenizer,
        stemmer=stemmer,
    )


def align(base: TokenBlock, other: TokenBlock) -> tuple[tuple[str, ...], np.ndarray]:
    """Map ``other``'s token ids into ``base``'s id space (new tokens get ids after base's).

    Returns (the joint vocabulary, other's tokens renumbered).
    """
    if other.vocab == base.vocab:
        return base.vocab, other.tokens
    index = {token: i for i, token in enumerate(base.vocab)}
    joint = list(base.vocab)
    remap = np.empty(len(other.vocab), dtype=np.int32)
    for i, token in enumerate(other.vocab):
        found = index.get(token)
        if found is None:
            found = len(joint)
            index[token] = found
            joint.append(token)
        remap[i] = found
    return tuple(joint), remap[other.tokens] if other.tokens.size else other.tokens


def _as_block(texts: Sequence[str] | TokenBlock, tokenizer: str, stemmer: bool) -> TokenBlock:
    if isinstance(texts, TokenBlock):
        return texts
    return tokenize_block(texts, tokenizer=tokenizer, stemmer=stemmer)
