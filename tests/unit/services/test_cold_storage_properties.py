"""Random interleavings of the Free/Premium lifecycle (hypothesis, stateful).

Rules: submit a job (it completes when the annotator's message is delivered), move the clock
(past the window, so archive timers come due), upgrade, downgrade, complete a pending retrieval,
deliver any ready message in any order, redeliver an already handled one (at-least-once
delivery), and crash a handler around one of its side effects (the message then stays for
redelivery). Messages are handled by the same topic→handler mappings the workers use
(``World.workers[kind].handlers``), over the fakes, with retrievals completed by hand.

Invariants, after every step:

1. *Never zero places.* Every COMPLETED job's results exist, byte for byte, where its state says:
   available ⇒ the hot copy at ``results_key``; archived or restoring ⇒ the cold copy at
   ``archive_id`` (with the recorded size and SHA-256); restoring ⇒ a retrieval of that archive
   has been requested (so the results are restorable, not stranded). The log is always hot.
   (Between a crash and the redelivery that finishes the work, a second, stale copy may
   linger — the hot copy of results just recorded as archived, say — so "exactly one place"
   is checked at rest, below.)
2. *Only Free results are archived.* A job enters "archived" only while its owner is Free. (The
   plan is read when the archive is recorded; an owner who is Premium at that moment keeps the
   hot copy even if the restorer has not handled ``user.upgraded`` yet.)
3. *A processed upgrade sticks.* Once a ``user.upgraded`` has been handled successfully while
   its user is Premium, and until the plan changes again, none of that user's results is
   archived and none of the available ones has an archive timer.

And at the end, once every message has been handled, every retrieval completed and every timer
has fired (*quiescence*): the results of a Premium user are all available and those of a Free
user all archived, each in exactly one place (no hot copy of archived results, no cold copy of
available ones, no orphan archive), with exactly one "restored" email for every restore (and
never two for one restore on the way).

A handler failing with anything but an injected crash fails the run (the world is strict).

``GAS_PROPERTY_EXAMPLES`` (default 100, about 4 s) sets how many runs Hypothesis tries;
``--hypothesis-show-statistics`` shows how often the deep paths (archived, restored, crashes in
the archive and the thaw) were reached.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gas.domain import events
from gas.domain.jobs import JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.ports import Delivery
from tests.fakes import QueuedMessage
from tests.unit.services.test_cold_storage import (
    VCF,
    WINDOW,
    Crash,
    World,
    assert_in_exactly_one_place,
    sha,
)

# Should a run fail, Hypothesis shrinks the example for up to 5 minutes: let it finish and
# report the minimal example rather than be cut short by the suite's 300 s timeout.
pytestmark = pytest.mark.timeout(900)

MAX_JOBS = 4  # few jobs, many things happening to them (and each step stays cheap)
COLD_STORAGE_TOPICS = (
    events.JOB_COMPLETED,
    events.RESULTS_ARCHIVE_DUE,
    events.USER_DOWNGRADED,
    events.USER_UPGRADED,
    events.RESULTS_RESTORE_READY,
)
ARCHIVE_AND_THAW = (events.RESULTS_ARCHIVE_DUE, events.RESULTS_RESTORE_READY)
OPS = (
    "cold.archive",
    "cold.delete",
    "cold.request_retrieval",
    "store.put",
    "store.delete",
    "commit",
)


class ColdStorageLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # the annotator's scratch space: in memory where there is one (much faster to clean)
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self._tmp = tempfile.TemporaryDirectory(prefix="gas-cold-props-", dir=shm)
        self.world = World(Path(self._tmp.name), manual=True)
        self.world.strict = True  # a failure other than an injected crash fails the run
        self.users = [
            self.world.user("ada@example.org"),
            self.world.user("bob@example.org"),
        ]
        self.expected: dict[str, bytes] = {}  # job id -> its results, captured at completion
        self.submitted = 0
        self.states: dict[str, ResultsState | None] = {}
        self.settled_premium: set[str] = set()  # users whose upgrade was handled while Premium

    def teardown(self) -> None:
        self._tmp.cleanup()

    # --- helpers ------------------------------------------------------------------------------
    def ready(self) -> list[QueuedMessage]:
        now = self.world.clock.now()
        return [
            m for m in self.world.queue.messages if m.state == "ready" and m.available_at <= now
        ]

    def handled(self) -> list[QueuedMessage]:
        return [m for m in self.world.queue.messages if m.state == "done"]

    def handle(self, m: QueuedMessage, *, redelivery: bool = False) -> bool:
        """Run ``m``'s handler as its worker would; returns whether it succeeded."""
        handler = self.world.workers[m.queue].handlers[m.topic]
        m.attempts += 1
        delivery = Delivery(
            id=m.id,
            queue=m.queue,
            topic=m.topic,
            payload=dict(m.payload),
            attempt=m.attempts,
            max_attempts=1_000_000,  # the model retries forever; quiescence checks the rest
            receipt=f"r{m.attempts}",
        )
        try:
            handler(delivery)
        except Crash as exc:  # injected: the message is redelivered (anything else is a bug,
            # which the strict world raises as Unexpected, failing the run)
            m.errors.append(f"{type(exc).__name__}: {exc}")
            event(f"crash in {m.topic}")
            if not redelivery:
                m.state = "ready"
            return False
        finally:
            plan = self.world.crash_plan
            if plan is not None and plan.fired:
                self.world.crash_plan = None
        m.state = "done"
        if m.topic == events.USER_UPGRADED:
            user_id = m.payload["user_id"]
            if self.world.plan(user_id) is Plan.PREMIUM:
                self.settled_premium.add(user_id)
        self.observe_completions()
        return True

    def observe_completions(self) -> None:
        for job_id, job in self.world.db.jobs.items():
            if job.status is JobStatus.COMPLETED and job_id not in self.expected:
                assert job.results_key is not None
                self.expected[job_id] = self.world.store.objects[job.results_key]

    def set_plan(self, index: int, plan: Plan) -> None:
        user = self.users[index]
        if self.world.set_plan(user, plan):
            self.settled_premium.discard(user.id)

    # --- rules --------------------------------------------------------------------------------
    @initialize(data=st.data(), plans=st.lists(st.sampled_from(Plan), min_size=2, max_size=2))
    def start(self, data: st.DataObject, plans: list[Plan]) -> None:
        """Each user starts on a random plan with one job submitted (and maybe delivered)."""
        for index, plan in enumerate(plans):
            self.set_plan(index, plan)
            self.submit(index)
        if data.draw(st.booleans(), label="deliver at once"):
            self.deliver_everything(data)

    @precondition(lambda self: self.submitted < MAX_JOBS)
    @rule(owner=st.integers(0, 1))
    def submit(self, owner: int) -> None:
        self.submitted += 1
        content = VCF + f"1\t{self.submitted}\t.\tA\tC\t50\tPASS\t.\n".encode()
        self.world.submit(self.users[owner], content, name=f"sample{self.submitted}.vcf")

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, WINDOW, 2 * WINDOW]))
    def advance(self, seconds: float) -> None:
        self.world.clock.advance(seconds)

    @rule()
    def deliver_due_timers(self) -> None:
        for m in self.ready():
            if m.topic == events.RESULTS_ARCHIVE_DUE:
                self.handle(m)

    @rule(owner=st.integers(0, 1), plan=st.sampled_from(Plan))
    def upgrade_or_downgrade(self, owner: int, plan: Plan) -> None:
        self.set_plan(owner, plan)

    @precondition(lambda self: bool(self.world.cold.pending()))
    @rule(data=st.data())
    def complete_retrieval(self, data: st.DataObject) -> None:
        self.world.cold.complete(data.draw(st.sampled_from(self.world.cold.pending())))

    @precondition(lambda self: bool(self.ready()))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self.handle(data.draw(st.sampled_from(self.ready()), label="message"))

    @rule(data=st.data())
    def deliver_everything(self, data: st.DataObject) -> None:
        """Deliver ready messages, in random order, until none is ready (what the workers do
        when left alone for a moment), checking the invariants after each."""
        for _ in range(100):
            ready = self.ready()
            if not ready:
                return
            self.handle(data.draw(st.sampled_from(ready), label="message"))
            self.verify_invariants()

    @precondition(lambda self: bool(self.handled()))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        self.handle(data.draw(st.sampled_from(self.handled()), label="message"), redelivery=True)

    @rule(data=st.data())
    def let_time_pass(self, data: st.DataObject) -> None:
        """A while later: past every window, every retrieval complete, every message handled."""
        self.world.clock.advance(WINDOW + 1)
        for archive_id in self.world.cold.pending():
            self.world.cold.complete(archive_id)
        self.deliver_everything(data)

    @rule(
        topic=st.sampled_from(COLD_STORAGE_TOPICS + ARCHIVE_AND_THAW),  # those two more often
        op=st.none() | st.sampled_from(OPS),
        nth=st.integers(1, 3),
        when=st.sampled_from(["before", "after"]),
    )
    def arm_a_crash(self, topic: str, op: str | None, nth: int, when: str) -> None:
        """The next handler of ``topic`` to make its ``nth`` side effect ``op`` (any, if None)
        dies right before or after it; its message stays for redelivery."""
        self.world.crash(topic, op, nth=nth, when=when)

    # --- invariants ---------------------------------------------------------------------------
    def verify_invariants(self) -> None:
        self.results_are_never_in_zero_places()
        self.only_free_results_are_archived()
        self.a_processed_upgrade_sticks()

    @invariant()
    def results_are_never_in_zero_places(self) -> None:
        self.observe_completions()
        w = self.world
        for job_id, expected in self.expected.items():
            job = w.job(job_id)
            assert job.status is JobStatus.COMPLETED
            assert job.log_key in w.store.objects
            if job.results_state is ResultsState.AVAILABLE:
                assert job.results_key is not None
                assert w.store.objects.get(job.results_key) == expected, job
            else:
                assert job.archive_id is not None, job
                assert w.cold.archives.get(job.archive_id) == expected, job
                assert (job.archive_size, job.archive_sha256) == (len(expected), sha(expected))
            if job.results_state is ResultsState.RESTORING:
                assert job.archive_id in w.cold.retrievals, job

    @invariant()
    def only_free_results_are_archived(self) -> None:
        w = self.world
        for job_id, job in w.db.jobs.items():
            before = self.states.get(job_id)
            if job.results_state is ResultsState.ARCHIVED and before is not ResultsState.ARCHIVED:
                assert w.plan(job.user_id) is Plan.FREE, job
                event("a result was archived")
            if job.results_state is ResultsState.RESTORING and before is not job.results_state:
                event("a result was being restored")
            if before in (ResultsState.ARCHIVED, ResultsState.RESTORING) and (
                job.results_state is ResultsState.AVAILABLE
            ):
                event("a result was restored")
            self.states[job_id] = job.results_state

    @invariant()
    def a_processed_upgrade_sticks(self) -> None:
        w = self.world
        for user_id in self.settled_premium:
            assert w.plan(user_id) is Plan.PREMIUM
            for job in w.db.jobs.values():
                if job.user_id != user_id:
                    continue
                assert job.results_state is not ResultsState.ARCHIVED, job
                if job.results_state is ResultsState.AVAILABLE:
                    assert job.archive_after is None, job

    @invariant()
    def no_restore_is_emailed_twice(self) -> None:
        w = self.world
        for job_id in self.expected:
            restores = {
                p["restored_at"]
                for p in w.queue.published[events.RESULTS_RESTORED]
                if p["job_id"] == job_id
            }
            assert len(w.restored_emails(job_id)) <= len(restores), (job_id, restores)

    # --- the end ------------------------------------------------------------------------------
    def quiesce(self) -> None:
        w = self.world
        for _ in range(200):
            for archive_id in w.cold.pending():
                w.cold.complete(archive_id)
            ready = self.ready()
            if ready:
                for m in ready:
                    self.handle(m)
                    self.verify_invariants()
                continue
            waiting = [m for m in w.queue.messages if m.state == "ready"]
            if not waiting and not w.cold.pending():
                return
            w.clock.set(max(m.available_at for m in waiting) if waiting else w.clock.now())
        raise AssertionError("the world never came to rest: " + repr(w.failures()[-5:]))

    def check_rest(self) -> None:
        self.quiesce()
        w = self.world
        assert all(j.status is JobStatus.COMPLETED for j in w.db.jobs.values())
        for job_id, expected in self.expected.items():
            job = w.job(job_id)
            want = (
                ResultsState.AVAILABLE
                if w.plan(job.user_id) is Plan.PREMIUM
                else ResultsState.ARCHIVED
            )
            assert job.results_state is want, job
            assert_in_exactly_one_place(w, job_id, expected)
            # Exactly one email per restore (a restore announced again by a redelivered thaw
            # is the same restore: the same restored_at).
            restores = {
                p["restored_at"]
                for p in w.queue.published[events.RESULTS_RESTORED]
                if p["job_id"] == job_id
            }
            assert len(w.restored_emails(job_id)) == len(restores), (job_id, restores)
        recorded = {j.archive_id for j in w.db.jobs.values() if j.archive_id is not None}
        assert set(w.cold.archives) == recorded, "orphan archives in the cold store"


class ColdStorageLifecycleToRest(ColdStorageLifecycle):
    """The same machine, brought to quiescence at the end of every run."""

    def teardown(self) -> None:
        try:
            self.check_rest()
        finally:
            super().teardown()


ColdStorageLifecycleToRest.TestCase.settings = settings(
    # ~5 s by default; GAS_PROPERTY_EXAMPLES=2000 for a long hunt
    max_examples=int(os.environ.get("GAS_PROPERTY_EXAMPLES", "100")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_random_interleavings_keep_every_result_in_one_place = ColdStorageLifecycleToRest.TestCase
