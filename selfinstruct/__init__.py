"""selfinstruct: fast SELF-INSTRUCT data generation against any OpenAI-compatible endpoint."""

from .errors import (
    APIError,
    BudgetExceededError,
    ConfigError,
    EngineError,
    InputError,
    JournalError,
    LocalServerError,
    ModelOutputError,
    QuotaExhaustedError,
    SelfInstructError,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "BudgetExceededError",
    "ConfigError",
    "EngineError",
    "InputError",
    "JournalError",
    "LocalServerError",
    "ModelOutputError",
    "QuotaExhaustedError",
    "SelfInstructError",
    "TransportError",
    "__version__",
]
