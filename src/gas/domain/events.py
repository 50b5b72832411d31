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

TOPICS: Final = (
    JOB_REQUESTED,
    JOB_COMPLETED,
    JOB_FAILED,
    USER_UPGRADED,
    USER_DOWNGRADED,
    RESULTS_RESTORE_READY,
)

# worker kind (= its queue) -> the topics it consumes
SUBSCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "annotator": (JOB_REQUESTED,),
    "notifier": (JOB_COMPLETED, JOB_FAILED),
}


def subscribers(topic: str) -> list[str]:
    """The queues a message published on ``topic`` is delivered to."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    return [queue for queue, topics in SUBSCRIPTIONS.items() if topic in topics]
