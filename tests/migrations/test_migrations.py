"""The Alembic migrations build exactly the schema of backbeat.store.tables, on SQLite and
PostgreSQL, and can be undone and redone."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, Text, inspect, text, true

from backbeat.store import migrate
from backbeat.store.tables import metadata
from tests.migrations.conftest import engine_for


def schema_diff(engine: Engine, target: MetaData = metadata) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def snapshot(engine: Engine) -> dict[str, Any]:
    """The reflected schema, including what compare_metadata does not look at (CHECK
    constraints, partial-index predicates)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in sorted(value.items())}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value if value is None or isinstance(value, str | int | bool) else str(value)

    with engine.connect() as connection:
        inspector = inspect(connection)
        tables = sorted(set(inspector.get_table_names()) - {"alembic_version"})
        return {
            table: plain(
                {
                    # by name: a column added later sits last, wherever tables.py puts it
                    "columns": sorted(inspector.get_columns(table), key=lambda c: c["name"]),
                    "primary_key": inspector.get_pk_constraint(table),
                    "foreign_keys": sorted(
                        inspector.get_foreign_keys(table), key=lambda fk: str(fk["name"])
                    ),
                    "unique": sorted(
                        inspector.get_unique_constraints(table), key=lambda uq: str(uq["name"])
                    ),
                    "indexes": sorted(inspector.get_indexes(table), key=lambda ix: str(ix["name"])),
                    "checks": sorted(
                        inspector.get_check_constraints(table), key=lambda ck: str(ck["name"])
                    ),
                }
            )
            for table in tables
        }


def tables_of(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_there_is_exactly_one_head_and_one_base() -> None:
    script = scripts()
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert not revision.is_merge_point, f"{revision.revision} is a merge"
        assert not revision.is_branch_point, f"{revision.revision} branches"


def test_upgrade_head_yields_exactly_the_models(empty_engine: Engine) -> None:
    assert tables_of(empty_engine) == set()
    assert migrate.pending(empty_engine) is True
    assert migrate.current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)

    assert schema_diff(empty_engine) == []
    assert migrate.pending(empty_engine) is False
    assert migrate.current_revision(empty_engine) == scripts().get_current_head()
    assert migrate.head_revision(empty_engine) == scripts().get_current_head()
    assert tables_of(empty_engine) == {*metadata.tables, "alembic_version"}


def test_upgrading_twice_changes_nothing(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    before = snapshot(empty_engine)
    migrate.upgrade(empty_engine)
    assert snapshot(empty_engine) == before
    assert migrate.pending(empty_engine) is False


def test_migrated_schema_equals_the_models_created_directly(
    empty_engine: Engine, empty_urls: dict[str, str]
) -> None:
    migrate.upgrade(empty_engine)
    with engine_for(empty_urls["created"]) as created:
        metadata.create_all(created)
        assert snapshot(empty_engine) == snapshot(created)


def test_downgrade_to_base_then_upgrade_again(empty_engine: Engine) -> None:
    config = migrate.alembic_config(empty_engine)
    revisions = [script.revision for script in scripts().walk_revisions()][::-1]  # oldest first

    for revision in revisions:  # one step at a time
        command.upgrade(config, revision)
        assert migrate.current_revision(empty_engine) == revision
    assert schema_diff(empty_engine) == []

    for _ in revisions:
        command.downgrade(config, "-1")
    assert migrate.current_revision(empty_engine) is None
    assert migrate.pending(empty_engine) is True
    assert tables_of(empty_engine) <= {"alembic_version"}

    migrate.upgrade(empty_engine)
    assert schema_diff(empty_engine) == []
    assert migrate.pending(empty_engine) is False


def test_the_comparison_sees_drift(empty_engine: Engine) -> None:
    """Guards the tests above: an empty diff means something only if drift shows up."""
    migrate.upgrade(empty_engine)
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    tasks = drifted.tables["tasks"]
    tasks.append_column(Column("extra", Text))
    tasks.append_column(Column("title", Integer, nullable=False), replace_existing=True)
    tasks.append_column(
        Column("timezone", Text, nullable=False, server_default=text("'Europe/Paris'")),
        replace_existing=True,
    )
    drifted.tables["organizations"].append_column(
        Column("is_admin", Boolean, nullable=False, server_default=true()),
        replace_existing=True,
    )

    found = set()
    for entry in schema_diff(empty_engine, drifted):
        for change in entry if isinstance(entry, list) else [entry]:
            found.add((change[0], change[2], change[3] if change[0] != "add_column" else None))
    assert found == {
        ("add_column", "tasks", None),
        ("modify_type", "tasks", "title"),
        ("modify_default", "tasks", "timezone"),
        ("modify_default", "organizations", "is_admin"),
    }
