"""A task's report delivered end to end, through real processes: `backbeat serve` with a fake
model server, a real SMTP server (aiosmtpd) and a fake Slack incoming webhook that checks
Slack's payload rules. A task created through the API with a delivery setting (the owner and
an organization mate by email, and Slack) is run now: each address gets one email with a
plain-text and an HTML part, Slack gets one post, and the run shows the three deliveries."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backbeat.testing.fake_models import FakeModelServer, Reply, ToolCallReply
from backbeat.testing.fake_slack import FakeSlack
from tests.acceptance.conftest import serving
from tests.acceptance.test_end_to_end import (
    OWNER,
    TEAMMATE,
    get_run,
    make_team,
    run_now,
    serve_env,
    wait_until_final,
)
from tests.tools.helpers import LocalSmtpServer

pytestmark = pytest.mark.slow(seconds=25)

REPORT = "## This week\n\nSynthpop streams are **up 12%**; Berlin leads."
DELIVERY_TIMEOUT = 30.0


def test_a_report_reaches_the_team_by_email_and_slack_once(
    tmp_path: Path, models: FakeModelServer, smtp: LocalSmtpServer, slack: FakeSlack
) -> None:
    env = serve_env(
        tmp_path,
        models,
        smtp,
        BACKBEAT_WEBHOOK_ALLOW_PRIVATE="true",  # the fake Slack is on loopback
        BACKBEAT_OUTBOX_POLL_SECONDS="0.2",
    )
    team = make_team(env)
    models.script(Reply(REPORT))
    with serving(env, tmp_path) as server:
        created = httpx.post(
            f"{server.url}/api/tasks",
            headers=team.headers,
            json={
                "title": "Weekly pulse",
                "prompt": "Analyse this week's genre trends",
                "schedule": "0 9 * * 1",
                "artist_account_id": team.artist_id,
                "delivery": {
                    "email": [OWNER, TEAMMATE],
                    "slack": {"webhook_url": slack.url()},
                },
            },
            timeout=10.0,
        )
        assert created.status_code == 200, created.text
        task = created.json()["tasks"][0]
        assert slack.url() not in created.text
        run = run_now(server, team, task["id"])
        assert wait_until_final(server, team, run["id"])["status"] == "COMPLETED"

        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while len(smtp.handler.messages) < 2 or not slack.posted():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        time.sleep(1.0)  # room for a repeat, which must not come

        assert sorted(message["To"] for message in smtp.handler.messages) == sorted(
            [OWNER, TEAMMATE]
        )
        for message in smtp.handler.messages:
            assert message["Subject"].startswith("Weekly pulse: Nova Lights")
            assert message.is_multipart()
            kinds = sorted(part.get_content_type() for part in message.walk())
            assert "text/html" in kinds
            assert "text/plain" in kinds
        assert len(slack.requests) == 1
        assert len(slack.posted()) == 1

        shown = get_run(server, team, run["id"])["output"]["deliveries"]
        assert sorted((d["channel"], d["status"]) for d in shown) == [
            ("email", "sent"),
            ("email", "sent"),
            ("slack", "sent"),
        ]
    assert slack.url() not in server.stdout + server.stderr


def test_only_a_changed_report_reaches_the_team(
    tmp_path: Path, models: FakeModelServer, smtp: LocalSmtpServer
) -> None:
    """`when: changed` through real processes: the first report is sent; a second whose
    verdict is "unchanged" completes and sends nothing; a third that changed is sent with its
    "What changed" paragraph. The SMTP server counts what arrived."""
    env = serve_env(tmp_path, models, smtp, BACKBEAT_OUTBOX_POLL_SECONDS="0.2")
    team = make_team(env)
    week_two = "## This week\n\nBerlin leads; synthpop streams are **up 12%**."
    week_three = "## This week\n\nSynthpop streams are **up 31%**; Lisbon overtook Berlin."
    what_changed = "Streams rose from 12% to 31% and Lisbon overtook Berlin."

    def verdict(changed: bool, what: str) -> Reply:
        call = ToolCallReply("report_verdict", {"changed": changed, "what_changed": what})
        return call.as_reply()

    with serving(env, tmp_path) as server:
        created = httpx.post(
            f"{server.url}/api/tasks",
            headers=team.headers,
            json={
                "title": "Weekly pulse",
                "prompt": "Analyse this week's genre trends",
                "schedule": "0 9 * * 1",
                "artist_account_id": team.artist_id,
                "delivery": {"when": "changed", "email": [OWNER]},
            },
            timeout=10.0,
        )
        assert created.status_code == 200, created.text
        task = created.json()["tasks"][0]
        assert task["delivery"]["when"] == "changed"

        def completed_run(*replies: Reply) -> dict[str, Any]:
            models.script(*replies)
            run = run_now(server, team, task["id"])
            assert wait_until_final(server, team, run["id"])["status"] == "COMPLETED"
            return get_run(server, team, run["id"])

        def emails(count: int) -> None:
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while len(smtp.handler.messages) < count:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.1)

        first = completed_run(Reply(REPORT))
        emails(1)
        quiet = completed_run(Reply(week_two), verdict(False, ""))
        assert quiet["output"]["verdict"]["changed"] is False
        assert quiet["output"]["verdict"]["compared_with"] == first["id"]
        assert quiet["output"]["deliveries"] == []
        loud = completed_run(Reply(week_three), verdict(True, what_changed))
        emails(2)
        time.sleep(1.0)  # room for a stray send, which must not come
        assert loud["output"]["verdict"]["what_changed"] == what_changed
        assert loud["output"]["verdict"]["compared_with"] == first["id"]

    assert len(smtp.handler.messages) == 2
    latest = smtp.handler.messages[-1]
    plain = next(p for p in latest.walk() if p.get_content_type() == "text/plain")
    body = plain.get_content()
    assert f"What changed: {what_changed}" in body
    assert "Lisbon overtook Berlin" in body
    verdict_requests = [r for r in models.requests if "report_verdict" in json.dumps(r.tools)]
    assert len(verdict_requests) == 2  # none for the first report
