"""The dashboard's templates (Jinja2, autoescaped, with the filters the pages use) and the
static files shipped in the package, served with a content hash for caching."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from backbeat.dashboard import present, times

_PACKAGE = "backbeat.dashboard"


class MissingStatic(LookupError):
    """No static file of that name."""


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def _load_static() -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in (resources.files(_PACKAGE) / "static").iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        media_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        found[entry.name] = StaticFile(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


STATIC = _load_static()


def static_url(name: str) -> str:
    return f"/dashboard/static/{name}?v={STATIC[name].etag}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader(_PACKAGE, "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.filters.update(
        {
            "describe": present.describe_schedule,
            "markdown": present.markdown,
            "iso": present.iso,
            "utc_text": present.utc_text,
            "in_zone": times.in_zone,
            "shown_zone": times.shown_zone,
            "instant": times.instant,
            "duration": present.duration,
            "cost": present.cost,
            "status_class": present.status_class,
            "trigger": present.trigger_label,
            "error_text": present.error_text,
        }
    )
    return env


TEMPLATES = _environment()


def static_response(request: Request, name: str) -> Response:
    """The file, with an ETag; cached for good when asked for by its versioned URL."""
    found = STATIC.get(name)
    if found is None:
        raise MissingStatic(name)
    etag = f'"{found.etag}"'
    versioned = request.query_params.get("v") == found.etag
    headers = {
        "etag": etag,
        "cache-control": "public, max-age=31536000, immutable" if versioned else "no-cache",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
