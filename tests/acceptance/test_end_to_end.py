"""End to end: `backbeat serve` on SQLite, a fake model server, a real SMTP server (aiosmtpd)
and a local web page. A due task produces a COMPLETED run whose output is visible through the
API and whose email arrives at the SMTP server; a retried run never emails twice; without any
provider credentials serve still starts and runs end in SYSTEM_FAILURE naming the setting.

Everything listens on 127.0.0.1. The server's clock starts a few seconds before a minute
boundary (BACKBEAT_CLOCK_START), so an every-minute task fires within seconds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from backbeat.agents.tools.registry import NOT_ON_TEAM
from backbeat.testing.fake_models import ErrorReply, FakeModelServer, Reply, ToolCallReply
from tests.acceptance.conftest import Server, cli_json, serving
from tests.processes import clean_env
from tests.tools.helpers import LocalSmtpServer, serve_page

pytestmark = pytest.mark.slow(seconds=30)

OWNER = "owner@label.example"
TEAMMATE = "manager@label.example"
OUTSIDER = "stranger@elsewhere.example"
SENDER = "backbeat@label.example"
ARTIST = "Nova Lights"
PROFILE = '{"genre": "synth-pop", "city": "Lisbon", "goal": "grow the Berlin audience"}'
PAGE_PATH = "/artists/nova-lights/news"
PAGE_FACT = "Nova Lights announce a sold-out show at Lido Berlin on 14 March"
PAGE_HTML = (
    "<!doctype html><html><head><title>Nova Lights news</title>"
    "<style>body { color: red }</style></head><body>"
    f"<h1>Latest news</h1><p>{PAGE_FACT}.</p>"
    "<script>var tracking = 1;</script></body></html>"
).encode()
SUBJECT = "Nova Lights: weekly pulse"
BODY = "Big news: the Lido Berlin show on 14 March is sold out.\nMore next week.\n"
FINAL = "Fetched the news page and emailed the team about the sold-out Berlin show."
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "CANCELED", "INTERRUPTED"}
RUN_TIMEOUT = 30.0  # seconds a run may take once it exists, on a loaded machine


# Local servers


# The team, made with the CLI before the server starts


@dataclass(frozen=True)
class Team:
    owner_id: str
    artist_id: str
    headers: dict[str, str]


def cli_together(env: dict[str, str], *commands: tuple[str, ...]) -> list[Any]:
    """`cli_json` for independent commands, run at once: each CLI call starts Python, which
    takes seconds on a loaded machine. The database must exist already (one call made it);
    SQLite in WAL mode with a busy timeout lets the writers take turns."""
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = [pool.submit(cli_json, env, *command) for command in commands]
        return [future.result() for future in futures]


def make_team(env: dict[str, str], *, organization: bool = True) -> Team:
    """The owner (whose key calls the API) and an artist with a profile. With
    `organization`, the artist belongs to an organization of the owner and a second member;
    else to the owner alone."""
    owner = cli_json(env, "accounts", "create", "--email", OWNER, "--name", "Owner")
    artist_of: tuple[str, ...] = ("--account", owner["id"])
    more: list[tuple[str, ...]] = []
    if organization:
        teammate, org = cli_together(
            env,
            ("accounts", "create", "--email", TEAMMATE, "--name", "Manager"),
            ("orgs", "create", "--name", "Nova Lights team"),
        )
        artist_of = ("--org", org["id"])
        more = [
            ("orgs", "add-member", "--org", org["id"], "--account", member["id"])
            for member in (owner, teammate)
        ]
    artist, key, *added = cli_together(
        env,
        ("artists", "create", "--name", ARTIST, *artist_of, "--profile", PROFILE),
        ("keys", "create", "--account", owner["id"]),
        *more,
    )
    assert all(member["added"] for member in added), added
    return Team(owner["id"], artist["id"], {"x-api-key": key["key"]})


def serve_env(
    tmp_path: Path, models: FakeModelServer | None, smtp: LocalSmtpServer | None, **extra: str
) -> dict[str, str]:
    settings = {
        "BACKBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'backbeat.db'}",
        "BACKBEAT_WORKER_POLL_SECONDS": "0.2",
        "BACKBEAT_FETCH_ALLOW_PRIVATE": "true",
    }
    if models is not None:
        settings["BACKBEAT_ANTHROPIC_API_KEY"] = "sk-test"
        settings["BACKBEAT_ANTHROPIC_BASE_URL"] = models.url_anthropic
    if smtp is not None:
        settings.update(
            BACKBEAT_SMTP_HOST="127.0.0.1",
            BACKBEAT_SMTP_PORT=str(smtp.port),
            BACKBEAT_SMTP_FROM=SENDER,
            BACKBEAT_SMTP_STARTTLS="false",
        )
    return clean_env(**settings, **extra)


# Over HTTP


def create_task(server: Server, team: Team, schedule: str, prompt: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/api/tasks",
        headers=team.headers,
        json={
            "title": "Weekly pulse",
            "prompt": prompt,
            "schedule": schedule,
            "artist_account_id": team.artist_id,
        },
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    [task] = response.json()["tasks"]
    assert isinstance(task, dict)
    return task


def run_now(server: Server, team: Team, task_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/api/tasks/runs/trigger",
        headers=team.headers,
        json={"task_id": task_id},
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    [run] = response.json()["runs"]
    assert isinstance(run, dict)
    return run


def get_run(server: Server, team: Team, run_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/tasks/runs", params={"runId": run_id}, headers=team.headers, timeout=10.0
    )
    assert response.status_code == 200, response.text
    [run] = response.json()["runs"]
    assert isinstance(run, dict)
    return run


def wait_for_first_run(server: Server, team: Team, task_id: str, timeout: float) -> str:
    """The id of the task's first run, once the scheduler has created it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{server.url}/api/tasks/runs",
            params={"task_id": task_id},
            headers=team.headers,
            timeout=10.0,
        )
        assert response.status_code == 200, response.text
        runs = response.json()["runs"]
        if runs:
            run_id: str = runs[-1]["id"]
            return run_id
        time.sleep(0.2)
    raise AssertionError(f"no run of the task within {timeout:.0f} s\n" + server.output())


def wait_until_final(server: Server, team: Team, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    run = get_run(server, team, run_id)
    while run["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} still {run['status']} after {RUN_TIMEOUT:.0f} s: {run}\n"
                + server.output()
            )
        time.sleep(0.2)
        run = get_run(server, team, run_id)
    return run


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def tool_results(request_messages: list[dict[str, Any]]) -> list[str]:
    """The text of every tool result the model was shown (Anthropic's shape)."""
    texts: list[str] = []
    for message in request_messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    texts.append(inner)
                elif isinstance(inner, list):
                    texts.append("".join(str(part.get("text", "")) for part in inner))
    return texts


# The tests


def test_a_due_task_fetches_a_page_and_emails_the_team(
    tmp_path: Path, models: FakeModelServer, smtp: LocalSmtpServer
) -> None:
    with serve_page(PAGE_PATH, PAGE_HTML) as page_url:
        env = serve_env(tmp_path, models, smtp, BACKBEAT_CLOCK_START="2026-01-08T08:59:54Z")
        team = make_team(env)
        models.script(
            ToolCallReply("fetch_web_page", {"url": page_url}),
            ToolCallReply(
                "send_email", {"to": [OWNER, TEAMMATE, OUTSIDER], "subject": SUBJECT, "body": BODY}
            ),
            Reply(FINAL),
        )
        with serving(env, tmp_path) as server:
            assert "Model providers: anthropic" in server.stdout, server.output()
            task = create_task(
                server, team, "* * * * *", "Check the artist's news page and email the team."
            )
            fire_at, server_now = _at(task["upcoming"][0]), _at(task["created_at"])
            assert fire_at > server_now
            lead = (fire_at - server_now).total_seconds()
            run_id = wait_for_first_run(server, team, task["id"], lead + RUN_TIMEOUT)
            run = wait_until_final(server, team, run_id)
            listed = httpx.get(f"{server.url}/api/tasks", headers=team.headers, timeout=10.0)

    # The run, through the API.
    assert run["status"] == "COMPLETED", run
    assert run["trigger"] == "scheduled"
    assert run["taskId"] == task["id"]
    assert run["schedule"]["timestamp"] == task["upcoming"][0]
    assert run["error"] is None
    assert run["payload"]["prompt"] == "Check the artist's news page and email the team."
    assert run["attemptCount"] == 1
    [attempt] = run["attempts"]
    assert attempt["number"] == 1
    assert attempt["status"] == "COMPLETED"
    assert attempt["error"] is None

    output = run["output"]
    assert output["text"] == FINAL
    assert output["provider"] == "anthropic"
    assert [call["name"] for call in output["tool_calls"]] == ["fetch_web_page", "send_email"]
    assert not any(call["is_error"] for call in output["tool_calls"]), output["tool_calls"]
    [page] = output["pages_fetched"]
    assert page["url"] == page_url
    assert page["status"] == 200
    assert page["bytes"] > 0
    assert output["emails_sent"] == [
        {"to": OWNER, "subject": SUBJECT},
        {"to": TEAMMATE, "subject": SUBJECT},
    ]
    assert output["emails_refused"] == [{"to": OUTSIDER, "subject": SUBJECT, "reason": NOT_ON_TEAM}]
    usage = output["usage"]
    assert usage["requests"] == 3
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert output["price_known"] is True
    assert run["costInCents"] > 0

    assert listed.status_code == 200, listed.text
    [shown] = listed.json()["tasks"]
    assert [(r["id"], r["status"]) for r in shown["recent_runs"]] == [(run_id, "COMPLETED")]

    # The email, through the SMTP server: one message per team member, none to the outsider.
    envelopes = smtp.handler.envelopes
    assert sorted(envelopes) == [(SENDER, [TEAMMATE]), (SENDER, [OWNER])], envelopes
    assert sorted(m["To"] for m in smtp.handler.messages) == [TEAMMATE, OWNER]
    for message in smtp.handler.messages:
        assert message["From"] == SENDER
        assert message["Subject"] == SUBJECT
        assert body_of(message) == BODY
    assert all(OUTSIDER not in rcpts for _, rcpts in envelopes)

    # What the model saw.
    requests = models.requests
    assert len(requests) == 3
    for request in requests:  # the key from the settings, however the SDK sends it
        sent = request.headers.get("x-api-key") or request.headers.get("authorization")
        assert sent in ("sk-test", "Bearer sk-test"), request.headers
    system = requests[0].system or ""
    assert ARTIST in system
    assert "Lisbon" in system  # the profile
    [fetched] = tool_results(requests[1].messages)
    assert PAGE_FACT in fetched
    assert "tracking" not in fetched  # HTML reduced to its readable text
    [emailed] = tool_results(requests[2].messages)[1:]
    assert OWNER in emailed
    assert TEAMMATE in emailed
    assert f"{OUTSIDER} ({NOT_ON_TEAM})" in emailed


def test_a_retried_run_never_emails_twice(
    tmp_path: Path, models: FakeModelServer, smtp: LocalSmtpServer
) -> None:
    env = serve_env(tmp_path, models, smtp, BACKBEAT_CLOCK_START="2026-01-07T10:00:00Z")
    team = make_team(env, organization=False)
    send = {"to": [OWNER], "subject": SUBJECT, "body": BODY}
    models.script(
        ToolCallReply("send_email", send),  # attempt 1 emails the owner…
        ErrorReply(500, message="internal error (scripted)"),  # …and then the model fails
        ToolCallReply("send_email", send),  # attempt 2 emails again
        Reply(FINAL),
    )
    with serving(env, tmp_path) as server:
        # Mondays at 09:00 while the clock reads a Wednesday: only "run now" runs it.
        task = create_task(server, team, "0 9 * * 1", "Email the owner the weekly pulse.")
        triggered = run_now(server, team, task["id"])
        assert triggered["trigger"] != "scheduled"
        run = wait_until_final(server, team, triggered["id"])

    assert run["status"] == "COMPLETED", run
    assert run["output"]["text"] == FINAL
    assert run["attemptCount"] == 2
    first, second = run["attempts"]
    assert (first["number"], first["status"]) == (1, "FAILED")
    assert first["error"]["kind"] == "server"
    assert "internal error (scripted)" in first["error"]["message"]
    assert (second["number"], second["status"]) == (2, "COMPLETED")
    assert second["error"] is None

    # Exactly one email reached the SMTP server.
    assert smtp.handler.envelopes == [(SENDER, [OWNER])]
    [message] = smtp.handler.messages
    assert message["Subject"] == SUBJECT
    assert body_of(message) == BODY

    # Attempt 2's send_email was told the owner already had it, and sent nothing.
    requests = models.requests
    assert len(requests) == 4
    [repeat] = tool_results(requests[3].messages)
    assert f"Not sent again to {OWNER}" in repeat, repeat
    assert "already emailed in this run" in repeat
    [call] = run["output"]["tool_calls"]
    assert call["name"] == "send_email"
    assert not call["is_error"]
    # The run's output counts the email attempt 1 sent (from the outbox), once.
    assert [email["to"] for email in run["output"]["emails_sent"]] == [OWNER]
    [delivery] = run["output"]["deliveries"]
    assert (delivery["to"], delivery["status"], delivery["tries"]) == (OWNER, "sent", 1)


def test_without_provider_credentials_runs_end_in_system_failure(tmp_path: Path) -> None:
    env = serve_env(tmp_path, None, None, BACKBEAT_CLOCK_START="2026-01-07T10:00:00Z")
    team = make_team(env, organization=False)
    with serving(env, tmp_path) as server:
        notice = "No model provider is configured"
        assert server.stdout.count(notice) == 1, server.output()
        [line] = [line for line in server.stdout.splitlines() if notice in line]
        for setting in (
            "BACKBEAT_ANTHROPIC_API_KEY",
            "BACKBEAT_OPENAI_API_KEY",
            "BACKBEAT_COMPATIBLE_BASE_URL",
        ):
            assert setting in line, line
        task = create_task(server, team, "0 9 * * 1", "Say hello.")
        run = wait_until_final(server, team, run_now(server, team, task["id"])["id"])
        assert server.stdout.count(notice) == 1, server.output()

    assert run["status"] == "SYSTEM_FAILURE", run
    assert "BACKBEAT_ANTHROPIC_API_KEY" in run["error"]["message"]
    assert run["error"]["kind"] == "configuration"
    # No output of its own; the alert that told the owner shows among its deliveries.
    assert run["output"]["emails_sent"] == []
    [alert] = run["output"]["deliveries"]
    assert (alert["channel"], alert["purpose"], alert["to"]) == ("email", "alert", OWNER)
    assert alert["subject"].startswith("Failed: Weekly pulse")
    assert run["attemptCount"] == 1
    [attempt] = run["attempts"]
    assert attempt["status"] == "FAILED"
    assert "BACKBEAT_ANTHROPIC_API_KEY" in attempt["error"]["message"]
