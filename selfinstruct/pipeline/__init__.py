"""The SELF-INSTRUCT stages: seeds, prompts, parsers, filters, the streaming run, export and stats.

    from selfinstruct.engine import EngineConfig
    from selfinstruct.pipeline import RunConfig, generate

    summary = await generate(
        RunConfig(out_dir="run", num_instructions=1000),
        engine_config=EngineConfig(model="gpt-4o-mini", base_urls=["https://api.openai.com/v1"]),
    )

Modules: ``seeds`` (loading the original schema), ``prompts`` (texts and sampling parameters),
``parse`` (model output -> instructions, yes/no, instances), ``filters`` (heuristics, counted by
reason), ``run`` (the streaming, resumable run), ``export`` (fine-tuning formats), ``stats``.
"""

from .export import FORMATS, ExportSummary, export_records, export_run
from .filters import InstanceFilterResult, InstructionFilter, filter_instances
from .parse import ParsedInstances, ParsedList, parse_instances, parse_instructions, parse_yes_no
from .run import Completer, Progress, RunConfig, RunSummary, generate
from .seeds import (
    ClassificationExample,
    Instance,
    SeedTask,
    load_classification_examples,
    load_instance_examples,
    load_seed_tasks,
)
from .stats import RunStats, format_stats, load_stats, plot_stats

__all__ = [
    "Completer",
    "FORMATS",
    "ClassificationExample",
    "ExportSummary",
    "Instance",
    "InstanceFilterResult",
    "InstructionFilter",
    "ParsedInstances",
    "ParsedList",
    "Progress",
    "RunConfig",
    "RunStats",
    "RunSummary",
    "SeedTask",
    "export_records",
    "export_run",
    "filter_instances",
    "format_stats",
    "generate",
    "load_classification_examples",
    "load_instance_examples",
    "load_seed_tasks",
    "load_stats",
    "parse_instances",
    "parse_instructions",
    "parse_yes_no",
    "plot_stats",
]
