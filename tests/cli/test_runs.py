"""`backbeat runs …`: list, show and cancel an account's runs, as the API does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.services.worker import Outcome, WorkQueue
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.cli.conftest import Cli, create
from tests.conftest import Tenant
from tests.outbox import email_sent

OUTPUT = {
    "text": "Streams are up 12% this week.\nEmailed the team.",
    "model": "openai/gpt-4o-mini",
    "provider": "openai",
    "provider_model": "gpt-4o-mini",
    "turns": 3,
    "tool_calls": [
        {
            "name": "fetch_url",
            "arguments": {"url": "https://example.com/charts"},
            "is_error": False,
            "result": "URL: https://example.com/charts\nStatus: 200",
        },
        {
            "name": "send_email",
            "arguments": {"to": ["alice@example.com", "mallory@evil.test"], "subject": "Pulse"},
            "is_error": False,
            "result": "Sent to alice@example.com (subject: 'Pulse').",
        },
    ],
    "emails_sent": [{"to": "alice@example.com", "subject": "Pulse"}],
    "emails_refused": [
        {"to": "mallory@evil.test", "subject": "Pulse", "reason": "not on the team"}
    ],
    "pages_fetched": [{"url": "https://example.com/charts", "status": 200}],
    "usage": {"input_tokens": 1200, "output_tokens": 345, "requests": 3},
    "price_known": True,
}


def api_runs(client: TestClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/tasks/runs", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def run_now(cli: Cli, tenant: Tenant, task_id: str) -> str:
    return cli.ok("tasks", "run", task_id, "--account", str(tenant.account_id)).strip()


def finish_with_a_retry(backbeat: Backbeat, clock: FakeClock) -> None:
    """The queued run: a first attempt rate-limited, the second completed with OUTPUT."""
    queue = WorkQueue(backbeat.uow, clock, lease=timedelta(minutes=5), retry=RetryPolicy(jitter=0))
    clock.advance(minutes=1)  # after the CLI's clock, which created the run
    [claim] = queue.claim("worker-1", 1)
    failure = AttemptFailed(FailureKind.RATE_LIMITED, "429 Too Many Requests", name="RateLimit")
    queue.finish(claim, Outcome(output=None, failure=failure, cost_in_cents=0.25))
    clock.advance(minutes=1)
    [claim] = queue.claim("worker-1", 1)
    # The email goes through the outbox, as send_email does; the run shows it from there.
    email_sent(backbeat, clock, claim, "alice@example.com", "Pulse")
    queue.finish(claim, Outcome(output=OUTPUT, failure=None, cost_in_cents=1.5))


def test_list_shows_the_accounts_runs_newest_first(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    account = str(alice.account_id)
    first, second = create(cli, alice, title="First"), create(cli, alice, title="Second")
    older = run_now(cli, alice, first)
    newer = cli.json("tasks", "run", second, "--account", account, "--test")["id"]

    header, *rows = cli.ok("runs", "list", "--account", account).splitlines()

    assert header.split()[:5] == ["ID", "STATUS", "TRIGGER", "TASK", "CREATED"]
    assert rows[0].split()[:5] == [newer, "QUEUED", "(test)", "manual", second]
    assert rows[1].split()[:4] == [older, "QUEUED", "manual", first]
    assert "2026-01-05 12:00" in rows[1]


def test_list_json_is_the_api_runs_and_filters_like_it(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    account = ["--account", str(alice.account_id)]
    first, second = create(cli, alice), create(cli, alice)
    ids = [run_now(cli, alice, task) for task in (first, second, first)]
    cli.ok("runs", "cancel", ids[2], *account)

    assert cli.json("runs", "list", *account) == api_runs(client, alice)
    by_task = cli.json("runs", "list", *account, "--task", first)
    assert by_task == api_runs(client, alice, task_id=first)
    assert [run["id"] for run in by_task] == [ids[2], ids[0]]
    queued = cli.json("runs", "list", *account, "--status", "queued")
    assert [run["id"] for run in queued] == [ids[1], ids[0]]
    assert queued == api_runs(client, alice, status="QUEUED")


def test_list_pages_with_limit_and_cursor(cli: Cli, alice: Tenant) -> None:
    account = ["--account", str(alice.account_id)]
    task_id = create(cli, alice)
    ids = [run_now(cli, alice, task_id) for _ in range(3)]

    page = cli("runs", "list", *account, "--limit", "2", "--json")

    assert [run["id"] for run in json.loads(page.stdout)] == ids[:0:-1]
    hint = page.stderr.strip()
    assert hint.startswith("more runs: --cursor ")
    rest = cli.json("runs", "list", *account, "--limit", "2", "--cursor", hint.split()[-1])
    assert [run["id"] for run in rest] == ids[:1]
    result = cli("runs", "list", *account, "--limit", "0")
    assert result.exit_code == 2


def test_show_prints_the_run_in_full(
    cli: Cli, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    task_id = create(cli, alice)
    run_id = run_now(cli, alice, task_id)
    finish_with_a_retry(backbeat, clock)

    text = cli.ok("runs", "show", run_id, "--account", str(alice.account_id))

    lines = text.splitlines()
    assert lines[0] == f"run         {run_id}"
    assert lines[1] == "status      COMPLETED (manual)"
    assert f"task        {task_id}" in lines
    assert "cost        1.7500 cents" in lines
    assert "attempts    2 (of at most 3)" in lines
    [first, second] = [line for line in lines if line.startswith("  #")]
    assert first.startswith("  #1 FAILED ")
    assert first.endswith("RateLimit: 429 Too Many Requests")
    assert second.startswith("  #2 COMPLETED ")
    assert "model       openai/gpt-4o-mini" in lines
    assert "usage       1200 input tokens, 345 output tokens, 3 requests, 3 turns" in lines
    assert "tool calls  2" in lines
    assert any(line.startswith("  fetch_url ") and "→ ok:" in line for line in lines)
    assert "emails      1 sent, 1 refused" in lines
    assert "  sent alice@example.com: 'Pulse'" in lines
    assert "  refused mallory@evil.test: 'Pulse' (not on the team)" in lines
    assert lines[-3:] == ["output", "  Streams are up 12% this week.", "  Emailed the team."]


def test_show_json_is_the_api_run_in_full(
    cli: Cli, backbeat: Backbeat, clock: FakeClock, client: TestClient, alice: Tenant
) -> None:
    run_id = run_now(cli, alice, create(cli, alice))
    finish_with_a_retry(backbeat, clock)

    shown = cli.json("runs", "show", run_id, "--account", str(alice.account_id))

    assert [shown] == api_runs(client, alice, runId=run_id)
    [delivery] = shown["output"].pop("deliveries")
    assert shown["output"] == OUTPUT
    assert delivery == {
        "channel": "email",
        "purpose": "message",
        "to": "alice@example.com",
        "subject": "Pulse",
        "status": "sent",
        "tries": 1,
        "next_try_at": None,
        "sent_at": "2026-01-05T12:02:00+00:00",
        "error": None,
    }
    assert [attempt["status"] for attempt in shown["attempts"]] == ["FAILED", "COMPLETED"]


def test_cancel_a_queued_run_once(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = ["--account", str(alice.account_id)]
    task_id = create(cli, alice)
    run_id, other = run_now(cli, alice, task_id), run_now(cli, alice, task_id)

    assert cli.ok("runs", "cancel", run_id, *account) == f"canceled {run_id}\n"
    canceled = cli.json("runs", "cancel", other, *account)

    assert canceled == api_runs(client, alice, runId=other)[0]
    assert canceled["status"] == "CANCELED"
    message = cli.error("runs", "cancel", run_id, *account)
    response = client.post("/api/tasks/runs/cancel", json={"runId": run_id}, headers=alice.headers)
    assert response.status_code == 409
    assert message == response.json()["error"] == "the run has already finished (CANCELED)"


def test_an_account_cannot_see_or_cancel_another_accounts_runs(
    cli: Cli, client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    task_id = create(cli, alice)
    run_id = run_now(cli, alice, task_id)
    as_bob = ["--account", str(bob.account_id)]

    assert cli.json("runs", "list", *as_bob) == []
    assert cli.json("runs", "list", *as_bob, "--task", task_id) == []
    assert cli.error("runs", "show", run_id, *as_bob) == "Task run not found"
    assert cli.error("runs", "cancel", run_id, *as_bob) == "Task run not found"

    [run] = api_runs(client, alice, runId=run_id)
    assert run["status"] == "QUEUED"


def test_unknown_runs_and_statuses(cli: Cli, alice: Tenant) -> None:
    account = ["--account", str(alice.account_id)]

    assert cli.error("runs", "show", "run_nope", *account) == "Task run not found"
    assert cli.error("runs", "cancel", "run_nope", *account) == "Task run not found"
    assert cli("runs", "list", *account, "--status", "DONE").exit_code == 2
