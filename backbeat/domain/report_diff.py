"""What changed between two reports, line by line, for people to read (the dashboard's run
page shows each run's report against the previous completed run's). Pure: difflib only."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Change = Literal["same", "added", "removed"]
MAX_LINES = 2000  # a report longer than this is compared on its first lines only


@dataclass(frozen=True, slots=True)
class DiffLine:
    change: Change
    text: str


@dataclass(frozen=True, slots=True)
class ReportDiff:
    lines: list[DiffLine]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.change == "added")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.change == "removed")

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.removed == 0


def diff_reports(previous: str, current: str) -> ReportDiff:
    """The current report's lines, with the previous report's removed lines where they were.
    Blank-line and trailing-space differences are not changes."""
    old = [line.rstrip() for line in previous.splitlines()[:MAX_LINES]]
    new = [line.rstrip() for line in current.splitlines()[:MAX_LINES]]
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    lines: list[DiffLine] = []
    for tag, first_old, last_old, first_new, last_new in matcher.get_opcodes():
        if tag == "equal":
            lines += [DiffLine("same", text) for text in new[first_new:last_new]]
            continue
        lines += [DiffLine("removed", text) for text in old[first_old:last_old] if text]
        lines += [DiffLine("added", text) for text in new[first_new:last_new] if text]
    return ReportDiff(lines)
