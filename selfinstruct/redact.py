"""Keep secrets out of everything selfinstruct stores or prints.

Some servers and proxies echo the request's API key in their error text. Every message built from
what a server sent passes through a :class:`Redactor` before it becomes an exception, a journal
line, an output line or a printed message: the configured key (the bearer token and ``api-key``
headers we send) and anything shaped like an ``sk-`` key or a bearer token become ``[redacted]``.

A configured key shorter than ``MIN_SECRET_LENGTH`` characters is not searched for (a key like
``"x"`` would mangle every message); such keys are placeholders for local servers, not secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor", "redact"]

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8

# An OpenAI-style key (sk-..., sk-proj-..., sk-ant-...) and whatever follows "Bearer ".
_TOKEN = re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}|(?<![A-Za-z])(?P<scheme>[Bb]earer\s+)[^\s\"',;]{8,}")
# Headers whose values are credentials.
_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization")


def _replace(match: re.Match[str]) -> str:
    return (match.group("scheme") or "") + REDACTED


class Redactor:
    """Replace the given secrets and every ``sk-``/bearer token in a text with ``[redacted]``.

    Args:
        secrets: strings to remove wherever they occur (None and short ones are ignored).
    """

    __slots__ = ("secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a key that contains another is removed whole.
        self.secrets = tuple(sorted(found, key=len, reverse=True))

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Redactor:
        """A redactor for the credentials in request headers (``Authorization: Bearer KEY``, ``api-key``)."""
        secrets: list[str] = []
        for name, value in headers.items():
            if name.lower() in _SECRET_HEADERS and value:
                secrets.append(value)
                scheme, _, token = value.partition(" ")
                if token and scheme.lower() in ("bearer", "basic", "token"):
                    secrets.append(token.strip())
        return cls(secrets)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _TOKEN.sub(_replace, text)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with ``secrets`` and every ``sk-``/bearer token replaced by ``[redacted]``."""
    return Redactor(secrets)(text)
