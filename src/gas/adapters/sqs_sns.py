"""The message queue on AWS: SNS topics fanning out to SQS queues (``GAS_QUEUE_URL=sqs://PREFIX``).

Names (dots are not allowed in SNS/SQS names, so they become dashes):

- one SNS topic per GAS topic: ``{prefix}-job-requested``, ``{prefix}-results-restore-ready`` …
- one SQS queue per subscriber (worker kind): ``{prefix}-annotator`` …, each with a dead-letter
  queue ``{prefix}-annotator-dlq``; the SNS subscriptions use raw message delivery, so an SQS
  message body is exactly what was published: ``{"topic": ..., "payload": {...}}`` (the topic is
  also a message attribute).
- ``{prefix}-restore-events``: S3 ``s3:ObjectRestore:Completed`` notifications of the cold
  bucket, turned into ``results.restore_ready`` by :class:`RestoreEventsBridge`.

``gas aws bootstrap`` (``gas.entrypoints.aws_bootstrap``) creates all of them; this module only
uses them, so the app's IAM roles need no create permissions.

Publishing from a unit of work does not come here: the SQL unit of work writes the event in the
same transaction as the rows it concerns, into the SQL ``relay`` queue, and the outbox relay
(``gas.adapters.outbox_relay``) publishes it to SNS when it is due. That keeps the transactional
outbox, and delays of any length (SQS caps delays at 15 minutes) are rows, not timers.

Consuming (:class:`SnsSqsQueue`, the ``MessageQueue`` port):

- ``claim`` long-polls ``ReceiveMessage`` (one message, visibility timeout = the lease);
  attempt = ``ApproximateReceiveCount``; the receipt is the ``ReceiptHandle``.
- ``heartbeat`` = ``ChangeMessageVisibility(lease)``; ``ack`` = ``DeleteMessage`` (the worker
  calls it only after its handler succeeded); ``fail`` = ``ChangeMessageVisibility(backoff)``
  so the retry waits (exponential, capped, jittered) — on the last attempt the message is moved
  to the dead-letter queue at once, with the error as a message attribute.
- ``release`` gives the message back at once *without counting an attempt*: SQS cannot lower a
  receive count, so the message is sent again (same id, same body, its attempts so far in an
  attribute) and the leased copy deleted.
- Leases are also tracked locally. SQS accepts an old receipt handle long after its visibility
  timeout passed (moto accepts any receipt the message ever had), so a consumer whose lease has
  expired could otherwise delete a message that another consumer is now working on. ``ack``,
  ``heartbeat``, ``fail`` and ``release`` therefore do nothing (and return False) once the lease
  this process was given has expired by its own monotonic clock, with a safety margin.
- Dead letters: the queues' redrive policy has ``maxReceiveCount = max_attempts + 1``. A
  message whose consumers kept dying is received once more (attempt ``max_attempts + 1``): it is
  moved to the DLQ and handed out as an ``exhausted`` delivery without a lease, so the worker can
  record the failure (exactly as the SQL queue does). If that consumer dies too, SQS's redrive
  moves the message on the next receive. Operators see the DLQs in ``stats()`` (``dead`` = the
  DLQ's depth), list them with ``dead_letters()`` and send them back with ``retry_dead(id)``; the
  AWS console's "Start DLQ redrive" works as well.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from gas.domain import events
from gas.ports import Delivery

log = logging.getLogger(__name__)

SCHEME = "sqs"
DEFAULT_PREFIX = "gas"
MAX_WAIT_SECONDS = 20  # SQS's longest long poll
MAX_VISIBILITY_SECONDS = 43_200  # 12 hours
RESTORE_EVENTS = "restore-events"

# message attributes
ATTR_TOPIC = "topic"
ATTR_ID = "gas-id"  # a message's id across the copies release/dead-lettering make
ATTR_PRIOR_ATTEMPTS = "gas-prior-attempts"  # attempts made before a release re-sent it
ATTR_ERROR = "gas-error"  # in a DLQ: why it is there
ATTR_SOURCE = "gas-source-queue"  # in a DLQ: the worker queue it came from
ATTR_ATTEMPTS = "gas-attempts"  # in a DLQ: attempts made

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class QueueNotFound(RuntimeError):
    """An SNS topic or SQS queue GAS needs does not exist: run ``gas aws bootstrap``."""


# --- names -----------------------------------------------------------------------------------


def parse_queue_url(url: str) -> str:
    """The name prefix of ``sqs://PREFIX`` (``gas`` when empty)."""
    parsed = urlparse(url)
    if parsed.scheme != SCHEME:
        raise ValueError(f"GAS_QUEUE_URL={url!r}: expected sqs://[NAME_PREFIX]")
    prefix = (parsed.netloc + parsed.path).strip("/") or DEFAULT_PREFIX
    if not _NAME.match(prefix):
        raise ValueError(
            f"GAS_QUEUE_URL={url!r}: the prefix may have up to 40 letters, digits, '-' or '_'"
        )
    return prefix


def _slug(name: str) -> str:
    return name.replace(".", "-").replace("_", "-")


def topic_name(prefix: str, topic: str) -> str:
    """``job.requested`` → ``{prefix}-job-requested``."""
    return f"{prefix}-{_slug(topic)}"


def queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}"


def dlq_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}-dlq"


def restore_events_queue_name(prefix: str) -> str:
    return queue_name(prefix, RESTORE_EVENTS)


def redrive_max_receive_count(max_attempts: int) -> int:
    """One receive more than the attempts: the extra one is the ``exhausted`` notice."""
    return max_attempts + 1


# --- message bodies --------------------------------------------------------------------------


def envelope(topic: str, payload: dict[str, Any]) -> str:
    return json.dumps({"topic": topic, "payload": payload}, separators=(",", ":"), sort_keys=True)


def _string_attr(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _number_attr(value: int) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": str(value)}


def _attr(message: dict[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name)
    return None if value is None else value.get("StringValue")


def parse_body(body: str, attributes: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(topic, payload) of a message body: GAS's envelope, raw or wrapped by SNS (a subscription
    without raw delivery). ValueError if it is neither."""
    data = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        wrapped = {
            k: {"StringValue": v.get("Value")}
            for k, v in (data.get("MessageAttributes") or {}).items()
        }
        return parse_body(data["Message"], wrapped)
    if not isinstance(data, dict):
        raise ValueError("message body is not a JSON object")
    topic = data.get("topic") or ((attributes or {}).get(ATTR_TOPIC) or {}).get("StringValue")
    payload = data.get("payload", {})
    if not isinstance(topic, str) or not isinstance(payload, dict):
        raise ValueError("message body has no topic or no payload object")
    return topic, payload


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_missing(exc: ClientError) -> bool:
    code = _error_code(exc)
    return code in {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "NotFoundException",
    }


# --- publishing ------------------------------------------------------------------------------


class SnsPublisher:
    """Publishes GAS events to their SNS topics, now (no delay: the outbox relay keeps those)."""

    def __init__(self, prefix: str, *, sns: Any) -> None:
        self.prefix = prefix
        self._sns = sns
        self._arns: dict[str, str] = {}
        self._lock = threading.Lock()

    def topic_arn(self, topic: str) -> str:
        """The ARN of ``topic``'s SNS topic, looked up once (needs only ``sns:ListTopics``)."""
        if topic not in events.TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        arn = self._arns.get(topic)
        if arn is not None:
            return arn
        with self._lock:
            wanted = {topic_name(self.prefix, t): t for t in events.TOPICS}
            for page in self._sns.get_paginator("list_topics").paginate():
                for entry in page.get("Topics", []):
                    name = entry["TopicArn"].rsplit(":", 1)[-1]
                    if name in wanted:
                        self._arns[wanted[name]] = entry["TopicArn"]
        if topic not in self._arns:
            raise QueueNotFound(
                f"SNS topic {topic_name(self.prefix, topic)!r} does not exist: "
                "run `gas aws bootstrap`"
            )
        return self._arns[topic]

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        if delay > 0:
            raise ValueError(
                "SNS cannot delay a message: publish delayed events through the outbox relay"
            )
        self._sns.publish(
            TopicArn=self.topic_arn(topic),
            Message=envelope(topic, payload),
            MessageAttributes={ATTR_TOPIC: _string_attr(topic)},
        )


class Outbox(Protocol):
    """The SQL relay queue (``gas.adapters.outbox_relay.relay_outbox``), as far as used here."""

    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None: ...
    def stats(self) -> dict[str, dict[str, int]]: ...
    def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...
    def retry_dead(self, message_id: int) -> bool: ...
    def close(self) -> None: ...


# --- consuming -------------------------------------------------------------------------------


class SnsSqsQueue:
    """The ``MessageQueue`` port over SNS + SQS (see the module's documentation).

    ``outbox`` (the SQL relay queue) makes ``publish`` durable and able to delay by any amount;
    without it ``publish`` goes straight to SNS and refuses delays.
    """

    def __init__(
        self,
        prefix: str,
        *,
        sns: Any,
        sqs: Any,
        max_attempts: int = 5,
        lease_seconds: float = 60.0,
        wait_seconds: float = MAX_WAIT_SECONDS,
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        outbox: Outbox | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.prefix = prefix
        self.max_attempts = max_attempts
        # SQS visibility timeouts are whole seconds
        self.lease_seconds = min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(lease_seconds)))
        self.wait_seconds = max(0, min(MAX_WAIT_SECONDS, int(wait_seconds)))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.publisher = SnsPublisher(prefix, sns=sns)
        self.outbox = outbox
        self._sqs = sqs
        self._monotonic = monotonic
        # a receipt is trusted only this long before its lease would end by SQS's clock
        self._margin = min(2.0, self.lease_seconds * 0.1)
        self._urls: dict[str, str] = {}
        self._leases: dict[str, float] = {}  # receipt -> local deadline (monotonic)
        self._lock = threading.Lock()

    # --- names and URLs ----------------------------------------------------------------------
    def queue_url(self, queue: str, *, dead: bool = False) -> str:
        name = dlq_name(self.prefix, queue) if dead else queue_name(self.prefix, queue)
        url = self._urls.get(name)
        if url is None:
            try:
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                if _is_missing(exc):
                    raise QueueNotFound(
                        f"SQS queue {name!r} does not exist: run `gas aws bootstrap`"
                    ) from None
                raise
            self._urls[name] = url
        return url

    # --- publishing --------------------------------------------------------------------------
    def publish(self, topic: str, payload: dict[str, Any], *, delay: float = 0.0) -> None:
        if self.outbox is not None:
            self.outbox.publish(topic, payload, delay=delay)
        else:
            self.publisher.publish(topic, payload, delay=delay)

    # --- leases ------------------------------------------------------------------------------
    def _lease(self, receipt: str, deadline: float) -> None:
        with self._lock:
            now = self._monotonic()
            if len(self._leases) > 1000:  # forget leases of deliveries dropped long ago
                for r in [r for r, d in self._leases.items() if d < now - 3600]:
                    del self._leases[r]
            self._leases[receipt] = deadline

    def _owns(self, delivery: Delivery) -> bool:
        with self._lock:
            deadline = self._leases.get(delivery.receipt)
            if deadline is None:
                return False
            if self._monotonic() >= deadline:
                del self._leases[delivery.receipt]
                return False
            return True

    def _forget(self, delivery: Delivery) -> None:
        with self._lock:
            self._leases.pop(delivery.receipt, None)

    # --- the port ----------------------------------------------------------------------------
    def claim(self, queue: str) -> Delivery | None:
        url = self.queue_url(queue)
        while True:
            response = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=self.lease_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
            received = self._monotonic()
            messages = response.get("Messages") or []
            if not messages:
                return None
            message = messages[0]
            receipt = message["ReceiptHandle"]
            try:
                topic, payload = parse_body(message["Body"], message.get("MessageAttributes"))
            except (ValueError, TypeError) as exc:
                self._dead_letter_raw(queue, url, message, f"unreadable message: {exc}")
                continue
            attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            attempt += int(_attr(message, ATTR_PRIOR_ATTEMPTS) or 0)
            delivery = Delivery(
                id=_attr(message, ATTR_ID) or message["MessageId"],
                queue=queue,
                topic=topic,
                payload=payload,
                attempt=attempt,
                max_attempts=self.max_attempts,
                receipt=receipt,
            )
            if attempt > self.max_attempts:
                # Its consumers kept dying: dead-letter it and tell this consumer once, without
                # a lease, so the handler can record the failure without running again.
                error = f"lease expired during attempt {attempt - 1}"
                self._dead_letter(url, delivery, receipt, error, attempts=attempt - 1)
                log.error(
                    "queue %s: message %s (%s) dead-lettered: its consumer stopped responding "
                    "on the last attempt",
                    queue,
                    delivery.id,
                    topic,
                )
                return Delivery(
                    id=delivery.id,
                    queue=queue,
                    topic=topic,
                    payload=payload,
                    attempt=attempt,
                    max_attempts=self.max_attempts,
                    receipt="",
                )
            self._lease(receipt, received + self.lease_seconds - self._margin)
            return delivery

    def ack(self, delivery: Delivery) -> bool:
        if not self._owns(delivery):
            return False
        self._forget(delivery)
        try:
            self._sqs.delete_message(
                QueueUrl=self.queue_url(delivery.queue), ReceiptHandle=delivery.receipt
            )
        except ClientError as exc:
            log.warning("queue %s: cannot delete message %s: %s", delivery.queue, delivery.id, exc)
            return False
        return True

    def heartbeat(self, delivery: Delivery) -> bool:
        if not self._owns(delivery):
            return False
        started = self._monotonic()
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url(delivery.queue),
                ReceiptHandle=delivery.receipt,
                VisibilityTimeout=self.lease_seconds,
            )
        except ClientError as exc:
            log.warning("queue %s: lease of %s lost: %s", delivery.queue, delivery.id, exc)
            self._forget(delivery)
            return False
        self._lease(delivery.receipt, started + self.lease_seconds)
        return True

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential, capped, jittered like SqlQueue's."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def fail(self, delivery: Delivery, error: str) -> None:
        if not self._owns(delivery):
            return
        self._forget(delivery)
        url = self.queue_url(delivery.queue)
        if delivery.attempt >= delivery.max_attempts:
            self._dead_letter(url, delivery, delivery.receipt, error, attempts=delivery.attempt)
            log.error(
                "queue %s: message %s (%s) dead-lettered after %d attempts: %s",
                delivery.queue,
                delivery.id,
                delivery.topic,
                delivery.attempt,
                error.strip().splitlines()[-1] if error.strip() else "",
            )
            return
        wait = min(MAX_VISIBILITY_SECONDS // 2, math.ceil(self.backoff(delivery.attempt)))
        try:
            self._sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=delivery.receipt, VisibilityTimeout=wait
            )
        except ClientError as exc:  # it comes back when its lease ends anyway
            log.warning("queue %s: cannot delay retry of %s: %s", delivery.queue, delivery.id, exc)

    def release(self, delivery: Delivery) -> None:
        if not self._owns(delivery):
            return
        self._forget(delivery)
        url = self.queue_url(delivery.queue)
        # SQS counted this receive and cannot take it back: send a copy that remembers the
        # attempts made before this one, then delete the leased message.
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=envelope(delivery.topic, delivery.payload),
            MessageAttributes={
                ATTR_TOPIC: _string_attr(delivery.topic),
                ATTR_ID: _string_attr(delivery.id),
                ATTR_PRIOR_ATTEMPTS: _number_attr(delivery.attempt - 1),
            },
        )
        try:
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=delivery.receipt)
        except ClientError as exc:  # the original comes back after its lease: a duplicate
            log.warning("queue %s: cannot delete released %s: %s", delivery.queue, delivery.id, exc)

    def wait(self, queues: list[str], timeout: float) -> None:
        """``claim`` long-polls already; without long polling, sleep a little."""
        if self.wait_seconds == 0 and timeout > 0:
            time.sleep(min(timeout, 1.0))

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()

    # --- dead letters ------------------------------------------------------------------------
    def _dead_letter(
        self, url: str, delivery: Delivery, receipt: str, error: str, *, attempts: int
    ) -> None:
        """Write the message to the DLQ, then delete it from ``url`` (a copy before a delete:
        at worst a duplicate in the DLQ, never a loss)."""
        self._sqs.send_message(
            QueueUrl=self.queue_url(delivery.queue, dead=True),
            MessageBody=envelope(delivery.topic, delivery.payload),
            MessageAttributes={
                ATTR_TOPIC: _string_attr(delivery.topic),
                ATTR_ID: _string_attr(delivery.id),
                ATTR_SOURCE: _string_attr(delivery.queue),
                ATTR_ATTEMPTS: _number_attr(attempts),
                ATTR_ERROR: _string_attr(error[-4000:] or "failed"),
            },
        )
        try:
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
        except ClientError as exc:
            log.warning(
                "queue %s: cannot delete dead-lettered %s: %s", delivery.queue, delivery.id, exc
            )

    def _dead_letter_raw(self, queue: str, url: str, message: dict[str, Any], error: str) -> None:
        log.error("queue %s: message %s dead-lettered: %s", queue, message.get("MessageId"), error)
        self._sqs.send_message(
            QueueUrl=self.queue_url(queue, dead=True),
            MessageBody=message["Body"] or "{}",
            MessageAttributes={ATTR_SOURCE: _string_attr(queue), ATTR_ERROR: _string_attr(error)},
        )
        self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _peek_dead(self, queue: str, limit: int, *, unhide: bool = True) -> list[dict[str, Any]]:
        """Up to ``limit`` messages of ``queue``'s DLQ, left where they are. Each is hidden
        while the listing goes on (so that it is not seen twice) and made visible again at the
        end (a DLQ has no redrive policy: receiving counts against nothing)."""
        url = self.queue_url(queue, dead=True)
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            response = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(out)),
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            out.extend(messages)
        if unhide:
            self._unhide(url, out)
        return out

    def _unhide(self, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )

    def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Dead-lettered messages, in the shape of ``SqlQueue.dead_letters`` (``id``, ``queue``,
        ``topic``, ``payload`` as JSON text, ``attempts``, ``last_error``). Each listed message
        is left in its DLQ, visible. Includes the relay's own dead letters."""
        out: list[dict[str, Any]] = []
        for name in [queue] if queue else list(events.SUBSCRIPTIONS):
            if name == "relay":
                continue
            for message in self._peek_dead(name, limit - len(out)):
                try:
                    topic, payload = parse_body(message["Body"], message.get("MessageAttributes"))
                    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
                except (ValueError, TypeError):
                    topic, body = "", message["Body"]
                out.append(
                    {
                        "id": _attr(message, ATTR_ID) or message["MessageId"],
                        "queue": name,
                        "topic": topic,
                        "payload": body,
                        "attempts": int(_attr(message, ATTR_ATTEMPTS) or 0)
                        or redrive_max_receive_count(self.max_attempts),
                        "last_error": _attr(message, ATTR_ERROR)
                        or "moved by the redrive policy: its consumers stopped responding",
                    }
                )
        if self.outbox is not None and queue in (None, "relay") and len(out) < limit:
            out.extend(self.outbox.dead_letters("relay", limit - len(out)))
        return out

    def retry_dead(self, message_id: int | str) -> bool:
        """Send a dead-lettered message back to its worker queue with a fresh set of attempts.
        An integer id is a dead letter of the SQL relay."""
        if self.outbox is not None and str(message_id).isdigit():
            return self.outbox.retry_dead(int(message_id))
        for name in events.SUBSCRIPTIONS:
            dlq = self.queue_url(name, dead=True)
            messages = self._peek_dead(name, 10_000, unhide=False)
            found = [
                m for m in messages if (_attr(m, ATTR_ID) or m["MessageId"]) == str(message_id)
            ]
            self._unhide(dlq, [m for m in messages if m not in found[:1]])
            if not found:
                continue
            message = found[0]
            attributes = {ATTR_ID: _string_attr(str(message_id))}
            if topic := _attr(message, ATTR_TOPIC):
                attributes[ATTR_TOPIC] = _string_attr(topic)
            self._sqs.send_message(
                QueueUrl=self.queue_url(name),
                MessageBody=message["Body"],
                MessageAttributes=attributes,
            )
            self._sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
            return True
        return False

    # --- operators ---------------------------------------------------------------------------
    def _counts(self, url: str) -> dict[str, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "ready": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "leased": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }

    def stats(self) -> dict[str, dict[str, int]]:
        """Per worker queue: SQS's approximate counts — ``ready`` (visible), ``leased`` (in
        flight: being handled, or waiting out a retry's backoff), ``delayed`` — and ``dead``,
        the depth of its DLQ. With the outbox, ``relay`` is the SQL relay's backlog (events not
        yet due, such as the archive timers). Queues with nothing in them are left out."""
        out: dict[str, dict[str, int]] = {}
        for name in events.SUBSCRIPTIONS:
            counts = self._counts(self.queue_url(name))
            counts["dead"] = sum(self._counts(self.queue_url(name, dead=True)).values())
            if any(counts.values()):
                out[name] = counts
        if self.outbox is not None:
            relay = self.outbox.stats().get("relay")
            if relay and any(relay.values()):
                out["relay"] = relay
        return out


# --- S3 restore notifications ----------------------------------------------------------------


class RestoreEventsBridge:
    """Turns the cold bucket's ``s3:ObjectRestore:Completed`` notifications (delivered to the
    ``{prefix}-restore-events`` queue by S3, as ``gas aws bootstrap`` sets up) into
    ``results.restore_ready`` events, ``{"archive_id": ...}``.

    ``parse_event(body)`` returns the archive ids a message announces
    (``GlacierColdStore.parse_restore_event``: it knows the bucket and the key layout; [] for
    other events such as S3's ``s3:TestEvent``; ValueError for a body that is not an S3
    notification, which is then left to the queue's redrive policy and ends in its DLQ).
    ``publish(topic, payload)`` should be durable: the SQL outbox's ``publish`` (the relay
    forwards it) or ``SnsPublisher.publish``. A notification is deleted only after its events
    were published, so a crash causes a duplicate (the thaw is idempotent), never a loss.
    Run it in the restorer's process: ``run_in_thread(stop_event)``.
    """

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        publish: Callable[..., None],
        parse_event: Callable[[str], list[str]],
        wait_seconds: int = MAX_WAIT_SECONDS,
        visibility_seconds: int = 60,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._publish = publish
        self._parse = parse_event
        self.wait_seconds = wait_seconds
        self.visibility_seconds = visibility_seconds

    @classmethod
    def for_prefix(cls, prefix: str, *, sqs: Any, **options: Any) -> RestoreEventsBridge:
        """The bridge of the ``{prefix}-restore-events`` queue (``sqs://PREFIX``)."""
        name = restore_events_queue_name(prefix)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if _is_missing(exc):
                raise QueueNotFound(
                    f"SQS queue {name!r} does not exist: run `gas aws bootstrap`"
                ) from None
            raise
        return cls(sqs=sqs, queue_url=url, **options)

    def run_once(self) -> int:
        """Handle the notifications received in one (long) poll; returns how many."""
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_seconds,
        )
        messages = response.get("Messages") or []
        for message in messages:
            try:
                archive_ids = self._parse(message["Body"])
            except ValueError:
                log.error("restore events: not an S3 notification: %.200s", message["Body"])
                continue
            for archive_id in archive_ids:
                self._publish(events.RESULTS_RESTORE_READY, {"archive_id": archive_id})
            self._sqs.delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return len(messages)

    def run_forever(self, stop: threading.Event) -> None:
        log.info("restore events bridge started")
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("restore events: cannot reach SQS or publish; retrying")
                stop.wait(5.0)
        log.info("restore events bridge stopped")

    def run_in_thread(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), daemon=True, name="restore-events"
        )
        thread.start()
        return thread
