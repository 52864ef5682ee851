"""`backbeat runs show` for a person: a run, most useful first (status, times, attempts and
their errors), then what its output holds (model, usage, tool calls, emails, pages, text)."""

from __future__ import annotations

import json
from typing import Any

from backbeat.cli.printing import clipped, short_utc
from backbeat.domain.deliveries import run_output
from backbeat.domain.models import Run


def describe_run(run: Run) -> list[str]:
    """A run for a person to read, most useful first."""
    flags = ", ".join([run.trigger.value, *(["test"] if run.is_test else [])])
    lines = [
        f"run         {run.id}",
        f"status      {run.status.value} ({flags})",
        f"task        {'(deleted)' if run.task_id is None else run.task_id}",
        f"created     {short_utc(run.created_at)} UTC",
    ]
    if run.scheduled_for is not None:
        lines.append(f"scheduled   {short_utc(run.scheduled_for)} UTC")
    if run.started_at is not None:
        lines.append(f"started     {short_utc(run.started_at)} UTC")
    if run.finished_at is not None:
        lines.append(f"finished    {short_utc(run.finished_at)} UTC")
    lines.append(f"duration    {run.duration_ms} ms")
    lines.append(f"cost        {run.cost_in_cents:.4f} cents")
    if run.error:
        lines.append(f"error       {error_text(run.error)}")
    lines.append(f"attempts    {run.attempt_count} (of at most {run.max_attempts})")
    for attempt in run.attempts:
        line = f"  #{attempt.number} {attempt.status.value} {short_utc(attempt.created_at)}"
        if attempt.error:
            line += f"  {error_text(attempt.error)}"
        lines.append(line)
    output = run_output(run.output, run.deliveries)
    if output:
        lines.extend(describe_output(output))
    return lines


def error_text(error: dict[str, Any]) -> str:
    name, message = error.get("name"), error.get("message")
    return f"{name}: {message}" if name else str(message or error)


def describe_verdict(verdict: Any) -> list[str]:
    """A `when: changed` task's verdict on its report (domain.task_delivery.Verdict)."""
    if not isinstance(verdict, dict):
        return []
    against = verdict.get("compared_with")
    since = f" since run {against}" if against else ""
    if verdict.get("changed") is False:
        return [f"verdict     unchanged{since}: nothing sent"]
    note = f" ({verdict['note']})" if verdict.get("note") else ""
    lines = [f"verdict     changed{since}: sent{note}"]
    if verdict.get("what_changed"):
        lines.append(f"  what changed: {clipped(str(verdict['what_changed']), 300)}")
    return lines


def describe_output(output: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    model = output.get("provider_model") or output.get("model")
    if model:
        provider = output.get("provider")
        lines.append(f"model       {f'{provider}/' if provider else ''}{model}")
    usage = output.get("usage")
    if isinstance(usage, dict):
        lines.append(
            f"usage       {usage.get('input_tokens', 0)} input tokens, "
            f"{usage.get('output_tokens', 0)} output tokens, "
            f"{usage.get('requests', 0)} requests, {output.get('turns', '?')} turns"
            + ("" if output.get("price_known", True) else " (price unknown)")
        )
    calls = output.get("tool_calls") or []
    lines.append(f"tool calls  {len(calls)}")
    for call in calls:
        arguments = json.dumps(call.get("arguments"), ensure_ascii=False)
        outcome = "error" if call.get("is_error") else "ok"
        result = clipped(str(call.get("result", "")), 100)
        lines.append(f"  {call.get('name')} {clipped(arguments, 80)} → {outcome}: {result}")
    lines += describe_verdict(output.get("verdict"))
    sent = output.get("emails_sent") or []
    refused = output.get("emails_refused") or []
    lines.append(f"emails      {len(sent)} sent, {len(refused)} refused")
    for delivery in output.get("deliveries") or []:
        state = delivery.get("status")
        line = f"  {state} {delivery.get('to')}: {delivery.get('subject')!r}"
        if delivery.get("tries", 0) > 1:
            line += f" after {delivery.get('tries')} tries"
        if state == "pending" and delivery.get("next_try_at"):
            line += f", next try {delivery.get('next_try_at')}"
        if delivery.get("error") and state != "sent":
            line += f" ({delivery.get('error')})"
        lines.append(line)
    for email in refused:
        lines.append(
            f"  refused {email.get('to')}: {email.get('subject')!r} ({email.get('reason')})"
        )
    pages = output.get("pages_fetched") or []
    if pages:
        lines.append(f"pages       {len(pages)} fetched")
        for page in pages:
            lines.append(
                f"  {page.get('url')}" + (f" ({page['error']})" if page.get("error") else "")
            )
    text = output.get("text")
    if text:
        lines.append("output")
        lines.extend(f"  {line}" for line in str(text).splitlines())
    return lines
