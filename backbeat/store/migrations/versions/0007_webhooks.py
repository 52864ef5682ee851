"""webhooks: endpoints per account, a purpose per delivery, and each delivery's tries

Revision ID: 0007_webhooks
Revises: 0006_plans
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime

revision: str = "0007_webhooks"
down_revision: str | None = "0006_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing deliveries are all the model's own emails: purpose 'message'. The key gains
    # the purpose; a process of the previous release only ever writes 'message' rows.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column(
                "purpose", sa.String(length=16), server_default=sa.text("'message'"), nullable=False
            )
        )
        batch.drop_constraint("uq_deliveries_run_id_channel_recipient", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_deliveries_run_id_channel_recipient_purpose"),
            ["run_id", "channel", "recipient", "purpose"],
        )
    op.create_table(
        "delivery_tries",
        sa.Column("delivery_id", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_tries_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "number", name=op.f("pk_delivery_tries")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", UTCDateTime(), nullable=True),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_endpoints_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_account_id"), "webhook_endpoints", ["account_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_endpoints_account_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("delivery_tries")
    # Rows of other purposes go: the previous release knows only the model's own emails.
    op.execute("DELETE FROM deliveries WHERE purpose <> 'message'")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_run_id_channel_recipient_purpose", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_deliveries_run_id_channel_recipient"), ["run_id", "channel", "recipient"]
        )
        batch.drop_column("purpose")
