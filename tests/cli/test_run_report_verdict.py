"""`backbeat runs show` says what a `when: changed` run's verdict was."""

from __future__ import annotations

from backbeat.cli.run_report import describe_verdict


def test_each_verdict_reads_plainly() -> None:
    assert describe_verdict(None) == []
    quiet = {"changed": False, "what_changed": None, "compared_with": "run_1", "note": None}
    assert describe_verdict(quiet) == ["verdict     unchanged since run run_1: nothing sent"]
    first = {
        "changed": True,
        "what_changed": None,
        "compared_with": None,
        "note": "the first report",
    }
    assert describe_verdict(first) == ["verdict     changed: sent (the first report)"]
    loud = {"changed": True, "what_changed": "Streams doubled.", "compared_with": "run_1"}
    assert describe_verdict(loud) == [
        "verdict     changed since run run_1: sent",
        "  what changed: Streams doubled.",
    ]
