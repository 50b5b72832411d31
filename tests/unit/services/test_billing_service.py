"""Billing events drive the plan: applied once per event id, announced with the plan change in
one transaction, and — through ``user.upgraded`` / ``user.downgraded`` — the cold storage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gas.domain import events
from gas.domain.jobs import ResultsState
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.ports import BillingEvent
from gas.services.billing import handle_billing_event
from tests.fakes import CommitFailed, FakeClock, FakeDatabase, FakeUnitOfWorkFactory
from tests.unit.services.test_cold_storage import DELAYS, WINDOW, World

MakeUser = Callable[..., User]


def started(
    user: User | None, event_id: str = "evt_1", customer: str | None = "cus_1"
) -> BillingEvent:
    return BillingEvent(event_id, "subscription.started", user.id if user else None, customer)


def ended(
    user: User | None, event_id: str = "evt_2", customer: str | None = "cus_1"
) -> BillingEvent:
    return BillingEvent(event_id, "subscription.ended", user.id if user else None, customer)


def test_a_started_subscription_upgrades_once_and_announces_it(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user()
    assert handle_billing_event(uow(), clock, started(ada)) is True
    assert db.users[ada.id].plan is Plan.PREMIUM
    assert db.users[ada.id].billing_customer_id == "cus_1"
    assert db.queue.published[events.USER_UPGRADED] == [{"user_id": ada.id}]
    # the plan, the customer, the event log and the announcement: one commit
    (commit,) = [c for c in db.commits if events.USER_UPGRADED in c.topics]
    assert set(commit.changed) == {"users", "billing_events"}

    # providers deliver at least once: the same event again changes nothing
    assert handle_billing_event(uow(), clock, started(ada)) is False
    assert db.queue.published[events.USER_UPGRADED] == [{"user_id": ada.id}]


def test_an_ended_subscription_downgrades(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user(plan=Plan.PREMIUM)
    assert handle_billing_event(uow(), clock, ended(ada)) is True
    assert db.users[ada.id].plan is Plan.FREE
    assert db.queue.published[events.USER_DOWNGRADED] == [{"user_id": ada.id}]
    assert db.users[ada.id].updated_at == clock.now()  # the moment the Free window counts from


def test_the_user_is_found_by_customer_id_when_the_event_names_no_user(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user()
    handle_billing_event(uow(), clock, started(ada, "evt_1", customer="cus_ada"))
    assert handle_billing_event(uow(), clock, ended(None, "evt_2", customer="cus_ada")) is True
    assert db.users[ada.id].plan is Plan.FREE


def test_an_event_for_an_unknown_user_is_recorded_and_ignored(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    event = BillingEvent("evt_9", "subscription.started", "no-such-user", "cus_nobody")
    assert handle_billing_event(uow(), clock, event) is False
    assert "evt_9" in db.committed.billing_events
    assert db.queue.topics() == []


def test_an_event_of_another_kind_is_not_acted_on_nor_recorded(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user()
    event = BillingEvent("evt_3", "invoice.paid", ada.id, "cus_1")
    assert handle_billing_event(uow(), clock, event) is False
    assert db.committed.billing_events == {}
    assert db.users[ada.id].plan is Plan.FREE


def test_a_start_for_a_premium_user_changes_nothing_but_is_recorded(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user(plan=Plan.PREMIUM)
    assert handle_billing_event(uow(), clock, started(ada)) is False
    assert "evt_1" in db.committed.billing_events
    assert db.queue.published[events.USER_UPGRADED] == []


def test_a_failed_commit_keeps_nothing_and_the_redelivery_applies_it_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock, make_user: MakeUser
) -> None:
    ada = make_user()
    db.fail_commits = 1
    try:
        handle_billing_event(uow(), clock, started(ada))
    except CommitFailed:
        pass
    else:
        raise AssertionError("the commit should have failed")
    assert db.users[ada.id].plan is Plan.FREE
    assert db.committed.billing_events == {}
    assert db.queue.topics() == []
    assert handle_billing_event(uow(), clock, started(ada)) is True
    assert handle_billing_event(uow(), clock, started(ada)) is False
    assert db.queue.published[events.USER_UPGRADED] == [{"user_id": ada.id}]


# --- through the workers: the webhook brings archived results back, and cancelling archives ---


def test_a_subscription_webhook_restores_archived_results_and_its_end_archives_them(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    world.advance(WINDOW)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED

    assert handle_billing_event(world.uow(), world.clock, started(ada))
    world.run()
    assert world.job(job_id).results_state is ResultsState.RESTORING
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert world.hot(job_id) == results
    assert len(world.restored_emails(job_id)) == 1

    world.advance(10)
    cancelled_at = world.clock.now()
    assert handle_billing_event(world.uow(), world.clock, ended(ada))
    world.run()
    job = world.job(job_id)
    assert job.archive_after is not None
    assert (job.archive_after - cancelled_at).total_seconds() == WINDOW  # a fresh window
    world.advance(WINDOW)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert world.failures() == []
