"""Fixtures for service tests: every port is an in-memory fake from tests/fakes.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gas.domain.plans import Plan, PlanPolicy
from gas.domain.users import User
from gas.services import accounts
from tests.fakes import (
    FakeClock,
    FakeDatabase,
    FakeHasher,
    FakeMailer,
    FakeObjectStore,
    FakeQueue,
    FakeUnitOfWorkFactory,
)

FREE_LIMIT = 150 * 1024
PREMIUM_LIMIT = 1024 * 1024


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> FakeQueue:
    return FakeQueue(clock)


@pytest.fixture
def db(queue: FakeQueue) -> FakeDatabase:
    return FakeDatabase(queue)


@pytest.fixture
def uow(db: FakeDatabase) -> FakeUnitOfWorkFactory:
    """Call it for a fresh unit of work over the shared database: ``uow()``."""
    return FakeUnitOfWorkFactory(db)


@pytest.fixture
def store() -> FakeObjectStore:
    return FakeObjectStore()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def hasher() -> FakeHasher:
    return FakeHasher()


@pytest.fixture
def policy() -> PlanPolicy:
    return PlanPolicy(
        free_max_upload_bytes=FREE_LIMIT,
        premium_max_upload_bytes=PREMIUM_LIMIT,
        free_retention_seconds=300,
    )


@pytest.fixture
def make_user(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> Callable[..., User]:
    """Register a user through the service, as sign-up does."""
    counter = iter(range(1, 1_000_000))

    def make(
        email: str | None = None,
        *,
        password: str = "correct horse",
        plan: Plan = Plan.FREE,
        name: str = "Ada Lovelace",
    ) -> User:
        return accounts.register(
            uow(),
            hasher,
            clock,
            email=email or f"user{next(counter)}@example.org",
            password=password,
            name=name,
            plan=plan,
        )

    return make
