"""Interfaces the core needs from persistence. `backbeat.store` implements them over SQL.

Contracts (checked by tests/contract on SQLite and PostgreSQL):

* Every method runs inside the unit of work's transaction; nothing is visible to others
  until `commit()`, and leaving the unit of work without committing rolls everything back.
* Lists come back newest first (created_at, then id, descending).
* `RunRepository.add` never creates a second run for the same (task, fire time) or the same
  idempotency key: it answers False and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from backbeat.domain.deliveries import Channel, Delivery, DeliveryTry
from backbeat.domain.mcp_servers import McpServer
from backbeat.domain.models import Account, ApiKey, Artist, Attempt, Organization, Run, Task
from backbeat.domain.plans import Entitlements
from backbeat.domain.runs import QueueDepth, RunStatus
from backbeat.domain.webhooks import Endpoint


class AccountRepository(Protocol):
    def add(self, account: Account) -> None: ...
    def get(self, account_id: UUID) -> Account | None: ...
    def get_by_email(self, email: str) -> Account | None: ...
    def emails(self, account_ids: Iterable[UUID]) -> dict[UUID, str | None]: ...
    def add_organization(self, organization: Organization) -> None: ...
    def get_organization(self, organization_id: UUID) -> Organization | None: ...
    def add_member(self, organization_id: UUID, account_id: UUID, at: datetime) -> bool:
        """Add a member; False if already a member."""
        ...

    def organizations_of(self, account_id: UUID) -> list[Organization]:
        """The account's organizations, oldest first."""
        ...

    def share_an_organization(self, first: UUID, second: UUID) -> bool: ...
    def shared_organizations(self, first: UUID, second: UUID) -> list[UUID]:
        """The organizations both accounts belong to."""
        ...

    def add_artist(self, artist: Artist) -> None: ...
    def get_artist(self, artist_id: UUID) -> Artist | None: ...
    def artist_names(self, artist_ids: Iterable[UUID]) -> dict[UUID, str]:
        """Names of these artists, in one query."""
        ...

    def team_emails(
        self, account_id: UUID, organizations: Sequence[UUID] | None = None
    ) -> set[str]:
        """The account's email and those of every member of its organizations (only those
        of `organizations`, when given), lower case."""
        ...

    def artist_usable_by(
        self, artist_id: UUID, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> bool:
        """The artist is the account's own, or belongs to one of its organizations (one of
        `organizations`, when given)."""
        ...

    def usable_artists(
        self, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> dict[UUID, str]:
        """Names of the artists `artist_usable_by` allows the account, by id, in one query."""
        ...

    def plan(self, account_id: UUID, *, for_update: bool = False) -> Entitlements | None:
        """The account's plan, or None: no plan, no limit (the default). `for_update` locks
        its row until the transaction ends, so that two requests checking the same account's
        plan take turns."""
        ...

    def plans(self, account_ids: Iterable[UUID]) -> dict[UUID, Entitlements]:
        """The plans of those of these accounts that have one, in one query."""
        ...

    def set_plan(self, account_id: UUID, plan: Entitlements | None, at: datetime) -> None:
        """Give the account this plan (replacing any), or take its plan away (None)."""
        ...

    def monthly_budget(self, account_id: UUID) -> float | None:
        """The account's monthly budget in US dollars; None: none."""
        ...

    def set_monthly_budget(self, account_id: UUID, usd: float | None, at: datetime) -> None: ...


class KeyRepository(Protocol):
    def add(self, key: ApiKey, key_hash: str) -> None: ...
    def find(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key with this hash, and the stored hash (to compare in constant time)."""
        ...

    def get(self, key_id: UUID) -> ApiKey | None: ...
    def revoke(self, key_id: UUID, at: datetime) -> bool: ...
    def list_for_account(self, account_id: UUID) -> list[ApiKey]: ...
    def add_session(
        self, session_id: UUID, key_id: UUID, at: datetime, expires_at: datetime
    ) -> None:
        """Record a dashboard session (and delete the expired ones)."""
        ...

    def session_active(self, session_id: UUID, key_id: UUID, now: datetime) -> bool:
        """The dashboard session exists for this key, has not ended and has not expired."""
        ...

    def end_session(self, session_id: UUID, at: datetime) -> bool: ...
    def any_issued(self) -> bool:
        """Whether any key was ever issued (revoked and expired ones count)."""
        ...


class TaskRepository(Protocol):
    def add(self, task: Task) -> None: ...
    def get(self, task_id: UUID, *, for_update: bool = False) -> Task | None:
        """The task; `for_update` locks its row until the transaction ends."""
        ...

    def update(self, task: Task) -> None: ...
    def delete(self, task_id: UUID) -> bool: ...
    def list_for_account(
        self,
        account_id: UUID,
        *,
        task_id: UUID | None = None,
        artist_account_id: UUID | None = None,
        enabled: bool | None = None,
        limit: int | None = None,
        before: tuple[datetime, UUID] | None = None,
    ) -> list[Task]:
        """Newest first (created_at, then id, descending); at most `limit`, and only those
        older than the (created_at, id) position `before`: a page."""
        ...

    def titles(self, task_ids: Iterable[UUID]) -> dict[UUID, str]:
        """Titles of those of these tasks that exist, in one query."""
        ...

    def count_active(self, account_id: UUID, *, excluding: UUID | None = None) -> int:
        """The account's enabled tasks (enabled NULL counts), `excluding` left out."""
        ...

    def active_before(self, task_ids: Sequence[UUID]) -> dict[UUID, int]:
        """For each of these tasks that is enabled: how many enabled tasks of its owner are
        older (by created_at, then id), in one query. Its slot under a plan's task limit."""
        ...


class ScheduleRepository(Protocol):
    """The scheduler's view of tasks: their cursors (`next_fire_at`).

    `claim_due` locks the rows it returns until the transaction ends, and skips rows other
    transactions hold (FOR UPDATE SKIP LOCKED on PostgreSQL), so several schedulers share
    the due tasks without waiting on each other. On SQLite, whose writers are serialized,
    the compare-and-set in `advance` and the runs' unique key do the same job.
    """

    def claim_due(self, now: datetime, limit: int) -> list[Task]:
        """Active tasks with next_fire_at <= now, earliest first, locked for this transaction."""
        ...

    def advance(self, moves: Sequence[tuple[UUID, datetime, datetime | None]]) -> int:
        """Move each (task, from, to) cursor that still reads `from`; answers how many moved."""
        ...

    def earliest_due(self) -> datetime | None:
        """The smallest next_fire_at of all active tasks (from the index, not a scan)."""
        ...


class RunRepository(Protocol):
    def add(self, run: Run) -> bool: ...
    def add_many(self, runs: Sequence[Run]) -> set[str]:
        """Insert the runs that do not collide with an existing one; answers their ids."""
        ...

    def get(self, run_id: str) -> Run | None:
        """The run in full, attempts included."""
        ...

    def recent_by_task(self, task_ids: Sequence[UUID], per_task: int) -> dict[UUID, list[Run]]:
        """Each task's newest runs, as listed: without payload, output, error, attempts and the
        worker's bookkeeping (available_at, lease, concurrency key). One statement however
        many tasks (on SQLite, one per 30,000)."""
        ...

    def recent_statuses(self, task_id: UUID, limit: int) -> list[tuple[str, RunStatus]]:
        """The task's newest runs' ids and statuses, newest first: what a failing streak is
        counted from, without reading whole runs."""
        ...

    def cost_since(self, account_id: UUID, since: datetime) -> float:
        """Cents the account's runs created at or after `since` cost (attempts included)."""
        ...

    def list_for_account(
        self,
        account_id: UUID,
        *,
        limit: int,
        task_id: UUID | None = None,
        status: RunStatus | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[Run]:
        """Newest first, strictly older than the `before` (created_at, id) cursor."""
        ...


class WorkRepository(Protocol):
    """The worker's view of runs. A claimed run carries a lease (`lease_owner`,
    `lease_expires_at`) its worker renews; an expired lease means the worker died."""

    def claimable(self, now: datetime, limit: int, *, skip: Sequence[str] = ()) -> list[Run]:
        """QUEUED/REATTEMPTING runs available by `now`, oldest first, locked, skipping rows
        others hold and the runs in `skip`, and never two sharing a concurrency key or sharing
        one with an executing run (a unique index enforces the latter across workers)."""
        ...

    def unfinished_of_task(self, task_id: UUID) -> list[Run]:
        """The task's queued, waiting and executing runs, locked."""
        ...

    def get_for_update(self, run_id: str) -> Run | None: ...
    def save(self, run: Run) -> None:
        """ConcurrentChange when another run of its concurrency key is executing already."""
        ...

    def add_attempt(self, attempt: Attempt) -> None: ...
    def save_attempt(self, attempt: Attempt) -> None: ...
    def current_attempt(self, run_id: str) -> Attempt | None: ...
    def failed_attempts(self, run_id: str) -> int: ...
    def renew(self, lease_tokens: Sequence[str], until: datetime) -> set[str]:
        """Extend the leases of these attempts; answers the tokens still live."""
        ...

    def expired(self, now: datetime, limit: int, *, keep: Sequence[str] = ()) -> list[Run]:
        """Executing runs whose lease ran out, locked; not those with a token in `keep`."""
        ...

    def next_available(self) -> datetime | None: ...
    def previous_outputs(
        self, task_id: UUID, before: datetime, limit: int
    ) -> list[dict[str, Any]]: ...
    def queue_depth(self, now: datetime) -> QueueDepth:
        """Runs waiting (QUEUED or REATTEMPTING and available by `now`) and executing, from
        the partial indexes, for the queue gauges."""
        ...


class DeliveryRepository(Protocol):
    """The outbox's rows: at most one per (run, channel, recipient)."""

    def add(self, delivery: Delivery) -> Delivery:
        """Insert unless the key has a row; answers the row that is there now."""
        ...

    def get(self, delivery_id: str, *, for_update: bool = False) -> Delivery | None: ...
    def save(self, delivery: Delivery) -> None: ...
    def of_run(self, run_id: str) -> list[Delivery]: ...
    def of_runs(self, run_ids: Sequence[str]) -> dict[str, list[Delivery]]: ...
    def pending_of_run(self, run_id: str) -> list[Delivery]: ...
    def due(self, now: datetime, limit: int) -> list[Delivery]: ...
    def next_due(self) -> datetime | None: ...
    def stuck(self, now: datetime, limit: int) -> list[Delivery]: ...
    def record_try(self, delivery_id: str, attempt: DeliveryTry) -> None: ...
    def tries_of(self, delivery_ids: Sequence[str]) -> dict[str, list[DeliveryTry]]: ...
    def to_recipient(
        self, channel: Channel, recipient: str, limit: int, before: str | None = None
    ) -> list[Delivery]:
        """The latest deliveries to one recipient (a webhook endpoint), newest first; with
        `before`, only those with a smaller id (ids are time-ordered)."""
        ...

    def last_report(self, run: Run) -> Delivery | None:
        """The newest report delivery of another run of `run`'s task created no later than
        it, among those sent or on their way (failed and refused ones reached no one)."""
        ...


class WebhookRepository(Protocol):
    def add(self, endpoint: Endpoint) -> None: ...
    def get(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None: ...
    def save(self, endpoint: Endpoint) -> None: ...
    def delete(self, endpoint_id: str) -> None: ...
    def of_account(self, account_id: UUID) -> list[Endpoint]:
        """The account's endpoints, oldest first."""
        ...


class McpServerRepository(Protocol):
    """The MCP servers an operator registered, by name (domain.mcp_servers). Header values
    arrive sealed and are stored as given."""

    def add(self, server: McpServer) -> bool:
        """Register it; False (and nothing written) when the name is taken."""
        ...

    def get(self, name: str) -> McpServer | None: ...
    def named(self, names: Iterable[str]) -> dict[str, McpServer]:
        """Those of these names that are registered, by name, in one query."""
        ...

    def all(self) -> list[McpServer]:
        """Every registered server, by name."""
        ...

    def delete(self, name: str) -> bool: ...


class UnitOfWork(Protocol):
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def keys(self) -> KeyRepository: ...
    @property
    def tasks(self) -> TaskRepository: ...
    @property
    def runs(self) -> RunRepository: ...
    @property
    def schedules(self) -> ScheduleRepository: ...
    @property
    def work(self) -> WorkRepository: ...
    @property
    def deliveries(self) -> DeliveryRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def mcp_servers(self) -> McpServerRepository: ...

    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Wakeups(Protocol):
    """Tells a worker that runs were queued in another process (on PostgreSQL the store's
    LISTEN on the channel that run-creating transactions NOTIFY on commit): it looks at the
    queue at once instead of at its next poll. Best effort: the poll stays the safety net."""

    def start(self, wake: Callable[[], None]) -> None:
        """Call `wake` (from any thread) whenever runs may be waiting."""
        ...

    def stop(self) -> None: ...


class SecretBox(Protocol):
    """Seals secrets an account gives Backbeat (webhook signing secrets, later Slack URLs)
    before they are stored, with a key derived from the server secret."""

    def seal(self, plain: str) -> str: ...
    def open(self, sealed: str) -> str: ...
