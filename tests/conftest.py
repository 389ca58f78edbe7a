"""Top-level fixtures: a virtual clock and a factory for the fake OpenAI-compatible server.

Also the Hypothesis profile and the dedup kernels' warm-up:

- Hypothesis profile ``ci`` runs every property test with the examples its ``@settings`` asks
  for; ``dev`` runs a quarter of them (at least ``_DEV_MIN_EXAMPLES``). ``SELFINSTRUCT_HYPOTHESIS``
  picks one; by default a run that deselects the slow tests (``-m "not slow"``, the quick local
  loop) is ``dev`` unless the ``CI`` variable is set, and every other run (the README's test
  command, which ``.ci/run`` runs) is ``ci``.
- the tests that use the dedup package start after one session-wide warm-up of its Numba kernels,
  so no single test is charged the compile (or the cache load) and timings say where time goes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from hypothesis import settings

from selfinstruct.engine.clock import FakeClock
from selfinstruct.testing.server import FakeOpenAIServer, FakeServerConfig, Responder


@pytest.fixture
def fake_clock() -> FakeClock:
    """A virtual clock starting at t=0 that jumps forward instead of sleeping."""
    return FakeClock()


FakeServerFactory = Callable[..., AbstractAsyncContextManager[FakeOpenAIServer]]


@pytest.fixture
def fake_server() -> FakeServerFactory:
    """Factory: ``async with fake_server(latency=..., responder=..., clock=...) as server:``.

    Keyword arguments other than ``responder`` and ``clock`` go to ``FakeServerConfig``.
    """

    @asynccontextmanager
    async def factory(
        *, responder: Responder | None = None, clock: Any = None, **config: Any
    ) -> AsyncIterator[FakeOpenAIServer]:
        server = FakeOpenAIServer(
            FakeServerConfig(**config), responder, clock=None if clock is None else clock.now
        )
        async with server:
            yield server

    return factory


class LocalModelStub:
    """Stands in for ``selfinstruct.local.serve_local_model``: serves ``base_url`` and records model paths."""

    def __init__(self) -> None:
        self.base_url = ""
        self.model_paths: list[Any] = []

    @asynccontextmanager
    async def __call__(self, model_path: Any = None, **_: Any) -> AsyncIterator[Any]:
        from selfinstruct.local import LocalModel

        self.model_paths.append(model_path)
        yield LocalModel(base_url=self.base_url, model="tiny-local")


@pytest.fixture
def local_model_stub(monkeypatch: pytest.MonkeyPatch) -> LocalModelStub:
    """No endpoint configured, and the embedded model replaced by a stub; set ``.base_url`` to serve."""
    import selfinstruct.local as local

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    stub = LocalModelStub()
    monkeypatch.setattr(local, "serve_local_model", stub)
    return stub


# -- Hypothesis: how many examples --------------------------------------------------------------

_DEV_FRACTION = 4
_DEV_MIN_EXAMPLES = 10
settings.register_profile("ci", deadline=None)
settings.register_profile("dev", deadline=None, max_examples=100 // _DEV_FRACTION)


def _hypothesis_profile(config: pytest.Config) -> str:
    """The profile for this run (see the module docstring)."""
    chosen = os.environ.get("SELFINSTRUCT_HYPOTHESIS")
    if chosen:
        return chosen
    quick = "not slow" in (config.option.markexpr or "")
    return "dev" if quick and not os.environ.get("CI") else "ci"


def pytest_configure(config: pytest.Config) -> None:
    """Load the Hypothesis profile."""
    settings.load_profile(_hypothesis_profile(config))


def pytest_report_header(config: pytest.Config) -> str:
    """Say in the header which Hypothesis profile runs, and how to choose the other."""
    return f"hypothesis profile: {_hypothesis_profile(config)} (set SELFINSTRUCT_HYPOTHESIS=ci or dev)"


def _fewer_examples(test: Any) -> None:
    """Scale a property test's own ``max_examples`` down for the dev profile (once per function).

    A profile only sets defaults, and most tests here ask for a number; Hypothesis reads the
    settings from this attribute when the test runs (it is where ``@settings`` puts them).
    """
    own = getattr(test, "_hypothesis_internal_use_settings", None)
    if own is None or getattr(test, "_selfinstruct_scaled", False):
        return
    fewer = max(_DEV_MIN_EXAMPLES, own.max_examples // _DEV_FRACTION)
    if fewer < own.max_examples:
        test._hypothesis_internal_use_settings = settings(own, max_examples=fewer)
    test._selfinstruct_scaled = True


# -- the dedup kernels, compiled (or loaded from Numba's cache) once per session ----------------

_DEDUP_USERS = ("dedup", "dedup_ray", "pipeline", "test_seeds.py")


@pytest.fixture(scope="session")
def dedup_kernels() -> str:
    """Run every Numba kernel once (compiling it into the cache if needed); the kernel in use."""
    from selfinstruct.dedup import kernel_name

    if kernel_name() == "numba":
        from selfinstruct.dedup._warm import warm_up

        warm_up()
    return kernel_name()


@pytest.fixture(autouse=True)
def _dedup_warm_before(request: pytest.FixtureRequest) -> None:
    """Tests under the dedup users start with the kernels warm (the others never load Numba)."""
    tests_dir = request.config.rootpath / "tests"
    path = request.node.path
    if path.is_relative_to(tests_dir) and path.relative_to(tests_dir).parts[0] in _DEDUP_USERS:
        request.getfixturevalue("dedup_kernels")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the dev profile, scale each property test's example count down."""
    if _hypothesis_profile(config) != "dev":
        return
    for item in items:
        if isinstance(item, pytest.Function):
            _fewer_examples(getattr(item.obj, "__func__", item.obj))
