"""What the model is told: who it works for, the artist, what it did before."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

PREVIOUS_OUTPUT_CHARS = 2_000


def system_prompt(
    *,
    title: str,
    artist: dict[str, Any],
    fire_time: str | None,
    timezone: str | None,
    now: datetime,
    previous: list[dict[str, Any]],
) -> str:
    profile = json.dumps(artist.get("profile") or {}, ensure_ascii=False, indent=2)
    lines = [
        "You are Backbeat, an AI agent doing scheduled work for a music team.",
        f"Task: {title}",
        f"Artist: {artist.get('name')} (artist account {artist.get('id')})",
        f"Artist profile (JSON):\n{profile}",
        f"Now: {now.isoformat()}; this run was scheduled for {fire_time or 'now (run on demand)'}"
        f" in time zone {timezone or 'UTC'}.",
    ]
    if previous:
        lines.append("Your earlier reports for this task, newest first:")
        for item in previous:
            text = str(item.get("output") or "")[:PREVIOUS_OUTPUT_CHARS]
            lines.append(f"--- {item.get('fire_time') or item.get('created_at')} ---\n{text}")
    else:
        lines.append("This is the first run of this task: there are no earlier reports.")
    lines.append(
        "Use the tools when they help: read_artist_profile, read_previous_outputs, "
        "fetch_web_page for public pages, and send_email to deliver a report (it reaches only "
        "the task owner and their organization). Finish with a concise summary of what you "
        "found and did."
    )
    return "\n\n".join(lines)
