"""Keyset cursors for newest-first pages: the (created_at, id) of a page's last item, opaque
to clients (URL-safe base64), and refused with a 400 naming `cursor` when not one of ours."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from backbeat.domain.errors import InvalidInput


def encode_cursor(created_at: datetime, key: str) -> str:
    raw = f"{created_at.isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    invalid = InvalidInput("cursor is not a cursor this server gave out", ["cursor"])
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        if "\x00" in text:  # fromisoformat would stop reading at a NUL
            raise ValueError("NUL in a cursor")
        stamp, key = text.split("|")
        created = datetime.fromisoformat(stamp)
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid from None
    if created.tzinfo is None:
        raise invalid
    return created, key


def task_position(cursor: str) -> tuple[datetime, UUID]:
    """Where a page of tasks ended, as both stores compare it (UTC), or InvalidInput."""
    created_at, key = decode_cursor(cursor)
    try:
        return created_at.astimezone(UTC), UUID(key)
    except (ValueError, OverflowError):  # not a task id; a time beyond the datetime range
        raise InvalidInput("cursor is not a cursor this server gave out", ["cursor"]) from None
