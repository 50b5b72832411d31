"""Accounts: sign-up, log-in, API tokens and plan changes."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import pytest

from gas.domain import events
from gas.domain.errors import Conflict, InvalidInput, NotFound
from gas.domain.plans import Plan
from gas.domain.users import User
from gas.services import accounts
from tests.fakes import FakeClock, FakeDatabase, FakeHasher, FakeUnitOfWorkFactory

MakeUser = Callable[..., User]


# --- register -------------------------------------------------------------------------------


def test_register_stores_a_free_user_with_a_normalized_email(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = accounts.register(
        uow(),
        hasher,
        clock,
        email="  Ada@Example.ORG ",
        password="correct horse",
        name=" Ada Lovelace ",
        institution=" Analytical Engines ",
    )
    stored = db.users[user.id]
    assert stored.email == "ada@example.org"
    assert stored.plan is Plan.FREE
    assert (stored.name, stored.institution) == ("Ada Lovelace", "Analytical Engines")
    assert stored.created_at == stored.updated_at == clock.now()


def test_register_stores_a_hash_never_the_plain_password(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = accounts.register(uow(), hasher, clock, email="a@b.org", password="racecar!racecar")
    stored_hash = db.users[user.id].password_hash
    assert stored_hash is not None
    assert stored_hash != "racecar!racecar"
    assert hasher.verify(stored_hash, "racecar!racecar")


def test_register_refuses_an_email_already_taken_whatever_its_case(
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    hasher: FakeHasher,
    clock: FakeClock,
) -> None:
    make_user("ada@example.org")
    with pytest.raises(Conflict, match="already exists"):
        accounts.register(uow(), hasher, clock, email="ADA@example.org ", password="another one")
    assert len(db.users) == 1


def test_register_refuses_a_bad_email_or_a_short_password_and_keeps_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, hasher: FakeHasher, clock: FakeClock
) -> None:
    with pytest.raises(InvalidInput):
        accounts.register(uow(), hasher, clock, email="not-an-email", password="long enough")
    with pytest.raises(InvalidInput):
        accounts.register(uow(), hasher, clock, email="a@b.org", password="short")
    assert db.users == {}


def test_register_without_password_makes_an_account_that_cannot_log_in_with_one(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = accounts.register(uow(), hasher, clock, email="sso@b.org", password=None)
    assert user.password_hash is None
    assert accounts.authenticate(uow(), hasher, clock, email="sso@b.org", password="") is None
    assert (
        accounts.authenticate(uow(), hasher, clock, email="sso@b.org", password="anything at all")
        is None
    )


def test_register_puts_a_multi_line_name_on_one_line_so_emails_to_it_can_be_sent(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = accounts.register(
        uow(), hasher, clock, email="a@b.org", password="long enough", name="Ada\r\nBcc: x@y.org"
    )
    assert user.name == "Ada Bcc: x@y.org"
    message = EmailMessage()
    message["To"] = f"{user.name} <{user.email}>"  # raises on a line break


def test_register_cuts_name_and_institution_to_200_characters(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = accounts.register(
        uow(),
        hasher,
        clock,
        email="a@b.org",
        password="long enough",
        name="n" * 500,
        institution="i" * 500,
    )
    assert len(user.name) == len(user.institution) == 200


def test_update_profile_saves_the_new_name_and_institution(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    clock.advance(60)
    accounts.update_profile(uow(), clock, user.id, name=" Ada\nKing ", institution=" Royal ")
    stored = db.users[user.id]
    assert (stored.name, stored.institution) == ("Ada King", "Royal")
    assert stored.updated_at == clock.now()


def test_get_user_of_an_unknown_id_is_not_found(uow: FakeUnitOfWorkFactory) -> None:
    with pytest.raises(NotFound):
        accounts.get_user(uow(), "nobody")


def test_get_user_by_email_finds_the_user_whatever_the_case(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory
) -> None:
    user = make_user("ada@example.org")
    assert accounts.get_user_by_email(uow(), " ADA@example.org").id == user.id
    with pytest.raises(NotFound):
        accounts.get_user_by_email(uow(), "bob@example.org")


# --- authenticate ---------------------------------------------------------------------------


def test_authenticate_with_the_right_password_returns_the_user(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    user = make_user("ada@example.org", password="correct horse")
    found = accounts.authenticate(
        uow(), hasher, clock, email=" Ada@Example.org", password="correct horse"
    )
    assert found is not None and found.id == user.id


def test_authenticate_with_a_wrong_password_returns_none(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    make_user("ada@example.org", password="correct horse")
    assert (
        accounts.authenticate(uow(), hasher, clock, email="ada@example.org", password="wrong horse")
        is None
    )


@pytest.mark.parametrize("email", ["bob@example.org", "not an email", ""])
def test_authenticate_an_unknown_or_invalid_email_returns_none(
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    hasher: FakeHasher,
    clock: FakeClock,
    email: str,
) -> None:
    make_user("ada@example.org", password="correct horse")
    assert (
        accounts.authenticate(uow(), hasher, clock, email=email, password="correct horse") is None
    )


def test_authenticate_upgrades_an_outdated_hash_on_a_successful_log_in(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user("ada@example.org", password="correct horse")  # hashed by "plain"
    newer = FakeHasher(scheme="newer")
    assert accounts.authenticate(
        uow(), newer, clock, email="ada@example.org", password="correct horse"
    )
    stored_hash = db.users[user.id].password_hash
    assert stored_hash is not None and stored_hash.startswith("newer$")
    assert newer.verify(stored_hash, "correct horse")


# --- API tokens -----------------------------------------------------------------------------


def test_a_created_token_authenticates_its_owner(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    user = make_user()
    token = accounts.create_api_token(uow(), clock, user.id, label="laptop")
    assert token.startswith(accounts.TOKEN_PREFIX)
    owner = accounts.user_for_token(uow(), clock, token)
    assert owner is not None and owner.id == user.id


def test_a_token_is_stored_only_as_its_hash(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    token = accounts.create_api_token(uow(), clock, user.id, label=" laptop ")
    (stored,) = db.tokens.values()
    assert stored.token_hash == accounts.hash_token(token)
    assert token not in repr(stored)
    assert stored.label == "laptop"
    assert stored.user_id == user.id


def test_using_a_token_records_when_it_was_last_used(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    token = accounts.create_api_token(uow(), clock, user.id)
    clock.advance(3600)
    accounts.user_for_token(uow(), clock, token)
    (stored,) = db.tokens.values()
    assert stored.last_used_at == clock.now()


def test_a_revoked_token_is_refused(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    token = accounts.create_api_token(uow(), clock, user.id)
    (stored,) = db.tokens.values()
    assert accounts.revoke_api_token(uow(), clock, user.id, stored.id) is True
    assert accounts.user_for_token(uow(), clock, token) is None


def test_a_user_cannot_revoke_another_users_token(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    owner, other = make_user(), make_user()
    token = accounts.create_api_token(uow(), clock, owner.id)
    (stored,) = db.tokens.values()
    assert accounts.revoke_api_token(uow(), clock, other.id, stored.id) is False
    assert accounts.user_for_token(uow(), clock, token) is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[len(accounts.TOKEN_PREFIX) :],  # prefix missing
        lambda t: "xyz_" + t[len(accounts.TOKEN_PREFIX) :],  # wrong prefix
        lambda t: t.upper(),
        lambda t: t[:-1],
        lambda t: t + "x" * 200,  # overlong
        lambda t: "",
    ],
)
def test_a_token_that_is_not_exactly_the_issued_one_is_refused(
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mangle: Callable[[str], str],
) -> None:
    user = make_user()
    token = accounts.create_api_token(uow(), clock, user.id)
    assert accounts.user_for_token(uow(), clock, mangle(token)) is None


def test_a_token_with_the_right_prefix_but_never_issued_is_refused(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    assert accounts.user_for_token(uow(), clock, accounts.TOKEN_PREFIX + "made-up") is None


def test_creating_a_token_for_an_unknown_user_is_not_found_and_stores_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    with pytest.raises(NotFound):
        accounts.create_api_token(uow(), clock, "nobody")
    assert db.tokens == {}


def test_each_token_is_different(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    user = make_user()
    tokens = {accounts.create_api_token(uow(), clock, user.id) for _ in range(5)}
    assert len(tokens) == 5


# --- plans ----------------------------------------------------------------------------------


def test_upgrading_sets_premium_and_publishes_user_upgraded_once(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    clock.advance(10)
    assert accounts.change_plan(uow(), clock, user.id, Plan.PREMIUM) is True
    assert db.users[user.id].plan is Plan.PREMIUM
    assert db.users[user.id].updated_at == clock.now()
    assert db.queue.published[events.USER_UPGRADED] == [{"user_id": user.id}]
    assert db.queue.topics() == [events.USER_UPGRADED]
    # the plan and the announcement were written by the same commit
    assert db.commits[-1].changed == {"users": frozenset({user.id})}
    assert db.commits[-1].topics == [events.USER_UPGRADED]


def test_downgrading_sets_free_and_publishes_user_downgraded_once(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user(plan=Plan.PREMIUM)
    assert accounts.change_plan(uow(), clock, user.id, Plan.FREE) is True
    assert db.users[user.id].plan is Plan.FREE
    assert db.queue.topics() == [events.USER_DOWNGRADED]
    assert db.queue.published[events.USER_DOWNGRADED] == [{"user_id": user.id}]


@pytest.mark.parametrize("plan", [Plan.FREE, Plan.PREMIUM])
def test_setting_the_plan_in_force_changes_and_publishes_nothing(
    make_user: MakeUser,
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    clock: FakeClock,
    plan: Plan,
) -> None:
    user = make_user(plan=plan)
    commits = len(db.commits)
    assert accounts.change_plan(uow(), clock, user.id, plan) is False
    assert db.queue.topics() == []
    assert len(db.commits) == commits


def test_upgrade_then_downgrade_publishes_each_once_in_order(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    accounts.change_plan(uow(), clock, user.id, Plan.PREMIUM)
    accounts.change_plan(uow(), clock, user.id, Plan.PREMIUM)
    accounts.change_plan(uow(), clock, user.id, Plan.FREE)
    accounts.change_plan(uow(), clock, user.id, Plan.FREE)
    assert db.queue.topics() == [events.USER_UPGRADED, events.USER_DOWNGRADED]


def test_changing_the_plan_of_an_unknown_user_is_not_found(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    with pytest.raises(NotFound):
        accounts.change_plan(uow(), clock, "nobody", Plan.PREMIUM)
    assert db.queue.topics() == []


def test_a_plan_change_whose_commit_fails_announces_nothing(
    make_user: MakeUser, uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FakeClock
) -> None:
    user = make_user()
    db.fail_commits = 1
    with pytest.raises(Exception, match="refused"):
        accounts.change_plan(uow(), clock, user.id, Plan.PREMIUM)
    assert db.users[user.id].plan is Plan.FREE
    assert db.queue.topics() == []
