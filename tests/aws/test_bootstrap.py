"""``gas aws bootstrap`` against moto's server: it creates everything the ``aws`` configuration
names, a second run changes nothing, drift is corrected, and the result delivers events."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gas.adapters import aws
from gas.adapters.glacier import glacier_store_from_url
from gas.adapters.sqs_sns import (
    RestoreEventsBridge,
    SnsSqsQueue,
    dlq_name,
    queue_name,
    topic_name,
)
from gas.config import Settings
from gas.domain import events
from gas.entrypoints.aws_bootstrap import CREATED, FOUND, UPDATED, run
from tests.aws.moto_server import make_client
from tests.aws.test_sqs_queue import quiet_moto_server  # noqa: F401

BASE_URL = "https://gas.example.org"


@pytest.fixture
def env(moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "GAS_DATA_DIR": str(tmp_path / "var"),
        "GAS_BASE_URL": BASE_URL,
        "GAS_QUEUE_URL": f"sqs://b{tag}",
        "GAS_STORAGE_URL": f"s3://gas-objects-{tag}/uploads",
        "GAS_COLDSTORE_URL": f"s3-glacier://gas-cold-{tag}/archive",
        "GAS_QUEUE_MAX_ATTEMPTS": "4",
        "GAS_QUEUE_LEASE_SECONDS": "90",
        "GAS_AWS_REGION": "us-east-1",
        "GAS_AWS_ENDPOINT_URL": moto_endpoint,
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def names(env: dict[str, str]) -> tuple[str, str, str]:
    prefix = env["GAS_QUEUE_URL"].removeprefix("sqs://")
    storage = env["GAS_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    cold = env["GAS_COLDSTORE_URL"].removeprefix("s3-glacier://").split("/")[0]
    return prefix, storage, cold


def statuses(steps) -> Counter[str]:
    return Counter(step.status for step in steps)


def queue_attributes(sqs: Any, name: str) -> dict[str, str]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_bootstrap_creates_everything_and_a_second_run_changes_nothing(settings, env):
    prefix, storage, cold = names(env)
    lines: list[str] = []

    first = run(settings, echo=lines.append)

    assert statuses(first)[FOUND] == 0 and statuses(first)[UPDATED] == 0
    assert lines[-1].startswith(f"done: {len(first)} created, 0 updated")
    sns, sqs, s3 = (make_client(s, settings) for s in ("sns", "sqs", "s3"))

    # topics
    topic_arns = {
        t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"]
        for page in sns.get_paginator("list_topics").paginate()
        for t in page["Topics"]
    }
    for topic in events.TOPICS:
        assert topic_name(prefix, topic) in topic_arns
    # worker queues, their DLQs, redrive, policies, subscriptions with raw delivery
    for queue, topics in events.SUBSCRIPTIONS.items():
        attributes = queue_attributes(sqs, queue_name(prefix, queue))
        dlq = queue_attributes(sqs, dlq_name(prefix, queue))
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 4 + 1
        assert attributes["VisibilityTimeout"] == "90"
        assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
        assert int(dlq["MessageRetentionPeriod"]) > int(attributes["MessageRetentionPeriod"])
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
            topic_arns[topic_name(prefix, t)] for t in topics
        )
        for topic in topics:
            subs = sns.list_subscriptions_by_topic(TopicArn=topic_arns[topic_name(prefix, topic)])
            (sub,) = [s for s in subs["Subscriptions"] if s["Endpoint"] == attributes["QueueArn"]]
            sub_attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
            assert sub_attributes["Attributes"]["RawMessageDelivery"] == "true"
    # buckets
    for bucket in (storage, cold):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
    (cors,) = s3.get_bucket_cors(Bucket=storage)["CORSRules"]
    assert cors["AllowedOrigins"] == [BASE_URL] and "POST" in cors["AllowedMethods"]
    # restore notifications from the cold bucket to their queue
    restore_queue = queue_attributes(sqs, f"{prefix}-restore-events")
    (notification,) = s3.get_bucket_notification_configuration(Bucket=cold)["QueueConfigurations"]
    assert notification["QueueArn"] == restore_queue["QueueArn"]
    assert notification["Events"] == ["s3:ObjectRestore:Completed"]
    (rule,) = notification["Filter"]["Key"]["FilterRules"]
    assert (rule["Name"].lower(), rule["Value"]) == ("prefix", "archive/")
    (statement,) = json.loads(restore_queue["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}

    lines.clear()
    second = run(settings, echo=lines.append)

    assert [s.status for s in second] == [FOUND] * len(first)
    assert [(s.kind, s.name) for s in second] == [(s.kind, s.name) for s in first]
    assert lines[-1] == f"done: 0 created, 0 updated, {len(first)} already as they should be"


def test_bootstrap_corrects_drift_and_leaves_the_rest_alone(settings, env):
    prefix, storage, cold = names(env)
    run(settings, echo=lambda _: None)
    sns, sqs, s3 = (make_client(s, settings) for s in ("sns", "sqs", "s3"))
    annotator = sqs.get_queue_url(QueueName=queue_name(prefix, "annotator"))["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=annotator, Attributes={"VisibilityTimeout": "5"})
    topic_arn = next(
        t["TopicArn"]
        for page in sns.get_paginator("list_topics").paginate()
        for t in page["Topics"]
        if t["TopicArn"].endswith(":" + topic_name(prefix, events.JOB_REQUESTED))
    )
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    sns.set_subscription_attributes(
        SubscriptionArn=sub["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    s3.delete_bucket_cors(Bucket=storage)

    steps = run(settings, echo=lambda _: None)

    changed = {(s.status, s.kind, s.name) for s in steps if s.status != FOUND}
    assert changed == {
        (UPDATED, "SQS queue", queue_name(prefix, "annotator")),
        (
            UPDATED,
            "SNS subscription",
            f"{topic_name(prefix, events.JOB_REQUESTED)} -> {queue_name(prefix, 'annotator')}",
        ),
        (CREATED, "S3 CORS rule", storage),
    }
    assert queue_attributes(sqs, queue_name(prefix, "annotator"))["VisibilityTimeout"] == "90"
    assert statuses(run(settings, echo=lambda _: None)) == Counter({FOUND: len(steps)})


def test_the_bootstrapped_wiring_delivers_a_published_event_end_to_end(settings, env):
    prefix, _, _ = names(env)
    run(settings, echo=lambda _: None)
    sns, sqs = make_client("sns", settings), make_client("sqs", settings)
    queue = SnsSqsQueue(
        prefix,
        sns=sns,
        sqs=sqs,
        max_attempts=settings.queue_max_attempts,
        lease_seconds=settings.queue_lease_seconds,
        wait_seconds=1,
    )

    queue.publish(events.JOB_COMPLETED, {"job_id": "j1"})

    for worker in events.subscribers(events.JOB_COMPLETED):
        delivery = queue.claim(worker)
        assert delivery is not None, worker
        assert (delivery.topic, delivery.payload, delivery.attempt) == (
            events.JOB_COMPLETED,
            {"job_id": "j1"},
            1,
        )
        assert delivery.max_attempts == 4
        assert queue.ack(delivery)
    assert queue.stats() == {}


def test_a_completed_glacier_restore_becomes_a_restore_ready_event(settings, env):
    prefix, _, cold = names(env)
    run(settings, echo=lambda _: None)
    sqs, s3 = make_client("sqs", settings), make_client("s3", settings)
    s3.put_object(Bucket=cold, Key="archive/a1", Body=b"results", StorageClass="GLACIER")
    s3.put_object(Bucket=cold, Key="elsewhere/x", Body=b"other", StorageClass="GLACIER")
    for key in ("archive/a1", "elsewhere/x"):
        s3.restore_object(
            Bucket=cold,
            Key=key,
            RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}},
        )
    # moto completes a restore after its state is looked at
    for key in ("archive/a1", "elsewhere/x"):
        deadline = time.monotonic() + 10
        while 'ongoing-request="false"' not in s3.head_object(Bucket=cold, Key=key).get(
            "Restore", ""
        ):
            assert time.monotonic() < deadline
    url = sqs.get_queue_url(QueueName=f"{prefix}-restore-events")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not an S3 notification")
    published: list[tuple[str, dict[str, Any]]] = []
    bridge = RestoreEventsBridge.for_prefix(
        prefix,
        sqs=sqs,
        publish=lambda topic, payload: published.append((topic, payload)),
        parse_event=glacier_store_from_url(settings.coldstore_url, settings).parse_restore_event,
        wait_seconds=0,
        visibility_seconds=30,
    )

    while bridge.run_once():
        pass

    # only the restore under the cold store's prefix; S3's test event and the like are dropped
    assert published == [(events.RESULTS_RESTORE_READY, {"archive_id": "a1"})]
    # the unreadable message stays for the redrive policy (and then the DLQ)
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_the_cli_command_runs_the_bootstrap(env):
    from gas.entrypoints.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["aws", "bootstrap"], env=env)
    assert first.exit_code == 0, first.output
    assert "created  SNS topic" in first.output
    second = runner.invoke(main, ["aws", "bootstrap"], env=env)
    assert second.exit_code == 0, second.output
    assert "0 created, 0 updated" in second.output.splitlines()[-1]


def test_the_cli_says_when_nothing_names_aws(tmp_path):
    from gas.entrypoints.cli import main

    result = CliRunner().invoke(
        main,
        ["aws", "bootstrap"],
        env={
            "GAS_DATA_DIR": str(tmp_path),
            "GAS_QUEUE_URL": "sql",
            "GAS_STORAGE_URL": None,
            "GAS_COLDSTORE_URL": None,
        },
    )
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output


def test_the_cli_reports_a_bad_queue_url(tmp_path):
    from gas.entrypoints.cli import main

    result = CliRunner().invoke(
        main,
        ["aws", "bootstrap"],
        env={"GAS_DATA_DIR": str(tmp_path), "GAS_QUEUE_URL": "sqs://bad.name"},
    )
    assert result.exit_code != 0
    assert "GAS_QUEUE_URL" in result.output


def test_clients_made_from_the_settings_point_at_moto(settings):
    """Guard: nothing here talks to AWS itself."""
    assert aws.client("sqs", settings).meta.endpoint_url.startswith("http://127.0.0.1:")
