"""The task form's Agent section (the tools the model may use, a cost cap per run, the
per-call limits), saved through TaskService as the API saves them and summed up on the task's
page; the tasks page's line of this month's model spend against the account's budget; and a
run stopped by either budget showing why."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.testclient import TestClient

from backbeat.domain.agent_settings import (
    BUILTIN_TOOLS,
    MAX_MODEL_TIMEOUT_SECONDS,
    MAX_OUTPUT_TOKENS,
    MAX_RUN_COST_USD,
)
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider
from backbeat.wiring import Backbeat
from tests.api.helpers import list_tasks
from tests.conftest import Tenant
from tests.dashboard.helpers import (
    Dashboard,
    Page,
    another_browser,
    create_task,
    finish_queued_run,
    signed_in,
)
from tests.dashboard.test_task_delivery import api_task, form_values
from tests.worker.harness import make_harness, run
from tests.worker.test_agent_settings import expensive_tool_call

NUMBERS = ("max_run_cost_usd", "max_output_tokens", "model_timeout_seconds")
PICKED = {
    "agent_tools": "pick",
    "agent_tool_read_artist_profile": "1",
    "agent_tool_web_search": "1",
    "max_run_cost_usd": "0.5",
    "max_output_tokens": "2000",
    "model_timeout_seconds": "60",
}
DEFAULTS = {
    "tools": None,
    "max_run_cost_usd": None,
    "max_output_tokens": None,
    "model_timeout_seconds": None,
}


def agent_of(client: TestClient, tenant: Tenant, task_id: str) -> dict[str, Any]:
    task = api_task(client, tenant, task_id)
    return {name: task[name] for name in DEFAULTS}


def edit(dashboard: Dashboard, task_id: str, **changes: str) -> Any:
    """The edit form as shown, with `changes`; a box changed to "" is unchecked (not sent)."""
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    values = {**form_values(page), **changes}
    unchecked = [name for name, value in values.items() if is_box(name) and not value]
    return dashboard.post(
        f"/dashboard/tasks/{task_id}", {k: v for k, v in values.items() if k not in unchecked}
    )


def is_box(name: str) -> bool:
    return name.startswith("agent_tool_")


def checked_tools(page: Page) -> list[str]:
    return [
        name
        for name in BUILTIN_TOOLS
        if "checked" in page.one("input", id=f"task-agent_tool_{name}").attrs
    ]


def chosen_tools(page: Page) -> str:
    select = page.one("select", id="task-agent_tools")
    [chosen] = [node for node in select.walk() if node.tag == "option" and "selected" in node.attrs]
    return chosen.attrs.get("value") or ""


def test_a_new_task_offers_the_section_with_its_defaults(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    blank = dashboard.get("/dashboard/tasks/new")

    section = blank.testid("agent-section")
    legends = [node.text for node in section.walk() if node.tag == "legend"]
    assert legends == ["Agent", "Tools checked"]
    assert blank.label_for("task-agent_tools") == "Tools"
    assert [
        node.text
        for node in blank.one("select", id="task-agent_tools").walk()
        if node.tag == "option"
    ] == ["All built-in tools (default)", "Only the tools checked"]
    assert chosen_tools(blank) == ""
    assert checked_tools(blank) == []
    assert [blank.label_for(f"task-agent_tool_{name}") for name in BUILTIN_TOOLS] == list(
        BUILTIN_TOOLS
    )
    assert blank.label_for("task-max_run_cost_usd") == "Cost cap per run (USD)"
    assert blank.label_for("task-max_output_tokens") == "Max output tokens"
    assert blank.label_for("task-model_timeout_seconds") == "Model call timeout (s)"
    limits = {
        "max_run_cost_usd": MAX_RUN_COST_USD,
        "max_output_tokens": MAX_OUTPUT_TOKENS,
        "model_timeout_seconds": MAX_MODEL_TIMEOUT_SECONDS,
    }
    for name, most in limits.items():
        control = blank.one("input", id=f"task-{name}")
        assert control.attrs["value"] == ""
        assert float(control.attrs["max"] or "") == most  # the browser's limits are the API's
        assert control.attrs["aria-describedby"] == f"task-{name}-hint"

    # The form as a browser sends it, untouched: the defaults.
    data = form_values(blank) | {
        "title": "Pulse",
        "prompt": "Summarise the week.",
        "schedule": "0 9 * * 4",
        "artist_account_id": str(alice.artist_id),
    }
    response = dashboard.post("/dashboard/tasks/new", data)

    assert response.status_code == 303, response.text
    [task] = list_tasks(client, alice)
    assert agent_of(client, alice, task["id"]) == DEFAULTS
    page = dashboard.get(f"/dashboard/tasks/{task['id']}")
    assert page.text("task-agent") == "Agent: built-in tools · no cost cap"


def test_a_new_task_stores_each_field(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    task_id = create_task(dashboard, alice, **PICKED)

    assert agent_of(client, alice, task_id) == {
        "tools": ["read_artist_profile", "web_search"],
        "max_run_cost_usd": 0.5,
        "max_output_tokens": 2000,
        "model_timeout_seconds": 60.0,
    }
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-agent") == (
        "Agent: tools read_artist_profile, web_search · at most $0.50 per run · "
        "2,000 output tokens · 60 s per model call"
    )
    # The edit form shows them back as they were typed.
    assert chosen_tools(page) == "pick"
    assert checked_tools(page) == ["read_artist_profile", "web_search"]
    assert page.one("input", id="task-max_run_cost_usd").attrs["value"] == "0.5"
    assert page.one("input", id="task-max_output_tokens").attrs["value"] == "2000"
    assert page.one("input", id="task-model_timeout_seconds").attrs["value"] == "60"


def test_editing_changes_each_field_and_an_untouched_form_changes_none(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, **PICKED)
    stored = agent_of(client, alice, task_id)

    assert edit(dashboard, task_id, title="Renamed").status_code == 303
    assert agent_of(client, alice, task_id) == stored

    response = edit(
        dashboard,
        task_id,
        agent_tool_web_search="",
        agent_tool_fetch_web_page="1",
        max_run_cost_usd="0.125",
        max_output_tokens="1",
        model_timeout_seconds="2.5",
    )

    assert response.status_code == 303, response.text
    assert agent_of(client, alice, task_id) == {
        "tools": ["read_artist_profile", "fetch_web_page"],  # in the built-ins' order
        "max_run_cost_usd": 0.125,
        "max_output_tokens": 1,
        "model_timeout_seconds": 2.5,
    }
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-agent") == (
        "Agent: tools read_artist_profile, fetch_web_page · at most $0.125 per run · "
        "1 output token · 2.5 s per model call"
    )
    assert page.one("input", id="task-max_run_cost_usd").attrs["value"] == "0.125"


def test_pick_with_none_checked_is_no_tools(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, **PICKED)

    unchecked = {f"agent_tool_{name}": "" for name in BUILTIN_TOOLS}
    assert edit(dashboard, task_id, **unchecked).status_code == 303

    assert agent_of(client, alice, task_id)["tools"] == []
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-agent").startswith("Agent: no tools · at most $0.50 per run")
    assert chosen_tools(page) == "pick"  # not shown back as the default
    assert checked_tools(page) == []


def test_the_defaults_and_empty_inputs_remove_the_settings(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, **PICKED)

    response = edit(
        dashboard,
        task_id,
        agent_tools="",  # the checked boxes are then not used
        max_run_cost_usd="",
        max_output_tokens=" ",
        model_timeout_seconds="",
    )

    assert response.status_code == 303, response.text
    assert agent_of(client, alice, task_id) == DEFAULTS
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    assert page.text("task-agent") == "Agent: built-in tools · no cost cap"
    assert checked_tools(page) == []


def test_values_out_of_range_are_refused_in_the_form(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, **PICKED)
    before = api_task(client, alice, task_id)
    refused = {
        "max_run_cost_usd": (
            ["0", "-1", "1000.01", "1e9", "cheap", "nan", "1,5"],
            "max_run_cost_usd must be greater than 0 and at most 1000",
        ),
        "max_output_tokens": (
            ["0", "64001", "2.5", "lots", "2,000"],
            "at least 1 and at most 64000",
        ),
        "model_timeout_seconds": (
            ["0", "3600.5", "-5", "soon"],
            "model_timeout_seconds must be greater than 0 and at most 3600",
        ),
    }

    for name, (typed_values, message) in refused.items():
        for typed in typed_values:
            response = edit(dashboard, task_id, title="Renamed", **{name: typed})

            assert response.status_code == 400, (name, typed)
            page = Page(response)
            assert message in page.text("form-error"), (name, typed)
            control = page.one("input", id=f"task-{name}")
            assert control.attrs["aria-invalid"] == "true"
            assert control.attrs["aria-describedby"] == f"form-error task-{name}-hint"
            assert control.attrs["value"] == typed  # as typed, to fix
            # The rest of the form as it was sent.
            assert page.one("input", id="task-title").attrs["value"] == "Renamed"
            assert chosen_tools(page) == "pick"
            assert checked_tools(page) == ["read_artist_profile", "web_search"]
            others = [other for other in NUMBERS if other != name]
            for other in others:
                assert page.one("input", id=f"task-{other}").attrs["value"] == PICKED[other]
                assert "aria-invalid" not in page.one("input", id=f"task-{other}").attrs
    assert api_task(client, alice, task_id) == before


def test_a_refused_new_task_keeps_the_section_and_creates_nothing(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/tasks/new")
    data = {
        "title": "Pulse",
        "prompt": "Summarise the week.",
        "schedule": "0 9 * * 4",
        "timezone": "UTC",
        "artist_account_id": str(alice.artist_id),
        **PICKED,
        "max_output_tokens": "64001",
    }

    response = dashboard.post("/dashboard/tasks/new", data)

    assert response.status_code == 400
    page = Page(response)
    assert page.text("form-error") == "max_output_tokens must be at least 1 and at most 64000"
    assert page.one("input", id="task-max_output_tokens").attrs["aria-invalid"] == "true"
    assert checked_tools(page) == ["read_artist_profile", "web_search"]
    assert page.one("input", id="task-max_run_cost_usd").attrs["value"] == "0.5"
    assert list_tasks(client, alice) == []


def test_tool_names_are_checked_by_the_service(client: TestClient, alice: Tenant) -> None:
    """The checkboxes offer only the built-ins; a forged or kept other name gets the service's
    answer, on the Tools control."""
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, **PICKED)
    before = api_task(client, alice, task_id)
    answers = {
        "nonesuch": "unknown tool 'nonesuch'",
        "search/web": "no MCP server named 'search' is registered",
    }

    for kept, message in answers.items():
        response = edit(dashboard, task_id, agent_tools_kept=kept)

        assert response.status_code == 400, kept
        page = Page(response)
        assert page.text("form-error").startswith(message)
        control = page.one("select", id="task-agent_tools")
        assert control.attrs["aria-invalid"] == "true"
        assert page.one("input", type="hidden", name="agent_tools_kept").attrs["value"] == kept
        assert kept in page.one(id="task-agent_tools-hint").text
    response = edit(dashboard, task_id, agent_tools="everything")
    assert response.status_code == 400
    assert Page(response).one("select", id="task-agent_tools").attrs["aria-invalid"] == "true"
    assert api_task(client, alice, task_id) == before


def test_the_tasks_page_shows_this_months_spend(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant, bob: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    assert dashboard.get("/dashboard/tasks").text("month-spend") == "This month: $0.00 spent."

    dashboard.post(f"/dashboard/tasks/{task_id}/run")
    finish_queued_run(backbeat, clock, retry_first=False, cost_in_cents=100)
    dashboard.post(f"/dashboard/tasks/{task_id}/run")
    finish_queued_run(backbeat, clock, cost_in_cents=23)  # and 0.25 for its failed try
    # Bob's spend is his own.
    bobs = signed_in(another_browser(client), bob)
    bobs_task = create_task(bobs, bob)
    bobs.post(f"/dashboard/tasks/{bobs_task}/run")
    finish_queued_run(backbeat, clock, retry_first=False, cost_in_cents=999)

    assert dashboard.get("/dashboard/tasks").text("month-spend") == ("This month: $1.2325 spent.")
    assert bobs.get("/dashboard/tasks").text("month-spend") == "This month: $9.99 spent."

    backbeat.usage.set_monthly_budget(alice.account_id, 50.0)
    assert dashboard.get("/dashboard/tasks").text("month-spend") == (
        "This month: $1.2325 spent of $50.00 ($48.7675 left)."
    )
    backbeat.usage.set_monthly_budget(alice.account_id, 1.0)
    assert dashboard.get("/dashboard/tasks").text("month-spend") == (
        "This month: $1.2325 spent of $1.00 ($0.00 left); new runs do not start until next month."
    )

    clock.advance(days=31)  # February: the budget starts over
    dashboard = signed_in(client, alice)  # the session has expired by then
    assert dashboard.get("/dashboard/tasks").text("month-spend") == (
        "This month: $0.00 spent of $1.00 ($1.00 left)."
    )


def test_runs_stopped_by_a_budget_show_why(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    """A run past its task's cost cap (BudgetExceeded), then one that finds the account's
    monthly budget spent (MonthlyBudgetExceeded): each run page shows the error."""
    provider = ScriptedProvider(*(expensive_tool_call(n) for n in range(10)))
    h = make_harness(backbeat, clock, provider)
    dashboard = signed_in(client, alice)
    task_id = create_task(
        dashboard,
        alice,
        model="claude-sonnet-4-5",
        agent_tools="pick",
        agent_tool_read_artist_profile="1",
        max_run_cost_usd="0.10",
        max_output_tokens="1000",
    )

    capped = h.run_now(alice, UUID(task_id))
    assert run(h.work()) == 1

    page = dashboard.get(f"/dashboard/runs/{capped.id}")
    assert page.text("run-status") == "FAILED"
    error = page.text("run-error")
    assert error.startswith("BudgetExceeded: the next model call could cost up to")
    assert "max_run_cost_usd of $0.1" in error
    assert page.text("attempt-error") == error
    assert page.text("run-cost") == "$0.0630"
    assert dashboard.get("/dashboard/tasks").text("month-spend") == "This month: $0.063 spent."

    backbeat.usage.set_monthly_budget(alice.account_id, 0.05)
    stopped = h.run_now(alice, UUID(task_id))
    assert run(h.work()) == 1

    page = dashboard.get(f"/dashboard/runs/{stopped.id}")
    assert page.text("run-status") == "FAILED"
    assert page.text("run-error").startswith(
        "MonthlyBudgetExceeded: the account's monthly budget of $0.05 is spent"
    )
    assert len(provider.requests) == 2  # the second run made no model call
