"""The error-kind vocabulary and the exception tree in ``selfinstruct.errors``."""

from __future__ import annotations

import orjson
import pytest

from selfinstruct.errors import (
    JOURNALED_KINDS,
    RETRYABLE_KINDS,
    STOP_KINDS,
    APIError,
    BudgetExceededError,
    EngineError,
    ErrorKind,
    QuotaExhaustedError,
    TransportError,
)


def test_sets_do_not_overlap_where_they_would_contradict() -> None:
    """A retried kind is never journaled nor a stop: each set is one decision."""
    assert not RETRYABLE_KINDS & JOURNALED_KINDS
    assert not RETRYABLE_KINDS & STOP_KINDS
    assert not JOURNALED_KINDS & STOP_KINDS


def test_kinds_are_their_strings() -> None:
    """Members compare equal to (and serialise as) the strings journals and outputs use."""
    assert ErrorKind.RATE_LIMIT == "rate_limit"
    assert str(ErrorKind.QUOTA) == "quota"
    assert orjson.dumps([ErrorKind.BUDGET]) == b'["budget"]'
    assert ErrorKind.parse("timeout") is ErrorKind.TIMEOUT
    assert ErrorKind.parse("from_a_newer_version") == "from_a_newer_version"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        pytest.param(APIError("x", status=429), ErrorKind.RATE_LIMIT, id="429"),
        pytest.param(APIError("x", status=408), ErrorKind.TIMEOUT, id="408"),
        pytest.param(APIError("x", status=409), ErrorKind.SERVER, id="409"),
        pytest.param(APIError("x", status=502), ErrorKind.SERVER, id="502"),
        pytest.param(APIError("x", status=401), ErrorKind.AUTH, id="401"),
        pytest.param(APIError("x", status=404), ErrorKind.NOT_FOUND, id="404"),
        pytest.param(APIError("x", status=400), ErrorKind.BAD_REQUEST, id="400"),
        pytest.param(
            APIError("x", status=400, code="context_length_exceeded"), ErrorKind.CONTEXT_LENGTH, id="ctx"
        ),
        pytest.param(QuotaExhaustedError("x", status=429), ErrorKind.QUOTA, id="quota"),
        pytest.param(TransportError("x", kind=ErrorKind.TIMEOUT), ErrorKind.TIMEOUT, id="transport"),
        pytest.param(TransportError("x"), ErrorKind.CONNECTION, id="transport-default"),
        pytest.param(BudgetExceededError("x"), ErrorKind.BUDGET, id="budget"),
    ],
)
def test_each_error_names_its_kind(error: EngineError, kind: ErrorKind) -> None:
    """Every engine exception carries the kind the engine reports for it."""
    assert error.kind is kind
