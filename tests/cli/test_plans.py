"""`backbeat accounts set-plan ACCOUNT_ID free|starter|pro|none [--task-limit N
--min-cadence-minutes M]`: an operator gives an account one of Recoup's plans (or custom
limits on one), or takes it away; the API's gate follows at once."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.helpers import task_body
from tests.cli.conftest import Cli
from tests.conftest import Tenant

DAILY = "0 9 * * *"


def _post(client: TestClient, tenant: Tenant, schedule: str) -> int:
    body = task_body(tenant, schedule=schedule)
    return client.post("/api/tasks", json=body, headers=tenant.headers).status_code


def test_set_plan_and_take_it_away(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = str(alice.account_id)

    assert cli.ok("accounts", "set-plan", account, "free") == (
        f"{account}: plan free, at most 1 enabled task, each at most every 10080 minutes\n"
    )
    assert _post(client, alice, DAILY) == 402

    assert cli.json("accounts", "set-plan", account, "none") == {
        "account_id": account,
        "plan": None,
        "task_limit": None,
        "min_cadence_minutes": None,
    }
    assert _post(client, alice, DAILY) == 200


def test_recoups_plans_and_custom_limits(cli: Cli, client: TestClient, alice: Tenant) -> None:
    account = str(alice.account_id)

    assert cli.json("accounts", "set-plan", account, "pro") == {
        "account_id": account,
        "plan": "pro",
        "task_limit": None,
        "min_cadence_minutes": 60,
    }
    assert cli.ok("accounts", "set-plan", account, "pro") == (
        f"{account}: plan pro, no limit on enabled tasks, each at most every 60 minutes\n"
    )
    custom = cli.json(
        "accounts",
        "set-plan",
        account,
        "starter",
        "--task-limit",
        "5",
        "--min-cadence-minutes",
        "120",
    )
    assert custom == {
        "account_id": account,
        "plan": "starter",
        "task_limit": 5,
        "min_cadence_minutes": 120,
    }
    assert _post(client, alice, "0 */2 * * *") == 200
    assert _post(client, alice, "0 * * * *") == 402


def test_bad_arguments(cli: Cli, alice: Tenant) -> None:
    account = str(alice.account_id)

    assert cli("accounts", "set-plan", account, "gold").exit_code == 2
    assert cli("accounts", "set-plan", "nope", "free").exit_code == 2
    assert cli("accounts", "set-plan", account, "free", "--task-limit", "-1").exit_code == 2
    assert cli("accounts", "set-plan", account, "free", "--min-cadence-minutes", "0").exit_code == 2
    message = cli.error("accounts", "set-plan", account, "none", "--task-limit", "3", code=2)
    assert message == "none takes no limits: it removes the plan"
    unknown = "6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
    assert cli.error("accounts", "set-plan", unknown, "free") == f"no account {unknown}"
