"""Settings errors in the words of the command line: a field name becomes the flag that sets it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError
from ..rundir import FLAGS as RUN_FLAGS

__all__ = ["flag_names", "flags_in_errors"]

_ENGINE_FLAGS = {
    "concurrency": "--concurrency",
    "rpm": "--rpm",
    "tpm": "--tpm",
    "max_total_tokens": "--max-total-tokens",
    "max_retries": "--max-retries",
    "timeout": "--timeout",
    "max_cost": "--max-cost",
}
_FLAGS = {
    **{k: v for k, v in RUN_FLAGS.items() if v.startswith("--") and k not in ("record_nearest",)},
    **_ENGINE_FLAGS,
}
_FIELD = re.compile(r"\b(?:EngineConfig\.)?(" + "|".join(sorted(_FLAGS, key=len, reverse=True)) + r")\b")


def flag_names(message: str) -> str:
    """``message`` with field names replaced by their flags (``num_instructions``: ``--num-instructions``)."""
    return _FIELD.sub(lambda match: _FLAGS[match.group(1)], message)


@contextmanager
def flags_in_errors() -> Iterator[None]:
    """Re-raise a ``ConfigError`` from building settings with the flags named instead of the fields."""
    try:
        yield
    except ConfigError as error:
        if type(error) is not ConfigError:
            raise
        raise ConfigError(flag_names(str(error))) from None
