"""/dashboard/runs/{id}: status (polled while it can change), attempts, output, tool calls,
usage and cost; cancel."""

from __future__ import annotations

from starlette.testclient import TestClient

from backbeat.domain.deliveries import SendOutcome
from backbeat.services.worker import Outcome
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.dashboard.helpers import (
    Dashboard,
    Page,
    create_task,
    finish_queued_run,
    signed_in,
    work_queue,
)
from tests.outbox import email_sent


def queued_run(dashboard: Dashboard, tenant: Tenant) -> str:
    task_id = create_task(dashboard, tenant)
    location: str = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    return location.split("?")[0].rsplit("/", 1)[1]


def test_a_queued_run_polls_and_can_be_canceled(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)

    page = dashboard.get(f"/dashboard/runs/{run_id}")

    assert page.status == 200
    assert page.title == f"Run {run_id}"
    status = page.testid("run-status")
    assert status.attrs["role"] == "status"
    assert page.text("run-status") == "QUEUED"
    [poller] = page.all(data_poll_url=f"/dashboard/runs/{run_id}/status")
    assert poller.attrs["data-status"] == "QUEUED"
    assert poller.attrs["data-attempts"] == "0"
    assert page.testid("refresh-run").attrs["href"] == f"/dashboard/runs/{run_id}"
    assert page.text("run-trigger") == "Manual"
    assert "No attempt yet" in page.testid("attempts").text
    assert page.text("run-prompt") == (
        "Analyse this artist's genre trends and email the team a summary."
    )
    assert page.testid("cancel-run").text == "Cancel run"

    canceled = dashboard.submit(f"/dashboard/runs/{run_id}/cancel")

    assert canceled.text("notice") == "Run canceled."
    assert canceled.text("run-status") == "CANCELED"
    assert not canceled.all(data_testid="cancel-run")
    assert not canceled.all(data_testid="refresh-run")
    assert not [node for node in canceled.nodes if "data-poll-url" in node.attrs]
    api = client.get("/api/tasks/runs", params={"runId": run_id}, headers=alice.headers)
    assert api.json()["runs"][0]["status"] == "CANCELED"


def test_the_status_endpoint_answers_the_poll(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)

    queued = dashboard.raw_get(f"/dashboard/runs/{run_id}/status")
    [claim] = work_queue(backbeat, clock).claim("worker-1", 1)
    executing = dashboard.raw_get(f"/dashboard/runs/{run_id}/status")

    assert queued.status_code == 200
    assert queued.headers["cache-control"] == "no-store"
    assert queued.json() == {
        "id": run_id,
        "status": "QUEUED",
        "live": True,
        "attempts": 0,
        "updated_at": "2026-01-05T12:00:00.000Z",
    }
    assert executing.json()["status"] == "EXECUTING"
    assert executing.json()["attempts"] == 1
    page = dashboard.get(f"/dashboard/runs/{run_id}")
    assert page.one(data_poll_url=f"/dashboard/runs/{run_id}/status").attrs["data-status"] == (
        "EXECUTING"
    )
    assert page.testid("cancel-run")
    assert claim.run.id == run_id


def test_a_finished_run_shows_attempts_output_tools_usage_and_cost(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)
    finish_queued_run(backbeat, clock)

    page = dashboard.get(f"/dashboard/runs/{run_id}")

    assert page.text("run-status") == "COMPLETED"
    assert not [node for node in page.nodes if "data-poll-url" in node.attrs]
    assert not page.all(data_testid="cancel-run")
    attempts = page.all("li", data_testid="attempt")
    assert len(attempts) == 2
    assert "Attempt 1 FAILED" in " ".join(attempts[0].text.split())
    assert "RateLimit: 429 Too Many Requests" in attempts[0].text
    assert "Attempt 2 COMPLETED" in " ".join(attempts[1].text.split())
    output = page.testid("run-output")
    assert [node.tag for node in output.walk()][1:] == ["h2", "p", "strong", "a"]
    link = next(node for node in output.walk() if node.tag == "a")
    assert link.attrs["href"] == "https://example.com/charts"
    assert set((link.attrs["rel"] or "").split()) >= {"noopener", "nofollow"}
    calls = page.testid("tool-calls")
    assert "fetch_web_page" in calls.text
    assert "send_email" in calls.text
    assert "https://example.com/charts (200)" in " ".join(page.testid("pages-fetched").text.split())
    emails = " ".join(page.testid("emails").text.split())
    assert "Sent to alice@example.com: “Pulse”" in emails
    assert "Refused for mallory@evil.test: “Pulse” (not on the team)" in emails
    usage = " ".join(page.testid("usage").text.split())
    assert "Input tokens 1200" in usage
    assert "Output tokens 345" in usage
    assert "Model requests 3" in usage
    assert page.text("run-cost") == "$0.0175"  # 0.25 + 1.5 cents
    assert page.text("run-duration") == "5.0 s"  # 2 s + 3 s of attempts


def test_canceling_a_finished_run_says_why_not(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)
    dashboard.get(f"/dashboard/runs/{run_id}")
    finish_queued_run(backbeat, clock, retry_first=False)

    response = dashboard.post(f"/dashboard/runs/{run_id}/cancel")

    assert response.status_code == 409
    page = Page(response)
    assert page.text("action-error") == "the run has already finished (COMPLETED)"
    assert page.text("run-status") == "COMPLETED"


def test_a_failed_run_shows_its_error(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    from backbeat.domain.failures import AttemptFailed, FailureKind
    from backbeat.services.worker import Outcome

    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)
    queue = work_queue(backbeat, clock)
    [claim] = queue.claim("worker-1", 1)
    failure = AttemptFailed(FailureKind.AUTH, "401 invalid x-api-key", name="AuthError")
    queue.finish(claim, Outcome(output=None, failure=failure, cost_in_cents=0))

    page = dashboard.get(f"/dashboard/runs/{run_id}")

    assert page.text("run-status") == "FAILED"
    assert page.text("run-error") == "AuthError: 401 invalid x-api-key"
    assert page.text("attempt-error") == "AuthError: 401 invalid x-api-key"


def test_an_unknown_run_is_a_404_page(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    for run_id in ("run_nothing", "%00", "x" * 200):
        page = dashboard.get(f"/dashboard/runs/{run_id}")
        assert page.status == 404, run_id
        assert page.text("problem-title") == "Not found"
    status = dashboard.raw_get("/dashboard/runs/run_nothing/status")
    assert status.status_code == 404
    assert status.json() == {"error": "There is no such run in the accounts you can see."}


def test_the_run_page_shows_each_deliverys_state(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    """Sent, handed over without confirmation, waiting for another try (with when), refused
    by the mail server: each says so, with what the server answered."""
    dashboard = signed_in(client, alice)
    run_id = queued_run(dashboard, alice)
    queue = work_queue(backbeat, clock)
    clock.advance(seconds=5)
    [claim] = queue.claim("worker-1", 1)
    outcomes = {
        "alice@example.com": SendOutcome.ACCEPTED,
        "manager@example.com": SendOutcome.UNCONFIRMED,
        "tour@example.com": SendOutcome.TEMPORARY,
        "press@example.com": SendOutcome.REFUSED,
    }
    for address, outcome in outcomes.items():
        email_sent(backbeat, clock, claim, address, "Pulse", outcome)
    queue.finish(claim, Outcome(output={"text": "Done."}, failure=None, cost_in_cents=0.0))

    page = dashboard.get(f"/dashboard/runs/{run_id}")

    states = {
        node.attrs["data-status"]: " ".join(node.text.split())
        for node in page.all("li", data_testid="delivery")
    }
    assert set(states) == {"sent", "unconfirmed", "pending", "refused"}
    assert states["sent"] == "Sent to alice@example.com: “Pulse”"
    assert states["unconfirmed"].startswith("Handed over, unconfirmed (not resent), to manager@")
    assert states["pending"].startswith("Waiting to send to tour@example.com: “Pulse” — next try")
    assert states["refused"].startswith("Refused by the mail server for press@example.com")


def test_a_report_is_compared_with_the_previous_one(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    first = "Streams: 10k\nTop city: Berlin\n\nNothing else."
    second = "Streams: 12k\nTop city: Berlin\n\nNothing else.\n<b>New</b>: a playlist add"
    runs = []
    for text in (first, second, second):
        location = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
        runs.append(location.split("?")[0].rsplit("/", 1)[1])
        finish_queued_run(backbeat, clock, {"text": text}, retry_first=False)

    assert dashboard.get(f"/dashboard/runs/{runs[0]}").all(data_testid="report-diff") == []
    page = dashboard.get(f"/dashboard/runs/{runs[1]}")
    assert page.text("diff-summary") == "2 lines added, 1 removed"
    diff = page.testid("report-diff")
    assert [node.text for node in diff.walk() if node.tag == "ins"] == [
        "Added: Streams: 12k",
        "Added: <b>New</b>: a playlist add",  # shown as text, never as markup
    ]
    assert [node.text for node in diff.walk() if node.tag == "del"] == ["Removed: Streams: 10k"]
    assert all(node.tag != "b" for node in diff.walk())
    same = dashboard.get(f"/dashboard/runs/{runs[2]}")
    assert same.text("diff-summary") == "no change"


def test_a_changed_only_run_shows_its_verdict(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    verdicts = [
        {"changed": False, "what_changed": None, "compared_with": "run_earlier", "note": None},
        {
            "changed": True,
            "what_changed": "Streams <b>doubled</b>.",
            "compared_with": "run_earlier",
            "note": None,
        },
    ]
    runs = []
    for verdict in verdicts:
        location = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
        runs.append(location.split("?")[0].rsplit("/", 1)[1])
        output = {"text": "Streams: 10k", "verdict": verdict}
        finish_queued_run(backbeat, clock, output, retry_first=False)

    quiet = dashboard.get(f"/dashboard/runs/{runs[0]}")
    assert quiet.text("verdict-summary") == "Unchanged: nothing was sent."
    assert "/dashboard/runs/run_earlier" in [
        node.attrs.get("href") for node in quiet.testid("verdict").walk() if node.tag == "a"
    ]
    sent = dashboard.get(f"/dashboard/runs/{runs[1]}")
    assert sent.text("verdict-summary") == "Changed: the report was sent."
    assert sent.text("what-changed") == "What changed: Streams <b>doubled</b>."  # text, not markup
