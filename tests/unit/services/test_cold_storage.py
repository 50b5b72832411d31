"""The Free plan's cold storage, end to end over the fakes: archive when the window ends,
restore on upgrade, thaw when the retrieval completes — and the races around them.

Messages go through the real ``Worker`` loop with the real topic→handler mappings
(``annotator``-equivalent, ``notifier_handlers``, ``archiver_handlers``, ``restorer_handlers``)
over a ``FakeQueue`` that honours delays on a ``FakeClock``: the window is 2 s, Expedited 1 s,
Standard 3 s, and nothing sleeps. ``World`` is also used by the crash-injection and
property-based tests (test_cold_storage_*.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from gas.bootstrap import Container
from gas.domain import events
from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import Plan, PlanPolicy
from gas.domain.users import User
from gas.entrypoints.workers import (
    Handler,
    Worker,
    archiver_handlers,
    notifier_handlers,
    restorer_handlers,
)
from gas.ports import Delivery, RetrievalRefused
from gas.services import accounts
from gas.services.annotate import AnnotationRun, run_annotation
from gas.services.cold_storage import VerificationFailed
from gas.services.jobs import submit_job
from gas.services.notify import MailSettings
from tests.fakes import (
    FakeBadInput,
    FakeBillingEventLog,
    FakeClock,
    FakeColdStore,
    FakeDatabase,
    FakeEngine,
    FakeHasher,
    FakeJobRepository,
    FakeMailer,
    FakeNotificationLog,
    FakeObjectStore,
    FakeQueue,
    FakeTokenRepository,
    FakeUnitOfWork,
    FakeUserRepository,
    Tables,
    fake_output_stem,
)

WINDOW = 2
DELAYS = {"Expedited": 1.0, "Standard": 3.0, "Bulk": 6.0}
VCF = (
    b"##fileformat=VCFv4.2\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    b"1\t1000\t.\tG\tA\t50\tPASS\t.\n"
)
MAIL = MailSettings(base_url="http://gas.test", sender="GAS <gas@gas.test>")
KINDS = ("annotator", "notifier", "archiver", "restorer")


# --- the world: every port faked, every worker kind wired as in production --------------------


class Crash(Exception):
    """An injected crash: the handler dies here and the queue redelivers the message."""


class Unexpected(BaseException):  # noqa: N818 - what the test reports, not a product error
    """A handler of a strict world failed with something other than an injected ``Crash``: a
    bug to report, not a failure for the queue to retry quietly (a BaseException, so that the
    worker loop, which retries any Exception, lets it through)."""


@dataclass
class CrashPlan:
    """Crash ``when`` ("before"/"after") the ``nth`` side effect ``op`` (any op when None) made
    while a message of ``topic`` is handled."""

    topic: str
    op: str | None
    nth: int = 1
    when: str = "after"
    seen: int = 0
    fired: bool = False


def _copy_tables(tables: Tables) -> Tables:
    """A copy of every table and row, one level deep. The fake's repositories never change a
    stored row in place except through a working copy's own rows, so this isolates
    transactions as the fake's deep copy does, at a fraction of the cost."""
    return Tables(
        **{
            f.name: {key: _copy_row(row) for key, row in getattr(tables, f.name).items()}
            for f in dataclasses.fields(Tables)
        }
    )


def _copy_row(row: Any) -> Any:
    if isinstance(row, Job | User):  # mutable dataclasses; the others are immutable values
        new = object.__new__(type(row))
        new.__dict__.update(row.__dict__)
        return new
    return row


class CrashingUnitOfWork(FakeUnitOfWork):
    """A FakeUnitOfWork whose commit is a side effect the world can crash around (and whose
    snapshots are cheaper, for the property-based test's thousands of transactions)."""

    def __init__(self, db: FakeDatabase, world: World) -> None:
        self._world = world
        super().__init__(db)

    def commit(self) -> None:
        self._world.side_effect("commit", super().commit)

    def _begin(self) -> None:
        self._base = _copy_tables(self.db.committed)
        self._work = _copy_tables(self._base)
        self.users = FakeUserRepository(self._work.users)
        self.jobs = FakeJobRepository(self._work.jobs)
        self.tokens = FakeTokenRepository(self._work.tokens)
        self.notifications = FakeNotificationLog(self._work.notifications)
        self.billing_events = FakeBillingEventLog(self._work.billing_events)
        self._pending = []


@dataclass
class FakeContainer:
    """What the handler factories of ``gas.entrypoints.workers`` read from a Container."""

    uow: Callable[[], FakeUnitOfWork]
    storage: FakeObjectStore
    cold: FakeColdStore
    clock: FakeClock
    policy: PlanPolicy
    mailer: FakeMailer
    mail_settings: MailSettings


class World:
    """Users, jobs and the four workers over in-memory fakes.

    ``run()`` lets every worker take ready messages until none is left (a failed message comes
    back after its backoff, as with the real queue); ``advance(s)`` moves the clock then runs.
    ``duplicate=True`` handles every message a second time right after it succeeded (a
    redelivery after a lost ack). ``crash(...)`` arms a crash around one side effect. In a
    ``strict`` world a handler failing with anything but an injected ``Crash`` fails the test
    (raises ``Unexpected``) instead of being retried.
    """

    strict = False

    def __init__(self, workdir: Path, *, manual: bool = False, duplicate: bool = False) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock()
        self.queue = FakeQueue(self.clock)
        self.db = FakeDatabase(self.queue)
        self.store = FakeObjectStore()
        self.cold = FakeColdStore(
            self.queue.publish, clock=self.clock, delays=DELAYS, manual=manual
        )
        self.mailer = FakeMailer()
        self.hasher = FakeHasher()
        self.engine = FakeEngine()
        self.policy = PlanPolicy(
            free_max_upload_bytes=150 * 1024,
            premium_max_upload_bytes=1024 * 1024,
            free_retention_seconds=WINDOW,
        )
        self.duplicate = duplicate
        self.current_topic: str | None = None
        self.effects: list[tuple[str, str]] = []  # (topic being handled, side effect)
        self.crash_plan: CrashPlan | None = None
        self._instrument()
        c = FakeContainer(
            uow=self.uow,
            storage=self.store,
            cold=self.cold,
            clock=self.clock,
            policy=self.policy,
            mailer=self.mailer,
            mail_settings=MAIL,
        )
        container = cast(Container, c)  # duck-typed: the factories read only these attributes
        run = AnnotationRun(
            uow=self.uow,
            storage=self.store,
            clock=self.clock,
            engine=self.engine,
            bad_input=(FakeBadInput,),
            output_stem=fake_output_stem,
            workdir=workdir,
        )

        def on_job_requested(d: Delivery) -> None:  # as annotator_handlers, with the fake engine
            run_annotation(
                run, d.payload["job_id"], redelivered=d.attempt > 1, last_attempt=d.is_last_attempt
            )

        self.handlers: dict[str, dict[str, Handler]] = {
            "annotator": {events.JOB_REQUESTED: on_job_requested},
            "notifier": notifier_handlers(container),
            "archiver": archiver_handlers(container),
            "restorer": restorer_handlers(container),
        }
        self.workers = {
            kind: Worker(
                kind=kind,
                queue=self.queue,
                handlers={t: self._wrap(h) for t, h in self.handlers[kind].items()},
                heartbeat_seconds=3600,
                idle_wait_seconds=0,
            )
            for kind in KINDS
        }

    def uow(self) -> FakeUnitOfWork:
        return CrashingUnitOfWork(self.db, self)

    # --- side effects and crashes ---------------------------------------------------------
    def _instrument(self) -> None:
        for name, target in (("store", self.store), ("cold", self.cold)):
            for method in ("put", "delete", "archive", "request_retrieval"):
                original = getattr(target, method, None)
                if original is None:
                    continue
                op = f"{name}.{method}"
                setattr(target, method, self._effect(op, original))

    def _effect(self, op: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.side_effect(op, lambda: original(*args, **kwargs))

        return call

    def side_effect(self, op: str, call: Callable[[], Any]) -> Any:
        if self.current_topic is not None:
            self.effects.append((self.current_topic, op))
        plan = self.crash_plan
        hit = False
        if (
            plan is not None
            and not plan.fired
            and self.current_topic == plan.topic
            and plan.op in (None, op)
        ):
            plan.seen += 1
            hit = plan.seen == plan.nth
        if hit and plan is not None and plan.when == "before":
            plan.fired = True
            raise Crash(f"crash before {op}")
        result = call()
        if hit and plan is not None:
            plan.fired = True
            raise Crash(f"crash after {op}")
        return result

    def crash(self, topic: str, op: str | None, *, nth: int = 1, when: str = "after") -> CrashPlan:
        self.crash_plan = CrashPlan(topic=topic, op=op, nth=nth, when=when)
        return self.crash_plan

    def _wrap(self, handler: Handler) -> Handler:
        def handle(d: Delivery) -> None:
            self.current_topic = d.topic
            try:
                handler(d)
                if self.duplicate:
                    handler(Delivery(**{**d.__dict__, "attempt": d.attempt + 1}))
            except Crash:
                raise
            except Exception as exc:
                if self.strict:
                    raise Unexpected(f"{d.topic} {d.payload}: {exc!r}") from exc
                raise
            finally:
                self.current_topic = None

        return handle

    # --- driving --------------------------------------------------------------------------
    def run(self) -> int:
        """Deliver every ready message (and those they cause) until nothing is ready."""
        handled = 0
        progress = True
        while progress:
            progress = False
            for worker in self.workers.values():
                while worker.run_once():
                    handled += 1
                    progress = True
                    assert handled < 10_000, "the messages never settle"
        return handled

    def advance(self, seconds: float) -> int:
        self.clock.advance(seconds)
        return self.run()

    def advance_to(self, moment: datetime) -> int:
        self.clock.set(moment)
        return self.run()

    # --- arranging ------------------------------------------------------------------------
    def user(self, email: str = "ada@example.org", plan: Plan = Plan.FREE) -> User:
        return accounts.register(
            self.uow(),
            self.hasher,
            self.clock,
            email=email,
            password="correct horse",
            name="Ada Lovelace",
            plan=plan,
        )

    def submit(self, user: User, content: bytes = VCF, name: str = "sample.vcf") -> str:
        job = submit_job(
            self.uow(),
            self.store,
            self.policy,
            self.clock,
            user_id=user.id,
            file_name=name,
            stream=io.BytesIO(content),
        )
        return job.id

    def complete(self, user: User, content: bytes = VCF) -> str:
        """Submit a job and let the workers run: it completes at the clock's time."""
        job_id = self.submit(user, content)
        self.run()
        assert self.job(job_id).status is JobStatus.COMPLETED
        return job_id

    def set_plan(self, user: User, plan: Plan) -> bool:
        return accounts.change_plan(self.uow(), self.clock, user.id, plan)

    # --- looking --------------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        return self.db.jobs[job_id]

    def plan(self, user_id: str) -> Plan:
        return self.db.users[user_id].plan

    def hot(self, job_id: str) -> bytes | None:
        key = self.job(job_id).results_key
        return self.store.objects.get(key) if key else None

    def failures(self) -> list[tuple[str, str]]:
        """(topic, last line of the error) of every failed attempt so far."""
        return [
            (m.topic, e.strip().splitlines()[-1]) for m in self.queue.messages for e in m.errors
        ]

    def delivered(self, topic: str) -> list[str]:
        return [m.state for m in self.queue.messages if m.topic == topic]

    def restored_emails(self, job_id: str) -> list[str]:
        subject = f"Your results for job {job_id} have been restored"
        return [str(m["Subject"]) for m in self.mailer.sent if m["Subject"] == subject]

    @contextmanager
    def hook_store_delete(self, action: Callable[[str], None]) -> Iterator[None]:
        """Run ``action(key)`` once, just before the object store deletes anything."""
        original = self.store.delete
        done: list[bool] = []

        def delete(key: str) -> None:
            if not done:
                done.append(True)
                action(key)
            original(key)

        self.store.delete = delete  # type: ignore[method-assign]
        try:
            yield
        finally:
            self.store.delete = original  # type: ignore[method-assign]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_in_exactly_one_place(world: World, job_id: str, expected: bytes) -> None:
    """At rest: available ⇒ hot only; archived/restoring ⇒ cold only, as recorded."""
    job = world.job(job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.results_key is not None
    if job.results_state is ResultsState.AVAILABLE:
        assert world.store.objects.get(job.results_key) == expected
        assert job.archive_id is None
        assert job.results_key not in world.cold.archives
        assert not any(a.startswith(job.results_key) for a in world.cold.archives)
    else:
        assert job.archive_id is not None
        assert world.cold.archives.get(job.archive_id) == expected
        assert (job.archive_size, job.archive_sha256) == (len(expected), sha(expected))
        assert job.results_key not in world.store.objects
    assert job.log_key in world.store.objects  # the log always stays hot


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# --- the Free journey -------------------------------------------------------------------------


def test_the_free_journey_archive_upgrade_restore_thaw_email(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    job = world.job(job_id)
    completed_at = job.completed_at
    assert completed_at == world.clock.now()
    assert job.results_state is ResultsState.AVAILABLE
    results = world.hot(job_id)
    assert results is not None and results.endswith(VCF)

    # a durable timer: on the row, and as a message delayed by exactly the window
    assert job.archive_after == completed_at + timedelta(seconds=WINDOW)
    (timer,) = [m for m in world.queue.messages if m.topic == events.RESULTS_ARCHIVE_DUE]
    assert timer.payload == {"job_id": job_id}
    assert timer.available_at == completed_at + timedelta(seconds=WINDOW)

    # before the window ends the results download
    world.advance(WINDOW - 0.5)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert job.results_key is not None
    assert world.store.download_url(job.results_key, file_name="x", expires_in=60)
    assert world.cold.archives == {}

    # the window ends: archived — cold copy verified, hot copy gone, log still hot
    world.advance(0.5)
    job = world.job(job_id)
    assert job.results_state is ResultsState.ARCHIVED
    assert job.archived_at == completed_at + timedelta(seconds=WINDOW)
    assert job.archive_after is None
    assert job.archive_id is not None
    assert world.cold.archives[job.archive_id] == results
    assert world.cold.describe(job.archive_id) is not None
    assert (job.archive_size, job.archive_sha256) == (len(results), sha(results))
    assert job.results_key not in world.store.objects
    assert job.log_key in world.store.objects
    assert world.cold.retrievals == {}  # cold: nobody asked for it
    assert_in_exactly_one_place(world, job_id, results)

    # upgrade: an Expedited retrieval is requested, the results are "restoring"
    world.advance(10)
    upgraded_at = world.clock.now()
    assert world.set_plan(ada, Plan.PREMIUM)
    world.run()
    job = world.job(job_id)
    assert job.results_state is ResultsState.RESTORING
    assert job.restore_tier == "Expedited"
    assert job.restore_requested_at == upgraded_at
    assert job.restore_expected_at == upgraded_at + timedelta(seconds=DELAYS["Expedited"])
    assert job.archive_id is not None
    assert world.cold.announced == [(job.archive_id, DELAYS["Expedited"])]
    assert job.results_key not in world.store.objects

    # the retrieval completes: thawed back to the SAME key, same bytes, archive deleted
    results_key, archive_id = job.results_key, job.archive_id
    world.advance(DELAYS["Expedited"] - 0.1)
    assert world.job(job_id).results_state is ResultsState.RESTORING
    world.advance(0.1)
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE
    assert results_key is not None and job.results_key == results_key
    assert world.store.objects[results_key] == results
    assert archive_id not in world.cold.archives
    assert world.cold.archives == {}
    assert job.archive_id is None and job.archive_after is None
    assert job.restored_at == upgraded_at + timedelta(seconds=DELAYS["Expedited"])
    assert [p["job_id"] for p in world.queue.published[events.RESULTS_RESTORED]] == [job_id]
    assert_in_exactly_one_place(world, job_id, results)

    # and the owner is told
    assert world.restored_emails(job_id) == [f"Your results for job {job_id} have been restored"]
    assert len(world.mailer.sent) == 2  # "results available", then "restored"
    assert world.failures() == []

    # Premium now: the results stay hot, whatever time passes
    world.advance(10 * WINDOW)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert world.cold.writes == [archive_id]


def test_expedited_refused_falls_back_to_standard(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    world.cold.refuse_expedited = True
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    job = world.job(job_id)
    assert job.results_state is ResultsState.RESTORING
    assert job.restore_tier == "Standard"
    assert job.restore_expected_at == world.clock.now() + timedelta(seconds=DELAYS["Standard"])
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.RESTORING
    world.advance(DELAYS["Standard"] - DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert len(world.restored_emails(job_id)) == 1
    assert world.failures() == []


def test_a_restore_refused_on_every_tier_is_retried(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    # Expedited, Standard and Bulk are all refused once
    world.cold.fail("request_retrieval", RetrievalRefused("no capacity"), times=3)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert [t for t, _ in world.failures()] == [events.USER_UPGRADED]
    world.advance(1)  # the redelivery after the backoff
    assert world.job(job_id).results_state is ResultsState.RESTORING
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE


def test_several_archived_results_are_all_restored(world: World) -> None:
    ada = world.user()
    first = world.complete(ada)
    world.advance(0.5)
    second = world.complete(ada, VCF + b"2\t2\t.\tA\tC\t50\tPASS\t.\n")
    world.advance(WINDOW)
    contents = {j: world.cold.archives[world.job(j).archive_id or ""] for j in (first, second)}
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    for job_id, content in contents.items():
        assert_in_exactly_one_place(world, job_id, content)
        assert world.job(job_id).results_state is ResultsState.AVAILABLE
        assert len(world.restored_emails(job_id)) == 1


def test_one_archive_that_cannot_be_retrieved_does_not_hold_back_the_others(
    world: World,
) -> None:
    ada = world.user()
    first = world.complete(ada)
    world.advance(0.5)
    second = world.complete(ada, VCF + b"2\t2\t.\tA\tC\t50\tPASS\t.\n")
    world.advance(WINDOW)
    lost = world.job(first).archive_id
    assert lost is not None
    del world.cold.archives[lost]  # whatever happened to it, it cannot be retrieved
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert world.job(first).results_state is ResultsState.ARCHIVED
    assert world.job(second).results_state is ResultsState.RESTORING
    assert [t for t, _ in world.failures()] == [events.USER_UPGRADED]  # retried, and visible
    world.advance(DELAYS["Expedited"])
    assert world.job(second).results_state is ResultsState.AVAILABLE


def test_other_users_are_not_touched(world: World) -> None:
    ada, bob = world.user("ada@example.org"), world.user("bob@example.org")
    ada_job, bob_job = world.complete(ada), world.complete(bob)
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    assert world.job(ada_job).results_state is ResultsState.AVAILABLE
    assert world.job(bob_job).results_state is ResultsState.ARCHIVED


def test_a_failed_job_has_nothing_to_archive(world: World) -> None:
    ada = world.user()
    world.engine.raises = FakeBadInput("not a VCF")
    job_id = world.submit(ada)
    world.advance(3 * WINDOW)
    assert world.job(job_id).status is JobStatus.FAILED
    assert world.job(job_id).archive_after is None
    assert world.cold.writes == []
    assert world.failures() == []


# --- upgrade races ----------------------------------------------------------------------------


def test_a_user_who_upgraded_before_the_timer_keeps_the_hot_copy(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    world.advance(WINDOW / 2)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert world.job(job_id).archive_after is None  # the timer is cancelled
    world.advance(WINDOW)  # the timer message still fires ...
    assert world.delivered(events.RESULTS_ARCHIVE_DUE) == ["done"]  # ... and does nothing
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert world.cold.writes == []
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)


def test_a_timer_that_fires_before_the_upgrade_is_processed_still_keeps_the_hot_copy(
    world: World,
) -> None:
    """The plan is read when the rule applies: the upgrade is committed, its event not yet
    handled by the restorer, and the archiver must not archive a Premium user's results."""
    ada = world.user()
    job_id = world.complete(ada)
    world.clock.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    while world.workers["archiver"].run_once():  # the archiver goes first
        pass
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE
    assert job.archive_after is None
    assert world.cold.writes == []
    world.run()
    assert world.job(job_id).results_state is ResultsState.AVAILABLE


def test_upgrading_while_the_job_runs_means_no_timer(world: World) -> None:
    ada = world.user()

    def upgrade() -> None:
        world.set_plan(ada, Plan.PREMIUM)

    world.engine.during = upgrade
    job_id = world.submit(ada)
    world.run()
    job = world.job(job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.archive_after is None
    assert world.queue.published[events.RESULTS_ARCHIVE_DUE] == []
    world.advance(5 * WINDOW)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert world.cold.writes == []


def test_upgrading_while_the_archive_is_in_progress_keeps_the_results_available(
    world: World,
) -> None:
    """Between the cold write and the record, the owner upgrades: the archive is not
    recorded, the cold copy is dropped, the hot copy stays — nothing archived, nothing lost."""
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    upgrades: list[bool] = []

    def upgrade_now(archive_id: str) -> None:
        if not upgrades:
            upgrades.append(world.set_plan(ada, Plan.PREMIUM))

    world.cold.after_archive = upgrade_now
    world.advance(WINDOW)
    assert upgrades == [True]
    assert len(world.cold.writes) == 1  # the write happened ...
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE  # ... but was not recorded
    assert job.archive_id is None and job.archive_after is None
    assert world.cold.archives == {}  # and the cold copy is gone again
    assert world.cold.announced == []  # nothing to restore
    world.advance(5 * WINDOW)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    assert world.restored_emails(job_id) == []
    assert world.failures() == []


def test_upgrading_between_the_record_and_the_hot_delete_restores_the_results(
    world: World,
) -> None:
    """The archive is recorded first: the upgrade sees it and restores it."""
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)

    def upgrade(key: str) -> None:
        world.set_plan(ada, Plan.PREMIUM)

    with world.hook_store_delete(upgrade):
        world.advance(WINDOW)
    world.advance(DELAYS["Expedited"])
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    assert len(world.restored_emails(job_id)) == 1
    assert world.failures() == []


def test_an_upgrade_while_restoring_changes_nothing(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.set_plan(ada, Plan.FREE)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    assert len(world.cold.announced) == 1
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert len(world.restored_emails(job_id)) == 1


def test_a_stale_restore_ready_handled_during_a_later_archive_loses_nothing(
    world: World,
) -> None:
    """The restorer and the archiver are separate workers. A thaw that stopped after marking
    the results available (its cold delete failed) is redelivered just as the next Free
    window's archive has written its cold copy and not yet recorded it: finishing the old
    thaw must not delete the new archive."""
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.cold.fail("delete")  # the thaw's last step fails once: redelivered after 1 s
    world.advance(DELAYS["Expedited"])
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE and job.archive_id is not None

    world.set_plan(ada, Plan.FREE)  # and the window runs again
    while world.workers["archiver"].run_once():
        pass

    def restorer_meanwhile(archive_id: str) -> None:
        world.cold.after_archive = None
        assert world.workers["restorer"].run_once()  # the redelivered restore_ready

    world.cold.after_archive = restorer_meanwhile
    world.clock.advance(WINDOW)
    while world.workers["archiver"].run_once():
        pass
    world.run()
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert_in_exactly_one_place(world, job_id, results)
    assert world.cold.archives == {}


# --- cancel Premium ---------------------------------------------------------------------------


def test_cancelling_premium_gives_available_results_a_fresh_window_from_the_downgrade(
    world: World,
) -> None:
    ada = world.user(plan=Plan.PREMIUM)
    old = world.complete(ada)
    assert world.job(old).archive_after is None  # Premium: no timer
    world.advance(100)
    downgraded_at = world.clock.now()
    assert world.set_plan(ada, Plan.FREE)
    world.run()
    assert world.job(old).archive_after == downgraded_at + timedelta(seconds=WINDOW)

    # later completions follow the Free rules
    world.advance(1)
    new = world.complete(ada)
    assert world.job(new).archive_after == world.clock.now() + timedelta(seconds=WINDOW)

    world.advance_to(downgraded_at + timedelta(seconds=WINDOW - 0.1))
    assert world.job(old).results_state is ResultsState.AVAILABLE
    world.advance(0.1)
    assert world.job(old).results_state is ResultsState.ARCHIVED
    assert world.job(new).results_state is ResultsState.AVAILABLE
    world.advance(1)
    assert world.job(new).results_state is ResultsState.ARCHIVED
    assert world.failures() == []


def test_a_downgrade_gives_a_fresh_window_even_before_the_upgrade_was_processed(
    world: World,
) -> None:
    """Upgrade late in the window, cancel at once: the user.downgraded event may be handled
    before user.upgraded (different queues) — the old timer must not survive the fresh window
    the cancel page promised."""
    ada = world.user()
    job_id = world.complete(ada)
    world.clock.advance(WINDOW - 0.5)
    world.set_plan(ada, Plan.PREMIUM)
    world.clock.advance(0.25)
    downgraded_at = world.clock.now()
    world.set_plan(ada, Plan.FREE)
    world.run()  # the archiver handles user.downgraded before the restorer sees user.upgraded
    assert world.job(job_id).archive_after == downgraded_at + timedelta(seconds=WINDOW)
    world.advance(1)  # past the first window: the old timer fires and must do nothing
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    world.advance_to(downgraded_at + timedelta(seconds=WINDOW))
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert len(world.cold.writes) == 1


def test_a_redelivered_downgrade_does_not_extend_the_window(world: World) -> None:
    ada = world.user(plan=Plan.PREMIUM)
    job_id = world.complete(ada)
    world.set_plan(ada, Plan.FREE)
    world.run()
    due = world.job(job_id).archive_after
    assert due == world.clock.now() + timedelta(seconds=WINDOW)
    timers = len(world.queue.published[events.RESULTS_ARCHIVE_DUE])
    world.clock.advance(WINDOW / 2)
    (downgraded,) = [m for m in world.queue.messages if m.topic == events.USER_DOWNGRADED]
    world.handlers["archiver"][events.USER_DOWNGRADED](
        Delivery(downgraded.id, "archiver", downgraded.topic, downgraded.payload, 2, 5, "r")
    )
    assert world.job(job_id).archive_after == due
    assert len(world.queue.published[events.RESULTS_ARCHIVE_DUE]) == timers
    world.advance_to(due)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED


def test_results_restored_for_a_user_who_downgraded_meanwhile_get_a_fresh_window(
    world: World,
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.set_plan(ada, Plan.FREE)
    world.advance(DELAYS["Expedited"])
    job = world.job(job_id)
    assert job.results_state is ResultsState.AVAILABLE  # the restore completes anyway
    assert job.archive_after == world.clock.now() + timedelta(seconds=WINDOW)
    results = world.hot(job_id)
    world.advance(WINDOW)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    assert world.failures() == []


# --- repeated upgrade / downgrade -------------------------------------------------------------


def test_repeated_upgrade_and_downgrade_leaves_one_archive(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    for plan in (Plan.PREMIUM, Plan.FREE, Plan.PREMIUM, Plan.FREE):
        world.advance(0.4)
        world.set_plan(ada, plan)
        world.run()
    last_downgrade = world.clock.now()
    # four timers were set; the old ones fire first and must do nothing
    world.advance_to(last_downgrade + timedelta(seconds=WINDOW - 0.1))
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    world.advance(0.1)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    world.advance(10 * WINDOW)
    assert len(world.cold.writes) == 1
    assert len(world.cold.archives) == 1
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    assert world.failures() == []


def test_repeated_cycles_through_the_archive_keep_the_same_bytes(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    assert results is not None
    for _ in range(3):
        world.advance(WINDOW)
        assert world.job(job_id).results_state is ResultsState.ARCHIVED
        assert_in_exactly_one_place(world, job_id, results)
        world.set_plan(ada, Plan.PREMIUM)
        world.run()
        world.advance(DELAYS["Expedited"])
        assert world.job(job_id).results_state is ResultsState.AVAILABLE
        assert_in_exactly_one_place(world, job_id, results)
        world.set_plan(ada, Plan.FREE)
        world.run()
    assert len(world.cold.writes) == 3
    assert world.cold.archives == {}
    assert [p["job_id"] for p in world.queue.published[events.RESULTS_RESTORED]] == [job_id] * 3
    assert world.failures() == []


def test_every_restore_emails_the_owner(world: World) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    for _ in range(2):
        world.advance(WINDOW)
        world.set_plan(ada, Plan.PREMIUM)
        world.run()
        world.advance(DELAYS["Expedited"])
        assert world.job(job_id).results_state is ResultsState.AVAILABLE
        world.set_plan(ada, Plan.FREE)
        world.run()
    assert len(world.queue.published[events.RESULTS_RESTORED]) == 2
    assert len(world.restored_emails(job_id)) == 2


def test_plan_changes_piling_up_before_any_worker_runs_settle_on_the_last_plan(
    world: World,
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    world.advance(WINDOW)
    for plan in (Plan.PREMIUM, Plan.FREE, Plan.PREMIUM, Plan.FREE, Plan.PREMIUM):
        world.set_plan(ada, plan)
    world.run()
    world.advance(DELAYS["Expedited"])
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    world.advance(10 * WINDOW)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert len(world.restored_emails(job_id)) == 1
    assert world.failures() == []


# --- verification -----------------------------------------------------------------------------


def test_a_cold_copy_that_does_not_match_is_dropped_and_the_archive_retried(
    world: World,
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    world.cold.corrupt_archives = 1
    world.advance(WINDOW)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert world.cold.archives == {}  # the bad copy is deleted, the hot one kept
    assert world.hot(job_id) == results
    assert [t for t, _ in world.failures()] == [events.RESULTS_ARCHIVE_DUE]
    assert VerificationFailed.__name__ in world.failures()[0][1]
    world.advance(1)
    assert world.job(job_id).results_state is ResultsState.ARCHIVED
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)


def test_a_retrieved_copy_that_does_not_match_is_dropped_and_the_thaw_retried(
    world: World,
) -> None:
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.cold.corrupt_reads = 1
    world.advance(DELAYS["Expedited"])
    job = world.job(job_id)
    assert job.results_state is ResultsState.RESTORING
    assert job.results_key not in world.store.objects  # the bad hot copy is deleted
    assert job.archive_id in world.cold.archives
    assert [t for t, _ in world.failures()] == [events.RESULTS_RESTORE_READY]
    world.advance(1)
    assert world.job(job_id).results_state is ResultsState.AVAILABLE
    assert results is not None
    assert_in_exactly_one_place(world, job_id, results)
    assert len(world.restored_emails(job_id)) == 1


# --- idempotency ------------------------------------------------------------------------------


def journey(world: World) -> tuple[str, bytes]:
    """Complete, archive, upgrade, restore, downgrade, archive again, upgrade, restore."""
    ada = world.user()
    job_id = world.complete(ada)
    results = world.hot(job_id)
    assert results is not None
    world.advance(WINDOW)
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Expedited"])
    world.set_plan(ada, Plan.FREE)
    world.run()
    world.advance(WINDOW)
    world.cold.refuse_expedited = True
    world.set_plan(ada, Plan.PREMIUM)
    world.run()
    world.advance(DELAYS["Standard"])
    return job_id, results


def test_every_message_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    once, twice = World(tmp_path / "once"), World(tmp_path / "twice", duplicate=True)
    job_once, results_once = journey(once)
    job_twice, results_twice = journey(twice)
    assert results_once == results_twice
    a, b = once.job(job_once), twice.job(job_twice)
    assert (a.results_state, a.archive_id, a.restore_tier, a.restored_at) == (
        b.results_state,
        b.archive_id,
        b.restore_tier,
        b.restored_at,
    )
    assert_in_exactly_one_place(twice, job_twice, results_twice)
    assert len(twice.cold.writes) == len(once.cold.writes) == 2
    assert len(twice.cold.announced) == len(once.cold.announced) == 2
    # one email per restore event (the journey restores twice), however often it is delivered
    assert len(twice.restored_emails(job_twice)) == len(once.restored_emails(job_once)) == 2
    assert [m["Subject"] for m in twice.mailer.sent] == [
        str(m["Subject"]).replace(job_once, job_twice) for m in once.mailer.sent
    ]
    assert sorted(twice.queue.topics()) == sorted(once.queue.topics())
    assert twice.failures() == []


def test_redelivering_every_message_afterwards_is_a_no_op(world: World) -> None:
    job_id, results = journey(world)
    before = (
        dict(world.db.jobs),
        dict(world.store.objects),
        dict(world.cold.archives),
        len(world.mailer.sent),
        list(world.queue.topics()),
    )
    for message in list(world.queue.messages):
        handler = world.handlers[message.queue][message.topic]
        world.current_topic = message.topic
        handler(
            Delivery(
                id=message.id,
                queue=message.queue,
                topic=message.topic,
                payload=dict(message.payload),
                attempt=message.attempts + 1,
                max_attempts=message.max_attempts,
                receipt="redelivery",
            )
        )
        world.current_topic = None
    after = (
        dict(world.db.jobs),
        dict(world.store.objects),
        dict(world.cold.archives),
        len(world.mailer.sent),
        list(world.queue.topics()),
    )
    assert after == before
    assert_in_exactly_one_place(world, job_id, results)


def test_a_restore_ready_for_an_unknown_archive_is_ignored(world: World) -> None:
    world.queue.publish(events.RESULTS_RESTORE_READY, {"archive_id": "nobody/nothing~x"})
    world.run()
    assert world.failures() == []
