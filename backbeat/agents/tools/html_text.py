"""HTML to readable text, in time linear in the document's length whatever it holds.

Not html.parser: on CPython 3.11 it is quadratic on malformed markup (1 MB of "<a", "</",
"<?" or "<!--" repeated takes it from a minute to ten), and fetched pages are untrusted. This
tokenizer follows the HTML5 tokenizer's shape where it matters for text: markup that never
closes runs to the end of the document (and is dropped) instead of being retried at every
later "<", so each character is scanned a bounded number of times. It is pure Python apart from
short regular-expression and str.find calls, so in a worker thread it hands the GIL back to the
event loop every few milliseconds.
"""

from __future__ import annotations

import html as html_module
import re

# Elements whose content is not readable text, skipped together with everything inside.
_SKIP = frozenset({"svg", "math", "template", "object", "canvas"})
# Elements whose content is raw text up to the matching end tag (no markup inside): dropped,
# except title (the page's title), textarea (text with character references) and xmp (text).
_RAW = frozenset({"script", "style", "noscript", "iframe", "noembed", "noframes", "title",
                  "textarea", "xmp"})  # fmt: skip
_RAW_END = {name: re.compile(rf"</{name}(?=[\t\n\f\r />]|\Z)", re.IGNORECASE) for name in _RAW}
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "thead", "tfoot", "tr", "ul", "caption", "option",
    }
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
# One piece of markup starting at a "<". Every branch that starts matching also finishes (at
# ">" or at the end of the document), and the repetitions are possessive, so a match costs
# what it consumes and a failed one (a "<" that is plain text) costs O(1).
_MARKUP = re.compile(
    r"""<(?:
        /(?P<end>[a-zA-Z][^\t\n\f\r />]*+)[^>]*+(?:>|\Z)
      | (?P<start>[a-zA-Z][^\t\n\f\r />]*+)
        (?P<attributes>(?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^>"']++)*+)(?:>|\Z)
      | [!?/][^>]*+(?:>|\Z)  # doctype, CDATA, processing instruction, bogus comment
    )""",
    re.VERBOSE,
)
# Character references, each bounded in length: html.unescape on its own is linear too, but
# raises ValueError on a decimal reference longer than int()'s 4300-digit limit.
_REFERENCE = re.compile(r"&(?:#[0-9]{1,10}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{0,31});?")


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return _REFERENCE.sub(lambda reference: html_module.unescape(reference.group()), text)


class _Text:
    """What the tokenizer found: text in blocks, and the title."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping = 0  # depth inside _SKIP elements

    def start(self, tag: str, self_closing: bool) -> None:
        if tag in _SKIP:
            self.skipping += 0 if self_closing else 1
        elif self.skipping:
            return
        elif tag in _BLOCK:
            self.parts.append("\n- " if tag == "li" and not self_closing else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def end(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK and not self.skipping:
            self.parts.append("\n")

    def data(self, text: str) -> None:
        if text and not self.skipping:
            self.parts.append(_SPACES.sub(" ", text))

    def raw(self, tag: str, content: str) -> None:
        if self.skipping:
            return
        if tag == "title":
            self.title.append(_unescape(content))
        elif tag == "textarea":
            self.data(_unescape(content))
        elif tag == "xmp":
            self.data(content)


def html_to_text(html: str) -> str:
    """The readable text of an HTML document: no scripts, styles, comments or tags, character
    references resolved, whitespace collapsed, one line per block, the <title> first."""
    found = _Text()
    text_from = position = 0  # text runs from text_from up to the next piece of markup
    length = len(html)
    while (opening := html.find("<", position)) >= 0:
        markup = None
        if html.startswith("<!--", opening):
            # Searching from the "--" of "<!--" also ends the short forms <!--> and <!--->.
            close = html.find("-->", opening + 2)
            end = length if close < 0 else close + 3
        elif (markup := _MARKUP.match(html, opening)) is not None:
            end = markup.end()
        else:  # "<" followed by neither a letter nor one of "!?/": plain text
            position = opening + 1
            continue
        found.data(_unescape(html[text_from:opening]))
        text_from = position = end
        if markup is None or not (markup["start"] or markup["end"]):
            continue  # a comment, doctype, processing instruction, ...
        tag = (markup["start"] or markup["end"]).lower()
        if markup["end"]:
            found.end(tag)
        elif tag == "plaintext":  # everything after it is text, markup included
            found.data(html[end:])
            return _lines(found)
        elif tag in _RAW:
            closing = _RAW_END[tag].search(html, end)
            content_end = length if closing is None else closing.start()
            found.raw(tag, html[end:content_end])
            end_tag = _MARKUP.match(html, content_end) if closing is not None else None
            text_from = position = length if end_tag is None else end_tag.end()
        else:
            found.start(tag, markup["attributes"].endswith("/"))
    found.data(_unescape(html[text_from:]))
    return _lines(found)


def _lines(found: _Text) -> str:
    lines: list[str] = []
    for line in "".join(found.parts).split("\n"):
        cleaned = _SPACES.sub(" ", line).strip()
        if cleaned and cleaned != "-":
            lines.append(cleaned)
    title = _SPACES.sub(" ", "".join(found.title)).strip()
    if title and (not lines or lines[0] != title):
        lines.insert(0, f"Title: {title}")
    return "\n".join(lines)
