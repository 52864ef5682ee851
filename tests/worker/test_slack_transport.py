"""Posting to a Slack incoming webhook (worker.slack) against FakeSlack on loopback: each
answer maps to its outcome (at most once: what may have been posted is UNCONFIRMED, never
tried again); only https, and no private address, unless allowed; the webhook URL, a
secret, never appears in a detail; a long hostile report's payload is one Slack accepts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from backbeat.domain.deliveries import SendOutcome, SendResult
from backbeat.domain.reports import Report, slack_payload
from backbeat.testing.fake_slack import FakeSlack
from backbeat.worker.slack import SlackPoster

T = TypeVar("T")
# Generous: the suite runs in parallel on a busy machine, and a connection that takes long to
# be accepted must not look like Slack's answer. The test of the timeout sets a short one.
TIMEOUT = 10.0
HANG_TIMEOUT = 0.5
SECRET_PATH = "/services/T0SECRET1/B0SECRET2/abcdefSECRETtoken123456"
MESSAGE = {"text": "Synthpop is up 12%."}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def post(url: str, payload: dict[str, Any] = MESSAGE, **options: Any) -> SendResult:
    settings: dict[str, Any] = {"allow_private": True, "timeout_seconds": TIMEOUT, **options}
    result = run(SlackPoster(**settings).post(url, payload))
    assert_secret_kept(result, url)  # every test: no detail carries the webhook URL
    return result


def assert_secret_kept(result: SendResult, url: str) -> None:
    assert not url or url not in result.detail
    assert "SECRET" not in result.detail
    assert "/services/" not in result.detail


def test_ok_is_accepted(slack: FakeSlack) -> None:
    result = post(slack.url(SECRET_PATH))
    assert result == SendResult(SendOutcome.ACCEPTED, "HTTP 200 from 127.0.0.1")
    [request] = slack.requests
    assert (request.path, request.payload, request.status) == (SECRET_PATH, MESSAGE, 200)
    assert request.headers["content-type"].startswith("application/json")


def test_invalid_blocks_is_permanent_with_slacks_error(slack: FakeSlack) -> None:
    result = post(slack.url(SECRET_PATH), {"blocks": [{"type": "header", "text": "x"}]})
    assert result.outcome is SendOutcome.PERMANENT
    assert result.detail == "HTTP 400 from 127.0.0.1: invalid_blocks"
    assert slack.posted() == []


def test_no_service_is_permanent(slack: FakeSlack) -> None:
    slack.answer(404, "no_service")
    result = post(slack.url(SECRET_PATH))
    assert result == SendResult(SendOutcome.PERMANENT, "HTTP 404 from 127.0.0.1: no_service")


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, "action_prohibited"), (403, "invalid_token"), (410, "channel_is_archived")],
)
def test_other_refusals_are_permanent(slack: FakeSlack, status: int, error: str) -> None:
    slack.answer(status, error + "\n")
    result = post(slack.url(SECRET_PATH))
    assert result == SendResult(SendOutcome.PERMANENT, f"HTTP {status} from 127.0.0.1: {error}")


def test_a_long_error_is_cut_and_an_echoed_url_scrubbed(slack: FakeSlack) -> None:
    url = slack.url(SECRET_PATH)
    slack.answer(400, f"invalid_payload for {url} \x1b[31m" + "x" * 5000)
    result = post(url)
    assert result.outcome is SendOutcome.PERMANENT
    assert result.detail.startswith("HTTP 400 from 127.0.0.1: invalid_payload for …")
    assert len(result.detail) < 200
    assert "\x1b" not in result.detail


def test_rate_limited_is_temporary(slack: FakeSlack) -> None:
    slack.answer(429, "rate_limited", headers={"retry-after": "30"})
    result = post(slack.url(SECRET_PATH))
    assert result.outcome is SendOutcome.TEMPORARY
    assert result.detail == "HTTP 429 from 127.0.0.1: rate limited (retry after 30 s)"


def test_a_server_error_is_temporary(slack: FakeSlack) -> None:
    slack.answer(500, "rollup_error")
    result = post(slack.url(SECRET_PATH))
    assert result == SendResult(SendOutcome.TEMPORARY, "HTTP 500 from 127.0.0.1: rollup_error")
    assert post(slack.url(SECRET_PATH)).outcome is SendOutcome.ACCEPTED  # the next try


def test_a_redirect_is_not_followed(slack: FakeSlack) -> None:
    slack.answer(302, "", headers={"location": "https://example.com/"})
    result = post(slack.url(SECRET_PATH))
    assert result.outcome is SendOutcome.PERMANENT
    assert len(slack.requests) == 1


def test_a_refused_connection_is_temporary() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = post(f"http://127.0.0.1:{port}{SECRET_PATH}")
    assert result.outcome is SendOutcome.TEMPORARY
    assert result.detail.startswith("could not connect to 127.0.0.1")


def test_no_answer_within_the_timeout_is_unconfirmed(slack: FakeSlack) -> None:
    slack.hang()
    result = post(slack.url(SECRET_PATH), timeout_seconds=HANG_TIMEOUT)
    assert result.outcome is SendOutcome.UNCONFIRMED
    assert result.detail == "no answer from 127.0.0.1 within 0.5 s: it may have been posted"
    [request] = slack.requests
    assert request.payload == MESSAGE  # it was all sent
    assert request.status is None


def test_a_connection_dropped_after_the_request_is_unconfirmed(slack: FakeSlack) -> None:
    slack.drop()
    result = post(slack.url(SECRET_PATH))
    assert result.outcome is SendOutcome.UNCONFIRMED
    assert "it may have been posted" in result.detail


def test_http_is_refused_without_allow_private(slack: FakeSlack) -> None:
    result = post(slack.url(SECRET_PATH), allow_private=False)
    assert result == SendResult(
        SendOutcome.PERMANENT, "refused: the Slack webhook URL for 127.0.0.1 is not https"
    )
    assert slack.requests == []


def test_a_private_address_is_refused_without_allow_private() -> None:
    result = post(f"https://127.0.0.1{SECRET_PATH}", allow_private=False)
    assert result.outcome is SendOutcome.PERMANENT
    assert result.detail.startswith("refused: 127.0.0.1 is 127.0.0.1, a loopback address")

    async def private(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]  # one public, one not: refused

    result = post(
        f"https://hooks.slack.example{SECRET_PATH}", allow_private=False, resolver=private
    )
    assert result.outcome is SendOutcome.PERMANENT
    assert "hooks.slack.example is 10.1.2.3, a private address" in result.detail


def test_a_name_that_does_not_resolve_is_temporary() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        from backbeat.agents.tools.base import ToolError

        raise ToolError(f"could not resolve {host}")

    result = post(f"https://hooks.slack.example{SECRET_PATH}", resolver=nowhere)
    assert result == SendResult(SendOutcome.TEMPORARY, "could not resolve hooks.slack.example")


@pytest.mark.parametrize("url", ["ftp://hooks.slack.example/services/x", "not a url", ""])
def test_an_invalid_url_is_permanent(url: str) -> None:
    assert post(url).outcome is SendOutcome.PERMANENT


def test_a_long_hostile_report_is_accepted_by_slack(slack: FakeSlack) -> None:
    hostile = "<script>x</script> <!channel> <@U123> & **bold** [l](https://e.example/?a=1&b=2) "
    text = "\n\n".join(f"# Part {n}\n" + hostile * 40 + "\n- 🎵 item" for n in range(60))
    report = Report(
        task_title="<!here> Weekly pulse " + "T" * 300,
        artist_name="Nova & <Lights>",
        text=text,
        run_id="run_1",
        run_url="https://backbeat.example/runs/run_1",
        finished_at=datetime(2026, 1, 8, tzinfo=UTC),
        changed="<@U1> more " * 500,
        kind="alert",
        error="<!everyone> " * 500,
    )
    payload = slack_payload(report)
    result = post(slack.url(SECRET_PATH), payload)
    assert result.outcome is SendOutcome.ACCEPTED, slack.reasons
    assert slack.posted() == [payload]
    assert len(payload["blocks"]) == 50


def test_fake_slack_refuses_what_slack_would(slack: FakeSlack) -> None:
    url = slack.url()
    too_many = {"blocks": [{"type": "divider"}] * 51}
    long_header = {
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    }
    mrkdwn_header = {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}
    long_section = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]}
    bad_type = {"blocks": [{"type": "section", "text": {"type": "html", "text": "s"}}]}
    for payload in (too_many, long_header, mrkdwn_header, long_section, bad_type):
        assert post(url, payload).detail.endswith("invalid_blocks")
    assert post(url, {"username": "x"}).detail.endswith("invalid_payload")
    assert post(slack.url("/elsewhere")).detail.endswith("no_service")
