"""Signed webhook events end to end, through real processes: an endpoint registered with the
CLI (`backbeat webhooks add`, which prints its id and signing secret), `backbeat serve` with a
fake model server, and a receiver on loopback that verifies every request with the
`standardwebhooks` package and fails its first one. The run's event arrives verified, is
accepted exactly once under one `webhook-id`, and the endpoint's delivery log (API) shows
both tries with their status codes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from backbeat.testing.fake_models import FakeModelServer, Reply
from tests.acceptance.conftest import cli_json, serving
from tests.acceptance.test_end_to_end import (
    create_task,
    make_team,
    run_now,
    serve_env,
    wait_until_final,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow(seconds=15)

PUBLIC_URL = "https://backbeat.label.example"
REPORT = "Synthpop streams are up 12% this week; Berlin leads."
DELIVERY_TIMEOUT = 30.0  # seconds, on a loaded machine


def test_a_run_event_reaches_a_verifying_receiver_once_after_a_failure(
    tmp_path: Path, models: FakeModelServer, receiver: Receiver
) -> None:
    env = serve_env(
        tmp_path,
        models,
        None,
        BACKBEAT_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
        BACKBEAT_WEBHOOK_RETRY_SECONDS="1,1,1",
        BACKBEAT_OUTBOX_POLL_SECONDS="0.2",
        BACKBEAT_PUBLIC_URL=PUBLIC_URL,
    )
    team = make_team(env, organization=False)
    added = cli_json(env, "webhooks", "add", "--account", team.owner_id, "--url", receiver.url)
    assert added["secret"].startswith("whsec_")
    receiver.secrets.append(added["secret"])
    receiver.fail_next = 1
    models.script(Reply(REPORT))

    with serving(env, tmp_path) as server:
        task = create_task(server, team, "0 9 * * 1", "Analyse this week's genre trends")
        run = run_now(server, team, task["id"])
        assert wait_until_final(server, team, run["id"])["status"] == "COMPLETED"

        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while not receiver.accepted():
            assert time.monotonic() < deadline, f"{receiver.requests}\n{server.output()}"
            time.sleep(0.1)
        time.sleep(2.5)  # room for a repeat, which must not come

        assert len(receiver.requests) == 2, receiver.requests
        first, second = receiver.requests
        assert first.verified
        assert second.verified
        assert (first.answered, second.answered) == (500, 204)
        assert first.webhook_id == second.webhook_id
        event = second.event
        assert event["type"] == "run.completed"
        assert event["data"]["run"]["id"] == run["id"]
        assert event["data"]["run"]["report"] == REPORT
        assert event["data"]["run"]["url"] == f"{PUBLIC_URL}/dashboard/runs/{run['id']}"

        log = httpx.get(
            f"{server.url}/api/webhooks/{added['id']}/deliveries",
            headers=team.headers,
            timeout=10.0,
        )
        assert log.status_code == 200, log.text
        [delivery] = log.json()["deliveries"]
        assert delivery["id"] == second.webhook_id
        assert delivery["status"] == "sent"
        assert [t["detail"] for t in delivery["tries"]] == ["HTTP 500", "HTTP 204"]
    assert added["secret"] not in server.stderr + server.stdout  # never logged
