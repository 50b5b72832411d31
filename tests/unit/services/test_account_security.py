"""Sessions that end, sign-up that does not tell who has an account, password changes, the
abuse limits and the cap on jobs in flight — the services over in-memory fakes."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from gas.domain import events
from gas.domain.errors import InvalidInput, RateLimited
from gas.domain.jobs import JobStatus
from gas.domain.plans import PlanPolicy
from gas.domain.users import User
from gas.services import account_notices, accounts, jobs, limits, sessions
from gas.services.notify import MailSettings
from tests.fakes import (
    FakeClock,
    FakeDatabase,
    FakeHasher,
    FakeMailer,
    FakeObjectStore,
    FakeQueue,
    FakeRateLimiter,
    FakeUnitOfWorkFactory,
)

POLICY = sessions.SessionPolicy(lifetime_seconds=12 * 3600, idle_seconds=1800)
MAIL = MailSettings(base_url="https://gas.example.org", sender="GAS <gas@example.org>")
VCF = (
    b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1\t.\tA\tG\t.\t.\t.\n"
)


# --- sessions ----------------------------------------------------------------------------------


def test_a_session_lasts_while_used_and_not_beyond_its_lifetime(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, make_user: Callable[..., User]
) -> None:
    user = make_user()
    token, record = sessions.start_session(uow(), clock, POLICY, user.id, user_agent="Firefox")
    assert record.token_hash != token and token not in repr(record)
    for _ in range(23):  # used every 29 minutes: never idle, until 12 hours have passed
        clock.advance(29 * 60)
        active = sessions.resolve_session(uow(), clock, POLICY, token)
        assert active is not None and active.user.id == user.id
        sessions.record_activity(uow(), clock, POLICY, active)
    clock.advance(60 * 60)
    assert sessions.resolve_session(uow(), clock, POLICY, token) is None  # past 12 hours


def test_a_password_changed_while_a_log_in_checked_it_opens_no_session(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock, make_user
) -> None:
    """A log-in checks the password (~0.2 s) before its session is written; a change that
    lands in between revokes every session, so the old password must not open a new one."""
    user = make_user(password="correct horse")
    checked = accounts.authenticate(
        uow(), hasher, clock, email=user.email, password="correct horse"
    )
    assert checked is not None
    accounts.change_password(
        uow(),
        hasher,
        clock,
        user_id=user.id,
        current_password="correct horse",
        new_password="a brand new horse",
    )
    with pytest.raises(sessions.StaleCredentials):
        sessions.start_session(
            uow(), clock, POLICY, user.id, proven_password_hash=checked.password_hash
        )
    fresh = accounts.authenticate(
        uow(), hasher, clock, email=user.email, password="a brand new horse"
    )
    assert fresh is not None
    token, _ = sessions.start_session(
        uow(), clock, POLICY, user.id, proven_password_hash=fresh.password_hash
    )
    assert sessions.resolve_session(uow(), clock, POLICY, token) is not None


def test_an_idle_session_ends(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, make_user: Callable[..., User]
) -> None:
    token, _ = sessions.start_session(uow(), clock, POLICY, make_user().id)
    clock.advance(1799)
    assert sessions.resolve_session(uow(), clock, POLICY, token) is not None
    clock.advance(1)
    assert sessions.resolve_session(uow(), clock, POLICY, token) is None


def test_activity_is_written_at_most_once_a_minute(
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    clock: FakeClock,
    make_user: Callable[..., User],
) -> None:
    token, _ = sessions.start_session(uow(), clock, POLICY, make_user().id)
    writes = len(db.commits)
    for _ in range(10):
        clock.advance(5)
        active = sessions.resolve_session(uow(), clock, POLICY, token)
        assert active is not None
        sessions.record_activity(uow(), clock, POLICY, active)
    assert len(db.commits) == writes  # 50 s: nothing written
    clock.advance(15)
    active = sessions.resolve_session(uow(), clock, POLICY, token)
    assert active is not None and sessions.record_activity(uow(), clock, POLICY, active)


def test_log_out_ends_only_that_session(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, make_user: Callable[..., User]
) -> None:
    user = make_user()
    laptop, _ = sessions.start_session(uow(), clock, POLICY, user.id)
    phone, _ = sessions.start_session(uow(), clock, POLICY, user.id)
    assert sessions.end_session(uow(), clock, laptop)
    assert sessions.resolve_session(uow(), clock, POLICY, laptop) is None
    assert sessions.resolve_session(uow(), clock, POLICY, phone) is not None
    assert not sessions.end_session(uow(), clock, laptop)  # once
    assert not sessions.end_session(uow(), clock, "not-a-token")


def test_a_user_ends_one_of_their_sessions_and_never_anothers(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, make_user: Callable[..., User]
) -> None:
    ada, bob = make_user(), make_user()
    laptop, laptop_record = sessions.start_session(
        uow(), clock, POLICY, ada.id, user_agent="Firefox", client_address="198.51.100.7"
    )
    assert (laptop_record.client_address, laptop_record.user_agent) == ("198.51.100.7", "Firefox")
    bob_token, bob_record = sessions.start_session(uow(), clock, POLICY, bob.id)
    # Ada cannot end Bob's session (nor an unknown one); Bob's is untouched
    assert not sessions.end_user_session(uow(), clock, ada.id, bob_record.id)
    assert not sessions.end_user_session(uow(), clock, ada.id, "no-such-session")
    assert sessions.resolve_session(uow(), clock, POLICY, bob_token) is not None
    # her own: ended, once
    assert sessions.end_user_session(uow(), clock, ada.id, laptop_record.id)
    assert sessions.resolve_session(uow(), clock, POLICY, laptop) is None
    assert not sessions.end_user_session(uow(), clock, ada.id, laptop_record.id)
    assert [s.id for s in sessions.list_sessions(uow(), clock, POLICY, bob.id)] == [bob_record.id]


def test_unknown_or_absurd_tokens_open_nothing(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    for token in ("", "x", "x" * 10_000, "\x00"):
        assert sessions.resolve_session(uow(), clock, POLICY, token) is None


def test_end_all_sessions_ends_every_session_of_the_user_only(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, make_user: Callable[..., User]
) -> None:
    ada, bob = make_user(), make_user()
    ada_tokens = [sessions.start_session(uow(), clock, POLICY, ada.id)[0] for _ in range(3)]
    bob_token, _ = sessions.start_session(uow(), clock, POLICY, bob.id)
    assert sessions.end_all_sessions(uow(), clock, ada.id) == 3
    assert all(sessions.resolve_session(uow(), clock, POLICY, t) is None for t in ada_tokens)
    assert sessions.resolve_session(uow(), clock, POLICY, bob_token) is not None


# --- sign-up -----------------------------------------------------------------------------------


def _sign_up(uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock, **kw: str) -> None:
    values = {"email": "ada@example.org", "password": "correct horse", "name": "Ada"} | kw
    accounts.sign_up(uow(), hasher, clock, **values)  # type: ignore[arg-type]


def test_sign_up_with_a_new_email_creates_the_account_and_welcomes_it(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, queue: FakeQueue, hasher, clock
) -> None:
    _sign_up(uow, hasher, clock)
    (user,) = db.users.values()
    assert user.email == "ada@example.org" and user.password_hash == hasher.hash("correct horse")
    (notice,) = queue.published[events.ACCOUNT_NOTICE]
    assert notice["user_id"] == user.id and notice["kind"] == account_notices.WELCOME


def test_sign_up_with_a_taken_email_changes_nothing_and_tells_the_owner(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, queue: FakeQueue, hasher, clock
) -> None:
    _sign_up(uow, hasher, clock)
    before = {u.id: u.password_hash for u in db.users.values()}
    _sign_up(uow, hasher, clock, email=" ADA@example.org", password="another horse")  # no error
    assert {u.id: u.password_hash for u in db.users.values()} == before
    kinds = [n["kind"] for n in queue.published[events.ACCOUNT_NOTICE]]
    assert kinds == [account_notices.WELCOME, account_notices.SIGNUP_EXISTING]
    # ... unless too many such emails went out lately: then nothing at all
    _sign_up(uow, hasher, clock, password="third horse!", notify_existing=False)  # type: ignore[arg-type]
    assert len(queue.published[events.ACCOUNT_NOTICE]) == 2


def test_sign_up_does_the_same_work_either_way(
    uow: FakeUnitOfWorkFactory, hasher: FakeHasher, clock: FakeClock
) -> None:
    class CountingHasher(FakeHasher):
        calls = 0

        def hash(self, password: str) -> str:
            CountingHasher.calls += 1
            return super().hash(password)

    counting = CountingHasher()
    _sign_up(uow, counting, clock)  # type: ignore[arg-type]
    _sign_up(uow, counting, clock, password="another horse")  # type: ignore[arg-type]
    assert CountingHasher.calls == 2  # a hash for the taken address too: same time


def test_sign_up_refuses_weak_passwords_before_looking_anything_up(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, queue: FakeQueue, hasher, clock
) -> None:
    for password in ("password", "12345678", "password1234", "ada@example.org"):
        with pytest.raises(InvalidInput):
            _sign_up(uow, hasher, clock, email="ada@example.org", password=password)
    assert db.users == {} and not queue.published[events.ACCOUNT_NOTICE]


def test_existing_users_with_old_short_passwords_still_log_in(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, hasher: FakeHasher, clock: FakeClock
) -> None:
    _sign_up(uow, hasher, clock)
    (user,) = db.users.values()
    with uow() as work:  # a password set before the policy: 8 characters
        stored = work.users.get(user.id)
        assert stored is not None
        stored.password_hash = hasher.hash("12345678")
        work.users.save(stored)
        work.commit()
    found = accounts.authenticate(
        uow(), hasher, clock, email="ada@example.org", password="12345678"
    )
    assert found is not None and found.id == user.id


# --- password change ---------------------------------------------------------------------------


def test_changing_the_password_ends_every_other_session_and_tells_the_owner(
    uow: FakeUnitOfWorkFactory, queue: FakeQueue, hasher, clock, make_user
) -> None:
    user = make_user("ada@example.org")
    here, here_record = sessions.start_session(uow(), clock, POLICY, user.id)
    elsewhere, _ = sessions.start_session(uow(), clock, POLICY, user.id)
    accounts.change_password(
        uow(),
        hasher,
        clock,
        user_id=user.id,
        current_password="correct horse",
        new_password="tangerine velvet",
        keep_session_id=here_record.id,
    )
    assert sessions.resolve_session(uow(), clock, POLICY, here) is not None
    assert sessions.resolve_session(uow(), clock, POLICY, elsewhere) is None
    assert accounts.authenticate(
        uow(), hasher, clock, email="ada@example.org", password="tangerine velvet"
    )
    assert not accounts.authenticate(
        uow(), hasher, clock, email="ada@example.org", password="correct horse"
    )
    kinds = [n["kind"] for n in queue.published[events.ACCOUNT_NOTICE]]
    assert kinds == [account_notices.PASSWORD_CHANGED]


def test_a_password_change_needs_the_current_password_and_a_good_new_one(
    uow: FakeUnitOfWorkFactory, hasher, clock, make_user
) -> None:
    user = make_user("ada@example.org", name="Ada Lovelace")
    with pytest.raises(accounts.WrongPassword):
        accounts.change_password(
            uow(),
            hasher,
            clock,
            user_id=user.id,
            current_password="wrong horse",
            new_password="tangerine velvet",
        )
    with pytest.raises(InvalidInput, match="your email address or your name"):
        accounts.change_password(
            uow(),
            hasher,
            clock,
            user_id=user.id,
            current_password="correct horse",
            new_password="lovelace forever",
        )
    assert accounts.authenticate(
        uow(), hasher, clock, email="ada@example.org", password="correct horse"
    )


# --- account emails ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject", "says"),
    [
        (account_notices.WELCOME, "Welcome to GAS", "is ready"),
        (account_notices.WELCOME_OIDC, "Welcome to GAS", "no GAS password"),
        (account_notices.SIGNUP_EXISTING, "tried to sign up", "You already have an account"),
        (account_notices.PASSWORD_CHANGED, "password was changed", "logged out"),
    ],
)
def test_each_account_notice_is_emailed_once(
    uow: FakeUnitOfWorkFactory,
    clock: FakeClock,
    mailer: FakeMailer,
    make_user: Callable[..., User],
    kind: str,
    subject: str,
    says: str,
) -> None:
    user = make_user("ada@example.org", name="Ada")
    for _ in range(2):  # delivered twice: sent once
        account_notices.notify_account(
            uow(), mailer, clock, MAIL, user_id=user.id, kind=kind, notice_id="n1"
        )
    (message,) = mailer.sent
    assert subject in message["Subject"] and message["To"] == "Ada <ada@example.org>"
    body = message.get_content()
    assert says in body and "https://gas.example.org/login" in body


def test_a_notice_for_a_deleted_user_is_dropped(
    uow: FakeUnitOfWorkFactory, clock: FakeClock, mailer: FakeMailer
) -> None:
    assert not account_notices.notify_account(
        uow(), mailer, clock, MAIL, user_id="gone", kind=account_notices.WELCOME, notice_id="n"
    )
    assert mailer.sent == []


# --- abuse limits --------------------------------------------------------------------------------


def test_a_limit_refuses_past_its_allowance_until_the_window_ends(clock: FakeClock) -> None:
    checks = limits.Limits(FakeRateLimiter(), clock, {limits.SIGNUP: (3, 3600)})
    clock.set(clock.now().replace(minute=0, second=0, microsecond=0))
    for _ in range(3):
        checks.hit(limits.SIGNUP, "192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        checks.hit(limits.SIGNUP, "192.0.2.1")
    assert refused.value.retry_after == 3600
    assert "Please wait 60 minutes" in str(refused.value)
    checks.hit(limits.SIGNUP, "192.0.2.2")  # another address has its own allowance
    clock.advance(3599)
    with pytest.raises(RateLimited) as refused:
        checks.hit(limits.SIGNUP, "192.0.2.1")
    assert refused.value.retry_after == 1
    clock.advance(1)
    checks.hit(limits.SIGNUP, "192.0.2.1")  # a new window


def test_failures_are_checked_before_and_recorded_after(clock: FakeClock) -> None:
    checks = limits.Limits(FakeRateLimiter(), clock, {limits.LOGIN_ACCOUNT: (2, 900)})
    for _ in range(2):
        checks.check(limits.LOGIN_ACCOUNT, "Ada@Example.org")
        checks.record(limits.LOGIN_ACCOUNT, "ada@example.org ")  # same subject: case, spaces
    with pytest.raises(RateLimited):
        checks.check(limits.LOGIN_ACCOUNT, "ada@example.org")


def test_limits_that_are_off_or_without_a_limiter_refuse_nothing(clock: FakeClock) -> None:
    off = limits.Limits(FakeRateLimiter(), clock, {limits.SIGNUP: None})
    none = limits.Limits(None, clock, {limits.SIGNUP: (1, 60)})
    for _ in range(5):
        off.hit(limits.SIGNUP, "x")
        none.hit(limits.SIGNUP, "x")


def test_subjects_are_stored_hashed() -> None:
    key = limits.Limits.key(limits.LOGIN_ACCOUNT, "ada@example.org")
    assert "ada" not in key and key.startswith("login_account:") and len(key) <= 100


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same /64: one subject
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
    ],
)
def test_per_address_limits_count_an_ipv6_host_by_its_64(address: str | None, subject: str) -> None:
    assert limits.client_subject(address) == subject


# --- jobs in flight ------------------------------------------------------------------------------


def test_a_user_at_the_cap_of_jobs_in_flight_is_refused_and_nothing_is_kept(
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    store: FakeObjectStore,
    clock: FakeClock,
    make_user: Callable[..., User],
) -> None:
    policy = PlanPolicy(
        free_max_upload_bytes=1 << 20,
        premium_max_upload_bytes=1 << 20,
        free_retention_seconds=300,
        max_jobs_in_flight=2,
    )
    user, other = make_user(), make_user()

    def submit(owner: User) -> str:
        job = jobs.submit_job(
            uow(), store, policy, clock, user_id=owner.id, file_name="a.vcf", stream=io.BytesIO(VCF)
        )
        return job.id

    first, _ = submit(user), submit(user)
    keys = set(store.keys())
    with pytest.raises(RateLimited, match="2 annotation jobs waiting or running") as refused:
        submit(user)
    assert refused.value.retry_after == 60
    assert set(store.keys()) == keys and len(db.jobs) == 2
    submit(other)  # the cap is per user
    with uow() as work:  # one of them ends: room for one more
        job = work.jobs.get(first)
        assert job is not None and job.start(clock.now())
        job.fail(clock.now(), "broken", log_key=None)
        work.jobs.save(job)
        work.commit()
    assert db.jobs[first].status is JobStatus.FAILED
    submit(user)
