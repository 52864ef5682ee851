"""The tool registry: specs, and each tool's behaviour and argument checks (with the fakes)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from backbeat.agents.base import ToolSpec
from backbeat.agents.tools.base import FetchedPage, OutgoingEmail, ToolError
from backbeat.agents.tools.registry import (
    FETCH_WEB_PAGE,
    MAX_PAGE_CHARS,
    MAX_RECIPIENTS,
    READ_ARTIST_PROFILE,
    READ_PREVIOUS_OUTPUTS,
    SEND_EMAIL,
    TOOLS,
    find,
    normalise_address,
    tool_specs,
)
from backbeat.domain.deliveries import DeliveryStatus, SendOutcome, SendResult
from backbeat.testing.fake_tools import (
    InMemoryRunOutbox,
    OutboxEntry,
    RecordingMailer,
    StaticFetcher,
)
from tests.tools.helpers import make_context, raises_tool_error, run

# The registry


def test_the_four_tools_with_unique_names() -> None:
    names = [tool.spec.name for tool in TOOLS]
    assert names == ["read_artist_profile", "read_previous_outputs", "fetch_web_page", "send_email"]
    assert len(set(names)) == len(names)
    assert tool_specs() == tuple(tool.spec for tool in TOOLS)
    for tool in TOOLS:
        assert find(tool.spec.name) is tool
    assert find("rm_rf") is None


@pytest.mark.parametrize("spec", tool_specs(), ids=lambda spec: spec.name)
def test_each_schema_is_a_closed_json_schema_object(spec: ToolSpec) -> None:
    schema = spec.parameters
    jsonschema_rs.meta.validate(schema)  # a valid JSON Schema (draft 2020-12)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema.get("required", [])) <= set(schema["properties"])
    json.dumps(schema)  # plain JSON, as providers want it
    assert spec.description.strip()
    assert len(spec.description) < 1024
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{spec.name}.{name} needs a description"


VALID: dict[str, list[dict[str, Any]]] = {
    "read_artist_profile": [{}],
    "read_previous_outputs": [{}, {"limit": 1}, {"limit": 10}],
    "fetch_web_page": [{"url": "https://example.com/"}],
    "send_email": [
        {"subject": "s", "body": "b"},
        {"to": ["a@b.example"], "subject": "s", "body": "b"},
    ],
}
INVALID: dict[str, list[dict[str, Any]]] = {
    "read_artist_profile": [{"x": 1}],
    "read_previous_outputs": [{"limit": 0}, {"limit": 11}, {"limit": "3"}, {"other": 1}],
    "fetch_web_page": [{}, {"url": 5}, {"url": "https://x/", "extra": True}],
    "send_email": [
        {"body": "b"},
        {"subject": "s"},
        {"to": [], "subject": "s", "body": "b"},
        {"to": "a@b.example", "subject": "s", "body": "b"},
        {"to": ["a@b"] * (MAX_RECIPIENTS + 1), "subject": "s", "body": "b"},
        {"subject": "s", "body": "b", "cc": ["x@y.example"]},
    ],
}


@pytest.mark.parametrize("spec", tool_specs(), ids=lambda spec: spec.name)
def test_schemas_accept_valid_and_reject_invalid_arguments(spec: ToolSpec) -> None:
    validator = jsonschema_rs.validator_for(spec.parameters)
    for arguments in VALID[spec.name]:
        assert validator.is_valid(arguments), arguments
    for arguments in INVALID[spec.name]:
        assert not validator.is_valid(arguments), arguments


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.spec.name)
def test_garbage_arguments_are_a_tool_error(tool: Any) -> None:
    context = make_context()
    assert "must be a JSON object" in raises_tool_error(tool(context, ["not", "an", "object"]))
    assert "unknown argument(s) bogus" in raises_tool_error(tool(context, {"bogus": 1}))


# read_artist_profile


def test_read_artist_profile() -> None:
    context = make_context(
        artist={
            "id": "a1",
            "name": "Nova Lights",
            "profile": {"genre": "synth-pop", "city": "Köln"},
        }
    )
    result = run(READ_ARTIST_PROFILE(context, {}))
    assert json.loads(result) == {
        "name": "Nova Lights",
        "profile": {"genre": "synth-pop", "city": "Köln"},
    }
    assert "Köln" in result  # readable, not \\u-escaped
    assert "takes no arguments" in raises_tool_error(READ_ARTIST_PROFILE(context, {"id": "x"}))


# read_previous_outputs

OUTPUTS: list[dict[str, Any]] = [
    {
        "run_id": "run_2",
        "fire_time": "2026-01-08T09:00:00+00:00",
        "created_at": "2026-01-08T09:00:01+00:00",
        "output": "Streams: 1.2M (+12%)",
    },
    {"run_id": "run_1", "fire_time": None, "created_at": "2026-01-01T10:00:00+00:00", "output": ""},
]


def test_read_previous_outputs_defaults_to_three_newest_first() -> None:
    context = make_context(outputs=OUTPUTS)
    result = run(READ_PREVIOUS_OUTPUTS(context, {}))
    assert context.asked_limits == [3]  # type: ignore[attr-defined]
    assert result.index("Streams: 1.2M") < result.index("(the run produced no text)")
    assert "scheduled for 2026-01-08T09:00:00+00:00" in result
    assert "run on demand, run created 2026-01-01T10:00:00+00:00" in result


def test_read_previous_outputs_limit() -> None:
    context = make_context(outputs=OUTPUTS)
    run(READ_PREVIOUS_OUTPUTS(context, {"limit": 1}))
    run(READ_PREVIOUS_OUTPUTS(context, {"limit": 10.0}))
    assert context.asked_limits == [1, 10]  # type: ignore[attr-defined]
    for bad in (0, 11, -1, True, "3", 2.5, [3]):
        message = raises_tool_error(READ_PREVIOUS_OUTPUTS(context, {"limit": bad}))
        assert "`limit`" in message


def test_read_previous_outputs_on_a_first_run() -> None:
    result = run(READ_PREVIOUS_OUTPUTS(make_context(outputs=[]), {"limit": 5}))
    assert "no earlier completed runs" in result


def test_long_previous_outputs_are_cut() -> None:
    context = make_context(outputs=[{"fire_time": "t", "created_at": "c", "output": "x" * 50_000}])
    result = run(READ_PREVIOUS_OUTPUTS(context, {}))
    assert len(result) < 10_000
    assert "cut at 8,000 characters" in result


# fetch_web_page


def test_fetch_web_page_returns_the_text_and_records_it() -> None:
    fetcher = StaticFetcher()
    fetcher.add(
        "https://charts.example/nova",
        FetchedPage("https://charts.example/nova/", 200, "text/html", "No. 7 this week", False),
    )
    context = make_context(fetcher=fetcher)
    result = run(FETCH_WEB_PAGE(context, {"url": " https://charts.example/nova "}))
    assert result.startswith("URL: https://charts.example/nova/\nStatus: 200\n")
    assert result.endswith("\n\nNo. 7 this week")
    assert "untrusted" in result
    assert fetcher.requests == ["https://charts.example/nova"]
    assert context.pages_fetched == [
        {
            "url": "https://charts.example/nova",
            "final_url": "https://charts.example/nova/",
            "status": 200,
            "bytes": 15,
            "truncated": False,
        }
    ]


def test_fetch_web_page_caps_the_text() -> None:
    fetcher = StaticFetcher()
    fetcher.add_text("https://big.example/", "é" * (MAX_PAGE_CHARS + 500), truncated=True)
    context = make_context(fetcher=fetcher)
    result = run(FETCH_WEB_PAGE(context, {"url": "https://big.example/"}))
    assert result.count("é") == MAX_PAGE_CHARS
    assert "larger than the fetch limit" in result
    assert "cut at 20,000 characters" in result
    assert context.pages_fetched[0]["truncated"] is True


def test_fetch_web_page_failures_are_recorded_and_reported() -> None:
    fetcher = StaticFetcher({"https://gone.example/": ToolError("HTTP 410")})
    context = make_context(fetcher=fetcher)
    assert (
        raises_tool_error(FETCH_WEB_PAGE(context, {"url": "https://gone.example/"})) == "HTTP 410"
    )
    assert (
        raises_tool_error(FETCH_WEB_PAGE(context, {"url": "https://none.example/"})) == "HTTP 404"
    )
    assert context.pages_fetched == [
        {"url": "https://gone.example/", "error": "HTTP 410"},
        {"url": "https://none.example/", "error": "HTTP 404"},
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "`url` is required"),
        ({"url": ""}, "`url` is required"),
        ({"url": 42}, "`url` is required"),
        ({"url": "example.com"}, "must start with http:// or https://"),
        ({"url": "file:///etc/passwd"}, "must start with http:// or https://"),
        ({"url": "https://x.example/" + "a" * 3000}, "longer than 2048"),
    ],
)
def test_fetch_web_page_argument_checks(arguments: dict[str, Any], expected: str) -> None:
    context = make_context()
    assert expected in raises_tool_error(FETCH_WEB_PAGE(context, arguments))
    assert context.pages_fetched == []
    assert context.fetcher.requests == []  # type: ignore[attr-defined]


# send_email (with the fakes; test_email.py does it over real SMTP)

ARGS: dict[str, Any] = {"subject": "s", "body": "b"}


def test_send_email_defaults_to_the_owner() -> None:
    mailer = RecordingMailer()
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    result = run(SEND_EMAIL(context, {"subject": "  Weekly pulse ", "body": "Body\n"}))
    assert result == "Sent to owner@band.example (subject: 'Weekly pulse')."
    (email,) = mailer.sent
    assert (email.recipients, email.subject, email.body) == (
        ("owner@band.example",),
        "Weekly pulse",
        "Body\n",
    )
    assert outbox.sent == ["owner@band.example"]
    assert outbox.entries["owner@band.example"].error is None


def test_send_email_one_email_per_recipient_compared_case_insensitively() -> None:
    mailer = RecordingMailer()
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    result = run(
        SEND_EMAIL(
            context,
            {
                "to": [
                    "MANAGER@band.example",
                    "Tour Desk <tour@BAND.example>",
                    "manager@band.example",
                ],
                "subject": "s",
                "body": "b",
            },
        )
    )
    # Sent to the address as the team spells it, keyed in lower case.
    assert [email.recipients for email in mailer.sent] == [
        ("Manager@Band.example",),
        ("tour@band.example",),
    ]
    assert sorted(outbox.sent) == ["manager@band.example", "tour@band.example"]
    assert outbox.entries["manager@band.example"].address == "Manager@Band.example"
    assert result.splitlines() == [
        "Sent to Manager@Band.example (subject: 's').",
        "Sent to tour@band.example (subject: 's').",
    ]


def test_send_email_refuses_outsiders() -> None:
    mailer = RecordingMailer()
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    outsiders = [
        "fan@gmail.example",
        "owner@band.example.evil.example",
        "not an address",
        "a@b,c@d",
    ]
    message = raises_tool_error(
        SEND_EMAIL(context, {"to": outsiders, "subject": "Buy now", "body": "spam"})
    )
    assert message.startswith("Refused (Backbeat only emails the task owner and members")
    assert message.endswith("Nothing was sent.")
    assert mailer.attempts == 0
    assert outbox.entries == {}
    assert [entry["to"] for entry in context.emails_refused] == outsiders
    assert [entry["reason"] for entry in context.emails_refused] == [
        "not the task owner or a member of the owning account's organization",
        "not the task owner or a member of the owning account's organization",
        "not a valid email address",
        "not a valid email address",
    ]


def test_send_email_sends_to_members_and_reports_refusals() -> None:
    mailer = RecordingMailer()
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    result = run(
        SEND_EMAIL(
            context,
            {"to": ["tour@band.example", "press@outlet.example"], "subject": "s", "body": "b"},
        )
    )
    assert mailer.recipients == ["tour@band.example"]
    sent, refused = result.splitlines()
    assert sent == "Sent to tour@band.example (subject: 's')."
    assert refused.startswith("Refused")
    assert "press@outlet.example" in refused
    assert context.emails_refused[0]["to"] == "press@outlet.example"
    assert list(outbox.entries) == ["tour@band.example"]


def test_send_email_without_smtp() -> None:
    outbox = InMemoryRunOutbox(None)
    context = make_context(outbox=outbox)
    message = raises_tool_error(SEND_EMAIL(context, dict(ARGS)))
    assert message == "email is not configured (set BACKBEAT_SMTP_HOST)"
    assert outbox.entries == {}
    assert not make_context(no_mailer=True).outbox.can_email


def test_send_email_without_an_owner_needs_recipients() -> None:
    context = make_context(owner=None)
    assert "no owner email" in raises_tool_error(SEND_EMAIL(context, dict(ARGS)))


def test_send_email_once_per_run_even_within_an_attempt() -> None:
    mailer = RecordingMailer()
    context = make_context(mailer=mailer)
    run(SEND_EMAIL(context, {"subject": "first", "body": "b"}))
    result = run(SEND_EMAIL(context, {"subject": "second", "body": "b"}))
    assert result.startswith("Not sent again to owner@band.example")
    assert "status sent" in result
    assert [email.subject for email in mailer.sent] == ["first"]
    assert mailer.attempts == 1


@pytest.mark.parametrize(
    "status",
    [DeliveryStatus.SENDING, DeliveryStatus.UNCONFIRMED, DeliveryStatus.FAILED],
    ids=str,
)
def test_a_delivery_that_is_not_pending_is_never_sent_again(status: DeliveryStatus) -> None:
    outbox = InMemoryRunOutbox(RecordingMailer())
    # An earlier attempt left it so (`sending`: it died mid-send; it may have arrived).
    outbox.entries["owner@band.example"] = OutboxEntry(
        "owner@band.example", "owner@band.example", "s", status, "what happened"
    )
    result = run(SEND_EMAIL(make_context(outbox=outbox), dict(ARGS)))
    assert result.startswith("Not sent again to owner@band.example")
    assert f"status {status.value}" in result
    assert outbox.mailer is not None
    assert outbox.mailer.attempts == 0  # type: ignore[attr-defined]
    assert outbox.status("owner@band.example") is status


def test_a_temporary_failure_is_kept_pending_not_an_error() -> None:
    mailer = RecordingMailer()
    mailer.fail_next(1, "421 4.3.2 service not available")
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    result = run(SEND_EMAIL(context, dict(ARGS)))
    assert result.startswith(
        "Could not send to owner@band.example yet (421 4.3.2 service not available)."
    )
    assert "Backbeat keeps the email and delivers it on its own" in result
    assert "do not send it again" in result
    assert outbox.status("owner@band.example") is DeliveryStatus.PENDING
    assert outbox.entries["owner@band.example"].error == "421 4.3.2 service not available"
    assert mailer.sent == []

    again = run(SEND_EMAIL(context, dict(ARGS)))  # the same run asks again: it goes now
    assert again == "Sent to owner@band.example (subject: 's')."
    assert outbox.status("owner@band.example") is DeliveryStatus.SENT
    assert mailer.recipients == ["owner@band.example"]
    assert mailer.attempts == 2


def test_a_failure_midway_keeps_what_went_out_and_a_retry_sends_the_rest() -> None:
    mailer = RecordingMailer()

    class FailSecond(RecordingMailer):
        async def send(self, email: OutgoingEmail) -> SendResult:
            if email.recipients == ("tour@band.example",):
                return SendResult(SendOutcome.TEMPORARY, "connection reset")
            return await mailer.send(email)

    outbox = InMemoryRunOutbox(FailSecond())
    arguments = {"to": ["owner@band.example", "tour@band.example"], "subject": "s", "body": "b"}
    first = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    sent, later = first.splitlines()
    assert sent == "Sent to owner@band.example (subject: 's')."
    assert later.startswith("Could not send to tour@band.example yet (connection reset).")
    assert outbox.status("owner@band.example") is DeliveryStatus.SENT
    assert outbox.status("tour@band.example") is DeliveryStatus.PENDING
    assert outbox.entries["tour@band.example"].error == "connection reset"

    outbox.mailer = mailer  # the next attempt of the run finds the server back
    result = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    assert mailer.recipients == ["owner@band.example", "tour@band.example"]  # each once
    assert result.splitlines()[0].startswith("Not sent again to owner@band.example")
    assert result.splitlines()[1] == "Sent to tour@band.example (subject: 's')."


def test_recording_mailer_failures_leave_it_pending_until_it_goes() -> None:
    mailer = RecordingMailer(fail_times=2)
    outbox = InMemoryRunOutbox(mailer)
    for _ in range(2):
        result = run(SEND_EMAIL(make_context(outbox=outbox), dict(ARGS)))
        assert result.startswith("Could not send to owner@band.example yet")
        assert outbox.status("owner@band.example") is DeliveryStatus.PENDING
    result = run(SEND_EMAIL(make_context(outbox=outbox), dict(ARGS)))
    assert result.startswith("Sent to owner@band.example")
    assert mailer.attempts == 3
    assert mailer.recipients == ["owner@band.example"]


def test_an_unconfirmed_send_is_reported_and_never_resent() -> None:
    mailer = RecordingMailer()
    mailer.fail_next(1, "no reply after the message", SendOutcome.UNCONFIRMED)
    outbox = InMemoryRunOutbox(mailer)
    context = make_context(outbox=outbox)
    result = run(SEND_EMAIL(context, dict(ARGS)))
    assert result.startswith(
        "Handed to the mail server for owner@band.example, which did not confirm it (no reply "
        "after the message)."
    )
    assert "it will not be sent again" in result
    assert outbox.status("owner@band.example") is DeliveryStatus.UNCONFIRMED

    again = run(SEND_EMAIL(make_context(outbox=outbox), dict(ARGS)))
    assert again.startswith("Not sent again to owner@band.example")
    assert "status unconfirmed" in again
    assert mailer.attempts == 1


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(SendOutcome.REFUSED, DeliveryStatus.REFUSED), (SendOutcome.PERMANENT, DeliveryStatus.FAILED)],
    ids=str,
)
def test_a_permanent_failure_is_told_to_the_model_not_retried(
    outcome: SendOutcome, status: DeliveryStatus
) -> None:
    mailer = RecordingMailer()
    mailer.fail_next(1, "the SMTP server refused tour@band.example: 550 5.1.1", outcome)
    outbox = InMemoryRunOutbox(mailer)
    arguments = {"to": ["tour@band.example"], "subject": "s", "body": "b"}
    result = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    assert result == (
        f"Not delivered to tour@band.example: {status.value} "
        "(the SMTP server refused tour@band.example: 550 5.1.1)."
    )
    assert outbox.status("tour@band.example") is status

    again = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    assert again.startswith("Not sent again to tour@band.example")
    assert mailer.attempts == 1
    assert mailer.sent == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"body": "b"}, "`subject` is required"),
        ({"subject": "  ", "body": "b"}, "`subject` is required"),
        ({"subject": 7, "body": "b"}, "`subject` is required"),
        ({"subject": "s"}, "`body` is required"),
        ({"subject": "s", "body": ""}, "`body` is required"),
        ({"subject": "a\nBcc: x@evil.example", "body": "b"}, "single line"),
        ({"subject": "s" * 201, "body": "b"}, "at most 200"),
        ({"subject": "s", "body": "b" * 20_001}, "at most 20,000"),
        ({"to": [], "subject": "s", "body": "b"}, "`to` is empty"),
        ({"to": "owner@band.example, x@evil.example", "subject": "s", "body": "b"}, "Refused"),
        ({"to": [1, 2], "subject": "s", "body": "b"}, "`to` must be a list"),
        ({"to": {"a": 1}, "subject": "s", "body": "b"}, "`to` must be a list"),
        ({"to": ["owner@band.example"] * 21, "subject": "s", "body": "b"}, "at most 20"),
    ],
)
def test_send_email_argument_checks(arguments: dict[str, Any], expected: str) -> None:
    mailer = RecordingMailer()
    context = make_context(mailer=mailer)
    assert expected in raises_tool_error(SEND_EMAIL(context, arguments))
    assert mailer.attempts == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Jane@Band.Example", "jane@band.example"),
        ("  jane@band.example ", "jane@band.example"),
        ("Jane Doe <jane@band.example>", "jane@band.example"),
        ("<jane@band.example>", "jane@band.example"),
        ("jane", None),
        ("@band.example", None),
        ("jane@", None),
        ("a@b@c.example", None),
        ("a@b.example, c@d.example", None),
        ("a@b.example\r\nBcc: c@d.example", None),
        ("Eve <eve@x.example> <jane@band.example>", None),
    ],
)
def test_normalise_address(given: str, expected: str | None) -> None:
    assert normalise_address(given) == expected
