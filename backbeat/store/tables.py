"""The schema. Alembic migrations must produce exactly this (tests/migrations checks it)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)

from backbeat.store.types import UTCDateTime, json_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", Text, nullable=True, unique=True),
    Column("name", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# An operator's monthly cap on an account's model cost (domain.agent_settings); no row: none.
account_budgets = Table(
    "account_budgets",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("monthly_usd", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
)

organization_members = Table(
    "organization_members",
    metadata,
    Column(
        "organization_id",
        Uuid,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "account_id"),
)

artists = Table(
    "artists",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column(
        "organization_id",
        Uuid,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("profile", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("account_id IS NOT NULL OR organization_id IS NOT NULL", name="has_owner"),
    Index(None, "account_id"),
    Index(None, "organization_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256, hex
    Column("hint", String(16), nullable=False),
    Column("name", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index(None, "account_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "artist_account_id",
        Uuid,
        ForeignKey("artists.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("title", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("schedule", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("enabled", Boolean, nullable=True),
    Column("model", Text, nullable=True),
    Column("misfire_grace_seconds", Integer, nullable=True),
    Column("max_attempts", Integer, nullable=True),
    # The organizations (a JSON list of ids) the task was made through when someone acted for
    # its account via a shared organization: its emails reach no further. NULL: full reach.
    Column("scope_organization_ids", json_type(), nullable=True),
    # {"when", "email": [...], "slack": sealed URL or null} (domain.task_delivery); NULL: none
    Column("delivery", json_type(), nullable=True),
    Column("pause_after_failures", Integer, nullable=True),  # None: never paused for failing
    # {"tools": [...] | null, "max_run_cost_usd", "max_output_tokens", "model_timeout_seconds"}
    # (domain.agent_settings); NULL: the defaults.
    Column("agent", json_type(), nullable=True),
    # The scheduler's cursor: the next fire time still to dispatch; NULL while paused.
    Column("next_fire_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "account_id", "created_at"),
    Index(None, "artist_account_id"),
    Index(
        "ix_tasks_due",
        "next_fire_at",
        postgresql_where=text("next_fire_at IS NOT NULL"),
        sqlite_where=text("next_fire_at IS NOT NULL"),
    ),
)

# A query that lists the runs a worker may claim says this, literally (store/work.py).
CLAIMABLE_WHERE = "status IN ('QUEUED', 'REATTEMPTING') AND available_at IS NOT NULL"

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    # SET NULL: deleting a task keeps its runs readable.
    Column("task_id", Uuid, ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("artist_account_id", Uuid, nullable=True),
    Column("task_identifier", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("trigger_function", String(32), nullable=False),
    Column("idempotency_key", Text, nullable=True, unique=True),
    Column("scheduled_for", UTCDateTime, nullable=True),
    Column("is_test", Boolean, nullable=False),
    Column("tags", json_type(), nullable=False),
    Column("metadata", json_type(), nullable=True),
    Column("payload", json_type(), nullable=True),
    Column("output", json_type(), nullable=True),
    Column("error", json_type(), nullable=True),
    Column("max_attempts", Integer, nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("available_at", UTCDateTime, nullable=True),
    Column("delayed_until", UTCDateTime, nullable=True),
    Column("lease_owner", Text, nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    # The live attempt's id: renewals, outcomes and side effects count only with it.
    Column("lease_token", String(48), nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration_ms", Integer, nullable=False, server_default=text("0")),
    Column("cost_in_cents", Float, nullable=False, server_default=text("0")),
    Column("version", Text, nullable=True),
    # Runs sharing a key never execute at once (the task id, unless overlap is allowed).
    Column("concurrency_key", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The database, not luck, keeps one run per task per fire time…
    UniqueConstraint("task_id", "scheduled_for"),
    # …and one executing run per concurrency key.
    Index(
        "uq_runs_one_executing_per_key",
        "concurrency_key",
        unique=True,
        postgresql_where=text("status = 'EXECUTING'"),
        sqlite_where=text("status = 'EXECUTING'"),
    ),
    # The waiting runs of a key, in order: claims look for an older one still waiting.
    Index(
        "ix_runs_waiting_per_key",
        "concurrency_key",
        "created_at",
        "id",
        postgresql_where=text("status IN ('QUEUED', 'REATTEMPTING')"),
        sqlite_where=text("status IN ('QUEUED', 'REATTEMPTING')"),
    ),
    Index(
        "ix_runs_leases",
        "lease_expires_at",
        postgresql_where=text("status = 'EXECUTING'"),
        sqlite_where=text("status = 'EXECUTING'"),
    ),
    Index(None, "account_id", "created_at", "id"),
    Index(None, "task_id", "created_at", "id"),
    # The waiting runs in the order workers claim them (available_at, then id: a burst shares
    # one available_at), so a claim reads as many entries as it takes. Its condition differs
    # from ix_runs_waiting_per_key's on purpose: a claim's look for an older run of the same
    # key cannot use it, so PostgreSQL never reads every waiting run there per candidate
    # (statistics from before a burst tell it this index is empty: any plan looks as cheap).
    Index(
        "ix_runs_claimable",
        "available_at",
        "id",
        postgresql_where=text(CLAIMABLE_WHERE),
        sqlite_where=text(CLAIMABLE_WHERE),
    ),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("worker_id", Text, nullable=True),
    Column("error", json_type(), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    UniqueConstraint("run_id", "number"),
)

# The outbox: every effect a run has on the world (an email today), one row per (run,
# channel, recipient), written and committed before anything leaves the process.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", Text, nullable=False),  # normalised (an email address, lower case)
    Column("address", Text, nullable=False),  # as it is sent
    Column("subject", Text, nullable=True),
    Column("body", Text, nullable=False),
    # pending | sending | sent | unconfirmed | failed | refused (domain.deliveries)
    Column("status", String(16), nullable=False),
    Column("attempt_id", String(48), nullable=True),  # the attempt that asked for it
    Column("tries", Integer, nullable=False, server_default=text("0")),
    Column("next_try_at", UTCDateTime, nullable=True),
    Column("sending_until", UTCDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # message (the model's send_email) | event (a webhook event) (domain.deliveries.Purpose)
    Column("purpose", String(16), nullable=False, server_default=text("'message'")),
    UniqueConstraint("run_id", "channel", "recipient", "purpose"),
    Index(
        "ix_deliveries_due",
        "next_try_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    Index(
        "ix_deliveries_sending",
        "sending_until",
        postgresql_where=text("status = 'sending'"),
        sqlite_where=text("status = 'sending'"),
    ),
)

# Each try of a delivery, for the delivery logs (a webhook endpoint's: status code and time).
delivery_tries = Table(
    "delivery_tries",
    metadata,
    Column("delivery_id", Text, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # domain.deliveries.SendOutcome
    Column("detail", Text, nullable=True),  # "HTTP 503", "timed out after 10 s", …
    PrimaryKeyConstraint("delivery_id", "number"),
)

# An account's webhook endpoints (domain.webhooks). Secrets are encrypted with a key derived
# from the server secret.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),  # event types, comma-separated
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=True),
    Column("previous_secret_until", UTCDateTime, nullable=True),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "account_id"),
)

# Signed-in dashboard sessions: the cookie names one; signing out ends it on the server.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("api_key_id", Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Index(None, "api_key_id"),
    Index(None, "expires_at"),
)

# Plans (off by default: an account without a row has no limit). The row holds the limits
# in force, the plan's own or an operator's (domain.plans).
account_plans = Table(
    "account_plans",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("plan", String(16), nullable=False),  # free | starter | pro
    Column("task_limit", Integer, nullable=True),  # enabled tasks at most; NULL: no limit
    Column("min_cadence_minutes", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("plan IN ('free', 'starter', 'pro')", name="known_plan"),
)

# MCP servers an operator registered (domain.mcp_servers): Streamable HTTP (`url`, with
# header values sealed under the server secret) or stdio (`command`).
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("url", Text, nullable=True),
    Column("command", Text, nullable=True),
    Column("headers", json_type(), nullable=False),  # [[name, sealed value], …]
    Column("organization_ids", json_type(), nullable=True),  # NULL: open to every account
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("(url IS NULL) <> (command IS NULL)", name="one_transport"),
)
