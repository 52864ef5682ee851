"""What pages show, as pure functions: schedules in words, safe Markdown, amounts."""

from __future__ import annotations

import pytest

from backbeat.dashboard.present import cost, describe_schedule, duration, markdown


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * 4", "At 09:00, only on Thursday"),
        ("0 9 * * THU", "At 09:00, only on Thursday"),
        ("30 17 * * 1-5", "At 17:30, Monday through Friday"),
        ("0 9 1 * 1", "At 09:00, on day 1 of the month, or on Monday"),  # cron's OR
        ("*/15 * * * *", "Every 15 minutes"),
        # Macros, which cron-descriptor does not read, are described as Backbeat runs them.
        ("@daily", "At 00:00"),
        ("@weekly", "At 00:00, only on Sunday"),
        ("@HOURLY", "Every hour"),
        # cron reads a stepped one-value range as that value (cron-descriptor would not).
        ("5-5/10 * * * *", "At 5 minutes past the hour"),
        ("  0 9 * * 4  ", "At 09:00, only on Thursday"),
        ("not a schedule", "not a schedule"),
    ],
)
def test_schedules_in_words(expression: str, words: str) -> None:
    assert describe_schedule(expression) == words


def test_the_description_ignores_the_servers_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    describe_schedule.cache_clear()
    for variable in ("LANG", "LC_ALL", "LC_TIME"):
        monkeypatch.setenv(variable, "de_DE.UTF-8")

    assert describe_schedule("0 21 * * 4") == "At 21:00, only on Thursday"


def test_markdown_keeps_formatting_and_drops_everything_active() -> None:
    html = str(
        markdown(
            "# Title\n\n**bold** _em_ `code` ~~gone~~\n\n- a\n- b\n\n"
            "| x | y |\n|:--|--:|\n| 1 | 2 |\n\n"
            "<script>alert(1)</script> <b onclick=x>raw</b> "
            "[ok](https://example.com) [bad](javascript:alert(1)) ![img](https://t.example/p)"
        )
    )

    for kept in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>em</em>", "<code>code</code>",
                 "<s>gone</s>", "<li>a</li>", "<table>", "<td>1</td>"):  # fmt: skip
        assert kept in html, kept
    assert '<a href="https://example.com" rel="noopener nofollow noreferrer">ok</a>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b onclick=x&gt;raw&lt;/b&gt;" in html
    for dropped in ("<script", "<b ", "<img", 'href="javascript', "style="):
        assert dropped not in html, dropped


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0 ms"),
        (850, "850 ms"),
        (1500, "1.5 s"),
        (125_000, "2 min 5 s"),
        (7_380_000, "2 h 3 min"),
    ],
)
def test_durations(ms: int, text: str) -> None:
    assert duration(ms) == text


def test_costs_are_dollars() -> None:
    assert cost(1.5) == "$0.0150"
    assert cost(0) == "$0.0000"
    assert cost(250) == "$2.5000"
