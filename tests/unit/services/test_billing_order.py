"""Billing events applied in the order they happened, not the order they arrive."""

from __future__ import annotations

from datetime import UTC, datetime

from gas.domain import events
from gas.domain.plans import Plan
from gas.ports import BillingEvent
from gas.services import accounts
from gas.services.billing import handle_billing_event
from tests.fakes import FakeClock, FakeHasher, FakeUnitOfWorkFactory


def _at(minute: int) -> datetime:
    return datetime(2026, 1, 1, 12, minute, tzinfo=UTC)


def test_a_late_start_does_not_undo_a_newer_end() -> None:
    uow, clock = FakeUnitOfWorkFactory(), FakeClock()
    user = accounts.register(
        uow(), FakeHasher(), clock, email="a@example.org", password="long enough"
    )
    started = BillingEvent("evt_1", "subscription.started", user.id, "cus_1", occurred_at=_at(0))
    ended = BillingEvent("evt_2", "subscription.ended", user.id, "cus_1", occurred_at=_at(5))

    assert handle_billing_event(uow(), clock, started)
    assert handle_billing_event(uow(), clock, ended)
    late = BillingEvent("evt_0", "subscription.started", None, "cus_1", occurred_at=_at(1))
    assert handle_billing_event(uow(), clock, late) is False

    assert uow.db.users[user.id].plan is Plan.FREE
    assert uow.db.queue.topics() == [events.USER_UPGRADED, events.USER_DOWNGRADED]
    assert set(uow.db.committed.billing_events) == {"evt_0", "evt_1", "evt_2"}


def test_events_without_a_time_are_applied_as_they_come() -> None:
    uow, clock = FakeUnitOfWorkFactory(), FakeClock()
    user = accounts.register(
        uow(), FakeHasher(), clock, email="b@example.org", password="long enough"
    )
    assert handle_billing_event(
        uow(), clock, BillingEvent("e1", "subscription.started", user.id, None)
    )
    assert handle_billing_event(
        uow(), clock, BillingEvent("e2", "subscription.ended", user.id, None)
    )
    assert uow.db.users[user.id].plan is Plan.FREE
