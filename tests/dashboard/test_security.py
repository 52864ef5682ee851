"""CSRF refusal on every form, the Content-Security-Policy, escaping of hostile titles,
prompts and model outputs, and the static files."""

from __future__ import annotations

from importlib import resources

import pytest
from starlette.testclient import TestClient

from backbeat.dashboard.web import CONTENT_SECURITY_POLICY
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import list_tasks
from tests.conftest import Tenant
from tests.dashboard.helpers import (
    OUTPUT,
    Dashboard,
    Page,
    another_browser,
    create_task,
    finish_queued_run,
    signed_in,
)

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_PROMPT = "</textarea><script>alert(2)</script><img src=x onerror=alert(3)>"
HOSTILE_OUTPUT = (
    "# Report\n\n<script>alert(4)</script>\n\n<img src=x onerror=alert(5)>\n\n"
    "[click me](javascript:alert(6)) [data](data:text/html;base64,PHNjcmlwdD4=) "
    '<a href="javascript:alert(7)">raw link</a>\n\n'
    "![pixel](https://tracker.example/p.gif) ![inline](data:image/png;base64,iVBORw0KGgo=)\n\n"
    '<div style="background:url(javascript:alert(8))" onclick="alert(9)">styled</div>\n\n'
    "<svg onload=alert(10)></svg> <iframe src=https://evil.test></iframe>"
)
STATIC_SCRIPT = "/dashboard/static/dashboard.js"


def assert_inert(page: Page) -> None:
    """No script but our own file, no event handler, no javascript: URL, no inline style,
    no element that could load or run something of the author's."""
    for node in page.nodes:
        if node.tag == "script":
            assert (node.attrs.get("src") or "").startswith(STATIC_SCRIPT), page.html
            assert not node.text.strip()
        assert node.tag not in ("img", "iframe", "svg", "object", "embed", "style", "base") or (
            node.tag == "svg" and node.attrs.get("role") == "img"  # our charts
        ), node
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name, value)
            assert name != "style", (node.tag, value)
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert not (value or "").strip().lower().startswith(("javascript:", "data:")), (
                    node.tag,
                    value,
                )


def test_hostile_title_prompt_and_output_are_inert_everywhere(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, title=HOSTILE_TITLE, prompt=HOSTILE_PROMPT)
    run_path = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    hostile = {
        **OUTPUT,
        "text": HOSTILE_OUTPUT,
        "tool_calls": [
            {
                "name": "<b>fetch</b>",
                "arguments": {"url": "javascript:alert(11)", "x": "</code><script>"},
                "is_error": True,
                "result": "<script>alert(12)</script>",
            }
        ],
        "pages_fetched": [{"url": "javascript:alert(13)", "error": "<img src=x onerror=1>"}],
        "emails_sent": [{"to": "alice@example.com", "subject": "<script>alert(14)</script>"}],
        "emails_refused": [{"to": "<x@evil>", "subject": "s", "reason": "<i>r</i>"}],
    }
    finish_queued_run(backbeat, clock, hostile)

    pages = {
        "list": dashboard.get("/dashboard/tasks"),
        "task": dashboard.get(f"/dashboard/tasks/{task_id}"),
        "delete": dashboard.get(f"/dashboard/tasks/{task_id}/delete"),
        "run": dashboard.get(run_path.split("?")[0]),
    }

    for name, page in pages.items():
        assert page.status == 200, name
        assert_inert(page)
        assert "<script>alert" not in page.html, name
    assert pages["task"].text("task-title") == HOSTILE_TITLE
    assert pages["task"].all("title")[0].text == f"{HOSTILE_TITLE} · Backbeat"
    assert pages["task"].one("textarea", name="prompt").text == HOSTILE_PROMPT
    assert pages["task"].one("input", name="title").attrs["value"] == HOSTILE_TITLE
    run = pages["run"]
    assert run.text("run-prompt") == HOSTILE_PROMPT
    output = run.testid("run-output")
    assert "<script>alert(4)</script>" in output.text  # shown as text, not run
    assert "[click me](javascript:alert(6))" in output.text
    assert not [node for node in output.walk() if node.tag == "a"]
    assert "<script>alert(12)</script>" in run.testid("tool-calls").text
    assert "javascript:alert(13)" in run.testid("pages-fetched").text
    assert "<script>alert(14)</script>" in run.testid("emails").text


def test_markdown_links_are_kept_only_for_web_and_mail(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    run_path = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    text = (
        "[web](https://example.com/a) [mail](mailto:team@example.com) "
        "[vb](vbscript:msgbox) [js](JaVaScRiPt:alert(1)) [file](file:///etc/passwd)"
    )
    finish_queued_run(backbeat, clock, {**OUTPUT, "text": text}, retry_first=False)

    page = dashboard.get(run_path.split("?")[0])

    links = [n for n in page.testid("run-output").walk() if n.tag == "a"]
    assert [link.attrs["href"] for link in links] == [
        "https://example.com/a",
        "mailto:team@example.com",
    ]
    for link in links:
        assert set((link.attrs["rel"] or "").split()) == {"noopener", "nofollow", "noreferrer"}
    assert_inert(page)


def forms_of(dashboard: Dashboard, alice: Tenant) -> dict[str, str]:
    task_id = create_task(dashboard, alice)
    run_path = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    run_id = run_path.split("?")[0].rsplit("/", 1)[1]
    return {
        "sign-in": "/dashboard/sign-in",
        "sign-out": "/dashboard/sign-out",
        "new": "/dashboard/tasks/new",
        "save": f"/dashboard/tasks/{task_id}",
        "pause": f"/dashboard/tasks/{task_id}/pause",
        "resume": f"/dashboard/tasks/{task_id}/resume",
        "run": f"/dashboard/tasks/{task_id}/run",
        "delete": f"/dashboard/tasks/{task_id}/delete",
        "cancel": f"/dashboard/runs/{run_id}/cancel",
        "account": "/dashboard/account",
    }


def test_every_form_refuses_a_missing_wrong_or_foreign_csrf_token(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    paths = forms_of(dashboard, alice)
    before = list_tasks(client, alice)
    runs_before = client.get("/api/tasks/runs", headers=alice.headers).json()["runs"]
    bobs = signed_in(another_browser(client), bob)
    assert bobs.token
    assert bobs.token != dashboard.token
    body = {
        "key": alice.key,
        "title": "Changed",
        "prompt": "Changed",
        "schedule": "* * * * *",
        "artist_account_id": str(alice.artist_id),
        "account": str(bob.account_id),
    }

    for name, path in paths.items():
        for token in (None, "", "0" * 64, bobs.token):
            data = dict(body) if token is None else {**body, "csrf_token": token}
            response = client.post(path, data=data, follow_redirects=False)
            page = Page(response)
            assert page.status == 403, (name, token, page.html)
            assert page.text("problem-title") == "This form could not be accepted"
            assert "content-security-policy" in response.headers

    assert list_tasks(client, alice) == before
    assert client.get("/api/tasks/runs", headers=alice.headers).json()["runs"] == runs_before
    assert dashboard.raw_get("/dashboard/tasks").status_code == 200  # still signed in


def test_a_token_from_before_sign_in_is_not_valid_after(client: TestClient, alice: Tenant) -> None:
    dashboard = Dashboard(client)
    anonymous_token = dashboard.get("/").csrf
    assert dashboard.post("/dashboard/sign-in", {"key": alice.key}).status_code == 303

    response = client.post(
        "/dashboard/sign-out", data={"csrf_token": anonymous_token}, follow_redirects=False
    )

    assert response.status_code == 403


def test_a_form_must_be_urlencoded(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    response = client.post(
        "/dashboard/sign-out", json={"csrf_token": dashboard.token}, follow_redirects=False
    )

    assert response.status_code == 400
    assert Page(response).text("problem-message") == (
        "Forms must be sent as application/x-www-form-urlencoded."
    )


def test_dashboard_responses_carry_the_security_headers_and_the_api_does_not(
    client: TestClient, alice: Tenant
) -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    responses = [
        client.get("/"),
        client.get("/dashboard/tasks"),
        client.get(f"/dashboard/tasks/{task_id}"),
        client.get("/dashboard/tasks/new"),
        client.get("/dashboard/runs/run_none"),
        client.get("/dashboard/schedule-preview", params={"schedule": "@daily"}),
        client.get("/dashboard/static/dashboard.css"),
        client.get("/dashboard/nothing-here"),
        dashboard.post(f"/dashboard/tasks/{task_id}/pause"),
    ]
    for response in responses:
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"

    api = client.get("/api/tasks", headers=alice.headers)
    assert api.status_code == 200
    assert "content-security-policy" not in api.headers
    assert api.headers["access-control-allow-origin"] == "*"  # the API's CORS, unchanged
    missing = client.get("/api/tasks")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/json"
    assert "content-security-policy" not in missing.headers


def test_pages_have_no_inline_script_or_style(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    run_path = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    for path in (
        "/dashboard/tasks",
        f"/dashboard/tasks/{task_id}",
        f"/dashboard/tasks/{task_id}/delete",
        "/dashboard/tasks/new",
        run_path,
    ):
        page = dashboard.get(path)
        assert page.status == 200
        assert_inert(page)
        [script] = page.all("script")
        assert (script.attrs["src"] or "").startswith(STATIC_SCRIPT + "?v=")
        [sheet] = page.all("link", rel="stylesheet")
        assert (sheet.attrs["href"] or "").startswith("/dashboard/static/dashboard.css?v=")
    assert_inert(Dashboard(another_browser(client)).get("/"))


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")],
)
def test_static_files_ship_in_the_package(client: TestClient, name: str, media_type: str) -> None:
    shipped = resources.files("backbeat.dashboard") / "static" / name
    page = Dashboard(client).get("/")
    url = next(
        value
        for node in page.nodes
        for value in (node.attrs.get("src"), node.attrs.get("href"))
        if value and value.startswith(f"/dashboard/static/{name}?v=")
    )

    response = client.get(url)

    assert response.status_code == 200
    assert response.content == shipped.read_bytes()
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = client.get(url, headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    unversioned = client.get(f"/dashboard/static/{name}")
    assert unversioned.headers["cache-control"] == "no-cache"
    assert client.get("/dashboard/static/nope.js").status_code == 404
    assert client.get("/dashboard/static/..%2F__init__.py").status_code == 404


def test_templates_ship_in_the_package() -> None:
    templates = resources.files("backbeat.dashboard") / "templates"
    names = {entry.name for entry in templates.iterdir()}
    assert {"base.html", "sign_in.html", "tasks.html", "task.html", "run.html"} <= names
