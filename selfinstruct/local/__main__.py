"""``python -m selfinstruct.local``: serve the embedded model (or any GGUF) on loopback until Ctrl-C.

Handy to keep one server up across several commands: point them at the printed base URL with
``--base-url`` or ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; return the exit code."""
    import anyio

    from ..errors import SelfInstructError
    from ._server import serve_local_model

    parser = argparse.ArgumentParser(prog="python -m selfinstruct.local", description=__doc__)
    parser.add_argument("--model-path", type=Path, default=None, help="GGUF file (default: SmolLM2-135M)")
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context window in tokens (2048)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: half the cores)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with serve_local_model(
            args.model_path, port=args.port, n_ctx=args.n_ctx, n_threads=args.threads
        ) as local:
            print(f"serving {local.model_path} as model {local.model!r}", flush=True)
            print(f"export OPENAI_BASE_URL={local.base_url}", flush=True)
            print(f"ready in {local.startup_seconds:.2f} s; Ctrl-C to stop", file=sys.stderr, flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(serve)
    except SelfInstructError as error:
        print(f"python -m selfinstruct.local: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
