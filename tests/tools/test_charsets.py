"""The charset allow-list: which labels a fetched page may choose its decoder with."""

from __future__ import annotations

import codecs
from encodings.aliases import aliases as python_aliases

import pytest

from backbeat.agents.tools.charsets import (
    allowed_encodings,
    body_encoding,
    decode_body,
    text_encoding,
)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("utf-8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        (" Utf_8 ", "utf-8"),
        ("cp65001", "utf-8"),
        ("unicode-1-1-utf-8", "utf-8"),
        ("utf-16le", "utf-16-le"),
        ("UTF-32BE", "utf-32-be"),
        ("us-ascii", "ascii"),
        ("ISO-8859-1", "iso8859-1"),
        ("latin1", "iso8859-1"),
        ("iso-8859-15", "iso8859-15"),
        ("windows-1252", "cp1252"),
        ("Windows-1251", "cp1251"),
        ("koi8-r", "koi8-r"),
        ("macintosh", "mac-roman"),
        ("x-mac-roman", "mac-roman"),
        ("Shift_JIS", "shift_jis"),
        ("x-sjis", "shift_jis"),
        ("windows-31j", "cp932"),
        ("EUC-JP", "euc_jp"),
        ("iso-2022-jp", "iso2022_jp"),
        ("euc-kr", "euc_kr"),
        ("gb2312", "gb2312"),
        ("GBK", "gbk"),
        ("gb18030", "gb18030"),
        ("big5", "big5"),
        ("tis-620", "tis-620"),
    ],
)
def test_real_text_encodings_are_recognised_by_any_spelling(label: str, expected: str) -> None:
    assert text_encoding(label) == expected


@pytest.mark.parametrize(
    "label",
    [
        "punycode",
        "idna",
        "base64",
        "base_64",
        "base64_codec",
        "zlib",
        "zip",
        "hex",
        "bz2",
        "uu",
        "rot13",
        "rot_13",
        "quopri",
        "quoted-printable",
        "unicode_escape",
        "raw_unicode_escape",
        "utf-7",
        "charmap",
        "undefined",
        "mbcs",
        "hz",
        "x-user-defined",
        "replacement",
        "no-such-charset",
        "",
        "-",
        "utf-8" * 20,  # longer than any real label
        None,
    ],
)
def test_anything_else_is_refused(label: str | None) -> None:
    assert text_encoding(label) is None


def test_the_allow_list_agrees_with_python_on_every_label_python_knows() -> None:
    """A label is never read as a different encoding than Python would read it as."""
    labels = set(python_aliases) | set(python_aliases.values())
    accepted = 0
    for label in sorted(labels):
        name = text_encoding(label)
        if name is None:
            continue
        accepted += 1
        assert codecs.lookup(label).name == name, label
    assert accepted > 150
    assert {"utf-8", "cp1252", "shift_jis", "gb18030", "big5", "koi8-r"} <= allowed_encodings()


@pytest.mark.parametrize("encoding", sorted(allowed_encodings()))
def test_every_allowed_encoding_reads_any_bytes_without_raising(encoding: str) -> None:
    junk = bytes(range(256)) * 4 + b"\xff\xfe\x00\xd8\x1b$B\x8e"  # ends mid-sequence
    for final in (True, False):
        text = decode_body(junk, encoding, final=final)
        assert isinstance(text, str)
        assert text


def test_decode_body_refuses_an_encoding_off_the_list() -> None:
    with pytest.raises(ValueError, match="not an allowed text encoding"):
        decode_body(b"bm92YQ==", "base64", final=True)
    assert decode_body("Beyoncé".encode("cp1252"), "cp1252", final=True) == "Beyoncé"
    assert decode_body(b"caf\xc3", "utf-8", final=False) == "caf"  # a cut character: dropped
    assert decode_body(b"caf\xc3", "utf-8", final=True) == "caf\ufffd"


def test_utf16_and_utf32_without_a_byte_order_mark_are_read_as_little_endian() -> None:
    assert decode_body("Nova".encode("utf-16-le"), "utf-16", final=True) == "Nova"
    assert decode_body("Nova".encode("utf-16"), "utf-16", final=True) == "Nova"  # with a BOM
    assert decode_body("Nova".encode("utf-16-be"), "utf-16-be", final=True) == "Nova"
    assert decode_body("Nova".encode("utf-32-le"), "utf-32", final=True) == "Nova"
    assert decode_body(codecs.BOM_UTF32_BE + "Nova".encode("utf-32-be"), "utf-32", True) == "Nova"


def test_body_encoding_prefers_the_header_then_the_meta_then_utf8() -> None:
    meta = b'<html><head><meta charset="windows-1251"></head>'
    equiv = b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
    assert body_encoding("text/html; charset=ISO-8859-2", meta, html=True) == "iso8859-2"
    assert body_encoding('text/html; charset="koi8-r"', meta, html=True) == "koi8-r"
    assert body_encoding("text/html", meta, html=True) == "cp1251"
    assert body_encoding("text/html", equiv, html=True) == "shift_jis"
    assert body_encoding("text/plain", meta, html=False) == "utf-8"  # no sniffing in text
    assert body_encoding("text/html", b"<p>no meta</p>", html=True) == "utf-8"
    assert body_encoding("", b"", html=False) == "utf-8"


def test_body_encoding_skips_labels_off_the_list() -> None:
    meta = b'<meta charset="gbk">'
    assert body_encoding("text/html; charset=punycode", meta, html=True) == "gbk"
    assert body_encoding("text/html; charset=base64", b"", html=True) == "utf-8"
    assert body_encoding("text/html", b'<meta charset="zlib">', html=True) == "utf-8"
    assert body_encoding("text/plain; charset=rot13", b"", html=False) == "utf-8"


def test_a_meta_claiming_utf16_is_read_as_utf8() -> None:
    # A <meta> the sniffer could read as ASCII cannot be in a UTF-16 document.
    assert body_encoding("text/html", b'<meta charset="utf-16le">', html=True) == "utf-8"
    assert body_encoding("text/html; charset=utf-16le", b"", html=True) == "utf-16-le"


def test_a_meta_after_the_first_4_kb_is_not_looked_for() -> None:
    late = b" " * 4096 + b'<meta charset="windows-1252">'
    assert body_encoding("text/html", late, html=True) == "utf-8"
