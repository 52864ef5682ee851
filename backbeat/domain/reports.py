"""A run's final report rendered for each channel: pure, stdlib only. The text is the model's
(Markdown-ish) and treated as hostile. Email: a subject, plain text, and safe HTML (all escaped;
paragraphs, `#`-`###` headings, bullet lists, `**bold**`, `code`, links to http(s) only). Slack:
Block Kit within its limits (header ≤ 150, sections ≤ 3000, ≤ 50 blocks; counted in UTF-16
units), mrkdwn with `&`, `<`, `>` escaped and sections `verbatim`, so `<!channel>` or `<@U1>`
in a report is shown, never acted on."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

SUBJECT_LIMIT = 200
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000  # a section's text, and the fallback `text` sent
SLACK_BLOCK_LIMIT = 50
URL_LIMIT = 2000  # a longer link stays text
LABEL_LIMIT = 150  # a link's text, at most (so that a link always fits in a section)
TRUNCATED = "… (truncated: read the whole report on Backbeat)"

Kind = Literal["report", "alert", "recovered"]
_PREFIX: dict[str, str] = {"report": "", "alert": "Failed: ", "recovered": "Recovered: "}


@dataclass(frozen=True)
class Report:
    task_title: str
    artist_name: str | None
    text: str  # the run's final output (Markdown-ish, from the model)
    run_id: str
    run_url: str | None
    finished_at: datetime
    changed: str | None = None  # a one-paragraph "what changed", when known
    kind: Kind = "report"
    error: str | None = None  # why the run failed (an alert)


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def _normalised(text: str) -> str:
    """Line ends as \\n, tabs as spaces, other control characters gone."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROLS.sub("", text)


def _line(text: str) -> str:
    """One line: every run of whitespace or control characters a single space."""
    return _ONE_LINE.sub(" ", text).strip()


def _units(text: str) -> int:
    """Length in UTF-16 units (an emoji outside the BMP counts twice): never below len()."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _clip(text: str, limit: int) -> str:
    if _units(text) <= limit:
        return text
    return text[: _prefix(text, limit - 1)].rstrip() + "…"


def _title(report: Report) -> str:
    title = _line(report.task_title) or "Backbeat task"
    artist = _line(report.artist_name or "")
    return f"{title}: {artist}" if artist else title


def _date(report: Report) -> str:
    return report.finished_at.date().isoformat()


def _safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL without spaces or controls, else None."""
    if not url or len(url) > URL_LIMIT or _ONE_LINE.search(url):
        return None
    try:
        parts, host = urlsplit(url), urlsplit(url).hostname
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and host else None


_HEADING = re.compile(r"^(#{1,3})\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<href>(?:[^()\s]|\([^()\s]*\))+)\)"
    r"|\*\*(?P<bold>[^\n]+?)\*\*"
    r"|(?P<url>https?://[^\s<>\"'`()\[\]]*[^\s<>\"'`()\[\].,;:!?*_~])"
)


@dataclass
class _Block:
    kind: Literal["h", "p", "ul"]
    level: int
    lines: list[str]


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: _Block | None = None
    for raw in _normalised(text).split("\n"):
        heading, bullet = _HEADING.match(raw), _BULLET.match(raw)
        if not raw.strip() or _RULE.match(raw) or heading:
            current = None
            if heading and heading[2].strip():
                blocks.append(_Block("h", len(heading[1]), [heading[2].strip()]))
        else:
            kind: Literal["ul", "p"] = "ul" if bullet else "p"
            if current is None or current.kind != kind:
                current = _Block(kind, 0, [])
                blocks.append(current)
            current.lines.append((bullet[1] if bullet else raw).strip())
    return blocks


@dataclass(frozen=True)
class _Style:
    text: Callable[[str], str]
    code: Callable[[str], str]
    bold: Callable[[str], str]  # given its rendered content
    link: Callable[[str, str | None], str]  # (a safe URL, its label; None: a bare URL)


def _inline(text: str, style: _Style) -> str:
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(style.text(text[position : match.start()]))
        position = match.end()
        bold, href, bare = match["bold"], match["href"], match["url"]
        if match["code"] is not None:
            out.append(style.code(match["code"]))
        elif bold is not None and bold.strip():
            out.append(style.bold(_inline(bold.strip(), style)))
        elif href is not None:
            url, label = _safe_url(href), _clip(match["label"], LABEL_LIMIT)
            out.append(style.text(label) if url is None else style.link(url, label))
        elif bare is not None and _safe_url(bare) is not None:
            out.append(style.link(bare, None))
        else:
            out.append(style.text(match[0]))
    out.append(style.text(text[position:]))
    return "".join(out)


def email_subject(report: Report) -> str:
    """One line of at most SUBJECT_LIMIT characters, the date kept whole."""
    prefix = _PREFIX[report.kind]
    suffix = f" — {'report' if report.kind == 'report' else 'run'} of {_date(report)}"
    return prefix + _clip(_title(report), SUBJECT_LIMIT - len(prefix) - len(suffix)) + suffix


def email_text(report: Report) -> str:
    lines = [f"{_PREFIX[report.kind]}{_title(report)} — {_date(report)}", ""]
    if report.kind == "alert" and report.error:
        lines += [f"The run failed: {_line(report.error)}", ""]
    if report.changed and report.changed.strip():
        lines += [f"What changed: {_line(report.changed)}", ""]
    lines += [_normalised(report.text).strip(), "", "-- "]
    url = _safe_url(report.run_url)
    lines.append(f"Run {_line(report.run_id)}" + (f": {url}" if url else ""))
    return "\n".join(lines) + "\n"


_esc = html.escape  # quotes too (quote=True by default): safe in attributes
_HTML = _Style(
    text=_esc,
    code=lambda text: f"<code>{_esc(text)}</code>",
    bold=lambda inner: f"<strong>{inner}</strong>",
    link=lambda url, label: f'<a href="{_esc(url)}">{_esc(label or url)}</a>',
)


def _html_blocks(text: str) -> Iterator[str]:
    for block in _blocks(text):
        rendered = [_inline(line, _HTML) for line in block.lines]
        if block.kind == "h":
            yield f"<h{block.level}>{rendered[0]}</h{block.level}>"
        elif block.kind == "ul":
            yield "<ul>" + "".join(f"<li>{item}</li>" for item in rendered) + "</ul>"
        else:
            yield "<p>" + "<br>\n".join(rendered) + "</p>"


def email_html(report: Report) -> str:
    """A whole HTML document: the report's text escaped, the Markdown subset rendered."""
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_esc(email_subject(report))}</title></head>",
        '<body style="font-family:Helvetica,Arial,sans-serif;line-height:1.5;color:#1a1a1a">',
    ]
    if report.kind == "alert" and report.error:
        parts.append(f"<p><strong>The run failed:</strong> {_esc(_line(report.error))}</p>")
    if report.changed and report.changed.strip():
        changed = _inline(_line(report.changed), _HTML)
        parts.append(f"<p><strong>What changed:</strong> {changed}</p>")
    parts.extend(_html_blocks(report.text))
    footer = f"{_esc(_title(report))} · {_date(report)} · run {_esc(_line(report.run_id))}"
    url = _safe_url(report.run_url)
    if url:
        footer += f' · <a href="{_esc(url)}">Open the run on Backbeat</a>'
    parts.append(f'<hr><p style="font-size:12px;color:#666">{footer}</p></body></html>')
    return "\n".join(parts) + "\n"


_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)


def _slack_escape(text: str) -> str:
    """Slack's three escapes; @here/@channel/@everyone given a word joiner, never parsed."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@\u2060\\1", escaped)


def _slack_url(url: str) -> str:
    url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return url.replace("&", "&amp;")


def _slack_link(url: str, label: str | None) -> str:
    """`<url|label>`, or `<url>` for a bare URL; the label alone when the URL, escaped,
    is too long (so that a link always fits in a section, whole)."""
    target = _slack_url(url)
    if _units(target) > URL_LIMIT:
        return _slack_escape(label or url)
    return f"<{target}>" if label is None else f"<{target}|{_slack_escape(label)}>"


_SLACK = _Style(
    text=_slack_escape,
    code=lambda text: f"`{_slack_escape(text)}`",
    bold=lambda inner: f"*{inner}*",
    link=_slack_link,
)


def _slack_paragraphs(text: str) -> list[str]:
    paragraphs = []
    for block in _blocks(text):
        rendered = [_inline(line, _SLACK) for line in block.lines]
        if block.kind == "h":
            paragraphs.append(f"*{rendered[0]}*")
        elif block.kind == "ul":
            paragraphs.append("\n".join(f"• {item}" for item in rendered))
        else:
            paragraphs.append("\n".join(rendered))
    return paragraphs


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut mrkdwn to at most `limit` units: at a space when one is near, never inside
    an escape (`&amp;`) or a link (`<url|text>`)."""
    cut = _prefix(text, limit)
    space = text.rfind(" ", 0, cut)
    if space > cut // 2:
        cut = space
    amp = text.rfind("&", 0, cut)
    if amp != -1 and text.find(";", amp, cut) == -1:
        cut = amp
    opening = text.rfind("<", 0, cut)
    if opening != -1 and text.find(">", opening, cut) == -1:
        cut = opening
    return cut if cut > 0 else _prefix(text, limit)


def _pieces(line: str, limit: int) -> Iterator[str]:
    while _units(line) > limit:
        cut = _safe_cut(line, limit)
        yield line[:cut].rstrip()
        line = line[cut:].lstrip()
    if line:
        yield line


def _chunks(paragraphs: list[str], limit: int) -> list[str]:
    """The paragraphs packed into texts of at most `limit` units, split between paragraphs
    when it can be, else between lines, else (a line too long) at a safe place."""
    chunks: list[str] = []
    for paragraph in paragraphs:
        lines = [paragraph] if _units(paragraph) <= limit else paragraph.split("\n")
        pieces = [piece for line in lines for piece in _pieces(line, limit)]
        joiner = "\n\n"
        for piece in pieces:
            if chunks and _units(chunks[-1]) + len(joiner) + _units(piece) <= limit:
                chunks[-1] += joiner + piece
            else:
                chunks.append(piece)
            joiner = "\n"
    return chunks


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_payload(report: Report) -> dict[str, Any]:
    """The JSON body for a Slack incoming webhook: a header, the report in sections, and a
    link to the run; cut with TRUNCATED when it needs more than SLACK_BLOCK_LIMIT blocks."""
    title = _PREFIX[report.kind] + _title(report)
    plain = _BROADCAST.sub("@\u2060\\1", title.replace("<", "‹").replace(">", "›"))
    header = _clip(plain, SLACK_HEADER_LIMIT)
    lead: list[str] = []
    if report.kind == "alert" and report.error:
        lead.append(f"*The run failed:* {_slack_escape(_clip(_line(report.error), 1000))}")
    if report.changed and report.changed.strip():
        lead.append(f"*What changed:* {_inline(_line(report.changed), _SLACK)}")
    body = _chunks(_slack_paragraphs(report.text), SLACK_TEXT_LIMIT)
    texts = _chunks(lead, SLACK_TEXT_LIMIT) + (body or ["_(the report is empty)_"])
    room = SLACK_BLOCK_LIMIT - 2  # the header and the run's link
    if len(texts) > room:
        notice = f"\n_{TRUNCATED}_"
        last = next(_pieces(texts[room - 1], SLACK_TEXT_LIMIT - _units(notice)))
        texts = [*texts[: room - 1], last + notice]
    footer = f"Run {_slack_escape(_clip(_line(report.run_id), 100))} · finished {_date(report)}"
    url = _safe_url(report.run_url)
    if url:
        footer = f"{_slack_link(url, 'Open the run on Backbeat')} · {footer}"
    fallback = next(_pieces(f"{_slack_escape(title)}\n{texts[0]}", SLACK_TEXT_LIMIT))
    return {
        "text": fallback,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            *({"type": "section", "text": _mrkdwn(text)} for text in texts),
            {"type": "context", "elements": [_mrkdwn(footer)]},
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }
