"""pause after failures: a task paused after this many failed runs in a row (NULL: never)

Revision ID: 0009_pause_after_failures
Revises: 0008_task_delivery
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_pause_after_failures"
down_revision: str | None = "0008_task_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing task: none is paused for failing, as before.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("pause_after_failures", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("pause_after_failures")
