"""A completed run's report, to the channels of its task's delivery setting: one outbox row
per recipient (purpose `report`), written in the transaction that completes the run, so a
completed run has its deliveries and a rolled-back one has none. The outbox sends them once
the run has ended (domain.deliveries.may_send_after_run); the rendering per channel happens
at send time, from the report stored in the row (domain.reports)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit

from backbeat.domain import deliveries, reports
from backbeat.domain.deliveries import Channel, Purpose
from backbeat.domain.models import Run, Task
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.runs import RunStatus
from backbeat.domain.task_delivery import SLACK, Verdict, When

log = logging.getLogger("backbeat.reporting")


def report_json(report: reports.Report) -> str:
    """The report as a delivery row keeps it (rendered per channel when it is sent)."""
    return json.dumps(
        {
            "task_title": report.task_title,
            "artist_name": report.artist_name,
            "text": report.text,
            "run_id": report.run_id,
            "run_url": report.run_url,
            "finished_at": report.finished_at.isoformat(),
            "kind": report.kind,
            "error": report.error,
            "changed": report.changed,
        }
    )


def report_from_json(body: str) -> reports.Report:
    raw = json.loads(body)
    return reports.Report(
        task_title=raw["task_title"],
        artist_name=raw["artist_name"],
        text=raw["text"],
        run_id=raw["run_id"],
        run_url=raw["run_url"],
        finished_at=datetime.fromisoformat(raw["finished_at"]),
        kind=raw.get("kind", "report"),
        error=raw.get("error"),
        changed=raw.get("changed"),
    )


def report_of(uow: UnitOfWork, run: Run, task: Task, run_url: str | None) -> reports.Report:
    artist = uow.accounts.artist_names([task.artist_account_id]).get(task.artist_account_id)
    return reports.Report(
        task_title=task.title,
        artist_name=artist,
        text=str((run.output or {}).get("text") or ""),
        run_id=run.id,
        run_url=run_url,
        finished_at=run.finished_at or run.updated_at,
    )


def deliver(
    uow: UnitOfWork,
    run: Run,
    now: datetime,
    report: reports.Report,
    purpose: Purpose,
    emails: tuple[str, ...],
    slack_url: str | None,
    box: SecretBox | None,
) -> int:
    """One pending delivery of `report` per email address and one to Slack (the task's
    sealed incoming webhook URL, when set); how many."""
    body = report_json(report)
    subject = reports.email_subject(report)
    rows = [
        deliveries.intent(
            run.id, Channel.EMAIL, address, address, subject, body, now, purpose=purpose
        )
        for address in emails
    ]
    if slack_url is not None and box is not None:
        # The row shows the host only: the URL itself is a secret, read from the task at
        # send time.
        host = urlsplit(box.open(slack_url)).hostname or "slack"
        rows.append(
            deliveries.intent(run.id, Channel.SLACK, SLACK, host, None, body, now, purpose=purpose)
        )
    for each in rows:
        uow.deliveries.add(each)
    return len(rows)


def _still_the_last(uow: UnitOfWork, run: Run, verdict: Verdict) -> bool:
    """Whether the report the verdict compared with is still the last one the team got, now
    that the run ends: one that failed for good since, or was overtaken, does not count (the
    team would then get neither)."""
    last = uow.deliveries.last_report(run)
    return last is not None and last.run_id == verdict.compared_with


def record_report_deliveries(
    uow: UnitOfWork,
    run: Run,
    task: Task | None,
    now: datetime,
    run_url: str | None,
    box: SecretBox | None,
) -> int:
    """The report's deliveries, for a run of `task` that just completed; how many."""
    if run.status is not RunStatus.COMPLETED or task is None:
        return 0
    settings = task.delivery
    if settings is None or not settings.delivers:
        return 0
    report = report_of(uow, run, task, run_url)
    if settings.when is When.CHANGED:
        verdict = Verdict.from_output(run.output)
        if verdict is not None and not verdict.changed and _still_the_last(uow, run, verdict):
            log.info(
                "report unchanged since the last one delivered: not sent",
                extra={
                    "event": "report.unchanged",
                    "run_id": run.id,
                    "task_id": str(task.id),
                    "compared_with": verdict.compared_with,
                },
            )
            return 0
        report = replace(report, changed=None if verdict is None else verdict.what_changed)
    return deliver(uow, run, now, report, Purpose.REPORT, settings.email, settings.slack_url, box)
