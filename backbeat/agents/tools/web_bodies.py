"""The bytes of a fetched page: which media types count as text, and the body as it arrives,
with any Content-Encoding undone a bounded piece at a time, so that a small compressed body
cannot inflate past the fetcher's byte cap."""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Callable

import httpx

from backbeat.agents.tools.base import ToolError

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/x-ndjson",
        "application/csv",
        "application/yaml",
        "application/x-yaml",
    }
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


async def raw_chunks(
    response: httpx.Response,
) -> AsyncGenerator[tuple[bytes, Callable[[bytes, int], bytes]], None]:
    """The body as it arrives, each chunk with the function that decompresses it."""
    if response.is_stream_consumed:  # built in memory (httpx.MockTransport): decoded already
        yield response.content, _identity
        return
    decompress = _decompressor(response.headers.get("content-encoding", ""))
    async for chunk in response.aiter_raw():
        yield chunk, decompress


def _identity(data: bytes, limit: int) -> bytes:
    return data


def _decompressor(content_encoding: str) -> Callable[[bytes, int], bytes]:
    """Undo the Content-Encoding (we ask for none, but gzip and deflate are undone anyway),
    producing at most `limit` bytes per call, so a small compressed body cannot balloon."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _identity
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ToolError(f"unsupported content encoding: {encoding[:50]}")
    inflater = zlib.decompressobj(wbits=31 if "gzip" in encoding else 47)

    def decompress(data: bytes, limit: int) -> bytes:
        try:  # input the last call left unread only matters when it returned `limit` bytes,
            # and then the caller stops reading
            return inflater.decompress(data, limit)
        except zlib.error:
            raise ToolError(f"the {encoding} body is corrupt") from None

    return decompress
