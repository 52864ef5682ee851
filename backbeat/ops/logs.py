"""Structured logs: JSON lines when stderr is not a terminal, readable lines when it is.

Every record carries a stable `event` name (`run.claimed`, `fire.dispatched`, …) and the
ids it concerns. Secrets never reach the output: API keys, bearer tokens and provider keys
are recognised by shape, and the configured secrets (server secret, provider keys, SMTP
password) by value, in the message, the extra fields and the exception text alike.

`redacted_url` is how any URL is shown (the CLI's banners, `backbeat doctor`): without its
password.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import make_url

LogFormat = Literal["auto", "json", "text"]

# Attributes every LogRecord has (anything else on a record came from `extra=`), and extras
# that only repeat the message for a terminal (uvicorn's ANSI-coloured copy): not fields.
_NOT_FIELDS = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_SHAPES = [
    re.compile(r"bbk_[A-Za-z0-9_-]{20,}"),  # Backbeat API keys
    re.compile(r"whsec_[A-Za-z0-9+/=]{20,}"),  # webhook signing secrets
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),  # bearer tokens
    re.compile(r"sk-(?:ant-)?[A-Za-z0-9_-]{8,}"),  # Anthropic / OpenAI keys
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)(password['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]+:)[^@\s]+(@)"),  # URL passwords
]
MASK = "***"


class Redactor:
    """Replaces secrets in text with ***: by shape, and the exact values it is told about."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for value in secrets:
            if value and len(value) >= 6 and value not in self._values:
                self._values.append(value)
        self._values.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, MASK)
        for shape in _SHAPES:
            text = shape.sub(_masked, text)
        return text


def _masked(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g is not None]
    if not groups:
        return MASK
    if len(groups) == 1:
        return groups[0] + MASK
    return groups[0] + MASK + groups[-1]


REDACT = Redactor()


def redacted_url(url: str) -> str:
    """A database or provider URL with any password replaced by ***."""
    if "://" not in url:
        return url
    try:
        if url.startswith(("sqlite", "postgres")):
            return make_url(url).render_as_string(hide_password=True)
        parts = urlsplit(url)
    except Exception:  # an unparseable URL: show its scheme only
        return url.split("://", 1)[0] + "://…"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc}"))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _NOT_FIELDS}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return REDACT(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return REDACT(str(value))


def _exception(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info[0] is None:
        return None
    return REDACT("".join(traceback.format_exception(*record.exc_info)).rstrip())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": fields.pop("event", _default_event(record)),
            "message": REDACT(record.getMessage()),
        }
        line.update({key: _clean(value) for key, value in fields.items()})
        error = _exception(record)
        if error:
            line["exception"] = error
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        event = fields.pop("event", _default_event(record))
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={_clean(v)}" for k, v in fields.items())
        text = f"{stamp} {record.levelname:<7} {event:<22} {REDACT(record.getMessage())}"
        if extras:
            text += f"  {extras}"
        error = _exception(record)
        return f"{text}\n{error}" if error else text


def _default_event(record: logging.LogRecord) -> str:
    if record.name.startswith("uvicorn.access"):
        return "http.access"
    return record.name.replace("backbeat.", "") + ".log"


def configure(level: str = "INFO", fmt: LogFormat = "auto", secrets: Iterable[str] = ()) -> None:
    """Route every logger (uvicorn's too) through one handler on stderr."""
    REDACT.add(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "anthropic", "openai", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
