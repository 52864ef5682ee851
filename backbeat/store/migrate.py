"""Alembic, configured from code: `backbeat migrate` and the embedded default call this."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def pending(engine: Engine) -> bool:
    return current_revision(engine) != head_revision(engine)


SchemaState = Literal["current", "behind", "ahead", "empty"]


def schema_state(engine: Engine) -> SchemaState:
    """Where the database's schema stands against this code's migrations.

    `ahead`: a revision this code does not know, which a newer release wrote. Migrations are
    additive, so an older process keeps working on it: that is what a rolling upgrade is.
    """
    current = current_revision(engine)
    if current is None:
        return "empty"
    script = ScriptDirectory.from_config(alembic_config(engine))
    if current == script.get_current_head():
        return "current"
    known = {revision.revision for revision in script.walk_revisions()}
    return "behind" if current in known else "ahead"
