"""OpenAI's Batch API: half the price for work that can wait up to 24 hours.

    async with BatchRunner(EngineConfig(model="gpt-4o-mini"), journal="out.journal") as runner:
        stats = await runner.run(Request(prompt=p, params={"max_tokens": 64}) for p in prompts)

Requests are written into batch input files (at most 50,000 requests and 200 MB each, one
endpoint per file), uploaded, and run as batches; each batch id is recorded in a ledger before
anything else, so a killed job resumes by polling the same batches and never pays twice. Answers
land in the same journal as online answers, keyed the same way.

Modules: ``files`` (input lines and splitting), ``client`` (the Files/Batches endpoints),
``ledger`` (what was submitted), ``results`` (output and error files), ``config``,
``runner`` (the ``BatchRunner``), ``complete`` (``complete_file_in_batches``).
"""

from .client import ACTIVE_STATUSES, TERMINAL_STATUSES, BatchClient, BatchInfo, BatchStatus
from .complete import BatchCompleteReport, complete_file_in_batches
from .config import BATCH_DISCOUNT, BatchConfig
from .files import FileLimits, batch_line, split_into_files
from .ledger import Ledger, Part
from .results import LineOutcome, parse_result_line
from .runner import BatchRunner, BatchStats, ledger_path

__all__ = [
    "ACTIVE_STATUSES",
    "BATCH_DISCOUNT",
    "TERMINAL_STATUSES",
    "BatchClient",
    "BatchCompleteReport",
    "BatchConfig",
    "BatchInfo",
    "BatchRunner",
    "BatchStats",
    "BatchStatus",
    "FileLimits",
    "Ledger",
    "LineOutcome",
    "Part",
    "batch_line",
    "complete_file_in_batches",
    "ledger_path",
    "parse_result_line",
    "split_into_files",
]
