"""agent settings: a task's tools, cost cap and per-call limits; an account's monthly budget

Revision ID: 0011_agent_settings
Revises: 0010_claim_order_index
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime, json_type

revision: str = "0011_agent_settings"
down_revision: str | None = "0010_claim_order_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing task: the built-in tools and the settings' limits, as before;
    # no budget row: no account has a monthly budget.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("agent", json_type(), nullable=True))
    op.create_table(
        "account_budgets",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_usd", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_budgets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_budgets")),
    )


def downgrade() -> None:
    op.drop_table("account_budgets")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("agent")
