"""What GAS's AWS resources are and how each is configured: the one list.

Two things build the same resources from this module and nothing else:

- ``gas aws bootstrap`` (``gas.entrypoints.aws_bootstrap``) creates or corrects them with boto3;
- the CloudFormation template ``deploy/aws/gas.yaml``, whose messaging and bucket resources are
  generated from here (``gas.entrypoints.aws_template``, ``deploy/aws/generate.py``; a test fails
  if the committed template differs from what the generator makes).

So a new topic, queue, subscription or queue attribute is added here once. The functions take the
names and ARNs they need as plain strings: bootstrap passes real ARNs, the template generator
passes CloudFormation ``${…}`` placeholders that it turns into ``Fn::Sub``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gas.adapters.sqs_sns import (
    MAX_WAIT_SECONDS,
    dlq_name,
    queue_name,
    redrive_max_receive_count,
    restore_events_queue_name,
    topic_name,
)
from gas.domain import events

SOURCE_RETENTION_SECONDS = 7 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum; longer than the source queues' (AWS)
RESTORE_EVENTS_MAX_RECEIVES = 5
RESTORE_EVENTS_VISIBILITY = 60
NOTIFICATION_ID = "gas-restore-completed"
CORS_RULE_ID = "gas-browser-upload"
RESTORE_COMPLETED = "s3:ObjectRestore:Completed"

PUBLIC_ACCESS_BLOCK: Mapping[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
DEFAULT_ENCRYPTION_RULE: Mapping[str, Any] = {
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
    "BucketKeyEnabled": True,
}


@dataclass(frozen=True)
class Topic:
    event: str  # the GAS topic, e.g. "job.requested"
    name: str  # the SNS topic's name


@dataclass(frozen=True)
class WorkerQueue:
    kind: str  # the worker kind = its queue
    name: str
    dlq: str
    topics: tuple[str, ...]  # the GAS topics it subscribes to


@dataclass(frozen=True)
class Messaging:
    """The SNS topics, the worker queues with their DLQs and subscriptions, and the queue of S3
    restore events, for one name prefix."""

    prefix: str
    topics: tuple[Topic, ...]
    queues: tuple[WorkerQueue, ...]
    restore_events: str
    restore_events_dlq: str


def messaging(prefix: str) -> Messaging:
    return Messaging(
        prefix=prefix,
        topics=tuple(Topic(t, topic_name(prefix, t)) for t in events.TOPICS),
        queues=tuple(
            WorkerQueue(kind, queue_name(prefix, kind), dlq_name(prefix, kind), tuple(topics))
            for kind, topics in events.SUBSCRIPTIONS.items()
        ),
        restore_events=restore_events_queue_name(prefix),
        restore_events_dlq=f"{restore_events_queue_name(prefix)}-dlq",
    )


# --- SQS queue attributes (names as SetQueueAttributes and AWS::SQS::Queue both spell them) ---


def dlq_attributes() -> dict[str, Any]:
    return {"MessageRetentionPeriod": DLQ_RETENTION_SECONDS, "SqsManagedSseEnabled": True}


def redrive_policy(dlq_arn: str, max_receive_count: Any) -> dict[str, Any]:
    return {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}


def worker_queue_attributes(
    lease_seconds: Any, dlq_arn: str, max_attempts: int | None
) -> dict[str, Any]:
    """A worker queue's attributes; ``max_attempts`` None leaves ``maxReceiveCount`` to the
    caller (the template looks it up in a mapping, see :func:`redrive_counts`)."""
    return {
        "VisibilityTimeout": lease_seconds,
        "ReceiveMessageWaitTimeSeconds": MAX_WAIT_SECONDS,
        "MessageRetentionPeriod": SOURCE_RETENTION_SECONDS,
        "SqsManagedSseEnabled": True,
        "RedrivePolicy": redrive_policy(
            dlq_arn,
            redrive_max_receive_count(max_attempts) if max_attempts is not None else None,
        ),
    }


def restore_events_attributes(dlq_arn: str) -> dict[str, Any]:
    return {
        "VisibilityTimeout": RESTORE_EVENTS_VISIBILITY,
        "ReceiveMessageWaitTimeSeconds": MAX_WAIT_SECONDS,
        "MessageRetentionPeriod": SOURCE_RETENTION_SECONDS,
        "SqsManagedSseEnabled": True,
        "RedrivePolicy": redrive_policy(dlq_arn, RESTORE_EVENTS_MAX_RECEIVES),
    }


def redrive_counts(max_attempts: Iterable[int]) -> dict[int, int]:
    """``GAS_QUEUE_MAX_ATTEMPTS`` → the redrive policy's ``maxReceiveCount``."""
    return {n: redrive_max_receive_count(n) for n in max_attempts}


def queue_policy(
    queue_arn: str, service: str, operator: str, sources: Iterable[str]
) -> dict[str, Any]:
    """Only ``service``, on behalf of ``sources``, may send to the queue (the confused-deputy
    protection AWS recommends)."""
    return {
        "Version": "2012-10-17",
        "Id": f"{queue_arn}/gas",
        "Statement": [
            {
                "Sid": "gas-" + service.split(".")[0],
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {operator: {"aws:SourceArn": sorted(sources)}},
            }
        ],
    }


def worker_queue_policy(queue_arn: str, topic_arns: Iterable[str]) -> dict[str, Any]:
    return queue_policy(queue_arn, "sns.amazonaws.com", "ArnEquals", topic_arns)


def restore_events_policy(
    queue_arn: str, partition: str, account: str, cold_bucket: str
) -> dict[str, Any]:
    policy = queue_policy(
        queue_arn, "s3.amazonaws.com", "ArnLike", [f"arn:{partition}:s3:::{cold_bucket}"]
    )
    policy["Statement"][0]["Condition"]["StringEquals"] = {"aws:SourceAccount": account}
    return policy


SUBSCRIPTION_ATTRIBUTES: Mapping[str, str] = {"RawMessageDelivery": "true"}


# --- S3 ------------------------------------------------------------------------------------


def cors_rule(origin: str) -> dict[str, Any]:
    """Lets the browser POST uploads (presigned POST) from the site's origin."""
    return {
        "ID": CORS_RULE_ID,
        "AllowedOrigins": [origin],
        "AllowedMethods": ["GET", "POST"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Location"],
        "MaxAgeSeconds": 3000,
    }


def restore_notification(queue_arn: str, key_prefix: str) -> dict[str, Any]:
    """The cold bucket's ``s3:ObjectRestore:Completed`` notification (keys under the prefix)."""
    ours: dict[str, Any] = {
        "Id": NOTIFICATION_ID,
        "QueueArn": queue_arn,
        "Events": [RESTORE_COMPLETED],
    }
    if key_prefix:
        ours["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": key_prefix + "/"}]}}
    return ours


def api_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The attributes as SetQueueAttributes takes them: every value a string (JSON for
    documents, ``true``/``false`` for flags)."""
    import json

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    return {k: text(v) for k, v in attributes.items()}
