"""An account's model spend this month against its monthly budget (domain.agent_settings),
for the doors to show; and the operator's setting of that budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from backbeat.domain.agent_settings import month_start
from backbeat.domain.clock import Clock
from backbeat.domain.errors import InvalidInput, NotFound
from backbeat.domain.ports import UnitOfWork
from backbeat.services.access import resolve_account
from backbeat.services.keys import Caller

UnitOfWorkFactory = Callable[..., UnitOfWork]
MAX_MONTHLY_BUDGET_USD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class MonthlyUsage:
    account_id: UUID
    month_start: datetime
    spent_cents: float
    budget_usd: float | None  # None: no monthly budget

    @property
    def left_cents(self) -> float | None:
        if self.budget_usd is None:
            return None
        return max(0.0, self.budget_usd * 100 - self.spent_cents)


class UsageService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def this_month(self, caller: Caller, account_id: UUID | None = None) -> MonthlyUsage:
        """The month so far (UTC) of the caller's account, or of one it may act for."""
        since = month_start(self._clock.now())
        with self._uow() as uow:
            account = resolve_account(uow, caller, account_id)
            return MonthlyUsage(
                account,
                since,
                uow.runs.cost_since(account, since),
                uow.accounts.monthly_budget(account),
            )

    def set_monthly_budget(self, account_id: UUID, usd: float | None) -> MonthlyUsage:
        """The operator's monthly cap on the account's model cost (None: no cap)."""
        if usd is not None and not 0 < usd <= MAX_MONTHLY_BUDGET_USD:
            raise InvalidInput(
                f"the monthly budget must be more than 0 and at most {MAX_MONTHLY_BUDGET_USD:,.0f}"
                " US dollars"
            )
        now = self._clock.now()
        with self._uow(write=True) as uow:
            if uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")
            uow.accounts.set_monthly_budget(account_id, usd, now)
            since = month_start(now)
            spent = uow.runs.cost_since(account_id, since)
            uow.commit()
        return MonthlyUsage(account_id, since, spent, usd)
