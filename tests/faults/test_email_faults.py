"""A report reaches each person at most once, whatever the mail server does: `backbeat serve`
(a real process, SQLite) against an SMTP server that fails at each stage on purpose.

For every case the model asks once for an email and then answers; the test asserts, from the
SMTP server's side, how many complete copies arrived, and from Backbeat's side, the run's
delivery state, the model conversation (never a second one) and /metrics. The guarantee
(docs/production.md, "Delivery guarantee"):

- before the end of the message nothing can have arrived: a passing failure (no connection,
  a 4xx) leaves the delivery pending and the outbox retries it later, without the model;
  a permanent one (a failed login, a 5xx) ends it failed or refused: zero copies;
- after the end of the message: a 250 is sent (an error at QUIT changes nothing); no reply,
  a reply later than the timeout or a dropped connection is unconfirmed and never sent
  again (exactly one copy); an explicit 4xx is retried, a 5xx failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backbeat.testing.fake_models import Delay, FakeModelServer, Reply, ToolCallReply
from tests.acceptance.conftest import Server, serving
from tests.acceptance.test_end_to_end import (
    OWNER,
    TEAMMATE,
    Team,
    create_task,
    get_run,
    make_team,
    run_now,
    tool_results,
    wait_until_final,
)
from tests.faults.smtp import DROP, HANG, SLOW, FaultySmtpServer, serve_env

pytestmark = pytest.mark.slow(seconds=35)

FINAL = "Done: the team has the weekly pulse."
SUBJECT = "Nova Lights: weekly pulse"
DELIVERY_TIMEOUT = 30.0
FINAL_STATES = {"sent", "unconfirmed", "failed", "refused"}


def fault_env(directory: Path, models: FakeModelServer, smtp: FaultySmtpServer) -> dict[str, str]:
    return serve_env(
        directory,
        models,
        smtp,
        # Short, so that "slower than the timeout" takes a second here, not ten minutes.
        BACKBEAT_SMTP_TIMEOUT_SECONDS="5",
        BACKBEAT_SMTP_DATA_TIMEOUT_SECONDS="1.5",
        BACKBEAT_OUTBOX_RETRY_FIRST_SECONDS="0.5",
        BACKBEAT_OUTBOX_RETRY_MAX_SECONDS="1",
        BACKBEAT_OUTBOX_POLL_SECONDS="0.2",
    )


@dataclass
class Stack:
    server: Server
    team: Team
    models: FakeModelServer
    smtp: FaultySmtpServer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("email-faults")
    with FakeModelServer() as models, FaultySmtpServer() as smtp:
        env = fault_env(directory, models, smtp)
        team = make_team(env)  # the owner and a teammate, in one organization
        with serving(env, directory) as server:
            yield Stack(server, team, models, smtp)


def email_once(stack: Stack, *recipients: str, wait: bool = True) -> dict[str, Any]:
    """A task whose run asks the model, which emails `recipients` once, then answers."""
    send = {"to": list(recipients), "subject": SUBJECT, "body": "The weekly pulse."}
    assert stack.models.pending == 0, "an earlier test left model replies behind"
    stack.models.script(ToolCallReply("send_email", send), Reply(FINAL))
    task = create_task(stack.server, stack.team, "0 9 * * 1", "Email the team the pulse.")
    run = run_now(stack.server, stack.team, task["id"])
    return wait_until_final(stack.server, stack.team, run["id"]) if wait else run


def settled(stack: Stack, run_id: str) -> dict[str, Any]:
    """The run once every delivery of it reached a final state."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        run = get_run(stack.server, stack.team, run_id)
        deliveries = (run.get("output") or {}).get("deliveries") or []
        if deliveries and all(d["status"] in FINAL_STATES for d in deliveries):
            return run
        assert time.monotonic() < deadline, f"deliveries never settled: {run}"
        time.sleep(0.2)


def metric(stack: Stack, name: str, **labels: str) -> float:
    answer = httpx.get(f"{stack.server.url}/metrics", timeout=10.0)
    total = 0.0
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@dataclass(frozen=True)
class Case:
    name: str
    plan: dict[str, list[Any]]  # FaultPlan field -> behaviours, used once each
    status: str  # the delivery's final state
    copies: int  # complete messages the server received
    tries: int


CASES = [
    Case("accepted", {}, "sent", 1, 1),
    Case("quit answered 421 after the 250", {"quit": ["421 4.3.2 closing"]}, "sent", 1, 1),
    Case("login refused", {"auth": [False]}, "failed", 0, 1),
    Case("RCPT 450, then accepted", {"rcpt": ["450 4.2.1 mailbox busy"]}, "sent", 1, 2),
    Case("RCPT 550", {"rcpt": ["550 5.1.1 no such user"]}, "refused", 0, 1),
    Case("451 after DATA, then accepted", {"data": ["451 4.3.0 try later"]}, "sent", 1, 2),
    Case("554 after DATA", {"data": ["554 5.7.1 rejected"]}, "failed", 0, 1),
    Case("reply after DATA slower than the timeout", {"data": [SLOW]}, "unconfirmed", 1, 1),
    Case("no reply after DATA", {"data": [HANG]}, "unconfirmed", 1, 1),
    Case("connection dropped after DATA", {"data": [DROP]}, "unconfirmed", 1, 1),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_stage_fails_into_the_state_the_guarantee_names(stack: Stack, case: Case) -> None:
    handler = stack.smtp.handler
    for stage, behaviours in case.plan.items():
        getattr(handler.plan, stage).extend(behaviours)
    copies_before = handler.copies(OWNER)
    requests_before = len(stack.models.requests)

    run = email_once(stack, OWNER)

    assert run["status"] == "COMPLETED", run  # a delivery never fails the run
    assert run["output"]["text"] == FINAL
    run = settled(stack, run["id"])
    [delivery] = run["output"]["deliveries"]
    assert (delivery["to"], delivery["status"], delivery["tries"]) == (
        OWNER,
        case.status,
        case.tries,
    ), delivery
    assert handler.copies(OWNER) - copies_before == case.copies
    # One model conversation, whatever the mail server did: retries are the outbox's.
    assert len(stack.models.requests) - requests_before == 2
    if case.status in ("sent", "unconfirmed"):
        assert [e["to"] for e in run["output"]["emails_sent"]] == [OWNER]
    else:
        assert run["output"]["emails_sent"] == []
        assert delivery["error"]


def test_an_outage_keeps_the_email_and_delivers_it_once_after(stack: Stack) -> None:
    """The mail server is down while the run needs it: the run completes, its delivery waits
    (pending, retried on a schedule), and once the server is back exactly one copy arrives,
    with no second model conversation."""
    handler = stack.smtp.handler
    requests_before = len(stack.models.requests)
    copies_before = handler.copies(OWNER)
    stack.smtp.stop()
    try:
        run = email_once(stack, OWNER)
        assert run["status"] == "COMPLETED", run
        [told] = tool_results(stack.models.requests[-1].messages)
        assert "delivers it on its own" in told, told
        # Tried again (and again) while the server is down: still pending (seen between two
        # tries: during one it is `sending`), nothing arrived.
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            [delivery] = get_run(stack.server, stack.team, run["id"])["output"]["deliveries"]
            if delivery["tries"] >= 3 and delivery["status"] != "sending":
                break
            assert time.monotonic() < deadline, delivery
            time.sleep(0.2)
        assert delivery["status"] == "pending"
        assert delivery["next_try_at"] is not None
        assert handler.copies(OWNER) == copies_before
    finally:
        stack.smtp.start()

    run = settled(stack, run["id"])
    [delivery] = run["output"]["deliveries"]
    assert delivery["status"] == "sent", delivery
    assert handler.copies(OWNER) - copies_before == 1
    assert len(stack.models.requests) - requests_before == 2


def test_a_cancel_while_an_email_is_on_the_wire_sends_nothing_more(stack: Stack) -> None:
    """The owner's email is being sent (the server is slow to answer RCPT) when the run is
    canceled: that one completes (it had left), the teammate's is never sent."""
    handler = stack.smtp.handler
    handler.plan.rcpt_delay.append(3.0)
    owner_before, teammate_before = handler.copies(OWNER), handler.copies(TEAMMATE)

    run = email_once(stack, OWNER, TEAMMATE, wait=False)
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        deliveries = (get_run(stack.server, stack.team, run["id"]).get("output") or {}).get(
            "deliveries"
        ) or []
        if any(d["status"] == "sending" for d in deliveries):
            break
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.05)
    canceled = httpx.post(
        f"{stack.server.url}/api/tasks/runs/cancel",
        headers=stack.team.headers,
        json={"runId": run["id"]},
        timeout=10.0,
    )
    assert canceled.status_code == 200, canceled.text

    final = wait_until_final(stack.server, stack.team, run["id"])
    assert final["status"] == "CANCELED"
    time.sleep(4.0)  # the owner's send finishes; the attempt would have mailed the teammate
    final = get_run(stack.server, stack.team, run["id"])
    assert handler.copies(OWNER) - owner_before == 1
    assert handler.copies(TEAMMATE) - teammate_before == 0
    [delivery] = final["output"]["deliveries"]
    assert (delivery["to"], delivery["status"]) == (OWNER, "sent")
    stack.models.reset()  # the canceled run never asked for its final answer


def test_deleting_a_task_stops_its_executing_and_queued_runs(stack: Stack) -> None:
    """A run waiting on the model and a second run queued behind it: deleting the task cancels
    both in the same transaction; neither emails anyone, the queued one never starts."""
    handler = stack.smtp.handler
    copies_before = handler.copies(OWNER)
    requests_before = len(stack.models.requests)
    send = {"to": [OWNER], "subject": SUBJECT, "body": "The weekly pulse."}
    assert stack.models.pending == 0, "an earlier test left model replies behind"
    stack.models.script(Delay(3.0), ToolCallReply("send_email", send), Reply(FINAL))
    task = create_task(stack.server, stack.team, "0 9 * * 1", "Email the team the pulse.")
    executing = run_now(stack.server, stack.team, task["id"])
    queued = run_now(stack.server, stack.team, task["id"])
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while len(stack.models.requests) == requests_before:  # the first run awaits the model
        assert time.monotonic() < deadline, "the first run never asked the model"
        time.sleep(0.05)
    assert get_run(stack.server, stack.team, queued["id"])["status"] == "QUEUED"

    deleted = httpx.request(
        "DELETE",
        f"{stack.server.url}/api/tasks",
        headers=stack.team.headers,
        json={"id": task["id"]},
        timeout=10.0,
    )
    assert deleted.status_code == 200, deleted.text

    for run in (executing, queued):
        final = get_run(stack.server, stack.team, run["id"])
        assert final["status"] == "CANCELED", final
        assert final["taskId"] is None  # still readable
    time.sleep(4.0)  # the model's late answer asks for the email: refused, not sent
    assert handler.copies(OWNER) == copies_before
    assert len(stack.models.requests) - requests_before == 1  # the queued run never ran
    assert (get_run(stack.server, stack.team, executing["id"]).get("output") or {}).get(
        "deliveries", []
    ) == []
    stack.models.reset()  # the canceled run never asked for its final answer


def test_metrics_agree_with_what_the_server_received(stack: Stack) -> None:
    """Runs after the cases above (same module, same server): every complete copy the server
    kept was counted as sent or unconfirmed, and nothing was ever sent twice."""
    handler = stack.smtp.handler
    kept = len(handler.received)
    counted = metric(stack, "backbeat_deliveries_total", state="sent") + metric(
        stack, "backbeat_deliveries_total", state="unconfirmed"
    )
    assert counted == kept
    assert metric(stack, "backbeat_emails_sent_total") == kept
    time.sleep(2.0)  # several outbox polls later: unconfirmed ones were not retried
    assert len(handler.received) == kept
