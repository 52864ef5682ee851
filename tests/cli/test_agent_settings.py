"""The agent settings from the command line: `backbeat tasks create|update --tools …
--max-run-cost-usd … --max-output-tokens … --model-timeout-seconds …`, and an operator's
`backbeat accounts set-budget ACCOUNT_ID --monthly-usd N | --none`."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.cli.conftest import Cli
from tests.conftest import Tenant


def test_tools_and_limits_are_set_changed_and_reset(cli: Cli, alice: Tenant) -> None:
    account = str(alice.account_id)
    created = cli.json(
        "tasks", "create", "--account", account, "--artist", str(alice.artist_id),
        "--title", "Pulse", "--prompt", "Summarise the week.", "--schedule", "0 9 * * 1",
        "--tools", "read_artist_profile, fetch_web_page", "--max-run-cost-usd", "0.5",
        "--max-output-tokens", "1500", "--model-timeout-seconds", "30",
    )  # fmt: skip
    assert created["tools"] == ["read_artist_profile", "fetch_web_page"]
    assert created["max_run_cost_usd"] == 0.5
    assert created["max_output_tokens"] == 1500
    assert created["model_timeout_seconds"] == 30.0
    task_id = created["id"]

    update = ["tasks", "update", task_id, "--account", account]
    none = cli.json(*update, "--tools", "none", "--max-run-cost-usd", "none")
    assert none["tools"] == []
    assert none["max_run_cost_usd"] is None
    assert cli.json(*update, "--tools", "default")["tools"] is None
    assert cli.error(*update, "--tools", "rm").startswith("unknown tool 'rm'")
    assert cli.error(*update, "--max-run-cost-usd", "lots", code=2) == (
        "--max-run-cost-usd takes an amount in USD, or none"
    )


def test_an_operator_sets_and_removes_a_monthly_budget(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    account = str(alice.account_id)
    assert cli.ok("accounts", "set-budget", account, "--monthly-usd", "50").startswith(
        f"{account}: monthly budget $50.00 ($0.00 spent since "
    )
    usage = client.get("/api/accounts/usage", headers=alice.headers).json()
    assert usage["monthly_budget_usd"] == 50.0
    record = cli.json("accounts", "set-budget", account, "--none")
    assert record["monthly_budget_usd"] is None
    assert cli.error("accounts", "set-budget", account, code=2) == (
        "give either --monthly-usd AMOUNT or --none"
    )
    assert "monthly budget must be more than 0" in cli.error(
        "accounts", "set-budget", account, "--monthly-usd", "-3"
    )
