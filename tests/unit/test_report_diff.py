"""Line diffs of two reports, as the run page shows them."""

from __future__ import annotations

from backbeat.domain.report_diff import diff_reports


def test_changed_lines_are_removed_then_added_in_place() -> None:
    diff = diff_reports("a\nb\nc", "a\nB\nc\nd")
    assert [(line.change, line.text) for line in diff.lines] == [
        ("same", "a"),
        ("removed", "b"),
        ("added", "B"),
        ("same", "c"),
        ("added", "d"),
    ]
    assert (diff.added, diff.removed, diff.unchanged) == (2, 1, False)


def test_blank_lines_and_trailing_spaces_are_not_changes() -> None:
    assert diff_reports("a  \n\nb", "a\nb\n").unchanged
    assert diff_reports("", "").unchanged
    assert diff_reports("", "new").added == 1
