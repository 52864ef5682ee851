"""runs: ix_runs_claimable on (available_at, id), the order claims answer in

A burst of runs shares one available_at; indexed on available_at alone, a claim sorted every
waiting run of the burst by id to find the first few. Its condition now also says
`available_at IS NOT NULL` (a claim's `available_at <= now` implies it), so that the claim's
look for an older waiting run of the same key can only use ix_runs_waiting_per_key.

Revision ID: 0010_claim_order_index
Revises: 0009_pause_after_failures
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_claim_order_index"
down_revision: str | None = "0009_pause_after_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status IN ('QUEUED', 'REATTEMPTING')"


def _claimable(columns: list[str], where: str) -> None:
    op.drop_index("ix_runs_claimable", "runs")
    op.create_index(
        "ix_runs_claimable",
        "runs",
        columns,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    _claimable(["available_at", "id"], f"{WAITING} AND available_at IS NOT NULL")


def downgrade() -> None:
    _claimable(["available_at"], WAITING)
