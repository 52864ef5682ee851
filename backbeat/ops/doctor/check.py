"""What every check answers: a `Check` (ok, warn, fail, or skip when it does not apply or is
not configured, and one line saying what it found and what to fix), and the words they
share."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

Status = Literal["ok", "warn", "fail", "skip"]
LABELS: dict[Status, str] = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}

NO_DATABASE = "not checked: the database did not answer"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str

    def line(self) -> str:
        return f"{LABELS[self.status]:<4}  {self.name:<15} {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


def summary(checks: list[Check]) -> str:
    """One closing line: "all good (10 checks)", or what failed and warned."""
    fails = sum(check.status == "fail" for check in checks)
    warns = sum(check.status == "warn" for check in checks)
    counted = f"({len(checks)} checks)"
    warned = f"{warns} warning{'s' if warns != 1 else ''}"
    if fails:
        return f"{fails} failed, {warned} {counted}: fix the FAIL lines"
    if warns:
        return f"no failures, {warned} {counted}"
    return f"all good {counted}"


def settings_failure(exc: ValidationError) -> Check:
    """A setting that does not parse: which one, and why (never the value given)."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"BACKBEAT_{field.upper()}: {error['msg']}")
    return Check("settings", "fail", "; ".join(problems) or "the settings do not parse")


def os_reason(exc: OSError) -> str:
    """ "Connection refused", "Name or service not known": the errno's words when it has one."""
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        text = exc.strerror or str(exc)
    else:
        text = os.strerror(exc.errno)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text.strip())
    return text.splitlines()[0] if text else type(exc).__name__
