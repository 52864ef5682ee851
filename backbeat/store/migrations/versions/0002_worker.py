"""worker: concurrency key, lease index, email ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXECUTING = "status = 'EXECUTING'"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("concurrency_key", sa.Text(), nullable=True))
    op.create_index(
        "uq_runs_one_executing_per_key",
        "runs",
        ["concurrency_key"],
        unique=True,
        postgresql_where=sa.text(EXECUTING),
        sqlite_where=sa.text(EXECUTING),
    )
    op.create_index(
        "ix_runs_leases",
        "runs",
        ["lease_expires_at"],
        postgresql_where=sa.text(EXECUTING),
        sqlite_where=sa.text(EXECUTING),
    )
    op.create_table(
        "emails",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_emails_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "recipient", name=op.f("pk_emails")),
    )


def downgrade() -> None:
    op.drop_table("emails")
    op.drop_index("ix_runs_leases", "runs")
    op.drop_index("uq_runs_one_executing_per_key", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("concurrency_key")
