"""Alembic, configured from code: `backbeat migrate` and the embedded default call this.

`read_schema` (and `schema_state`, its state alone) is the one answer to "is the schema
current?": `backbeat doctor`, `/readyz`, the processes' start-up check and `backbeat migrate`
all ask it. It reads the version table itself rather than through Alembic's
MigrationContext, which logs two INFO lines each time it is set up (every /readyz probe).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@cache
def _shipped() -> tuple[str | None, frozenset[str]]:
    """The head of the migrations this code ships, and every revision in them (read once)."""
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def head_revision(engine: Engine | None = None) -> str | None:
    """The newest migration this code ships (whatever the database: `engine` is not read)."""
    return _shipped()[0]


def current_revision(bind: Engine | Connection) -> str | None:
    """The database's revision, None before the first migration."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return current_revision(connection)
    if not inspect(bind).has_table(VERSION_TABLE):
        return None
    heads = list(bind.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(heads) > 1:
        raise CommandError(f"Version table '{VERSION_TABLE}' has more than one head present")
    return str(heads[0]) if heads else None


def pending(engine: Engine) -> bool:
    return current_revision(engine) != head_revision(engine)


SchemaState = Literal["current", "behind", "ahead", "empty"]


@dataclass(frozen=True, slots=True)
class Schema:
    """Where a database's schema stands against this code's migrations.

    `ahead`: a revision this code does not know, which a newer release wrote. Migrations are
    additive, so an older process keeps working on it: that is what a rolling upgrade is.
    """

    state: SchemaState
    revision: str | None
    head: str | None

    @classmethod
    def at(cls, revision: str | None) -> Schema:
        head, known = _shipped()
        state: SchemaState
        if revision is None:
            state = "empty"
        elif revision == head:
            state = "current"
        else:
            state = "behind" if revision in known else "ahead"
        return cls(state, revision, head)


def read_schema(bind: Engine | Connection) -> Schema:
    return Schema.at(current_revision(bind))


def schema_state(bind: Engine | Connection) -> SchemaState:
    return read_schema(bind).state
