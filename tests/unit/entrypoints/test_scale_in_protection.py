"""The annotator worker protects its instance from scale-in while it runs a job, and only then
(gas.entrypoints.workers.Worker with a ScaleInProtection; the EC2 adapter is tested on moto in
tests/aws/test_autoscaling.py)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from gas.config import Settings
from gas.domain import events
from gas.entrypoints import workers
from gas.entrypoints.workers import Interrupted, Worker
from gas.ports import Delivery
from tests.fakes import FakeQueue, FakeScaleInProtection


def annotator(queue: FakeQueue, handler: Any, protection: FakeScaleInProtection) -> Worker:
    return Worker(
        kind="annotator",
        queue=cast(Any, queue),
        handlers={events.JOB_REQUESTED: handler},
        heartbeat_seconds=60.0,
        scale_in_protection=protection,
    )


def test_protected_while_the_job_runs_and_released_after() -> None:
    queue, protection = FakeQueue(), FakeScaleInProtection()
    seen: list[bool] = []
    worker = annotator(queue, lambda d: seen.append(protection.protected), protection)
    queue.publish(events.JOB_REQUESTED, {"job_id": "j1"})
    queue.publish(events.JOB_REQUESTED, {"job_id": "j2"})

    assert worker.run_once() and worker.run_once()

    assert seen == [True, True]
    assert protection.calls == [True, False, True, False]
    assert protection.protected is False


def test_released_when_the_job_fails() -> None:
    queue, protection = FakeQueue(), FakeScaleInProtection()

    def fails(delivery: Delivery) -> None:
        raise RuntimeError("the engine broke")

    worker = annotator(queue, fails, protection)
    queue.publish(events.JOB_REQUESTED, {"job_id": "j1"})
    assert worker.run_once()
    assert protection.calls == [True, False]


def test_released_when_interrupted_the_message_going_back() -> None:
    queue, protection = FakeQueue(), FakeScaleInProtection()

    def interrupted(delivery: Delivery) -> None:
        raise Interrupted()

    worker = annotator(queue, interrupted, protection)
    queue.publish(events.JOB_REQUESTED, {"job_id": "j1"})
    with pytest.raises(Interrupted):
        worker.run_once()
    assert protection.calls == [True, False]
    assert [m.state for m in queue.messages] == ["ready"]


def test_an_idle_worker_never_asks() -> None:
    queue, protection = FakeQueue(), FakeScaleInProtection()
    worker = annotator(queue, lambda d: None, protection)
    assert worker.run_once() is False
    assert protection.calls == []


def test_only_annotators_get_it_and_only_when_the_setting_is_on(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Settings] = []

    def fake_factory(settings: Settings) -> FakeScaleInProtection:
        made.append(settings)
        return FakeScaleInProtection()

    import gas.adapters.autoscaling as autoscaling

    monkeypatch.setattr(autoscaling, "scale_in_protection", fake_factory)
    on = Settings.from_env({"GAS_DATA_DIR": str(tmp_path), "GAS_AWS_SCALE_IN_PROTECTION": "true"})
    off = Settings.from_env({"GAS_DATA_DIR": str(tmp_path)})
    assert on.aws_scale_in_protection is True and off.aws_scale_in_protection is False

    class Container:
        def __init__(self, settings: Settings) -> None:
            self.settings = settings

    assert isinstance(workers._scale_in_protection(cast(Any, Container(on))), FakeScaleInProtection)
    assert workers._scale_in_protection(cast(Any, Container(off))) is None
    assert made == [on]
