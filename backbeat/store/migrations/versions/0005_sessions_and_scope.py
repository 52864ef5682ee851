"""dashboard sessions recorded on the server; the organization scope a task was made through

Revision ID: 0005_sessions_and_scope
Revises: 0004_outbox
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime, json_type

revision: str = "0005_sessions_and_scope"
down_revision: str | None = "0004_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing tasks stay unscoped (NULL): they keep the owner's full team, as before.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("scope_organization_ids", json_type(), nullable=True))
    # Cookies from before this revision name no session: their holders sign in again.
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_dashboard_sessions_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(op.f("ix_dashboard_sessions_api_key_id"), "dashboard_sessions", ["api_key_id"])
    op.create_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_sessions_api_key_id"), "dashboard_sessions")
    op.drop_table("dashboard_sessions")
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        with op.batch_alter_table("tasks") as batch:
            batch.drop_column("scope_organization_ids")
    else:
        # In place: rebuilding tasks on SQLite would set its runs' task_id to NULL.
        op.drop_column("tasks", "scope_organization_ids")
