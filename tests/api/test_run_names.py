"""Runs carry `title` (their task's title) and `email_subject` (the subject of the first email
they sent): in listings and in full, on both databases (Recoup's autumn-2026 fields)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

from backbeat.domain.deliveries import Channel, Delivery, DeliveryStatus
from backbeat.domain.ids import new_delivery_id
from backbeat.domain.models import Run
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task
from tests.api.test_runs_endpoint import add_run
from tests.conftest import Tenant
from tests.databases import statements_run


def add_email(
    backbeat: Backbeat, run: Run, to: str, subject: str | None, status: DeliveryStatus, at: int
) -> None:
    """A delivery of `run`'s, `at` seconds after the run was created."""
    created = run.created_at + timedelta(seconds=at)
    delivery = Delivery(
        id=new_delivery_id(),
        run_id=run.id,
        channel=Channel.EMAIL,
        recipient=to,
        address=to,
        subject=subject,
        body="the report",
        status=status,
        created_at=created,
        updated_at=created,
    )
    with backbeat.uow(write=True) as uow:
        uow.deliveries.add(delivery)
        uow.commit()


def _listed(client: TestClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    response = client.get("/api/tasks/runs", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {run["id"]: run for run in response.json()["runs"]}


def _full(client: TestClient, tenant: Tenant, run_id: str) -> dict[str, Any]:
    response = client.get("/api/tasks/runs", params={"runId": run_id}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    [run] = response.json()["runs"]
    return dict(run)


def test_email_subject_is_the_first_email_the_run_sent(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    task = create_task(client, alice, title="Weekly pulse")
    several, unsure, none, quiet = (add_run(backbeat, task, minute) for minute in range(4))
    add_email(backbeat, several, "a@example.com", "Never left", DeliveryStatus.FAILED, 1)
    add_email(backbeat, several, "b@example.com", "Pulse, week 2", DeliveryStatus.SENT, 2)
    add_email(backbeat, several, "c@example.com", "Later", DeliveryStatus.UNCONFIRMED, 3)
    add_email(backbeat, unsure, "a@example.com", "Maybe arrived", DeliveryStatus.UNCONFIRMED, 1)
    add_email(backbeat, none, "a@example.com", "Waiting", DeliveryStatus.PENDING, 1)
    add_email(backbeat, none, "b@example.com", "Refused", DeliveryStatus.REFUSED, 2)

    listed = _listed(client, alice)

    subjects = {run.id: listed[run.id]["email_subject"] for run in (several, unsure, none, quiet)}
    assert subjects == {
        several.id: "Pulse, week 2",
        unsure.id: "Maybe arrived",
        none.id: None,
        quiet.id: None,
    }
    assert {run["title"] for run in listed.values()} == {"Weekly pulse"}
    for run in (several, unsure, none, quiet):
        full = _full(client, alice, run.id)
        assert (full["title"], full["email_subject"]) == ("Weekly pulse", subjects[run.id])


def test_title_is_the_tasks_title_now_and_null_once_the_task_is_gone(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    task = create_task(client, alice, title="Pulse")
    run = add_run(backbeat, task, 1)
    client.patch("/api/tasks", json={"id": task["id"], "title": "Renamed"}, headers=alice.headers)

    assert _listed(client, alice)[run.id]["title"] == "Renamed"
    assert _full(client, alice, run.id)["title"] == "Renamed"

    client.request("DELETE", "/api/tasks", json={"id": task["id"]}, headers=alice.headers)

    assert _listed(client, alice)[run.id]["title"] is None
    assert _full(client, alice, run.id)["title"] is None


def test_run_now_and_cancel_answer_the_run_as_it_is_read(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, title="Pulse")

    queued = client.post(
        "/api/tasks/runs/trigger", json={"task_id": task["id"]}, headers=alice.headers
    ).json()["runs"][0]
    assert (queued["title"], queued["email_subject"]) == ("Pulse", None)
    assert queued == _full(client, alice, queued["id"])

    canceled = client.post(
        "/api/tasks/runs/cancel", json={"runId": queued["id"]}, headers=alice.headers
    ).json()["runs"][0]
    assert canceled == _full(client, alice, queued["id"])


def test_listing_runs_costs_a_constant_number_of_queries(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    tasks = [create_task(client, alice) for _ in range(3)]
    first = add_run(backbeat, tasks[0], 0)
    add_email(backbeat, first, "a@example.com", "Hi", DeliveryStatus.SENT, 1)
    with statements_run(backbeat.engine) as one:
        _listed(client, alice)
    for minute in range(1, 30):
        run = add_run(backbeat, tasks[minute % 3], minute)
        add_email(backbeat, run, "a@example.com", f"Hi {minute}", DeliveryStatus.SENT, 1)
    with statements_run(backbeat.engine) as many:
        assert len(_listed(client, alice)) == 20

    assert len(one) == len(many)
