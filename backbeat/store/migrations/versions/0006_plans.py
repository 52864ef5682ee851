"""plans: an account's plan and its limits (none by default: no limit)

Revision ID: 0006_plans
Revises: 0005_sessions_and_scope
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime

revision: str = "0006_plans"
down_revision: str | None = "0005_sessions_and_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No rows: every existing account keeps having no plan, so nothing changes for it.
    op.create_table(
        "account_plans",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("task_limit", sa.Integer(), nullable=True),
        sa.Column("min_cadence_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "plan IN ('free', 'starter', 'pro')", name=op.f("ck_account_plans_known_plan")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_plans_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_plans")),
    )


def downgrade() -> None:
    op.drop_table("account_plans")
