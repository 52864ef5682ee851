"""`backbeat tasks …`: the API's service, tenancy, validation and JSON, from a shell."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import list_tasks, task_body
from tests.cli.conftest import WEEKLY, Cli, create
from tests.conftest import Tenant, make_tenant


def test_create_prints_the_id_of_a_task_the_api_lists(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    task_id = create(cli, alice, "--timezone", "Europe/Paris", "--model", "openai/gpt-4o-mini")

    [task] = list_tasks(client, alice)
    assert task["id"] == task_id
    assert task["title"] == "Weekly pulse"
    assert task["timezone"] == "Europe/Paris"
    assert task["model"] == "openai/gpt-4o-mini"
    assert task["enabled"] is True
    assert task["account_id"] == str(alice.account_id)
    assert task["upcoming"][0] == "2026-01-12T08:00:00.000Z"


def test_prompt_dash_reads_standard_input(cli: Cli, client: TestClient, alice: Tenant) -> None:
    args = ["--account", str(alice.account_id), "--artist", str(alice.artist_id)]
    cli.ok(
        "tasks",
        "create",
        *args,
        "--title",
        "T",
        "--prompt",
        "-",
        "--schedule",
        "@daily",
        input="line one\nline two\n",
    )

    assert list_tasks(client, alice)[0]["prompt"] == "line one\nline two\n"


def test_json_output_is_the_api_task_object(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = str(alice.account_id)
    created = cli.json(
        "tasks",
        "create",
        "--account",
        account,
        "--artist",
        str(alice.artist_id),
        "--title",
        "T",
        "--prompt",
        "P",
        "--schedule",
        WEEKLY,
        "--max-attempts",
        "5",
    )
    second = create(cli, alice, title="Second")
    cli.ok("tasks", "run", second, "--account", account)

    api = list_tasks(client, alice)
    assert cli.json("tasks", "list", "--account", account) == api
    assert [created] == [task for task in api if task["id"] == created["id"]]
    assert cli.json("tasks", "show", second, "--account", account) == api[0]
    assert api[0]["recent_runs"] != []
    assert created["max_attempts"] == 5


def test_list_is_a_table_with_next_fire_and_last_run(cli: Cli, alice: Tenant) -> None:
    account = str(alice.account_id)
    ran = create(cli, alice, "--timezone", "Europe/Paris", title="A" * 60)
    idle = create(cli, alice, title="Idle")
    cli.ok("tasks", "run", ran, "--account", account)

    header, *rows = cli.ok("tasks", "list", "--account", account).splitlines()

    assert header.split() == [
        "ID", "TITLE", "SCHEDULE", "TIMEZONE", "ENABLED", "NEXT", "FIRE", "(UTC)", "LAST", "RUN"
    ]  # fmt: skip
    assert rows[0].startswith(idle)
    assert rows[1].startswith(ran)
    assert rows[0].split()[-3:] == ["2026-01-12", "09:00", "-"]  # UTC, never ran
    assert "2026-01-12 08:00" in rows[1]  # 09:00 in Paris, in UTC
    assert rows[1].endswith("QUEUED")
    assert "A" * 39 + "…" in rows[1]
    assert "A" * 40 not in rows[1]
    assert rows[1].split()[2:8] == ["0", "9", "*", "*", "1", "Europe/Paris"]


def test_list_filters_by_artist_and_state(
    cli: Cli, backbeat: Backbeat, client: TestClient, alice: Tenant
) -> None:
    account = str(alice.account_id)
    other = backbeat.admin.create_artist("Other", account_id=alice.account_id)
    first = create(cli, alice)
    second = cli.ok(
        "tasks",
        "create",
        "--account",
        account,
        "--artist",
        str(other.id),
        "--title",
        "T",
        "--prompt",
        "P",
        "--schedule",
        WEEKLY,
    ).strip()
    cli.ok("tasks", "update", first, "--account", account, "--disable")

    def ids(*args: str) -> list[str]:
        return [task["id"] for task in cli.json("tasks", "list", "--account", account, *args)]

    assert ids("--artist", str(other.id)) == [second]
    assert ids("--enabled") == [second]
    assert ids("--disabled") == [first]
    assert ids() == [second, first]
    result = cli("tasks", "list", "--account", account, "--artist", str(uuid4()))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no tasks\n")


CREATE_ERRORS: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({"--schedule": "61 * * * *"}, {"schedule": "61 * * * *"}),
    ({"--schedule": "0 9 * *"}, {"schedule": "0 9 * *"}),
    ({"--schedule": ""}, {"schedule": ""}),
    ({"--title": ""}, {"title": ""}),
    ({"--prompt": ""}, {"prompt": ""}),
    ({"--artist": "not-a-uuid"}, {"artist_account_id": "not-a-uuid"}),
    ({"--timezone": "Mars/Olympus_Mons"}, {"timezone": "Mars/Olympus_Mons"}),
    ({"--model": ""}, {"model": ""}),
    ({"--max-attempts": "0"}, {"max_attempts": 0}),
    ({"--misfire-grace-seconds": "-1"}, {"misfire_grace_seconds": -1}),
]


@pytest.mark.parametrize(("flags", "fields"), CREATE_ERRORS)
def test_create_validation_errors_are_the_api_messages(
    cli: Cli, client: TestClient, alice: Tenant, flags: dict[str, str], fields: dict[str, Any]
) -> None:
    given = {
        "--artist": str(alice.artist_id),
        "--title": "T",
        "--prompt": "P",
        "--schedule": WEEKLY,
        **flags,
    }
    args = [part for flag, value in given.items() for part in (flag, value)]

    message = cli.error("tasks", "create", "--account", str(alice.account_id), *args)

    response = client.post("/api/tasks", json=task_body(alice, **fields), headers=alice.headers)
    assert response.status_code == 400
    assert message == response.json()["error"]
    assert list_tasks(client, alice) == []


UPDATE_ERRORS: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({"--title": ""}, {"title": ""}),
    ({"--schedule": "every day"}, {"schedule": "every day"}),
    ({"--timezone": "Nowhere"}, {"timezone": "Nowhere"}),
    ({"--artist": "x"}, {"artist_account_id": "x"}),
    ({"--max-attempts": "21"}, {"max_attempts": 21}),
]


@pytest.mark.parametrize(("flags", "fields"), UPDATE_ERRORS)
def test_update_validation_errors_are_the_api_messages(
    cli: Cli, client: TestClient, alice: Tenant, flags: dict[str, str], fields: dict[str, Any]
) -> None:
    task_id = create(cli, alice)
    args = [part for flag, value in flags.items() for part in (flag, value)]

    message = cli.error("tasks", "update", task_id, "--account", str(alice.account_id), *args)

    body = {"id": task_id, **fields}
    response = client.patch("/api/tasks", json=body, headers=alice.headers)
    assert response.status_code == 400
    assert message == response.json()["error"]


def test_update_changes_only_the_given_fields(
    cli: Cli, backbeat: Backbeat, client: TestClient, alice: Tenant
) -> None:
    account = str(alice.account_id)
    task_id = create(cli, alice)
    other = backbeat.admin.create_artist("Other", account_id=alice.account_id)

    out = cli.ok(
        "tasks",
        "update",
        task_id,
        "--account",
        account,
        "--title",
        "Renamed",
        "--schedule",
        "30 7 * * *",
        "--timezone",
        "America/New_York",
        "--artist",
        str(other.id),
        "--disable",
    )

    assert out == f"updated {task_id}\n"
    [task] = list_tasks(client, alice)
    assert task["title"] == "Renamed"
    assert task["prompt"] == "Summarise the week."
    assert (task["schedule"], task["timezone"]) == ("30 7 * * *", "America/New_York")
    assert task["artist_account_id"] == str(other.id)
    assert (task["enabled"], task["upcoming"]) == (False, [])

    resumed = cli.json("tasks", "update", task_id, "--account", account, "--enable")
    assert resumed["enabled"] is True
    assert resumed["upcoming"][0] == "2026-01-05T12:30:00.000Z"
    assert [resumed] == list_tasks(client, alice)


def test_update_without_changes_is_a_usage_error(cli: Cli, alice: Tenant) -> None:
    task_id = create(cli, alice)

    message = cli.error("tasks", "update", task_id, "--account", str(alice.account_id), code=2)

    assert message.startswith("nothing to change")


def test_delete_removes_the_task(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = str(alice.account_id)
    task_id = create(cli, alice)

    assert cli.ok("tasks", "delete", task_id, "--account", account) == f"deleted {task_id}\n"

    assert list_tasks(client, alice) == []
    assert cli.error("tasks", "delete", task_id, "--account", account) == "Task not found"
    assert cli.error("tasks", "show", task_id, "--account", account) == "Task not found"


def test_run_now_prints_the_run_id(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = str(alice.account_id)
    task_id = create(cli, alice)
    cli.ok("tasks", "update", task_id, "--account", account, "--disable")

    run_id = cli.ok("tasks", "run", task_id, "--account", account).strip()
    test_run = cli.json("tasks", "run", task_id, "--account", account, "--test")

    assert run_id.startswith("run_")
    runs = client.get("/api/tasks/runs", headers=alice.headers).json()["runs"]
    assert [run["id"] for run in runs] == [test_run["id"], run_id]
    assert [run["isTest"] for run in runs] == [True, False]
    assert test_run["status"] == "QUEUED"
    assert test_run["trigger"] == "manual"
    full = client.get("/api/tasks/runs", params={"runId": test_run["id"]}, headers=alice.headers)
    assert test_run == full.json()["runs"][0]


def test_an_account_cannot_touch_another_accounts_tasks(
    cli: Cli, client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    task_id = create(cli, alice)
    as_bob = ["--account", str(bob.account_id)]

    assert cli.json("tasks", "list", *as_bob) == []
    assert cli.error("tasks", "show", task_id, *as_bob) == "Task not found"
    for command in (["update", "--title", "Mine"], ["delete"], ["run"]):
        verb, *flags = command
        message = cli.error("tasks", verb, task_id, *as_bob, *flags)
        assert message == "Access denied to this task"
    message = cli.error(
        "tasks",
        "create",
        *as_bob,
        "--artist",
        str(alice.artist_id),
        "--title",
        "T",
        "--prompt",
        "P",
        "--schedule",
        WEEKLY,
    )
    assert message == "Access denied to specified artist_account_id"
    [task] = list_tasks(client, alice)
    assert task["title"] == "Weekly pulse"
    assert task["recent_runs"] == []
    assert list_tasks(client, bob) == []


def test_the_account_must_exist_and_be_a_uuid(cli: Cli, backbeat: Backbeat) -> None:
    nobody = uuid4()
    assert cli.error("tasks", "list", "--account", str(nobody)) == f"no account {nobody}"

    result = cli("tasks", "list", "--account", "alice")
    assert result.exit_code == 2
    assert "--account must be a UUID, got 'alice'" in " ".join(
        result.stderr.replace("│", " ").split()
    )


def test_the_account_can_come_from_the_environment(
    cli: Cli, backbeat: Backbeat, alice: Tenant
) -> None:
    task_id = create(cli, alice)
    cli.env["BACKBEAT_ACCOUNT"] = str(alice.account_id)

    assert [task["id"] for task in cli.json("tasks", "list")] == [task_id]
    carol = make_tenant(backbeat, "carol@example.com")
    assert cli.json("tasks", "list", "--account", str(carol.account_id)) == []


def test_delivery_and_pause_from_the_command_line(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    account = str(alice.account_id)
    slack = "https://hooks.slack.com/services/T9/B9/cliSecret42"
    task_id = cli.ok(
        "tasks", "create", "--account", account, "--artist", str(alice.artist_id),
        "--title", "Pulse", "--prompt", "Summarise the week.", "--schedule", "0 9 * * 1",
        "--email", "alice@example.com", "--slack-url", slack, "--pause-after-failures", "3",
    ).strip()  # fmt: skip
    [task] = list_tasks(client, alice)
    assert task["id"] == task_id
    assert task["delivery"] == {
        "when": "always",
        "email": ["alice@example.com"],
        "slack": {"webhook_url": "https://hooks.slack.com/…et42"},
    }
    assert task["pause_after_failures"] == 3

    kept = cli.json("tasks", "update", task_id, "--account", account, "--deliver", "never")
    assert kept["delivery"]["when"] == "never"
    assert kept["delivery"]["email"] == ["alice@example.com"]  # unchanged
    assert kept["delivery"]["slack"] == task["delivery"]["slack"]  # unchanged
    assert slack not in str(kept)
    changed = cli.json("tasks", "update", task_id, "--account", account, "--deliver", "changed")
    assert changed["delivery"]["when"] == "changed"
    dropped = cli.json("tasks", "update", task_id, "--account", account, "--no-slack")
    assert dropped["delivery"]["slack"] is None
    off = cli.json("tasks", "update", task_id, "--account", account, "--deliver", "off")
    assert off["delivery"] is None
    message = cli.error(
        "tasks", "update", task_id, "--account", account, "--email", "x@elsewhere.example"
    )
    assert "x@elsewhere.example is not the task's owner" in message
