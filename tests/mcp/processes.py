"""Two teams made with the CLI, for the tests that start `backbeat serve` or `backbeat mcp`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.acceptance.conftest import cli_json
from tests.acceptance.test_end_to_end import cli_together
from tests.processes import clean_env

CLOCK_START = "2026-01-05T12:00:00Z"  # a Monday noon


@dataclass(frozen=True)
class Member:
    account_id: str
    artist_id: str
    key: str

    def task(self, **fields: Any) -> dict[str, Any]:
        return {
            "title": "Weekly pulse",
            "prompt": "Summarise the week's news about the artist.",
            "schedule": "0 9 * * 1",
            "artist_account_id": self.artist_id,
            **fields,
        }


def database_env(directory: Path) -> dict[str, str]:
    """A SQLite database in `directory`; no worker, so a run now stays queued."""
    return clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{directory / 'backbeat.db'}",
        BACKBEAT_CLOCK_START=CLOCK_START,
        BACKBEAT_SERVE_WORKER="false",
    )


def make_member(env: dict[str, str], email: str) -> Member:
    account = cli_json(env, "accounts", "create", "--email", email)
    artist, key = cli_together(
        env,
        ("artists", "create", "--name", f"Artist of {email}", "--account", account["id"]),
        ("keys", "create", "--account", account["id"]),
    )
    return Member(account["id"], artist["id"], key["key"])


def make_members(env: dict[str, str]) -> tuple[Member, Member]:
    """Two accounts sharing nothing (the first CLI call creates the database)."""
    return make_member(env, "alice@example.com"), make_member(env, "bob@example.com")
