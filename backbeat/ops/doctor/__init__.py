"""`backbeat doctor`: the configuration and what it depends on, one check at a time.

Each check is a small function, in the module of the dependency it checks (`database`,
`secret`, `providers`, `smtp`, `clock`, `connections`), that returns a `Check`: its status
(ok, warn, fail, or skip when it does not apply or is not configured) and one line saying
what it found and, when something is wrong, what to fix. `backbeat doctor` prints one line
per check and exits non-zero if any failed. Secrets are never printed: messages name
settings, not values, and every configured secret is scrubbed from them all the same.

The database probe (an engine that connects afresh with short timeouts, what a failure
means) is `backbeat.ops.database`, which `GET /readyz` uses too; whether the schema is at
head is `backbeat.store.migrate`'s one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from backbeat.config import Settings
from backbeat.ops.database import database_problem
from backbeat.ops.doctor.check import Check, Status, failed, settings_failure, summary
from backbeat.ops.doctor.clock import check_clock
from backbeat.ops.doctor.connections import check_connections
from backbeat.ops.doctor.database import DatabaseFacts, check_database, check_migrations
from backbeat.ops.doctor.providers import check_providers
from backbeat.ops.doctor.secret import check_secret
from backbeat.ops.doctor.smtp import check_smtp
from backbeat.ops.logs import redacted_url

__all__ = [
    "Check",
    "DatabaseFacts",
    "Status",
    "check_clock",
    "check_connections",
    "check_database",
    "check_migrations",
    "check_providers",
    "check_secret",
    "check_smtp",
    "database_problem",
    "failed",
    "redacted_url",
    "run_checks",
    "scrubbed",
    "settings_failure",
    "summary",
]

SCRUB_MIN = 8  # characters: shorter secret values are not replaced in the final messages


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; a check's own error becomes its failure, never a crash."""
    checks: list[Check] = [Check("settings", "ok", "BACKBEAT_* settings parse")]
    database, facts = _guarded("database", lambda: check_database(settings))
    checks.append(database)
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("migrations", lambda: check_migrations(settings, facts)),
        ("secret", lambda: check_secret(settings)),
        ("providers", lambda: check_providers(settings)),
        ("smtp", lambda: check_smtp(settings)),
        ("clock", lambda: check_clock(settings, facts)),
        ("max_connections", lambda: check_connections(settings, facts)),
    ]
    for name, step in steps:
        try:
            found = step()
        except Exception as exc:
            found = Check(name, "fail", f"the check failed: {type(exc).__name__}: {exc}")
        checks.extend(found if isinstance(found, list) else [found])
    return scrubbed(checks, settings.secret_values())


def _guarded(
    name: str, step: Callable[[], tuple[Check, DatabaseFacts | None]]
) -> tuple[Check, DatabaseFacts | None]:
    try:
        return step()
    except Exception as exc:
        return Check(name, "fail", f"the check failed: {type(exc).__name__}: {exc}"), None


def scrubbed(checks: list[Check], secrets: Iterable[str]) -> list[Check]:
    """The checks with every secret value replaced by *** (defence in depth: the checks put
    no secret in a message, and scrub what servers say). Values under 8 characters are left
    alone here, or a password such as "wrong" would mangle the words around it."""
    values = sorted({s for s in secrets if len(s) >= SCRUB_MIN}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in values:
            text = text.replace(value, "***")
        return text

    return [Check(c.name, c.status, scrub(c.message)) for c in checks]
