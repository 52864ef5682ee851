"""Acting for an account, as `backbeat tasks …` and `backbeat runs …` do.

The CLI acts for the account named with `--account`, with that account's authority, as if it
called the API with one of the account's keys: the same services, the same tenancy rules, the
same validation (and so the same error messages). No key is involved, so the caller's key id
is the nil UUID (`OPERATOR_KEY_ID`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer
from pydantic import BaseModel

from backbeat.cli.common import fail, parse_uuid, wired
from backbeat.domain.cron import ScheduleError
from backbeat.domain.errors import InvalidInput
from backbeat.edge.validation import validate
from backbeat.services.keys import Caller
from backbeat.wiring import Backbeat

# The key id of every CLI caller: no key is presented, the operator acts with the account's
# authority. Nothing stores or compares key ids of callers, so a fixed value is safe.
OPERATOR_KEY_ID = UUID(int=0)

ActingAccount = Annotated[
    UUID,
    typer.Option(
        "--account",
        envvar="BACKBEAT_ACCOUNT",
        show_envvar=True,
        parser=parse_uuid("--account"),
        help="The account to act for (its id), with that account's authority, as its API key "
        "would.",
    ),
]

ModelT = TypeVar("ModelT", bound=BaseModel)


def checked(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """`body` validated as the API validates it: the same first message, as one line."""
    try:
        return validate(model, body)
    except InvalidInput as exc:
        raise fail(exc.message) from None


@contextmanager
def acting_for(account: UUID) -> Iterator[tuple[Backbeat, Caller]]:
    """A wired Backbeat and the caller acting for `account`, which must exist."""
    with wired() as backbeat:
        backbeat.admin.require_account(account)
        try:
            yield backbeat, Caller(account_id=account, key_id=OPERATOR_KEY_ID)
        except ScheduleError as exc:  # validation catches these first; this is a backstop
            raise fail(exc.message) from None
