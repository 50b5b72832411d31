"""Events (topics) and which worker queues subscribe to each.

A topic fans out to every subscriber's queue, as an SNS topic does to SQS queues.
"""

from __future__ import annotations

from typing import Final

JOB_REQUESTED: Final = "job.requested"
JOB_COMPLETED: Final = "job.completed"
JOB_FAILED: Final = "job.failed"
USER_UPGRADED: Final = "user.upgraded"
USER_DOWNGRADED: Final = "user.downgraded"
RESULTS_RESTORE_READY: Final = "results.restore_ready"
RESULTS_ARCHIVE_DUE: Final = "results.archive_due"  # the durable timer of the Free window
RESULTS_RESTORED: Final = "results.restored"
# a job was deleted: its files are purged (again, after in-flight handlers are done with them)
JOB_DELETED: Final = "job.deleted"
# an email about the account itself (welcome, a sign-up with a taken address, a password
# change …): {"user_id", "kind", "id"}
ACCOUNT_NOTICE: Final = "account.notice"

TOPICS: Final = (
    JOB_REQUESTED,
    JOB_COMPLETED,
    JOB_FAILED,
    USER_UPGRADED,
    USER_DOWNGRADED,
    RESULTS_RESTORE_READY,
    RESULTS_ARCHIVE_DUE,
    RESULTS_RESTORED,
    JOB_DELETED,
    ACCOUNT_NOTICE,
)

# worker kind (= its queue) -> the topics it consumes
SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "annotator": (JOB_REQUESTED,),
    "notifier": (JOB_COMPLETED, JOB_FAILED, RESULTS_RESTORED, ACCOUNT_NOTICE),
    # archives Free users' results when their window ends
    # (and purges deleted jobs' files: it holds both the object store and the cold store)
    "archiver": (JOB_COMPLETED, RESULTS_ARCHIVE_DUE, USER_DOWNGRADED, JOB_DELETED),
    # brings them back when their owner upgrades ("restore", then "thaw")
    "restorer": (USER_UPGRADED, RESULTS_RESTORE_READY),
}


def subscribers(topic: str) -> list[str]:
    """The queues a message published on ``topic`` is delivered to."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    return [queue for queue, topics in SUBSCRIPTIONS.items() if topic in topics]
