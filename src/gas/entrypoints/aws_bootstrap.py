"""``gas aws bootstrap``: create what the ``aws`` configuration needs, idempotently.

Reads the same settings as the app (``Settings.from_env()``) and, for each backend that names
AWS, makes sure that it exists and is configured as GAS expects:

- ``GAS_QUEUE_URL=sqs://PREFIX``: one SNS topic per GAS topic; one SQS queue per worker kind
  with its dead-letter queue (redrive after ``GAS_QUEUE_MAX_ATTEMPTS + 1`` receives, see
  ``gas.adapters.sqs_sns``), long polling, the lease as visibility timeout, SSE, and a queue
  policy that lets only GAS's topics send; the subscriptions, with raw message delivery.
- ``GAS_STORAGE_URL=s3://BUCKET/PREFIX``: the bucket, with default encryption (SSE-S3), all
  public access blocked, and a CORS rule that lets the browser POST uploads from
  ``GAS_BASE_URL``'s origin (presigned POST).
- ``GAS_COLDSTORE_URL=s3-glacier://BUCKET/PREFIX``: the bucket (encrypted, private) and an event
  notification ``s3:ObjectRestore:Completed`` (keys under PREFIX) to the SQS queue
  ``{prefix}-restore-events`` (with its DLQ, and a policy letting only that bucket send).

Anything that exists already is checked and, where it differs, corrected; nothing is deleted.
Running it again changes nothing and reports everything as found.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from gas.adapters import aws, aws_layout
from gas.adapters.aws_layout import (
    CORS_RULE_ID,
    DLQ_RETENTION_SECONDS,
    NOTIFICATION_ID,
    RESTORE_COMPLETED,
    RESTORE_EVENTS_MAX_RECEIVES,
    RESTORE_EVENTS_VISIBILITY,
    SOURCE_RETENTION_SECONDS,
)
from gas.adapters.sqs_sns import parse_queue_url
from gas.config import Settings

__all__ = [
    "CORS_RULE_ID",
    "DLQ_RETENTION_SECONDS",
    "NOTIFICATION_ID",
    "RESTORE_COMPLETED",
    "RESTORE_EVENTS_MAX_RECEIVES",
    "RESTORE_EVENTS_VISIBILITY",
    "SOURCE_RETENTION_SECONDS",
    "Bootstrap",
    "Plan",
    "Step",
    "run",
]

CREATED, UPDATED, FOUND = "created", "updated", "found"


@dataclass(frozen=True)
class Step:
    status: str  # created, updated or found
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        line = f"{self.status:<8} {self.kind:<22} {self.name}"
        return f"{line}  ({self.detail})" if self.detail else line


@dataclass
class Plan:
    """What the settings ask for (``None``: that backend is not on AWS)."""

    queue_prefix: str | None
    storage: tuple[str, str] | None  # (bucket, prefix)
    cold: tuple[str, str] | None
    base_url: str
    max_attempts: int
    lease_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Plan:
        prefix = (
            parse_queue_url(settings.queue_url) if settings.queue_url.startswith("sqs:") else None
        )
        storage = cold = None
        if urlsplit(settings.storage_url).scheme == "s3":
            bucket, key_prefix, _ = aws.parse_bucket_url(
                settings.storage_url, schemes=("s3",), variable="GAS_STORAGE_URL"
            )
            storage = (bucket, key_prefix)
        if urlsplit(settings.coldstore_url).scheme == "s3-glacier":
            bucket, key_prefix, _ = aws.parse_bucket_url(
                settings.coldstore_url, schemes=("s3-glacier",), variable="GAS_COLDSTORE_URL"
            )
            cold = (bucket, key_prefix)
        return cls(
            queue_prefix=prefix,
            storage=storage,
            cold=cold,
            base_url=settings.base_url,
            max_attempts=settings.queue_max_attempts,
            lease_seconds=max(1, min(43_200, round(settings.queue_lease_seconds))),
        )


def _canon(value: Any) -> Any:
    """A comparable form of a JSON document as AWS may return it: one-element lists are their
    element, lists are unordered, numbers and strings alike, names case-insensitive keys."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return _canon(parsed) if isinstance(parsed, dict | list) else value
    if isinstance(value, dict):
        return {str(k).lower(): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_canon(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _same(a: Any, b: Any) -> bool:
    return _canon(a) == _canon(b)


def _code(exc: ClientError) -> str:
    return aws.error_code(exc)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Bootstrap:
    """Creates and checks the AWS resources of ``plan`` with the given boto3 clients."""

    plan: Plan
    sns: Any = None
    sqs: Any = None
    s3: Any = None
    region: str = "us-east-1"
    echo: Callable[[str], None] = print
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings, *, echo: Callable[[str], None] = print) -> Bootstrap:
        plan = Plan.from_settings(settings)
        needs_sqs = plan.queue_prefix is not None or plan.cold is not None
        return cls(
            plan=plan,
            sns=aws.client("sns", settings) if plan.queue_prefix is not None else None,
            sqs=aws.client("sqs", settings) if needs_sqs else None,
            s3=aws.client("s3", settings) if plan.storage or plan.cold else None,
            region=settings.aws_region,
            echo=echo,
        )

    def _step(self, status: str, kind: str, name: str, detail: str = "") -> None:
        step = Step(status, kind, name, detail)
        self.steps.append(step)
        self.echo(str(step))

    # --- the whole --------------------------------------------------------------------------
    def run(self) -> list[Step]:
        plan = self.plan
        if plan.queue_prefix is None and plan.storage is None and plan.cold is None:
            self.echo(
                "nothing to do: none of GAS_QUEUE_URL (sqs://), GAS_STORAGE_URL (s3://) and "
                "GAS_COLDSTORE_URL (s3-glacier://) names AWS"
            )
            return self.steps
        if plan.queue_prefix is not None:
            self.ensure_messaging(plan.queue_prefix)
        if plan.storage is not None:
            self.ensure_bucket(plan.storage[0], cors_origin=_origin(plan.base_url))
        if plan.cold is not None:
            bucket, key_prefix = plan.cold
            if plan.storage is None or plan.storage[0] != bucket:
                self.ensure_bucket(bucket)
            queue_arn = self.ensure_restore_events_queue(plan.queue_prefix or "gas", bucket)
            self.ensure_restore_notification(bucket, key_prefix, queue_arn)
        counts = {
            s: sum(1 for step in self.steps if step.status == s) for s in (CREATED, UPDATED, FOUND)
        }
        self.echo(
            f"done: {counts[CREATED]} created, {counts[UPDATED]} updated, {counts[FOUND]} "
            "already as they should be"
        )
        return self.steps

    # --- SNS and SQS ------------------------------------------------------------------------
    def ensure_messaging(self, prefix: str) -> None:
        layout = aws_layout.messaging(prefix)
        topic_arns = self.ensure_topics(layout)
        for queue in layout.queues:
            dlq_arn = self.ensure_queue(
                queue.dlq, lambda arn: aws_layout.api_attributes(aws_layout.dlq_attributes())
            )
            senders = [topic_arns[t] for t in queue.topics]
            queue_arn = self.ensure_queue(
                queue.name,
                lambda arn, senders=senders, dlq_arn=dlq_arn: aws_layout.api_attributes(
                    {
                        **aws_layout.worker_queue_attributes(
                            self.plan.lease_seconds, dlq_arn, self.plan.max_attempts
                        ),
                        "Policy": aws_layout.worker_queue_policy(arn, senders),
                    }
                ),
            )
            for topic in queue.topics:
                self.ensure_subscription(topic_arns[topic], queue_arn)

    def ensure_topics(self, layout: aws_layout.Messaging) -> dict[str, str]:
        existing: dict[str, str] = {}
        for page in self.sns.get_paginator("list_topics").paginate():
            for entry in page.get("Topics", []):
                existing[entry["TopicArn"].rsplit(":", 1)[-1]] = entry["TopicArn"]
        arns = {}
        for topic in layout.topics:
            if topic.name in existing:
                arns[topic.event] = existing[topic.name]
                self._step(FOUND, "SNS topic", topic.name)
            else:
                arns[topic.event] = self.sns.create_topic(Name=topic.name)["TopicArn"]
                self._step(CREATED, "SNS topic", topic.name)
        return arns

    def ensure_queue(self, name: str, attributes: Callable[[str], dict[str, str]]) -> str:
        """Create the queue ``name`` or correct its attributes; returns its ARN.
        ``attributes(arn)`` are the wanted ones (a policy names the queue's own ARN)."""
        created = False
        try:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if _code(exc) not in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
                raise
            url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
            created = True
        current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arn = current["QueueArn"]
        wanted = attributes(arn)
        changes = {k: v for k, v in wanted.items() if not _same(current.get(k), v)}
        if changes:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=changes)
        if created:
            self._step(CREATED, "SQS queue", name)
        elif changes:
            self._step(UPDATED, "SQS queue", name, "set " + ", ".join(sorted(changes)))
        else:
            self._step(FOUND, "SQS queue", name)
        return arn

    def ensure_subscription(self, topic_arn: str, queue_arn: str) -> None:
        label = f"{topic_arn.rsplit(':', 1)[-1]} -> {queue_arn.rsplit(':', 1)[-1]}"
        for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=topic_arn
        ):
            for sub in page.get("Subscriptions", []):
                if sub.get("Protocol") != "sqs" or sub.get("Endpoint") != queue_arn:
                    continue
                arn = sub["SubscriptionArn"]
                attributes = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                if str(attributes.get("RawMessageDelivery", "false")).lower() == "true":
                    self._step(FOUND, "SNS subscription", label)
                else:
                    self.sns.set_subscription_attributes(
                        SubscriptionArn=arn,
                        AttributeName="RawMessageDelivery",
                        AttributeValue="true",
                    )
                    self._step(UPDATED, "SNS subscription", label, "raw message delivery")
                return
        self.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=dict(aws_layout.SUBSCRIPTION_ATTRIBUTES),
            ReturnSubscriptionArn=True,
        )
        self._step(CREATED, "SNS subscription", label)

    def ensure_restore_events_queue(self, prefix: str, cold_bucket: str) -> str:
        layout = aws_layout.messaging(prefix)
        dlq_arn = self.ensure_queue(
            layout.restore_events_dlq,
            lambda arn: aws_layout.api_attributes(aws_layout.dlq_attributes()),
        )

        def wanted(arn: str) -> dict[str, str]:
            partition, account = arn.split(":")[1], arn.split(":")[4]
            return aws_layout.api_attributes(
                {
                    **aws_layout.restore_events_attributes(dlq_arn),
                    "Policy": aws_layout.restore_events_policy(
                        arn, partition, account, cold_bucket
                    ),
                }
            )

        return self.ensure_queue(layout.restore_events, wanted)

    # --- S3 ---------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str, *, cors_origin: str | None = None) -> None:
        try:
            self.s3.head_bucket(Bucket=bucket)
            self._step(FOUND, "S3 bucket", bucket)
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise RuntimeError(
                    f"bucket {bucket!r} exists but this account cannot use it ({_code(exc)})"
                ) from exc
            options: dict[str, Any] = {"Bucket": bucket}
            if self.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self.s3.create_bucket(**options)
            self._step(CREATED, "S3 bucket", bucket)
        self._ensure_encryption(bucket)
        self._ensure_public_access_block(bucket)
        if cors_origin is not None:
            self._ensure_cors(bucket, cors_origin)

    def _ensure_encryption(self, bucket: str) -> None:
        try:
            rules = self.s3.get_bucket_encryption(Bucket=bucket)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
        except ClientError as exc:
            if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            rules = []
        algorithms = {
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
        }
        if algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            self._step(
                FOUND, "S3 default encryption", bucket, "/".join(sorted(algorithms - {None}))
            )
            return
        self.s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [dict(aws_layout.DEFAULT_ENCRYPTION_RULE)]},
        )
        self._step(CREATED, "S3 default encryption", bucket, "AES256")

    def _ensure_public_access_block(self, bucket: str) -> None:
        wanted = dict(aws_layout.PUBLIC_ACCESS_BLOCK)
        try:
            current = self.s3.get_public_access_block(Bucket=bucket)[
                "PublicAccessBlockConfiguration"
            ]
        except ClientError as exc:
            if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = None
        if current is not None and all(current.get(k) is True for k in wanted):
            self._step(FOUND, "S3 public access block", bucket)
            return
        self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=wanted)
        self._step(CREATED if current is None else UPDATED, "S3 public access block", bucket)

    def _ensure_cors(self, bucket: str, origin: str) -> None:
        rule = aws_layout.cors_rule(origin)
        try:
            rules = self.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except ClientError as exc:
            if _code(exc) != "NoSuchCORSConfiguration":
                raise
            rules = []
        ours = [r for r in rules if r.get("ID") == CORS_RULE_ID]
        if len(ours) == 1 and _same(ours[0], rule):
            self._step(FOUND, "S3 CORS rule", bucket, origin)
            return
        others = [r for r in rules if r.get("ID") != CORS_RULE_ID]
        self.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*others, rule]})
        self._step(UPDATED if ours else CREATED, "S3 CORS rule", bucket, origin)

    def ensure_restore_notification(self, bucket: str, key_prefix: str, queue_arn: str) -> None:
        current = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        current.pop("ResponseMetadata", None)
        ours = aws_layout.restore_notification(queue_arn, key_prefix)
        queues = current.get("QueueConfigurations", [])
        existing = [q for q in queues if q.get("Id") == NOTIFICATION_ID]
        label = f"{bucket} -> {queue_arn.rsplit(':', 1)[-1]}"
        if len(existing) == 1 and _same(_notification_view(existing[0]), _notification_view(ours)):
            self._step(FOUND, "S3 event notification", label, RESTORE_COMPLETED)
            return
        configuration = {k: v for k, v in current.items() if v}
        configuration["QueueConfigurations"] = [
            *(q for q in queues if q.get("Id") != NOTIFICATION_ID),
            ours,
        ]
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=configuration
        )
        self._step(
            UPDATED if existing else CREATED, "S3 event notification", label, RESTORE_COMPLETED
        )


def _notification_view(configuration: dict[str, Any]) -> dict[str, Any]:
    """The parts of a queue notification GAS sets (S3 returns prefix rules as ``Prefix``)."""
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return {
        "QueueArn": configuration.get("QueueArn"),
        "Events": sorted(configuration.get("Events", [])),
        "Rules": sorted((r["Name"].lower(), r["Value"]) for r in rules),
    }


def run(settings: Settings | None = None, *, echo: Callable[[str], None] = print) -> list[Step]:
    """``gas aws bootstrap``: returns the steps (also printed, one a line, through ``echo``)."""
    return Bootstrap.from_settings(settings or Settings.from_env(), echo=echo).run()
