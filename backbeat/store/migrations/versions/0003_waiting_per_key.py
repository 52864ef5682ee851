"""runs: index of waiting runs per concurrency key (a later fire waits for earlier ones)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status IN ('QUEUED', 'REATTEMPTING')"


def upgrade() -> None:
    op.create_index(
        "ix_runs_waiting_per_key",
        "runs",
        ["concurrency_key", "created_at", "id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_waiting_per_key", "runs")
