"""The SELF-INSTRUCT run: bootstrap, filter, dedup, classify and generate instances as one stream.

Data flows one way: prompts -> engine -> parse/filter -> dedup -> follow-up requests -> files.
Every stage shares one :class:`~selfinstruct.engine.Engine` (one window, one limiter, one journal).

Determinism and resume. Bootstrap request ``k`` is built from the pool as it stands after
responses ``0 .. k-W`` were processed (``W`` = the bootstrap window), with a random generator
derived from ``(seed, k)``, and responses are processed strictly in issue order through a reorder
buffer. So with a fixed seed and a deterministic model the run is the same whatever the timing,
and a restarted run rebuilds the same prompts: it replays the engine journal (``RUN_DIR/journal.jsonl``)
by request key, never paying twice for a call that was answered before, and goes on from there.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..engine import Engine, EngineConfig, Request, Result
from ..errors import STOP_KINDS, ConfigError, InputError, OutputWriteError, one_error
from ..rundir import open_run_dir
from .filters import InstructionFilter, filter_instances
from .outputs import (
    DATA_FILES,
    JOURNAL_FILE,
    AcceptedItem,
    engine_settings,
    recorded_window,
    write_data_files,
    write_run_record,
)
from .parse import parse_instances, parse_instructions, parse_yes_no
from .pool import InstructionPool
from .requests import RequestBuilder
from .seeds import (
    ClassificationExample,
    SeedTask,
    load_classification_examples,
    load_instance_examples,
    load_seed_tasks,
)
from .window import ReorderWindow

if TYPE_CHECKING:
    from ..batch import BatchConfig, BatchStats

__all__ = ["Completer", "Progress", "RunConfig", "RunSummary", "generate"]

# Requests in flight for a run driven by a completer (``generate(completer=...)``) when
# ``RunConfig.concurrency`` is not set: the engine's default.
_CONCURRENCY = 64
# Follow-ups (classification, then instances) waiting for their batch at once, at most: two full
# batch files' worth; each is a small task, and the bootstrap pauses only beyond this.
_BATCH_FOLLOW_UPS = 100_000


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that defines a run (the engine settings aside).

    Attributes:
        out_dir: the run directory: journal, final data files, ``run.json``.
        num_instructions: stop after exactly this many accepted machine instructions.
        chat: use chat prompts (``/v1/chat/completions``) instead of completion prompts.
        seeds_path / classification_examples_path / instance_examples_path: our shipped files
            when ``None``.
        seed: drives every random choice (demo sampling, instance demos); same seed, same run.
        classification_only: bootstrap only classification tasks (seeded with those only).
        instances_per_task: at most this many instances kept per instruction (1..20).
        threshold / tokenizer / rule: the ROUGE-L novelty check (see ``selfinstruct.dedup``).
        prompt_instructions: demos per bootstrap prompt; ``machine_instructions`` of them (at
            most) come from the machine-made pool.
        window: bootstrap requests in flight (``None``: ``max(2, concurrency // 8)``, or the
            value recorded in ``run.json`` when resuming, so resumed prompts match).
        concurrency: requests in flight in total (bootstrap + follow-ups); the engine's
            ``concurrency`` when ``None``.
        compact_prompts: shorter chat prompts and fewer few-shot examples, for tiny local models;
            instance prompts then use the same examples for every task of a kind (prompt-cache reuse).
        record_nearest: record each accepted instruction's most similar pool item and score.
        max_idle_requests: give up after this many bootstrap answers in a row added nothing.
        max_failures_in_row: stop cleanly after this many requests in a row failed even after the
            engine's retries (a server that went away), instead of spending the rest of the run
            on retries; re-running the command resumes.
    """

    out_dir: Path
    num_instructions: int
    chat: bool = False
    seeds_path: Path | None = None
    classification_examples_path: Path | None = None
    instance_examples_path: Path | None = None
    seed: int = 0
    classification_only: bool = False
    instances_per_task: int = 5
    threshold: float = 0.7
    tokenizer: str = "rouge"
    rule: str = "paper"
    prompt_instructions: int = 8
    machine_instructions: int = 2
    window: int | None = None
    concurrency: int | None = None
    compact_prompts: bool = False
    record_nearest: bool = True
    max_idle_requests: int = 200
    max_failures_in_row: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.num_instructions < 1:
            raise ConfigError(f"num_instructions must be >= 1, got {self.num_instructions}")
        if not 1 <= self.instances_per_task <= 20:
            raise ConfigError(f"instances_per_task must be in 1..20, got {self.instances_per_task}")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.tokenizer not in ("rouge", "unicode"):
            raise ConfigError(f"tokenizer must be 'rouge' or 'unicode', got {self.tokenizer!r}")
        if not 1 <= self.prompt_instructions <= 15:
            raise ConfigError(f"prompt_instructions must be in 1..15, got {self.prompt_instructions}")
        if not 0 <= self.machine_instructions <= self.prompt_instructions:
            raise ConfigError("machine_instructions must be between 0 and prompt_instructions")
        for name in ("window", "concurrency"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.max_idle_requests < 1:
            raise ConfigError(f"max_idle_requests must be >= 1, got {self.max_idle_requests}")
        if self.max_failures_in_row < 1:
            raise ConfigError(f"max_failures_in_row must be >= 1, got {self.max_failures_in_row}")

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON-friendly values (paths as strings)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays, taken after each bootstrap answer is processed."""

    accepted: int
    target: int
    bootstrap_answers: int
    tasks_done: int
    rejected: int
    elapsed: float


@dataclass(frozen=True)
class RunSummary:
    """What a run did. ``status`` is ``complete``, ``exhausted`` (the model stopped producing new
    instructions) or ``stopped: <reason>`` (quota or budget)."""

    status: str
    accepted: int
    tasks: int
    tasks_dropped: int
    instances: int
    classification_tasks: int
    bootstrap_requests: int
    calls: int
    replayed: int
    errors: dict[str, int]
    rejections: dict[str, dict[str, int]]
    timings: dict[str, float]
    window: int
    out_dir: str

    def to_json(self) -> dict[str, Any]:
        """The summary as a plain dict."""
        return asdict(self)


class _Timings:
    """perf_counter accumulators for the pipeline's own work, by stage."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


class Completer(Protocol):
    """Anything that completes one request: an ``Engine``, a ``BatchRunner``, a test double.

    ``complete`` returns a ``Result`` for every request (errors as ``Result.error``, never raised),
    with ``from_journal`` set when the answer was replayed rather than paid for.
    """

    async def complete(self, request: Request) -> Result: ...


class _Runner:
    """One run's state: the pool, the accepted items, the counters; the stages that change them."""

    def __init__(
        self,
        config: RunConfig,
        completer: Completer,
        *,
        engine_settings: dict[str, Any],
        seeds: Sequence[SeedTask],
        classification_examples: Sequence[ClassificationExample],
        instance_demos: Sequence[SeedTask],
        window: int,
        concurrency: int,
        progress: Callable[[Progress], None] | None,
        follow_ups: Completer | None = None,
        follow_capacity: int | None = None,
    ) -> None:
        self.config = config
        self.completer = completer
        self.engine_settings = engine_settings
        # Classification and instance requests go here (the Batch API with --batch), else to the engine.
        self.follow_ups: Completer = follow_ups or completer
        self.window = window
        self.progress = progress
        self.timings = _Timings()
        self.started = time.perf_counter()
        self.seeds = [s for s in seeds if s.is_classification] if config.classification_only else list(seeds)
        if not self.seeds:
            raise InputError(
                "classification-only mode needs classification seed tasks", path=config.seeds_path
            )
        self.seed_texts = [s.instruction for s in self.seeds]
        self.requests = RequestBuilder(config, self.seed_texts, classification_examples, instance_demos)
        self.filter = InstructionFilter(ascii_start=config.tokenizer != "unicode")
        self.pool = InstructionPool(
            self.seed_texts,
            threshold=config.threshold,
            tokenizer=config.tokenizer,
            rule=config.rule,
            limit=config.num_instructions,
            record_nearest=config.record_nearest,
        )
        self.accepted: list[AcceptedItem] = []
        self.rejections: dict[str, Counter[str]] = {
            "instructions": Counter(),
            "responses": Counter(),
            "classification": Counter(),
            "instances": Counter(),
            "tasks": Counter(),
        }
        self.errors: Counter[str] = Counter()
        self.calls = 0
        self.replayed = 0
        self.bootstrap_answers = 0
        self.tasks_done = 0
        self.idle = 0
        self.failures_in_row = 0
        self.stopped: str | None = None
        self.follow_slots = anyio.Semaphore(follow_capacity or max(1, concurrency - window))

    # -- requests --------------------------------------------------------------------------------

    async def call(self, request: Request, completer: Completer | None = None) -> Result:
        """One request through the run's completer (or ``completer``); both replay what their journal holds.

        A replayed result counts as replayed, not as a call or an error: a journaled error was
        counted by the run that paid for it.
        """
        result = await (completer or self.completer).complete(request)
        if result.from_journal:
            self.replayed += 1
            return result
        self.calls += 1
        if result.error is not None:
            self.errors[str(result.error.kind)] += 1
            self.failures_in_row += 1
            if result.error.kind in STOP_KINDS:
                self.stopped = f"stopped: {result.error.kind}"
            elif self.failures_in_row >= self.config.max_failures_in_row and self.stopped is None:
                self.stopped = (
                    f"stopped: {self.failures_in_row} requests in a row failed "
                    f"(last: {result.error.kind}: {result.error.message})"
                )
            return result
        self.failures_in_row = 0
        return result

    # -- stages ----------------------------------------------------------------------------------

    def _dedup(self, candidates: list[str], seq: int) -> list[AcceptedItem]:
        """Novelty-check candidates in order against seeds + accepted (runs in a worker thread)."""
        start = time.perf_counter()
        admitted = self.pool.admit(candidates, self.rejections["instructions"])
        self.timings.seconds["dedup"] += time.perf_counter() - start
        return [AcceptedItem(**asdict(a), seq=seq) for a in admitted]

    async def process_bootstrap(self, seq: int, request: Request, result: Result) -> list[AcceptedItem]:
        self.bootstrap_answers += 1
        responses = self.rejections["responses"]
        if not result.ok or result.text is None:
            responses["request_failed"] += 1
            self.idle += 1
            return []
        demos = request.meta["demos"]  # ours, not the journal's copy: replays parse the same way
        with self.timings.measure("parse"):
            parsed = parse_instructions(
                result.text,
                first_number=None if self.config.chat else self.config.prompt_instructions + 1,
                finish_reason=result.finish_reason,
                demos=demos,
            )
            counts = self.rejections["instructions"]
            counts["echoed"] += parsed.echoed
            counts["truncated"] += parsed.truncated
            counts["empty"] += parsed.empty
            if not parsed.items:
                responses["no_items"] += 1
            candidates = self.filter.split(parsed.items, counts)
        kept = await anyio.to_thread.run_sync(self._dedup, candidates, seq) if candidates else []
        self.idle = 0 if kept else self.idle + 1
        self.accepted.extend(kept)
        return kept

    async def follow_up(self, item: AcceptedItem) -> None:
        try:
            config = self.config
            if config.classification_only:
                item.is_classification = True
            else:
                with self.timings.measure("prompt"):
                    request = self.requests.classify(item.instruction)
                result = await self.call(request, self.follow_ups)
                if not result.ok:
                    item.failed = "classify_request_failed"
                    return
                with self.timings.measure("parse"):
                    answer = parse_yes_no(result.text)
                if answer is None:
                    self.rejections["classification"]["unclear_answer_taken_as_no"] += 1
                item.is_classification = bool(answer)
            with self.timings.measure("prompt"):
                request = self.requests.instances(item.instruction, item.is_classification)
            result = await self.call(request, self.follow_ups)
            if not result.ok:
                item.failed = "instance_request_failed"
                return
            with self.timings.measure("parse"):
                parsed = parse_instances(
                    result.text,
                    label_first=item.is_classification,
                    finish_reason=result.finish_reason,
                    limit=config.instances_per_task,
                )
                counts = self.rejections["instances"]
                counts.update(parsed.rejected)
                filtered = filter_instances(parsed.instances)
                counts.update(filtered.dropped)
            item.instances = filtered.instances
            if not item.instances:
                item.failed = "no_valid_instances"
        finally:
            self.tasks_done += 1
            if item.failed:
                self.rejections["tasks"][item.failed] += 1
            self.follow_slots.release()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(
                Progress(
                    accepted=len(self.pool),
                    target=self.config.num_instructions,
                    bootstrap_answers=self.bootstrap_answers,
                    tasks_done=self.tasks_done,
                    rejected=sum(self.rejections["instructions"].values()),
                    elapsed=time.perf_counter() - self.started,
                )
            )

    def finished(self) -> bool:
        return (
            len(self.pool) >= self.config.num_instructions
            or self.idle >= self.config.max_idle_requests
            or self.stopped is not None
        )

    async def _bootstrap(self, seq: int) -> tuple[int, Request, Result]:
        with self.timings.measure("prompt"):
            request = self.requests.bootstrap(seq, self.pool.texts)
        return seq, request, await self.call(request)

    async def run(self) -> None:
        """Bootstrap until the pool is full (or the run stops), following up each accepted item."""
        async with anyio.create_task_group() as follow_group:
            async with ReorderWindow(self._bootstrap) as window:
                for _ in range(self.window):
                    window.issue()
                while not self.finished():
                    kept = await self.process_bootstrap(*await window.next())
                    for item in kept:
                        await self.follow_slots.acquire()
                        follow_group.start_soon(self.follow_up, item)
                    self.report()
                    if not self.finished():
                        window.issue()
        self.report()

    # -- output ----------------------------------------------------------------------------------

    def status(self) -> str:
        """How the run ended: "stopped: ...", "exhausted" (short of the target) or "complete"."""
        if self.stopped is not None:
            return self.stopped
        return "exhausted" if len(self.pool) < self.config.num_instructions else "complete"

    def write_outputs(self, status: str) -> RunSummary:
        """Write the data files and the final ``run.json``; return the summary."""
        out = self.config.out_dir
        tasks = [a for a in self.accepted if a.instances]
        with self.timings.measure("io"):
            rejections = write_data_files(out, self.accepted, self.rejections)
        self.timings.seconds["wall"] = time.perf_counter() - self.started
        summary = RunSummary(
            status=status,
            accepted=len(self.accepted),
            tasks=len(tasks),
            tasks_dropped=len(self.accepted) - len(tasks),
            instances=sum(len(a.instances) for a in tasks),
            classification_tasks=sum(1 for a in tasks if a.is_classification),
            bootstrap_requests=self.bootstrap_answers,
            calls=self.calls,
            replayed=self.replayed,
            errors=dict(self.errors),
            rejections=rejections,
            timings={k: round(v, 4) for k, v in sorted(self.timings.seconds.items())},
            window=self.window,
            out_dir=str(out),
        )
        write_run_record(out, self.config.to_json(), self.window, self.engine_settings, summary.to_json())
        return summary


async def _run_with_batches(
    runner: _Runner, engine: Engine, batch: BatchConfig, progress: Callable[[BatchStats], None] | None
) -> None:
    """``runner.run()`` with its follow-up requests collected into batches (one journal, one writer)."""
    from ..batch import BatchRunner

    if engine.journal is None:
        raise ConfigError("generate(batch=...) needs an engine with a journal (Engine(..., journal=path))")
    async with BatchRunner(engine.config, journal=engine.journal, config=batch, progress=progress) as batches:
        runner.follow_ups = batches
        # Follow-ups wait for their batch, not for a slot in the engine: let them queue up.
        runner.follow_slots = anyio.Semaphore(_BATCH_FOLLOW_UPS)
        async with anyio.create_task_group() as group:
            group.start_soon(batches.drive)
            try:
                await runner.run()
            except BaseException:
                group.cancel_scope.cancel()
                raise
            finally:
                batches.close_input()


def _load_inputs(
    config: RunConfig,
) -> tuple[list[SeedTask], list[ClassificationExample], list[SeedTask]]:
    """The seed tasks, classification examples and instance demos (read before anything is opened)."""
    classification_examples = (
        []
        if config.classification_only
        else load_classification_examples(config.classification_examples_path)
    )
    return (
        load_seed_tasks(config.seeds_path),
        classification_examples,
        load_instance_examples(config.instance_examples_path),
    )


def _new_runner(
    config: RunConfig,
    completer: Completer,
    settings: EngineConfig | None,
    inputs: tuple[list[SeedTask], list[ClassificationExample], list[SeedTask]],
    progress: Callable[[Progress], None] | None,
) -> _Runner:
    """A runner over ``inputs`` (``_load_inputs``) with its concurrency and window settled."""
    seeds, classification_examples, instance_demos = inputs
    concurrency = config.concurrency or (settings.concurrency if settings is not None else _CONCURRENCY)
    return _Runner(
        config,
        completer,
        engine_settings=engine_settings(settings),
        seeds=seeds,
        classification_examples=classification_examples,
        instance_demos=instance_demos,
        window=config.window or recorded_window(config.out_dir) or max(2, concurrency // 8),
        concurrency=concurrency,
        progress=progress,
    )


async def generate(
    config: RunConfig,
    *,
    engine: Engine | None = None,
    engine_config: EngineConfig | None = None,
    completer: Completer | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch: BatchConfig | None = None,
    batch_progress: Callable[[BatchStats], None] | None = None,
    new_run: bool = False,
) -> RunSummary:
    """Run SELF-INSTRUCT to ``config.num_instructions`` accepted instructions, resuming if possible.

    Args:
        config: the run's settings.
        engine: an open :class:`~selfinstruct.engine.Engine` to share; it should journal to
            ``config.out_dir / "journal.jsonl"`` so that an interrupted run can resume (answers
            replay from the engine's journal, the only one read). When ``None``, an engine is
            opened from ``engine_config`` with that journal.
        engine_config: an :class:`~selfinstruct.engine.EngineConfig`, used when ``engine`` is None.
        completer: instead of an engine, anything with ``async complete(request) -> Result`` (a
            :class:`Completer`: a test double, a cache, another client) answers every request. It
            owns any replay (``Result.from_journal``); ``run.json`` records no model for it, and
            ``config.concurrency`` (default 64) bounds the requests in flight. Not with ``batch``.
        progress: called after each bootstrap answer with a :class:`Progress` snapshot.
        batch: send the classification and instance requests through OpenAI's Batch API (half
            the price) as instructions are accepted; the bootstrap stays online (each prompt
            depends on the pool). Same instructions and tasks as online with the same seed; the
            run ends when the last batch is in. Answers go to the same journal, batch ids to
            ``journal.batches.jsonl`` (a re-run polls them, never submits them again).
        batch_progress: called with a :class:`~selfinstruct.batch.BatchStats` after each poll.
        new_run: start a new run in ``out_dir`` whatever its ``run.json`` recorded (the earlier
            data files are removed; the journal stays, so answers to the same requests replay).

    Returns:
        The summary also saved in ``run.json``. Files written atomically in ``out_dir``:
        ``instructions.jsonl`` (every accepted instruction with its nearest neighbours),
        ``tasks.jsonl`` (tasks with instances, the seed schema), ``rejections.json``, ``run.json``.

    Raises:
        ConfigError / InputError: bad settings or seed files (before any request is sent).
        SettingsChangedError: ``out_dir`` holds a run whose recorded settings make other data
            (a larger ``num_instructions`` is fine: it resumes); pass ``new_run=True`` to replace it.
        OutputBusyError: another process is writing ``out_dir``.
    """
    inputs = _load_inputs(config)
    out = config.out_dir
    settings = engine.config if engine is not None else engine_config
    if (settings is None) == (completer is None):
        raise ConfigError("generate() needs engine= (an open Engine) or engine_config=, or else completer=")
    if completer is not None and batch is not None:
        raise ConfigError("generate(batch=...) needs an engine (engine= or engine_config=), not completer=")
    async with AsyncExitStack() as stack:
        recorded = engine_settings(settings)
        stack.enter_context(
            open_run_dir(
                out,
                config.to_json(),
                window=config.window,
                engine=recorded,
                new_run=new_run,
                data_files=DATA_FILES,
            )
        )
        if engine is None and settings is not None:
            engine = await stack.enter_async_context(Engine(settings, journal=out / JOURNAL_FILE))
        runner = _new_runner(config, completer or _required(engine), settings, inputs, progress)
        with one_error():  # a full disk under many tasks is one error, not one per task
            write_run_record(out, config.to_json(), runner.window, recorded, None)  # resumes use this window
            if batch is None:
                await runner.run()
            else:
                await _run_with_batches(runner, _required(engine), batch, batch_progress)
        try:
            return runner.write_outputs(runner.status())
        except OutputWriteError as error:
            if engine is None or engine.journal is None:
                raise error.saving("it is left as it was") from None
            journal = engine.journal
            raise error.saving(
                f"it is left as it was; the {len(journal):,} answers are saved in the journal {journal.path}"
            ) from None


def _required(engine: Engine | None) -> Engine:
    assert engine is not None
    return engine
