"""Logs: a run's whole life is a sequence of JSON lines with stable `event` names and its
ids, and no secret reaches them, not even inside a logged traceback.

In process, wired as `backbeat worker` wires itself (build + build_worker, logs configured
with the settings' secrets), against the fake model server over HTTP (the real Anthropic
provider) and a local SMTP server (the real SMTP mailer), with a fake clock:

- the task fires (fire.dispatched);
- attempt 1: the model provider answers 500 with the provider key in its message
  (run.claimed, run.retrying);
- attempt 2: the model sends an email; the SMTP server refuses the login for now (454)
  quoting the password (run.claimed, run.retrying);
- attempt 3: the email goes out, the model finishes (run.claimed, run.completed).

Meanwhile an API request fails with an unexpected exception whose message carries every
secret, which the API logs with its traceback (http.error).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.config import Settings
from backbeat.ops import logs
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import ErrorReply, FakeModelServer, Reply, ToolCallReply
from backbeat.wiring import build, build_worker
from backbeat.worker.loop import Worker
from tests.databases import SqliteTemplate
from tests.tools.helpers import LocalSmtpServer, SmtpHandler

SERVER_SECRET = "srv-secret-Qm9yZGVyQ29sbGll-" + "7" * 24  # no shape the redactor knows
PROVIDER_KEY = "sk-ant-api03-" + "Lv3x" * 12
SMTP_USER = "backbeat-mailer"
SMTP_PASSWORD = "correct horse battery staple"
OWNER = "owner@label.example"
FIRE = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
RUN_EVENTS = [
    "fire.dispatched",
    "run.claimed",
    "run.retrying",
    "run.claimed",
    "delivery.pending",  # the SMTP login failed for a passing reason: the outbox keeps it
    "run.completed",
    "delivery.sent",  # the outbox's retry, without the model
]


class FlakyLogin:
    """An SMTP authenticator that refuses every login of the first connection with a
    temporary error quoting the password it was given, then accepts the right one."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if session not in self.sessions:
            self.sessions.append(session)
        assert isinstance(data, LoginPassword)
        if session is self.sessions[0]:
            password = data.password.decode()
            return AuthResult(
                success=False,
                handled=False,
                message=f"454 4.7.0 Temporary authentication failure for password {password}",
            )
        ok = data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's log output, restored afterwards (handlers, levels and the redactor)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    known = list(logs.REDACT._values)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.REDACT._values[:] = known


def _configure(settings: Settings, stream: io.StringIO) -> None:
    """What `backbeat worker` does at start (cli.wired), into `stream`, at DEBUG."""
    logs.configure("DEBUG", "json", settings.secret_values())
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def _work(worker: Worker, clock: FakeClock, steps: int) -> list[int]:
    """Step the worker, waiting each time for what it claimed, past any retry delay. In one
    event loop, as in `backbeat worker` (the provider's HTTP client belongs to it)."""
    claimed: list[int] = []
    for _ in range(steps):
        claimed.append(await worker.step())
        await worker.wait_idle()
        clock.advance(minutes=5)
    return claimed


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_runs_life_in_the_logs_with_no_secret(
    tmp_path: Path, sqlite_template: SqliteTemplate, captured: io.StringIO
) -> None:
    clock = FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    login = FlakyLogin()
    with (
        FakeModelServer() as models,
        LocalSmtpServer(
            SmtpHandler(), authenticator=login, auth_require_tls=False, auth_required=True
        ) as smtp,
    ):
        settings = Settings(
            database_url=sqlite_template.fresh(tmp_path),
            secret_key=SecretStr(SERVER_SECRET),
            anthropic_api_key=SecretStr(PROVIDER_KEY),
            anthropic_base_url=models.url_anthropic,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_username=SMTP_USER,
            smtp_password=SecretStr(SMTP_PASSWORD),
            smtp_from="backbeat@label.example",
            smtp_starttls=False,
            outbox_poll_seconds=0.001,  # every worker step looks for due deliveries
        )
        _configure(settings, captured)
        backbeat = build(settings, clock=clock)
        try:
            account = backbeat.admin.create_account(OWNER)
            artist = backbeat.admin.create_artist("Nova", account_id=account.id)
            api_key = backbeat.admin.create_key(account.id).secret_value
            worker = build_worker(backbeat, worker_id="log-test-worker")

            # The task, through the API, with the key in a header.
            with TestClient(create_app(backbeat), raise_server_exceptions=False) as client:
                created = client.post(
                    "/api/tasks",
                    headers={"x-api-key": api_key},
                    json={
                        "title": "Weekly pulse",
                        "prompt": "Analyse genre trends and email the owner.",
                        "schedule": "0 9 * * *",
                        "timezone": "UTC",
                        "model": "claude-sonnet-4-6",
                        "artist_account_id": str(artist.id),
                    },
                )
                assert created.status_code == 200, created.text
                task_id = created.json()["tasks"][0]["id"]

                # An unexpected failure inside a request, its message full of secrets.
                def boom(*args: object, **kwargs: object) -> None:
                    raise RuntimeError(
                        f"cannot list: key={api_key} provider={PROVIDER_KEY} "
                        f"smtp={SMTP_PASSWORD} secret={SERVER_SECRET}"
                    )

                original = backbeat.tasks.page_tasks
                backbeat.tasks.page_tasks = boom  # type: ignore[method-assign]
                try:
                    failed = client.get(
                        "/api/tasks", headers={"authorization": f"Bearer {api_key}"}
                    )
                finally:
                    backbeat.tasks.page_tasks = original  # type: ignore[method-assign]
                assert failed.status_code == 500

            models.script(
                ErrorReply(500, message=f"upstream failure while using key {PROVIDER_KEY}"),
                ToolCallReply("send_email", {"subject": "Pulse", "body": "Numbers are up."}),
                Reply("Emailed the owner."),
            )
            clock.set(FIRE + timedelta(milliseconds=250))
            assert backbeat.scheduler.tick(clock.now()).runs_created == 1
            assert asyncio.run(_work(worker, clock, 4)) == [1, 1, 0, 0]
            with backbeat.engine.connect() as connection:
                rows = connection.exec_driver_sql("SELECT id, status FROM runs").all()
                recorded = connection.exec_driver_sql(
                    "SELECT error FROM attempts UNION ALL SELECT error FROM runs"
                    " UNION ALL SELECT error FROM deliveries"
                ).all()
        finally:
            backbeat.close()

        assert len(smtp.handler.messages) == 1
        assert len(login.sessions) >= 2

    lines = _lines(captured)
    text = captured.getvalue()

    # The run's life, in order, each line with its ids.
    [(run_id, status)] = rows
    assert status == "COMPLETED"
    [dispatched] = [line for line in lines if line["event"] == "fire.dispatched"]
    assert dispatched["run_id"] == run_id
    assert dispatched["task_id"] == task_id
    assert dispatched["fire_time"] == "2026-01-06T09:00:00.000Z"
    of_run = [line for line in lines if line.get("run_id") == run_id]
    assert [line["event"] for line in of_run] == RUN_EVENTS, json.dumps(of_run, indent=1)
    claims = [line for line in of_run if line["event"] == "run.claimed"]
    assert [line["attempt"] for line in claims] == [1, 2]
    assert {line["worker"] for line in claims} == {"log-test-worker"}
    outcomes = [line for line in of_run if line["event"].startswith("run.") and "status" in line]
    assert [(line["status"], line["error"]) for line in outcomes] == [
        ("REATTEMPTING", "InternalServerError"),
        ("COMPLETED", None),
    ]
    for line in lines:
        assert line["event"], line
        assert {"ts", "level", "logger", "message"} <= set(line)

    # The failed request was logged with its traceback, masked.
    [error] = [line for line in lines if line["event"] == "http.error"]
    assert error["path"] == "/api/tasks"
    assert "RuntimeError: cannot list" in error["exception"]
    assert logs.MASK in error["exception"]

    # No secret anywhere in the output, whole or in telling part; nor in the errors the run
    # recorded (shown by the API and `backbeat runs show`), which quote the provider's and
    # the SMTP server's replies.
    errors = json.dumps([row[0] for row in recorded])
    assert "Server error from Anthropic (500)" in errors
    assert "454" in text  # the delivery's passing failure, logged (the row now says sent)
    for secret in (api_key, PROVIDER_KEY, SMTP_PASSWORD, SERVER_SECRET):
        assert secret not in text
        assert secret[4:24] not in text
        assert secret not in errors
