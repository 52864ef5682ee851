"""A run's report rendered per channel (domain.reports): hostile text never becomes active
HTML or a Slack mention; Slack's limits hold however long the report; the Markdown subset
converts; only http(s) links become links; subjects per kind."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backbeat.domain.reports import (
    SLACK_BLOCK_LIMIT,
    SLACK_HEADER_LIMIT,
    SLACK_TEXT_LIMIT,
    SUBJECT_LIMIT,
    TRUNCATED,
    Report,
    email_html,
    email_subject,
    email_text,
    slack_payload,
)
from backbeat.testing.fake_slack import check_payload

FINISHED = datetime(2026, 1, 8, 9, 30, tzinfo=UTC)
HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> <!channel> <!here> <@U123> "
    "<#C999> <!subteam^S1> @channel @here @everyone & &amp; <https://evil.example|click>\n"
    "[x](javascript:alert(3)) [y](data:text/html,hi) \"quoted\" 'single'"
)


def report(text: str = "Synthpop is up 12%.", **fields: Any) -> Report:
    values: dict[str, Any] = {
        "task_title": "Weekly pulse",
        "artist_name": "Nova Lights",
        "text": text,
        "run_id": "run_123",
        "run_url": "https://backbeat.example/runs/run_123",
        "finished_at": FINISHED,
    }
    return Report(**{**values, **fields})


def slack_texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack would render from the payload."""
    found = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [each["text"] for each in block.get("elements", [])]
    return found


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


SAFE_TAGS = {"html", "head", "meta", "title", "body", "p", "br", "h1", "h2", "h3"}
SAFE_TAGS |= {"ul", "li", "strong", "code", "a", "hr"}


# --- escaping -------------------------------------------------------------------------------


def test_hostile_text_never_becomes_active_html() -> None:
    hostile = report(HOSTILE, task_title="<b>T</b>", artist_name="<i>A</i>", changed=HOSTILE)
    html = email_html(replace(hostile, kind="alert", error="<script>x</script>"))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;" in html
    for tag, attrs in tags_of(html):
        assert tag in SAFE_TAGS
        for name, value in attrs:
            assert not name.startswith("on")
            if name == "href":
                assert value is not None
                assert value.startswith(("https://", "http://"))
    assert "javascript:" not in html
    assert "data:" not in html


def test_hostile_text_never_becomes_a_slack_mention_or_link() -> None:
    hostile = report(HOSTILE, task_title="<!channel> title", changed="<@U1> changed @here")
    payload = slack_payload(replace(hostile, kind="alert", error="<!everyone> broke"))
    check_payload(payload)
    for text in slack_texts(payload):
        assert "<!" not in text
        assert "<@" not in text
        assert "<#" not in text
        assert not re.search(r"@(here|channel|everyone)\b", text)  # a word joiner in between
        for opening in re.finditer("<", text):  # every link is one of ours, to http(s)
            assert text[opening.start() + 1 :].startswith(("http://", "https://"))
    body = "\n".join(section["text"]["text"] for section in payload["blocks"][1:-1])
    assert "&lt;script&gt;" in body
    assert "&lt;!channel&gt;" in body
    assert "&amp; &amp;amp;" in body
    assert "<https://evil.example|click>" not in json.dumps(payload)
    assert all(section["text"].get("verbatim") for section in payload["blocks"][1:-1])


def test_the_plain_text_email_carries_the_text_and_the_link() -> None:
    found = email_text(report("Line one\r\nLine two\x00\x07", changed="Streams\nup"))
    assert "Line one\nLine two\n" in found
    assert "\x00" not in found
    assert "\r" not in found
    assert "What changed: Streams up" in found
    assert found.rstrip().endswith("Run run_123: https://backbeat.example/runs/run_123")
    assert "Run run_123\n" in email_text(report(run_url=None))


# --- limits ---------------------------------------------------------------------------------


def test_a_100_kb_report_stays_within_slacks_limits() -> None:
    paragraph = "Streams **rose** & <fell> in [Berlin](https://example.com/b?x=1&y=2) 🎵 " * 12
    text = "\n\n".join(f"## Week {n}\n{paragraph}\n- a\n- b" for n in range(120))
    assert len(text) > 100_000
    payload = slack_payload(report(text, task_title="T" * 400))
    check_payload(payload)
    blocks = payload["blocks"]
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    assert units(blocks[0]["text"]["text"]) <= SLACK_HEADER_LIMIT
    assert units(payload["text"]) <= SLACK_TEXT_LIMIT
    for block in blocks[1:-1]:
        assert block["type"] == "section"
        assert 0 < units(block["text"]["text"]) <= SLACK_TEXT_LIMIT
    assert blocks[-2]["text"]["text"].endswith(f"_{TRUNCATED}_")
    assert "<https://backbeat.example/runs/run_123|" in blocks[-1]["elements"][0]["text"]


def test_long_lines_are_cut_never_inside_an_escape_or_a_link() -> None:
    link = "[l](https://example.com/?a=1&b=2)"
    for text in ("&<>" * 4000, ("x" * 7 + link) * 900, "🎵" * 9000, "word " * 5000):
        payload = slack_payload(report(text))
        check_payload(payload)
        for section in payload["blocks"][1:-1]:
            body = section["text"]["text"]
            assert units(body) <= SLACK_TEXT_LIMIT
            assert not re.search(r"&(?:a|am|l|g)?$", body.split("\n_…")[0])
            assert re.sub(r"<[^<>]*>", "", body).count("<") == 0  # links whole
            assert body.count("<") == body.count(">")


def test_a_long_report_is_split_between_paragraphs() -> None:
    paragraphs = [f"Paragraph {n}: " + "la " * 300 for n in range(12)]
    payload = slack_payload(report("\n\n".join(paragraphs)))
    sections = [block["text"]["text"] for block in payload["blocks"][1:-1]]
    assert len(sections) > 1
    for section in sections:
        assert section.startswith("Paragraph ")
        assert section.endswith("la")


def test_an_empty_report_still_makes_a_valid_message() -> None:
    payload = slack_payload(report("  \n\n "))
    check_payload(payload)
    assert payload["blocks"][1]["text"]["text"] == "_(the report is empty)_"


def test_subjects_are_one_line_within_the_limit() -> None:
    subject = email_subject(report(task_title="A\r\nBcc: x@y.z " + "T" * 300))
    assert "\n" not in subject
    assert "\r" not in subject
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.endswith(" — report of 2026-01-08")


# --- Markdown -------------------------------------------------------------------------------

MARKDOWN = """# Top
## Middle
### Low
Hello **bold** and `code` and [site](https://example.com/a) and http://example.org/x.
Second line

- one
* two
+ three [bad](javascript:alert(1)) [ftp](ftp://example.com/f)
"""


def test_markdown_to_html() -> None:
    html = email_html(report(MARKDOWN))
    assert "<h1>Top</h1>" in html
    assert "<h2>Middle</h2>" in html
    assert "<h3>Low</h3>" in html
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert '<a href="https://example.com/a">site</a>' in html
    assert '<a href="http://example.org/x">http://example.org/x</a>.' in html
    assert "<br>\nSecond line</p>" in html
    assert "<ul><li>one</li><li>two</li><li>three " in html
    assert "javascript" not in html
    assert "ftp://" not in html
    assert 'href="https://backbeat.example/runs/run_123"' in html


def test_markdown_to_slack_mrkdwn() -> None:
    body = slack_payload(report(MARKDOWN))["blocks"][1]["text"]["text"]
    assert body.startswith("*Top*\n\n*Middle*\n\n*Low*\n\n")
    assert "Hello *bold* and `code` and <https://example.com/a|site> and " in body
    assert "<http://example.org/x>." in body
    assert "• one\n• two\n• three bad ftp" in body
    assert "javascript" not in body
    assert "ftp://" not in body
    assert "**" not in body


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "ftp://example.com", "/runs/run_123", "https://"],
)
def test_only_http_links(url: str) -> None:
    found = report(f"[t]({url})", run_url=url)
    html = email_html(found)
    assert "<a " not in html
    slack = slack_payload(found)
    assert not any("<" in text for text in slack_texts(slack))
    assert url not in email_text(found).split("-- ")[-1]


def test_slack_link_urls_are_escaped() -> None:
    body = slack_payload(report("[a|b](https://example.com/?q=a|b&c=<d>)"))
    text = body["blocks"][1]["text"]["text"]
    assert text == "<https://example.com/?q=a%7Cb&amp;c=%3Cd%3E|a|b>"


# --- kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("report", "Weekly pulse: Nova Lights — report of 2026-01-08"),
        ("alert", "Failed: Weekly pulse: Nova Lights — run of 2026-01-08"),
        ("recovered", "Recovered: Weekly pulse: Nova Lights — run of 2026-01-08"),
    ],
)
def test_subjects_per_kind(kind: str, subject: str) -> None:
    found = report(kind=kind, error="the model timed out")
    assert email_subject(found) == subject
    header = slack_payload(found)["blocks"][0]["text"]["text"]
    assert header == subject.split(" — ")[0]


def test_an_alert_says_why_the_run_failed() -> None:
    alert = report("", kind="alert", error="Provider <error> 529")
    assert "The run failed: Provider <error> 529" in email_text(alert)
    assert "The run failed:</strong> Provider &lt;error&gt; 529" in email_html(alert)
    payload = slack_payload(alert)
    assert payload["blocks"][1]["text"]["text"] == "*The run failed:* Provider &lt;error&gt; 529"


def test_without_an_artist_the_title_is_the_tasks() -> None:
    assert email_subject(report(artist_name=None)) == "Weekly pulse — report of 2026-01-08"
    assert email_subject(report(task_title="  ", artist_name=" ")).startswith("Backbeat task")


def test_links_with_parentheses() -> None:
    found = report("[Nova](https://en.wikipedia.org/wiki/Nova_(band)) and [x](javascript:f(1))")
    assert '<a href="https://en.wikipedia.org/wiki/Nova_(band)">Nova</a> and x</p>' in (
        email_html(found)
    )
    body = slack_payload(found)["blocks"][1]["text"]["text"]
    assert body == "<https://en.wikipedia.org/wiki/Nova_(band)|Nova> and x"


MARKUP = st.sampled_from(
    ["**", "*", "`", "[", "](", ")", "(", "https://e.example/a", "&", "<", ">", "<!channel>"]
)
PIECES = st.lists(st.one_of(MARKUP, st.text(max_size=20), st.sampled_from(["\n", "\n\n", "# "])))


@settings(max_examples=300, deadline=None)
@given(pieces=PIECES, title=st.text(max_size=300))
def test_any_text_makes_a_valid_message_and_safe_html(pieces: list[str], title: str) -> None:
    found = report("".join(pieces), task_title=title, changed="".join(reversed(pieces)))
    payload = slack_payload(found)
    check_payload(payload)
    for text in slack_texts(payload):
        assert re.sub(r"<https?://[^<>|]+(?:\|[^<>]*)?>", "", text).count("<") == 0
    for tag, attrs in tags_of(email_html(found)):
        assert tag in SAFE_TAGS
        assert all(not name.startswith("on") for name, _ in attrs)
    subject = email_subject(found)
    assert len(subject) <= SUBJECT_LIMIT
    assert not re.search(r"[\r\n]", subject)
