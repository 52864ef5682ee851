"""Entities as plain data. Repositories turn rows into these and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from backbeat.domain.agent_settings import NO_SETTINGS, AgentSettings
from backbeat.domain.cron import Schedule
from backbeat.domain.deliveries import Delivery
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.domain.task_delivery import DeliverySettings


@dataclass(frozen=True, slots=True)
class Account:
    id: UUID
    email: str | None
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    name: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Artist:
    """An artist account a task runs against; owned by an account or an organization."""

    id: UUID
    name: str
    account_id: UUID | None
    organization_id: UUID | None
    profile: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    account_id: UUID
    name: str | None
    hint: str  # the first characters of the key, so a person can tell keys apart
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class Task:
    id: UUID
    account_id: UUID
    artist_account_id: UUID
    title: str
    prompt: str
    schedule: str  # the cron expression as the caller wrote it
    timezone: str
    enabled: bool | None  # None means "no explicit override", which counts as enabled
    model: str | None  # None means the server's default model
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None  # None while paused or when the cron never fires again
    misfire_grace_seconds: int | None = None  # per-task catch-up window (extension)
    max_attempts: int | None = None  # per-task retry budget (extension)
    # The organizations the task was made through by someone acting for its account via a
    # shared organization: its emails reach the owner and their members only. None: no limit.
    scope_organization_ids: tuple[UUID, ...] | None = None
    # Where a completed run's report goes (extension); None: nowhere automatically.
    delivery: DeliverySettings | None = None
    # Pause the task after this many failed runs in a row (extension); None: never.
    pause_after_failures: int | None = None
    # Its tools, cost cap and per-call limits (extensions; domain.agent_settings).
    agent: AgentSettings = NO_SETTINGS

    @property
    def is_active(self) -> bool:
        return self.enabled is not False

    def recipient_scope(self, account_id: UUID) -> list[UUID] | None:
        """The organizations whose members a run of this task for `account_id` may email
        (for `team_emails`): its scope_organization_ids, None (all of the owner's team)
        when it has none; [] (the owner alone) when the task is not that account's."""
        if self.account_id != account_id:
            return []
        return None if self.scope_organization_ids is None else list(self.scope_organization_ids)

    def parsed_schedule(self) -> Schedule:
        return Schedule.parse(self.schedule, self.timezone)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    run_id: str
    number: int
    status: AttemptStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: dict[str, Any] | None = None
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    task_id: UUID | None  # None once the task is deleted; the run stays readable
    account_id: UUID
    artist_account_id: UUID | None
    task_identifier: str
    status: RunStatus
    trigger: Trigger
    trigger_function: str
    idempotency_key: str | None
    scheduled_for: datetime | None  # the fire time, for scheduled and catch-up runs
    is_test: bool
    created_at: datetime
    updated_at: datetime
    max_attempts: int
    attempt_count: int = 0
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    available_at: datetime | None = None  # when a worker may claim it
    delayed_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int = 0
    cost_in_cents: float = 0.0
    version: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    lease_token: str | None = None  # the live attempt's id: only it may record or send
    concurrency_key: str | None = None  # runs sharing it never execute at once
    attempts: list[Attempt] = field(default_factory=list)
    # Its outbox rows, where the reader asked for them (a run in full, a run listing).
    deliveries: list[Delivery] = field(default_factory=list)
    # Its task's title now, where the reader asked for it; None once the task is deleted.
    task_title: str | None = None
