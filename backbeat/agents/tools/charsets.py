"""Which charset a fetched page is decoded with: only real text encodings, else UTF-8.

A page names its charset itself (Content-Type header or HTML <meta>), so the name is untrusted.
Python's codec registry holds far more than text encodings: bytes-to-bytes codecs (base64,
zlib, hex, bz2, uu, quopri), str-to-str ones (rot13), IDNA helpers (punycode, idna) and escape
decoders (unicode_escape). Handed to a decoder, those raise assertion and type errors or, for
punycode, run a quadratic decoder (a 1 MB page took 44 s). So a label is accepted only when it
names an encoding on the allow-list below; anything else is read as UTF-8 with U+FFFD for bytes
that are not UTF-8. Labels are matched against a table built from the allow-list, so an
untrusted label never reaches codecs.lookup (which imports codec modules by name and caches
every miss for the life of the process).
"""

from __future__ import annotations

import codecs
import functools
import re
from encodings.aliases import aliases as _PYTHON_ALIASES

FALLBACK = "utf-8"

# Real text encodings, as Python spells them: Unicode, the WHATWG Encoding Standard's legacy
# encodings (what browsers read), and a few close relatives in common use. Each decoder is
# written in C and linear in its input. UTF-7 is left out on purpose: no browser reads it and
# it is a known vehicle for smuggling markup past filters.
_TEXT_ENCODINGS = (
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
    "utf-32-be", "ascii", "latin-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5",
    "iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-9", "iso-8859-10", "iso-8859-11",
    "iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16", "windows-1250",
    "windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255",
    "windows-1256", "windows-1257", "windows-1258", "cp874", "tis-620", "cp866", "koi8-r",
    "koi8-u", "koi8-t", "mac-roman", "mac-cyrillic", "shift_jis", "cp932", "euc-jp",
    "iso-2022-jp", "euc-kr", "cp949", "gb2312", "gbk", "gb18030", "big5", "big5hkscs", "cp950",
)  # fmt: skip

# Labels web pages use that Python does not know (from the WHATWG Encoding Standard).
_WEB_LABELS = {
    "x-sjis": "shift_jis",
    "ms_kanji": "shift_jis",
    "windows-31j": "cp932",
    "x-euc-jp": "euc-jp",
    "x-gbk": "gbk",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
}

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_MAX_LABEL = 64  # longer than any real label
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]{1,64})""", re.IGNORECASE)
# The first <meta> naming a charset in the first 4 kB (<meta charset=...> or the http-equiv
# form, whose content attribute holds "text/html; charset=..."). Bounded: {0,200} and a 4 kB
# window keep the search short whatever the page holds.
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:-]{1,64})""", re.I)
_SNIFF_BYTES = 4096
_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}


def _key(label: str) -> str:
    """`label` with case and punctuation dropped: "UTF-8", "utf_8" and "utf8" are one key."""
    return _NOT_ALPHANUMERIC.sub("", label.lower())


@functools.cache
def _table() -> dict[str, str]:
    """Label key -> canonical codec name, for every label of an allowed encoding: the names
    on the allow-list, Python's aliases for them, and the extra web labels. Built on first use
    (it imports the allowed codecs' modules, and only those)."""
    table = {_key(label): codecs.lookup(label).name for label in _TEXT_ENCODINGS}
    for name in list(table.values()):
        table.setdefault(_key(name), name)
    for alias, module in _PYTHON_ALIASES.items():  # e.g. "l1" -> "latin_1", "sjis" -> ...
        target = table.get(_key(module))
        if target is not None:
            table.setdefault(_key(alias), target)
    for label, target in _WEB_LABELS.items():
        table.setdefault(_key(label), table[_key(target)])
    return table


def text_encoding(label: str | None) -> str | None:
    """The canonical codec name (as codecs.lookup spells it) of the text encoding `label`
    names, or None when it names none on the allow-list (or nothing at all)."""
    if not label or len(label) > _MAX_LABEL:
        return None
    return _table().get(_key(label))


@functools.cache
def allowed_encodings() -> frozenset[str]:
    """The canonical names of every encoding text_encoding can answer."""
    return frozenset(_table().values())


def body_encoding(content_type: str, body: bytes, html: bool) -> str:
    """The encoding to read a fetched body with: the Content-Type header's charset, else (for
    HTML) the first <meta> charset, else UTF-8; a label not on the allow-list is skipped, as
    browsers skip labels they do not know."""
    header = _HEADER_CHARSET.search(content_type)
    declared = text_encoding(header.group(1)) if header else None
    if declared is not None:
        return declared
    if html:
        meta = _META_CHARSET.search(body, 0, _SNIFF_BYTES)
        sniffed = text_encoding(meta.group(1).decode("ascii", "replace")) if meta else None
        if sniffed is not None:
            # A <meta> readable as ASCII cannot sit in a UTF-16/32 document: the label is wrong
            # (browsers read such pages as UTF-8 too).
            return FALLBACK if sniffed.startswith(("utf-16", "utf-32")) else sniffed
    return FALLBACK


def decode_body(body: bytes, encoding: str, final: bool) -> str:
    """`body` as text, undecodable bytes as U+FFFD. With `final` false (the body was cut),
    a character split by the cut is dropped instead of becoming U+FFFD. Linear in the body's
    length for every allowed encoding; `encoding` must come from text_encoding/body_encoding."""
    if encoding not in allowed_encodings():
        raise ValueError(f"not an allowed text encoding: {encoding!r}")
    boms = _BOMS.get(encoding)
    if boms is not None and not body.startswith(boms):
        # Python's UTF-16/32 decoders raise on a body without a byte order mark, whatever the
        # error handler; browsers read such a body as little-endian, and so do we.
        encoding += "-le"
    return codecs.getincrementaldecoder(encoding)("replace").decode(body, final=final)
