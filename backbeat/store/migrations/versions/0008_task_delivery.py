"""task delivery: where a completed run's report goes (NULL: nowhere automatically)

Revision ID: 0008_task_delivery
Revises: 0007_webhooks
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import json_type

revision: str = "0008_task_delivery"
down_revision: str | None = "0007_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing task: nothing is delivered automatically, as before. A process
    # of the previous release neither reads nor writes the column.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("delivery", json_type(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE purpose = 'report'")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("delivery")
