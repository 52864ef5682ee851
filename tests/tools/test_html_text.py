"""html_to_text on markup html.parser handles badly: what comes out, and that it comes out.

The time bound itself (linear, off the event loop) is measured in test_web_hostile_bodies.py;
these pin the text produced for each construct the tokenizer treats specially.
"""

from __future__ import annotations

import pytest

from backbeat.agents.tools.html_text import html_to_text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("a<!--x-->b", "ab"),
        ("a<!-->b<!--->c", "abc"),  # the short comment forms end at once
        ("a<!-- never closed <p>b</p>", "a"),
        ("<!doctype html><?xml version='1.0'?><![CDATA[x]]>ok", "ok"),
        ("a</ >b", "ab"),  # a bogus comment
        ('<p title="a>b">x</p>', "x"),  # ">" inside a quoted attribute
        ("<p title='unclosed>x</p>", ""),  # the tag runs to the end: nothing after it
        ("text <a href='x", "text"),
        ("a < b and c<3, d <= e", "a < b and c<3, d <= e"),
        ("<script>if (a</b) { x('<p>') }</script>ok", "ok"),
        ("<script>x</scriptx>y</script>z", "z"),
        ("<SCRIPT type=module>x</SCRIPT >y", "y"),
        ("<style>p { color: red }", ""),  # never closed: the rest is style
        ("<title>A &amp; <b>B</b></title><p>x", "Title: A & <b>B</b>\nx"),
        ("<textarea>&lt;x&gt; <b>y</b></textarea>", "<x> <b>y</b>"),
        ("<xmp>&amp; <b></xmp>", "&amp; <b>"),
        ("<plaintext><b>x</b> &amp;", "<b>x</b> &amp;"),
        ("<svg><svg></svg><text>logo</text></svg>after", "after"),
        ("<svg/>visible", "visible"),
        ("<svg><title>icon</title></svg><p>x", "x"),
        ("<ul><li>a<li>b</ul>", "- a\n- b"),
        ("&copy2 &unknown; &#x41;&#66;", "©2 &unknown; AB"),
    ],
)
def test_constructs(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_a_huge_numeric_reference_is_text_not_an_error() -> None:
    # html.unescape alone raises ValueError here (int() refuses over 4300 digits).
    text = html_to_text("<p>&#" + "9" * 5000 + ";</p>")
    assert text.startswith("\ufffd999")


@pytest.mark.parametrize(
    "html",
    [
        "<a" * 50_000,
        "</" * 50_000,
        "<?" * 50_000,
        "<!" * 50_000,
        "<!--" * 25_000,
        "<a " + "b=c " * 25_000,
        "<a " + "\"'" * 50_000,
    ],
)
def test_markup_that_never_closes_yields_nothing(html: str) -> None:
    assert html_to_text(html) == ""
