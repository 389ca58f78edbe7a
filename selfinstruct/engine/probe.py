"""A quick look at the endpoints before a job: is anything listening, and is the key accepted?

A job against a server that is not running would otherwise spend minutes in retries before every
request ends as a connection error; this turns that into one clear error up front.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import aiohttp

from ..errors import APIError, ConfigError, TransportError
from ..redact import Redactor

__all__ = ["probe_endpoints"]


async def probe_endpoints(
    base_urls: Sequence[str],
    *,
    api_key: str | None = None,
    timeout: float = 10.0,
    session: aiohttp.ClientSession | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """GET ``{base_url}/models`` on each endpoint; return the URLs that answered.

    Any HTTP answer counts as reachable (some servers have no ``/models``), except 401/403, which
    say the key is wrong for every request to come, and a 404 where ``{base_url}/v1/models``
    answers (the URL lacks its ``/v1``).

    Raises:
        TransportError: no endpoint could be reached (names each URL and its error).
        APIError: every reachable endpoint refused the key (status 401 or 403).
        ConfigError: a URL lacks ``/v1`` (the message gives the URL to use).
    """
    sent = {"User-Agent": "selfinstruct", **(headers or {})}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    redact = Redactor.from_headers(sent)
    owned = session is None
    client = session or aiohttp.ClientSession()
    reachable: list[str] = []
    unreachable: list[str] = []
    refused: APIError | None = None

    async def get_models(url: str) -> tuple[int, str]:
        async with client.get(
            f"{url.rstrip('/')}/models", headers=sent, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status, (await response.read())[:300].decode("utf-8", "replace")

    try:
        for url in base_urls:
            try:
                status, body = await get_models(url)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                unreachable.append(redact(f"{url} ({type(error).__name__}: {error or 'timed out'})"))
                continue
            if status in (401, 403):
                refused = APIError(
                    redact(f"{url} refused the API key (set OPENAI_API_KEY): {body.strip()}"), status=status
                )
                continue
            if status == 404 and not url.rstrip("/").endswith("/v1"):
                await _suggest_v1(url, get_models)
            reachable.append(url)
    finally:
        if owned:
            await client.close()
    if not reachable and refused is not None:
        raise refused
    if not reachable:
        raise TransportError(
            "cannot reach the endpoint: " + "; ".join(unreachable) + ". Is the server running, and "
            "is --base-url (or OPENAI_BASE_URL) right, including the /v1 suffix?"
        )
    return reachable


async def _suggest_v1(url: str, get_models: Callable[[str], Awaitable[tuple[int, str]]]) -> None:
    """Raise ConfigError when ``url`` has no ``/models`` but ``url/v1`` does (a forgotten /v1).

    Without this the probe passes (some servers have no /models) and every request then fails
    with 404. When ``url/v1`` is no better, nothing is said: the server may just lack /models.
    """
    suggestion = f"{url.rstrip('/')}/v1"
    try:
        status, _ = await get_models(suggestion)
    except (aiohttp.ClientError, TimeoutError, OSError):
        return
    if status != 404:
        raise ConfigError(
            f"{url}/models answers 404 (not found) but {suggestion}/models answers {status}: "
            f"did you mean --base-url {suggestion} ? (OpenAI-compatible servers serve under /v1)"
        )
