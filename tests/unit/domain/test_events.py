"""Topics and who subscribes to them."""

from __future__ import annotations

import pytest

from gas.domain import events


def test_a_job_request_goes_to_the_annotator() -> None:
    assert events.subscribers(events.JOB_REQUESTED) == ["annotator"]


@pytest.mark.parametrize("topic", [events.JOB_COMPLETED, events.JOB_FAILED])
def test_a_finished_job_goes_to_the_notifier(topic: str) -> None:
    assert events.subscribers(topic) == ["notifier"]


@pytest.mark.parametrize(
    "topic", [events.USER_UPGRADED, events.USER_DOWNGRADED, events.RESULTS_RESTORE_READY]
)
def test_a_known_topic_without_subscribers_fans_out_to_nobody(topic: str) -> None:
    assert events.subscribers(topic) == []


@pytest.mark.parametrize("topic", ["job.exploded", "", "JOB.REQUESTED", "job.requested "])
def test_an_unknown_topic_is_refused(topic: str) -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        events.subscribers(topic)


def test_every_subscription_names_known_topics() -> None:
    for topics in events.SUBSCRIPTIONS.values():
        assert set(topics) <= set(events.TOPICS)


def test_the_topics_are_those_of_the_architecture() -> None:
    assert set(events.TOPICS) == {
        "job.requested",
        "job.completed",
        "job.failed",
        "user.upgraded",
        "user.downgraded",
        "results.restore_ready",
    }
