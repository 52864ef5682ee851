"""outbox: one deliveries table for every side effect (replaces the email ledger); a lease
token per attempt on runs

Revision ID: 0004_outbox
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime

revision: str = "0004_outbox"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"
SENDING = "status = 'sending'"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(length=48), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_id", sa.String(length=48), nullable=True),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=True),
        sa.Column("sending_until", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_deliveries_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "run_id", "channel", "recipient", name=op.f("uq_deliveries_run_id_channel_recipient")
        ),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_try_at"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index(
        "ix_deliveries_sending",
        "deliveries",
        ["sending_until"],
        postgresql_where=sa.text(SENDING),
        sqlite_where=sa.text(SENDING),
    )
    # The ledger's rows become deliveries; a send a crash cut off ("sending") is unconfirmed.
    op.execute(
        """
        INSERT INTO deliveries (id, run_id, channel, recipient, address, subject, body, status,
                                tries, error, sent_at, created_at, updated_at)
        SELECT 'dlv_ledger_' || run_id || '_' || recipient, run_id, 'email', recipient,
               recipient, subject, '',
               CASE status WHEN 'sending' THEN 'unconfirmed' ELSE status END,
               1, error, CASE status WHEN 'sent' THEN updated_at END, created_at, updated_at
        FROM emails
        """
    )
    op.drop_table("emails")


def downgrade() -> None:
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
    # Back to the ledger: anything not confirmed failed counts as sent (it is never re-sent).
    op.execute(
        """
        INSERT INTO emails (run_id, recipient, subject, status, error, created_at, updated_at)
        SELECT run_id, recipient, COALESCE(subject, ''),
               CASE WHEN status IN ('failed', 'refused', 'pending') THEN 'failed'
                    WHEN status = 'sent' THEN 'sent' ELSE 'sending' END,
               error, created_at, updated_at
        FROM deliveries WHERE channel = 'email'
        """
    )
    op.drop_index("ix_deliveries_sending", "deliveries")
    op.drop_index("ix_deliveries_due", "deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_token")
