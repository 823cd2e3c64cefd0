"""Small HTTP helpers shared by the OpenAI-compatible backend and the routing proxy.

    >>> openai_base_url("http://h:8000")
    'http://h:8000/v1'
    >>> scrub("bad key sk-123", "sk-123")
    'bad key ***'
"""

from __future__ import annotations

from thinkgate.harness.errors import UserError


def openai_base_url(url: str) -> str:
    """An OpenAI base URL: a bare host gets `/v1`, a URL with a path is kept, a trailing `/` goes.

    openai_base_url("http://h:8000") -> "http://h:8000/v1"
    openai_base_url("http://h:8000/v1/") -> "http://h:8000/v1"
    openai_base_url("https://h/api/openai/v1") -> "https://h/api/openai/v1" (a hosted API's own path)
    """
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"'{url}' is not an http(s) URL; pass e.g. http://127.0.0.1:8000/v1 "
                        "(--upstream of the proxy, --base-url of --backend openai)")
    return url if "/" in url.split("://", 1)[1] else url + "/v1"


def scrub(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` (an API key) replaced by `***`."""
    return text.replace(secret, "***") if secret else text
