"""mcp servers: the MCP servers an operator registered, whose tools tasks may list

Revision ID: 0012_mcp_servers
Revises: 0011_agent_settings
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backbeat.store.types import UTCDateTime, json_type

revision: str = "0012_mcp_servers"
down_revision: str | None = "0011_agent_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("headers", json_type(), nullable=False),
        sa.Column("organization_ids", json_type(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(url IS NULL) <> (command IS NULL)", name=op.f("ck_mcp_servers_one_transport")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mcp_servers")),
    )


def downgrade() -> None:
    op.drop_table("mcp_servers")
