"""Property-based conformance to the contract (tests/contract_spec/openapi.yaml), not to what
we serve: schemathesis generates requests from the contract and checks that the in-process
app never answers 5xx, and answers only documented status codes, content types and bodies.

Every request carries a valid API key of a tenant who owns an artist. Random ids rarely name
anything, so hooks swap in real ones (the tenant's artist, existing tasks and runs, another
tenant's, too) and usable crons and zones: that is how generated requests reach 200s, 403s
and 404s, not only 400s. Negative data (a contract violation in every request) runs without
those swaps, so that it stays negative, and must also be refused with a 4xx.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.domain.ids import new_attempt_id, new_run_id
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task
from tests.conftest import Tenant, make_backbeat, make_tenant
from tests.databases import SqliteTemplate

CONTRACT = Path(__file__).parents[1] / "contract_spec" / "openapi.yaml"
# Per operation and mode: about 20 s in all. Raise it locally for a deeper search.
MAX_EXAMPLES = int(os.environ.get("BACKBEAT_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("BACKBEAT_FUZZ_SEED", "20260105"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]


@dataclass
class World:
    """What the hooks draw real values from, and what the requests got back.

    Filled in by the `world` fixture; hooks run inside the tests, after it has.
    """

    app: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    pools: dict[str, list[Any]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)


WORLD = World()


def load(mode: GenerationMode, checks: list[str]) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_path(CONTRACT)
    schema.config.seed = SEED
    schema.config.generation.update(
        modes=[mode],
        max_examples=MAX_EXAMPLES,
        with_security_parameters=False,  # the tests send the real key
        database="none",
    )
    schema.config.checks.update(included_check_names=checks)

    @schema.hook
    def after_call(
        context: schemathesis.HookContext, case: schemathesis.Case, response: Any
    ) -> None:
        label = f"{mode.value} {case.operation.label}"
        WORLD.statuses.setdefault(label, Counter())[response.status_code] += 1

    return schema


def realistic(value: Any) -> st.SearchStrategy[Any]:
    """The generated object, with each field that has a pool maybe set to a real value."""
    if not isinstance(value, dict):
        return st.just(value)
    swaps = {
        name: st.one_of(st.sampled_from(WORLD.pools[name]), st.just(current))
        for name, current in value.items()
        if name in WORLD.pools
    }
    return st.fixed_dictionaries(swaps).map(lambda chosen: {**value, **chosen})


positive = load(GenerationMode.POSITIVE, CHECKS)
negative = load(GenerationMode.NEGATIVE, [*CHECKS, "negative_data_rejection"])


@positive.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    return realistic(body)


@positive.hook
def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
    return realistic(query)


def add_run(backbeat: Backbeat, task: dict[str, Any], status: RunStatus) -> str:
    """A finished run of `task` with one attempt, as the worker would leave it."""
    started = backbeat.clock.now() - timedelta(minutes=10)
    run = Run(
        id=new_run_id(),
        task_id=UUID(task["id"]),
        account_id=UUID(task["account_id"]),
        artist_account_id=UUID(task["artist_account_id"]),
        task_identifier="customer-prompt-task",
        status=status,
        trigger=Trigger.SCHEDULED,
        trigger_function="trigger",
        idempotency_key=f"{task['id']}:{started.isoformat()}",
        scheduled_for=started,
        is_test=False,
        created_at=started,
        updated_at=started + timedelta(minutes=1),
        max_attempts=3,
        attempt_count=1,
        payload={"prompt": task["prompt"], "schedule": task["schedule"], "timezone": "UTC"},
        output={"text": "a report"} if status is RunStatus.COMPLETED else None,
        error={"name": "Boom", "message": "it broke"} if status is RunStatus.FAILED else None,
        tags=["weekly"],
        metadata={"late": False},
        started_at=started,
        finished_at=started + timedelta(minutes=1),
        duration_ms=60_000,
    )
    attempt_status = (
        AttemptStatus.COMPLETED if status is RunStatus.COMPLETED else AttemptStatus.FAILED
    )
    with backbeat.uow(write=True) as uow:
        assert uow.runs.add(run)
        uow.work.add_attempt(
            Attempt(
                id=new_attempt_id(),
                run_id=run.id,
                number=1,
                status=attempt_status,
                error=run.error,
                created_at=started,
                updated_at=run.updated_at,
                started_at=started,
                completed_at=run.finished_at,
            )
        )
        uow.commit()
    return run.id


@pytest.fixture(scope="module")
def world(
    sqlite_template: SqliteTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    url = sqlite_template.fresh(tmp_path_factory.mktemp("schemathesis"))
    backbeat = make_backbeat(url, FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC)))
    app = create_app(backbeat)
    alice = make_tenant(backbeat, "alice@example.com")
    bob = make_tenant(backbeat, "bob@example.com")
    with TestClient(app) as client:
        tasks = [create_task(client, alice, title=f"Task {n}") for n in range(4)]
        theirs = create_task(client, bob)
    runs = [
        add_run(backbeat, tasks[0], RunStatus.COMPLETED),
        add_run(backbeat, tasks[1], RunStatus.FAILED),
        add_run(backbeat, theirs, RunStatus.COMPLETED),
    ]

    def ids(*tenants: Tenant, of: str) -> list[str]:
        return [str(getattr(tenant, of)) for tenant in tenants]

    WORLD.app = app
    # Passed at each call: the coverage phase builds its cases while pytest collects, before
    # this fixture has run, so neither an auth provider nor config headers could know the key.
    WORLD.headers = alice.headers
    WORLD.pools = {  # mostly Alice's, who sends the requests; some of Bob's, for 403s and 404s
        "id": [task["id"] for task in [*tasks, theirs]],
        "artist_account_id": ids(alice, alice, bob, of="artist_id"),
        "account_id": ids(alice, alice, bob, of="account_id"),
        "runId": runs,
        "schedule": ["0 9 * * 4", "*/15 * * * *", "@daily"],
        "timezone": ["UTC", "Europe/Berlin", "America/New_York"],
    }
    yield WORLD
    backbeat.close()


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@positive.parametrize()
@SETTINGS
def test_positive_data_gets_documented_answers(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate(app=world.app, headers=world.headers)


@negative.parametrize()
@SETTINGS
def test_negative_data_is_refused_with_documented_answers(
    case: schemathesis.Case, world: World
) -> None:
    case.call_and_validate(app=world.app, headers=world.headers)


def test_generated_requests_reached_the_success_paths(world: World) -> None:
    """Every operation the positive run exercised answered 200 at least once."""
    for label, statuses in world.statuses.items():
        if label.startswith("positive"):
            assert statuses[200] > 0, f"{label}: {dict(statuses)}"
