"""selfinstruct: fast SELF-INSTRUCT data generation against any OpenAI-compatible endpoint.

The public API, by area (each name is importable from here; sub-packages load on first use so
that the command line starts fast):

- dedup: ``rouge_l``, ``rouge_l_tokens``, ``tokenize``, ``NoveltyIndex``, ``Match``, ``similar_pairs``,
  ``dedup_file``, ``DedupSummary``
- engine: ``Engine``, ``EngineConfig``, ``Request``, ``Result``, ``Usage``, ``ErrorInfo``,
  ``EngineStats``, ``RateLimiter``, ``RetryPolicy``, ``read_journal``, ``complete_file``,
  ``CompleteReport``
- batch (OpenAI's Batch API, half price): ``BatchRunner``, ``BatchConfig``, ``BatchStats``,
  ``complete_file_in_batches``, ``BatchCompleteReport``
- pipeline: ``generate``, ``RunConfig``, ``RunSummary``, ``Completer``, ``load_seed_tasks``, ``SeedTask``,
  ``export_run``, ``load_stats``, ``format_stats``
- local model: ``serve_local_model``, ``LocalModel``, ``find_default_model``
- errors: ``SelfInstructError`` and the tree under it, ``ErrorKind`` (see ``selfinstruct.errors``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    APIError,
    BudgetExceededError,
    ConfigError,
    EngineError,
    ErrorKind,
    InputError,
    JournalError,
    LocalServerError,
    QuotaExhaustedError,
    SelfInstructError,
    TransportError,
)

if TYPE_CHECKING:
    from .batch import BatchCompleteReport, BatchConfig, BatchRunner, BatchStats, complete_file_in_batches
    from .dedup import (
        DedupSummary,
        Match,
        NoveltyIndex,
        dedup_file,
        rouge_l,
        rouge_l_tokens,
        similar_pairs,
        tokenize,
    )
    from .engine import (
        CompleteReport,
        Engine,
        EngineConfig,
        EngineStats,
        ErrorInfo,
        RateLimiter,
        Request,
        Result,
        RetryPolicy,
        Usage,
        complete_file,
        read_journal,
    )
    from .local import LocalModel, find_default_model, serve_local_model
    from .pipeline import (
        Completer,
        RunConfig,
        RunSummary,
        SeedTask,
        export_run,
        format_stats,
        generate,
        load_seed_tasks,
        load_stats,
    )

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["BatchCompleteReport", "BatchConfig", "BatchRunner", "BatchStats", "complete_file_in_batches"],
        ".batch",
    ),
    **dict.fromkeys(
        [
            "DedupSummary",
            "Match",
            "NoveltyIndex",
            "dedup_file",
            "rouge_l",
            "rouge_l_tokens",
            "similar_pairs",
            "tokenize",
        ],
        ".dedup",
    ),
    **dict.fromkeys(
        [
            "CompleteReport",
            "Engine",
            "EngineConfig",
            "EngineStats",
            "ErrorInfo",
            "RateLimiter",
            "Request",
            "Result",
            "RetryPolicy",
            "Usage",
            "complete_file",
            "read_journal",
        ],
        ".engine",
    ),
    **dict.fromkeys(["LocalModel", "find_default_model", "serve_local_model"], ".local"),
    **dict.fromkeys(
        [
            "Completer",
            "RunConfig",
            "RunSummary",
            "SeedTask",
            "export_run",
            "format_stats",
            "generate",
            "load_seed_tasks",
            "load_stats",
        ],
        ".pipeline",
    ),
}

__all__ = [
    "APIError",
    "BatchCompleteReport",
    "BatchConfig",
    "BatchRunner",
    "BatchStats",
    "BudgetExceededError",
    "CompleteReport",
    "Completer",
    "ConfigError",
    "DedupSummary",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineStats",
    "ErrorInfo",
    "ErrorKind",
    "InputError",
    "JournalError",
    "LocalModel",
    "LocalServerError",
    "Match",
    "NoveltyIndex",
    "QuotaExhaustedError",
    "RateLimiter",
    "Request",
    "Result",
    "RetryPolicy",
    "RunConfig",
    "RunSummary",
    "SeedTask",
    "SelfInstructError",
    "TransportError",
    "Usage",
    "complete_file",
    "complete_file_in_batches",
    "dedup_file",
    "export_run",
    "find_default_model",
    "format_stats",
    "generate",
    "load_seed_tasks",
    "load_stats",
    "read_journal",
    "rouge_l",
    "rouge_l_tokens",
    "serve_local_model",
    "similar_pairs",
    "tokenize",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its sub-package on first use."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'selfinstruct' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
