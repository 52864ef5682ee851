"""`backbeat serve` warns, in its log, when the default model goes to another provider than its
name says: the setup from the field, where only a local OpenAI-compatible server is configured
and the default `anthropic/claude-sonnet-4.6` goes there (a real process; JSON log lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backbeat.testing.fake_models import FakeModelServer
from tests.acceptance.conftest import serving
from tests.processes import clean_env

pytestmark = pytest.mark.slow(seconds=10)

EVENT = "config.default_model_rerouted"


def log_lines(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for line in stderr.splitlines():
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            lines.append(found)
    return lines


def test_serve_warns_when_the_default_model_goes_to_a_local_server(
    tmp_path: Path, models: FakeModelServer
) -> None:
    env = clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'backbeat.db'}",
        BACKBEAT_COMPATIBLE_BASE_URL=models.url_openai,
        BACKBEAT_LOG_FORMAT="json",
    )
    with serving(env, tmp_path) as server:
        pass
    [warning] = [line for line in log_lines(server.stderr) if line.get("event") == EVENT]
    assert warning["level"] == "warning", warning
    assert warning["model"] == "anthropic/claude-sonnet-4.6"
    assert "names Anthropic" in warning["message"]
    assert "BACKBEAT_ANTHROPIC_API_KEY" in warning["message"]
    assert models.requests == []  # a warning from the settings alone: no request at start


def test_serve_says_nothing_when_the_default_model_goes_where_it_says(
    tmp_path: Path, models: FakeModelServer
) -> None:
    env = clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'backbeat.db'}",
        BACKBEAT_COMPATIBLE_BASE_URL=models.url_openai,
        BACKBEAT_DEFAULT_MODEL="compatible:smollm2",
        BACKBEAT_LOG_FORMAT="json",
    )
    with serving(env, tmp_path) as server:
        pass
    events = [line.get("event") for line in log_lines(server.stderr)]
    assert "worker.started" in events, server.output()  # the log was read
    assert EVENT not in events
