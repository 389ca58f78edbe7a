"""The top-level package exposes every public name it lists, each the sub-package's own object."""

from __future__ import annotations

import importlib

import pytest

import selfinstruct


@pytest.mark.parametrize("name", sorted(selfinstruct.__all__))
def test_public_name_resolves(name: str) -> None:
    """Each name in ``__all__`` is importable from ``selfinstruct``."""
    assert getattr(selfinstruct, name) is not None


@pytest.mark.parametrize(
    ("name", "module"),
    [
        pytest.param("rouge_l", "selfinstruct.dedup", id="dedup"),
        pytest.param("Engine", "selfinstruct.engine", id="engine"),
        pytest.param("generate", "selfinstruct.pipeline", id="pipeline"),
        pytest.param("serve_local_model", "selfinstruct.local", id="local"),
    ],
)
def test_lazy_name_is_the_subpackage_object(name: str, module: str) -> None:
    """A lazily loaded name is the very object its sub-package defines."""
    assert getattr(selfinstruct, name) is getattr(importlib.import_module(module), name)


def test_unknown_name_raises_attribute_error() -> None:
    """A name that is not public raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = selfinstruct.no_such_name  # type: ignore[attr-defined]


def test_rouge_l_from_top_level_matches_rouge_score() -> None:
    """``selfinstruct.rouge_l`` gives rouge-score's float at the 0.7 boundary case (m=7, n=13, L=7)."""
    from rouge_score import rouge_scorer

    a = "a b c d e f g"
    b = "a b c d e f g h i j k l m"
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(a, b)["rougeL"].fmeasure
    assert selfinstruct.rouge_l(a, b) == expected
