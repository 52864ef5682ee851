"""Structured logs: JSON lines with a stable event, and no secret ever printed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from backbeat.ops import logs

KEY = "bbk_" + "A1b2C3d4" * 5 + "xyz"
PROVIDER_KEY = "sk-ant-api03-" + "Z" * 40
SMTP_PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def captured() -> logging.Logger:
    logs.configure("DEBUG", "json", [SMTP_PASSWORD])
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(io.StringIO())
    return logging.getLogger("backbeat.test")


def lines(logger: logging.Logger) -> list[dict[str, object]]:
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = handler.stream
    assert isinstance(stream, io.StringIO)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_are_json_lines_with_an_event(captured: logging.Logger) -> None:
    captured.info("run claimed", extra={"event": "run.claimed", "run_id": "run_1", "attempt": 2})

    [line] = lines(captured)
    assert line["event"] == "run.claimed"
    assert line["run_id"] == "run_1"
    assert line["attempt"] == 2
    assert line["level"] == "info"
    assert line["message"] == "run claimed"
    assert line["ts"]


def test_uvicorns_coloured_copy_of_the_message_is_dropped(captured: logging.Logger) -> None:
    # uvicorn logs "Started server process [%d]" with extra={"color_message": <ANSI copy>}.
    captured.info("Started server process [%d]", 42, extra={"color_message": "\x1b[36m%d\x1b[0m"})

    [line] = lines(captured)
    assert line["message"] == "Started server process [42]"
    assert "color_message" not in line


def test_secrets_are_masked_everywhere(captured: logging.Logger) -> None:
    captured.warning(
        "request with %s",
        f"x-api-key: {KEY}",
        extra={"event": "x", "header": f"Bearer {KEY}", "nested": {"key": PROVIDER_KEY}},
    )
    try:
        raise RuntimeError(f"SMTP login failed for password {SMTP_PASSWORD} and {PROVIDER_KEY}")
    except RuntimeError:
        captured.exception("boom", extra={"event": "y"})

    text = json.dumps(lines(captured))
    for secret in (KEY, PROVIDER_KEY, SMTP_PASSWORD, KEY[4:20]):
        assert secret not in text
    assert "***" in text


def test_database_passwords_in_urls_are_masked() -> None:
    assert logs.REDACT("postgresql+psycopg://app:hunter2pass@db:5432/x") == (
        "postgresql+psycopg://app:***@db:5432/x"
    )


def test_text_format_for_terminals() -> None:
    logs.configure("INFO", "text")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(io.StringIO())
    logging.getLogger("backbeat.test").info("fire", extra={"event": "fire.dispatched", "n": 1})
    stream = handler.stream
    assert isinstance(stream, io.StringIO)
    assert "fire.dispatched" in stream.getvalue()
    assert "n=1" in stream.getvalue()
