"""Render the generated parts of deploy/aws/gas.yaml from ``gas.adapters.aws_layout``.

The template is written by hand except between the marker lines::

    # BEGIN GENERATED <part> (deploy/aws/generate.py; do not edit)
    ...
    # END GENERATED <part>

Those parts — the SNS topics, the worker queues with their dead-letter queues, queue policies
and subscriptions, the queue of S3 restore events, the two buckets (encryption, public access
block, CORS, restore notification), and the mapping from ``GAS_QUEUE_MAX_ATTEMPTS`` to the
redrive count — come from the same module ``gas aws bootstrap`` uses, so the two cannot drift.
``tests/unit/deploy/test_templates.py`` fails if the committed template differs from this
script's output.

Usage: ``.venv/bin/python deploy/aws/generate.py`` rewrites the template in place;
``--check`` exits 1 (and prints a diff) if it is not up to date.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from gas.adapters import aws_layout

TEMPLATE = Path(__file__).with_name("gas.yaml")

# What the template's parameters are called (they stand for the settings named in the comment).
PREFIX = "${QueuePrefix}"  # GAS_QUEUE_URL=sqs://PREFIX
LEASE = {"Ref": "QueueLeaseSeconds"}  # GAS_QUEUE_LEASE_SECONDS
MAX_ATTEMPTS_CHOICES = range(1, 21)  # GAS_QUEUE_MAX_ATTEMPTS (parameter QueueMaxAttempts)
REDRIVE_MAPPING = "RedriveMaxReceiveCount"
STORAGE_BUCKET = "${StorageBucketName}"  # GAS_STORAGE_URL=s3://BUCKET/…
COLD_BUCKET = "${ColdBucketName}"  # GAS_COLDSTORE_URL=s3-glacier://BUCKET/PREFIX
COLD_PREFIX = "${ColdPrefix}"
ORIGIN = "https://${DomainName}"  # GAS_BASE_URL

USER_DATA = Path(__file__).with_name("user-data.sh")
DRAIN_TIMEOUT = "${DrainTimeoutSeconds}"
WEB_STOP_TIMEOUT = 60

_WHOLE = re.compile(r"^\$\{([A-Za-z0-9:]+)(?:\.([A-Za-z0-9.]+))?\}$")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def topic_id(event: str) -> str:
    return "Topic" + _camel(event)


def queue_id(kind: str) -> str:
    return _camel(kind) + "Queue"


def dlq_id(kind: str) -> str:
    return _camel(kind) + "DeadLetterQueue"


RESTORE_EVENTS = "restore-events"


class Literal(str):
    """A string written as is (a YAML block), never turned into an intrinsic function."""


def _intrinsics(value: Any) -> Any:
    """``${X}`` placeholders → Ref / GetAtt / Fn::Sub."""
    if isinstance(value, Literal):
        return value
    if isinstance(value, dict):
        return {k: _intrinsics(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_intrinsics(v) for v in value]
    if isinstance(value, str) and "${" in value:
        whole = _WHOLE.match(value)
        if whole and not whole.group(1).startswith("AWS::"):
            name, attribute = whole.groups()
            return {"Ref": name} if attribute is None else {"Fn::GetAtt": [name, attribute]}
        return {"Fn::Sub": value}
    return value


def _queue(name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name, **attributes}}


def _queue_policy(queue: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {"Queues": [f"${{{queue}}}"], "PolicyDocument": document},
    }


def messaging_resources() -> dict[str, Any]:
    layout = aws_layout.messaging(PREFIX)
    out: dict[str, Any] = {}
    for topic in layout.topics:
        out[topic_id(topic.event)] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": topic.name},
        }
    for queue in layout.queues:
        qid, did = queue_id(queue.kind), dlq_id(queue.kind)
        out[did] = _queue(queue.dlq, aws_layout.dlq_attributes())
        attributes = aws_layout.worker_queue_attributes(LEASE, f"${{{did}.Arn}}", None)
        attributes["RedrivePolicy"]["maxReceiveCount"] = {
            "Fn::FindInMap": [REDRIVE_MAPPING, {"Ref": "QueueMaxAttempts"}, "Count"]
        }
        out[qid] = _queue(queue.name, attributes)
        out[qid + "Policy"] = _queue_policy(
            qid,
            aws_layout.worker_queue_policy(
                f"${{{qid}.Arn}}", [f"${{{topic_id(t)}}}" for t in queue.topics]
            ),
        )
        for event in queue.topics:
            out[f"{qid}Subscription{_camel(event)}"] = {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": f"${{{topic_id(event)}}}",
                    "Protocol": "sqs",
                    "Endpoint": f"${{{qid}.Arn}}",
                    **{
                        k: v == "true" if v in {"true", "false"} else v
                        for k, v in aws_layout.SUBSCRIPTION_ATTRIBUTES.items()
                    },
                },
            }
    rid, rdid = queue_id(RESTORE_EVENTS), dlq_id(RESTORE_EVENTS)
    out[rdid] = _queue(layout.restore_events_dlq, aws_layout.dlq_attributes())
    out[rid] = _queue(
        layout.restore_events, aws_layout.restore_events_attributes(f"${{{rdid}.Arn}}")
    )
    out[rid + "Policy"] = _queue_policy(
        rid,
        aws_layout.restore_events_policy(
            f"${{{rid}.Arn}}", "${AWS::Partition}", "${AWS::AccountId}", COLD_BUCKET
        ),
    )
    return out


def _encryption() -> dict[str, Any]:
    rule = dict(aws_layout.DEFAULT_ENCRYPTION_RULE)
    rule["ServerSideEncryptionByDefault"] = rule.pop("ApplyServerSideEncryptionByDefault")
    return {"ServerSideEncryptionConfiguration": [rule]}


def _cors(origin: str) -> dict[str, Any]:
    """The API's CORS rule in CloudFormation's spelling."""
    names = {"ID": "Id", "ExposeHeaders": "ExposedHeaders", "MaxAgeSeconds": "MaxAge"}
    rule = aws_layout.cors_rule(origin)
    return {"CorsRules": [{names.get(k, k): v for k, v in rule.items()}]}


def _notification(queue_arn: str, key_prefix: str) -> dict[str, Any]:
    """The API's notification in CloudFormation's spelling (one entry per event)."""
    api = aws_layout.restore_notification(queue_arn, key_prefix)
    entries = []
    for event in api["Events"]:
        entry: dict[str, Any] = {"Event": event, "Queue": api["QueueArn"]}
        rules = api.get("Filter", {}).get("Key", {}).get("FilterRules")
        if rules:
            entry["Filter"] = {"S3Key": {"Rules": rules}}
        entries.append(entry)
    return {"QueueConfigurations": entries}


def bucket_resources() -> dict[str, Any]:
    common = {
        "BucketEncryption": _encryption(),
        "PublicAccessBlockConfiguration": dict(aws_layout.PUBLIC_ACCESS_BLOCK),
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    }
    retain = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    return {
        "StorageBucket": {
            "Type": "AWS::S3::Bucket",
            **retain,
            "Properties": {
                "BucketName": STORAGE_BUCKET,
                **common,
                "CorsConfiguration": _cors(ORIGIN),
            },
        },
        "ColdBucket": {
            "Type": "AWS::S3::Bucket",
            **retain,
            # S3 checks that it may send to the queue when the notification is set
            "DependsOn": [queue_id(RESTORE_EVENTS) + "Policy"],
            "Properties": {
                "BucketName": COLD_BUCKET,
                **common,
                "NotificationConfiguration": _notification(
                    f"${{{queue_id(RESTORE_EVENTS)}.Arn}}", COLD_PREFIX
                ),
            },
        },
    }


def redrive_mapping() -> dict[str, Any]:
    return {
        REDRIVE_MAPPING: {
            str(attempts): {"Count": count}
            for attempts, count in aws_layout.redrive_counts(MAX_ATTEMPTS_CHOICES).items()
        }
    }


def roles() -> dict[str, dict[str, Any]]:
    """The machine roles and the ``gas`` services each runs: the web; the annotators; every
    other worker kind on the utility machines."""
    kinds = list(aws_layout.messaging(PREFIX).queues)
    others = [q.kind for q in kinds if q.kind != "annotator"]
    return {
        "Web": {
            "units": [f"unit web {WEB_STOP_TIMEOUT} web --host 0.0.0.0 --port 8000"],
            "drain": False,
        },
        "Annotator": {"units": [f"unit annotator {DRAIN_TIMEOUT} worker annotator"], "drain": True},
        "Utility": {
            "units": [f"unit {kind} {DRAIN_TIMEOUT} worker {kind}" for kind in others],
            "drain": True,
        },
    }


def launch_templates() -> dict[str, Any]:
    script = USER_DATA.read_text()
    if any(line != line.rstrip() for line in script.splitlines()):
        raise SystemExit(f"{USER_DATA}: trailing white space")
    out: dict[str, Any] = {}
    for role, spec in roles().items():
        variables = {
            "Role": role.lower(),
            "Units": "\n".join(spec["units"]),  # Fn::Sub where it has ${…}
            "Drain": "true" if spec["drain"] else "false",
            "DatabaseSecretArn": {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]},
            "DatabaseAddress": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
            "DatabasePort": {"Fn::GetAtt": ["Database", "Endpoint.Port"]},
        }
        out[f"{role}LaunchTemplate"] = {
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {
                "LaunchTemplateData": {
                    "ImageId": {"Ref": "ImageId"},
                    "InstanceType": {"Ref": f"{role}InstanceType"},
                    "IamInstanceProfile": {
                        "Arn": {"Fn::GetAtt": [f"{role}InstanceProfile", "Arn"]}
                    },
                    "SecurityGroupIds": [
                        {
                            "Fn::GetAtt": [
                                "WebSecurityGroup" if role == "Web" else "WorkerSecurityGroup",
                                "GroupId",
                            ]
                        }
                    ],
                    "MetadataOptions": {
                        "HttpEndpoint": "enabled",
                        "HttpTokens": "required",
                        "HttpPutResponseHopLimit": 1,
                    },
                    "BlockDeviceMappings": [
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {
                                "VolumeSize": {"Ref": "RootVolumeSize"},
                                "VolumeType": "gp3",
                                "Encrypted": True,
                                "DeleteOnTermination": True,
                            },
                        }
                    ],
                    "TagSpecifications": [
                        {
                            "ResourceType": "instance",
                            "Tags": [
                                {"Key": "Name", "Value": f"${{AWS::StackName}}-{role.lower()}"},
                                {"Key": "gas:role", "Value": role.lower()},
                            ],
                        }
                    ],
                    "UserData": {"Fn::Base64": {"Fn::Sub": [Literal(script), variables]}},
                }
            },
        }
    return out


PARTS = {
    "mappings": lambda: redrive_mapping(),
    "resources": lambda: {**messaging_resources(), **bucket_resources()},
    "launchtemplates": launch_templates,
}


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    pass


def _literal(dumper: yaml.SafeDumper, value: Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


_Dumper.add_representer(Literal, _literal)


def _dump(data: dict[str, Any], indent: int) -> list[str]:
    text = yaml.dump(
        _intrinsics(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
        indent=2,
    )
    return [(" " * indent + line) if line else line for line in text.splitlines()]


def render(template: str) -> str:
    """``template`` with every generated part replaced by what the layout says now."""
    lines = template.splitlines()
    out: list[str] = []
    i = 0
    seen = set()
    while i < len(lines):
        line = lines[i]
        begin = re.match(r"^(\s*)# BEGIN GENERATED (\w+)", line)
        if not begin:
            out.append(line)
            i += 1
            continue
        indent, part = len(begin.group(1)), begin.group(2)
        if part not in PARTS:
            raise SystemExit(f"unknown generated part {part!r}")
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() == f"# END GENERATED {part}"),
            None,
        )
        if end is None:
            raise SystemExit(f"no '# END GENERATED {part}' after line {i + 1}")
        out.append(line)
        out.extend(_dump(PARTS[part](), indent))
        out.append(lines[end])
        seen.add(part)
        i = end + 1
    missing = set(PARTS) - seen
    if missing:
        raise SystemExit(f"the template has no generated part(s) {sorted(missing)}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the template is stale")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    current = args.template.read_text()
    wanted = render(current)
    if args.check:
        if current == wanted:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(True), wanted.splitlines(True), "committed", "generated"
            )
        )
        print(f"{args.template} is stale: run deploy/aws/generate.py", file=sys.stderr)
        return 1
    if current != wanted:
        args.template.write_text(wanted)
        print(f"updated {args.template}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
