"""Topics and who subscribes to them."""

from __future__ import annotations

import pytest

from gas.domain import events


def test_a_job_request_goes_to_the_annotator() -> None:
    assert events.subscribers(events.JOB_REQUESTED) == ["annotator"]


def test_a_completed_job_goes_to_the_notifier_and_the_archiver() -> None:
    assert events.subscribers(events.JOB_COMPLETED) == ["notifier", "archiver"]


def test_a_failed_job_goes_to_the_notifier_only() -> None:
    assert events.subscribers(events.JOB_FAILED) == ["notifier"]


def test_plan_changes_go_to_the_restorer_and_the_archiver() -> None:
    assert events.subscribers(events.USER_UPGRADED) == ["restorer"]
    assert events.subscribers(events.USER_DOWNGRADED) == ["archiver"]


def test_cold_storage_events_reach_their_workers() -> None:
    assert events.subscribers(events.RESULTS_ARCHIVE_DUE) == ["archiver"]
    assert events.subscribers(events.RESULTS_RESTORE_READY) == ["restorer"]
    assert events.subscribers(events.RESULTS_RESTORED) == ["notifier"]


def test_a_deleted_job_goes_to_the_archiver_which_purges_its_files() -> None:
    assert events.subscribers(events.JOB_DELETED) == ["archiver"]


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
        "results.archive_due",
        "results.restored",
        "job.deleted",
        "account.notice",
    }


def test_emails_about_the_account_go_to_the_notifier() -> None:
    assert events.subscribers(events.ACCOUNT_NOTICE) == ["notifier"]
