"""deploy/aws/gas.yaml on moto's CloudFormation: the stack deploys (without the resource types
moto cannot create, listed in tests/unit/deploy/cfn.py and the README), what it made is what the
template says, and ``gas aws bootstrap`` run against it finds everything as it would have made it
— creating only what moto left out."""

from __future__ import annotations

import ast
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gas.config import Settings
from gas.domain import events
from gas.entrypoints.aws_bootstrap import CREATED, FOUND, UPDATED, run
from tests.aws.moto_server import make_client
from tests.aws.test_sqs_queue import quiet_moto_server  # noqa: F401
from tests.unit.deploy import cfn

LEASE, ATTEMPTS = 90, 4


def test_moto_leaves_out_exactly_the_documented_types() -> None:
    template = cfn.load()
    assert cfn.moto_unsupported_types(template) == set(cfn.MOTO_UNSUPPORTED_TYPES)
    readme = cfn.on_aws_section()
    for kind in cfn.MOTO_UNSUPPORTED_TYPES:
        assert f"`{kind}`" in readme.split("**What moto does not emulate.**")[1]
    for name, attribute in cfn.MOTO_UNSUPPORTED_ATTRIBUTES:
        assert f"`{name}.{attribute}`" in readme


@pytest.fixture(scope="module")
def stack(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gas.adapters import aws

    settings = aws.AwsConfig(aws_region="us-east-1", aws_endpoint_url=moto_endpoint)
    tag = uuid.uuid4().hex[:8]
    ec2 = make_client("ec2", settings)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("abcd")
    ]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    make_client("ssm", settings).put_parameter(
        Name=f"/gas-test/{tag}/ami", Value=image, Type="String"
    )
    certificate = make_client("acm", settings).request_certificate(DomainName="gas.example.org")[
        "CertificateArn"
    ]
    parameters = {
        "VpcId": vpc,
        "PublicSubnetIds": ",".join(subnets[:2]),
        "PrivateSubnetIds": ",".join(subnets[2:]),
        "DomainName": "gas.example.org",
        "CertificateArn": certificate,
        "GasPackage": "gas @ https://example.org/gas-0.1.0-py3-none-any.whl",
        "ImageId": f"/gas-test/{tag}/ami",
        "StorageBucketName": f"gas-objects-{tag}",
        "ColdBucketName": f"gas-cold-{tag}",
        "QueuePrefix": f"cf{tag}",
        "QueueLeaseSeconds": str(LEASE),
        "QueueMaxAttempts": str(ATTEMPTS),
        "MailFrom": "GAS <gas@example.org>",
        "MailIdentity": "example.org",
        "WebMinSize": "2",
        "AnnotatorMaxSize": "7",
    }
    template, dropped = cfn.for_moto(cfn.load())
    name = f"gas-{tag}"
    cloudformation = make_client("cloudformation", settings)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    resources = {
        r["LogicalResourceId"]: r
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        for r in page["StackResourceSummaries"]
    }
    yield {
        "name": name,
        "settings": settings,
        "parameters": parameters,
        "template": template,
        "dropped": dropped,
        "stack": described,
        "resources": resources,
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        "tmp": tmp_path_factory.mktemp("stack"),
    }


def test_the_stack_deploys_every_supported_resource(stack: dict[str, Any]) -> None:
    assert stack["stack"]["StackStatus"] == "CREATE_COMPLETE", stack["stack"]
    expected = set(stack["template"]["Resources"])
    assert set(stack["resources"]) == expected
    assert {r["ResourceStatus"] for r in stack["resources"].values()} == {"CREATE_COMPLETE"}
    kinds = {cfn.load()["Resources"][k]["Type"] for k in stack["dropped"]}
    assert kinds == set(cfn.MOTO_UNSUPPORTED_TYPES)


def _physical(stack: dict[str, Any], logical: str) -> str:
    return str(stack["resources"][logical]["PhysicalResourceId"])


def test_queues_have_the_settings_attributes(stack: dict[str, Any]) -> None:
    sqs = make_client("sqs", stack["settings"])
    prefix = stack["parameters"]["QueuePrefix"]
    url = sqs.get_queue_url(QueueName=f"{prefix}-annotator")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == str(LEASE)
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == ATTEMPTS + 1
    assert redrive["deadLetterTargetArn"].endswith(f":{prefix}-annotator-dlq")
    assert stack["outputs"]["AnnotatorQueueName"] == f"{prefix}-annotator"


def test_buckets_are_encrypted(stack: dict[str, Any]) -> None:
    """moto's AWS::S3::Bucket applies BucketEncryption (and tags) only: the public access
    block, CORS rule and restore notification are checked by bootstrap's run below."""
    s3 = make_client("s3", stack["settings"])
    for bucket in (stack["parameters"]["StorageBucketName"], stack["parameters"]["ColdBucketName"]):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_network_load_balancer_and_database(stack: dict[str, Any]) -> None:
    settings = stack["settings"]
    ec2 = make_client("ec2", settings)
    groups = {
        logical: ec2.describe_security_groups(GroupIds=[_physical(stack, logical)])[
            "SecurityGroups"
        ][0]
        for logical in (
            "LoadBalancerSecurityGroup",
            "WebSecurityGroup",
            "WorkerSecurityGroup",
            "DatabaseSecurityGroup",
        )
    }
    web_in = groups["WebSecurityGroup"]["IpPermissions"]
    assert [(p["FromPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in web_in] == [
        (8000, [groups["LoadBalancerSecurityGroup"]["GroupId"]])
    ]
    assert all(not p.get("IpRanges") for p in web_in)
    assert groups["WorkerSecurityGroup"]["IpPermissions"] == []
    database_in = {
        g["GroupId"]
        for p in groups["DatabaseSecurityGroup"]["IpPermissions"]
        for g in p["UserIdGroupPairs"]
    }
    assert database_in == {
        groups["WebSecurityGroup"]["GroupId"],
        groups["WorkerSecurityGroup"]["GroupId"],
    }

    elb = make_client("elbv2", settings)
    target = elb.describe_target_groups(TargetGroupArns=[_physical(stack, "WebTargetGroup")])[
        "TargetGroups"
    ][0]
    assert target["HealthCheckPath"] == "/healthz" and target["Port"] == 8000
    listeners = {
        listener["Port"]: listener
        for listener in elb.describe_listeners(LoadBalancerArn=_physical(stack, "LoadBalancer"))[
            "Listeners"
        ]
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"

    rds = make_client("rds", settings)
    database = rds.describe_db_instances(DBInstanceIdentifier=_physical(stack, "Database"))[
        "DBInstances"
    ][0]
    assert database["Engine"] == "postgres"
    assert database["StorageEncrypted"] is True
    assert database["MultiAZ"] is True
    assert database["PubliclyAccessible"] is False


def test_roles_carry_the_readme_permissions(stack: dict[str, Any]) -> None:
    iam = make_client("iam", stack["settings"])
    readme = cfn.readme_iam()
    for role in ("web", "annotator", "utility"):
        name = _physical(stack, f"{role.capitalize()}Role")
        actions: set[str] = set()
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            if isinstance(document, str):
                # moto keeps a CloudFormation policy as Python's repr of it
                document = ast.literal_eval(document)
            for statement in document["Statement"]:
                found = statement["Action"]
                actions |= {found} if isinstance(found, str) else set(found)
        assert actions == readme[role], role


def test_groups_and_launch_templates(stack: dict[str, Any]) -> None:
    settings = stack["settings"]
    autoscaling = make_client("autoscaling", settings)
    groups = {
        g["AutoScalingGroupName"]: g
        for g in autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[f"{stack['name']}-{r}" for r in ("web", "annotator", "utility")]
        )["AutoScalingGroups"]
    }
    assert len(groups) == 3
    web = groups[f"{stack['name']}-web"]
    assert (web["MinSize"], web["MaxSize"]) == (2, 10)
    assert web["TargetGroupARNs"] == [_physical(stack, "WebTargetGroup")]
    annotator = groups[f"{stack['name']}-annotator"]
    assert (annotator["MinSize"], annotator["MaxSize"]) == (1, 7)

    ec2 = make_client("ec2", settings)
    for role in ("Web", "Annotator", "Utility"):
        versions = ec2.describe_launch_template_versions(
            LaunchTemplateId=_physical(stack, f"{role}LaunchTemplate")
        )["LaunchTemplateVersions"]
        data = versions[0]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        script = base64.b64decode(data["UserData"]).decode()
        assert "${" not in script.replace("${services[@]}", "")  # every variable substituted
        assert (
            "pip install --quiet 'gas @ https://example.org/gas-0.1.0-py3-none-any.whl'" in script
        )
        assert "GAS_BASE_URL=https://gas.example.org" in script
        assert f"sqs://{stack['parameters']['QueuePrefix']}" in script
        assert ".rds.amazonaws.com" in script  # the database's address; its password is not
        assert "gas-secrets" in script and "password" not in script.split("get-secret-value")[0]


def test_bootstrap_finds_the_stack_as_it_would_have_made_it(
    stack: dict[str, Any],
    moto_endpoint: str,
    quiet_moto_server: None,  # noqa: F811
) -> None:
    p = stack["parameters"]
    env = {
        "GAS_DATA_DIR": str(Path(stack["tmp"]) / "var"),
        "GAS_BASE_URL": "https://gas.example.org",
        "GAS_QUEUE_URL": f"sqs://{p['QueuePrefix']}",
        "GAS_STORAGE_URL": f"s3://{p['StorageBucketName']}/gas",
        "GAS_COLDSTORE_URL": f"s3-glacier://{p['ColdBucketName']}/archive",
        "GAS_QUEUE_LEASE_SECONDS": str(LEASE),
        "GAS_QUEUE_MAX_ATTEMPTS": str(ATTEMPTS),
        "GAS_AWS_REGION": "us-east-1",
        "GAS_AWS_ENDPOINT_URL": moto_endpoint,
        "GAS_SECRET_KEY": "x" * 32,
    }
    steps = run(Settings.from_env(env), echo=lambda line: None)
    created = [s for s in steps if s.status == CREATED]
    updated = [s for s in steps if s.status == UPDATED]
    # only what moto's CloudFormation does not make: the subscriptions and queue policies (types
    # it has no model for), and the buckets' public access block, CORS rule and notification
    # (properties its AWS::S3::Bucket ignores)
    assert {s.kind for s in created} == {
        "SNS subscription",
        "S3 public access block",
        "S3 CORS rule",
        "S3 event notification",
    }
    assert {s.kind for s in updated} <= {"SQS queue"}
    assert all(s.detail == "set Policy" for s in updated)
    found = {(s.kind, s.name) for s in steps if s.status == FOUND}
    prefix = p["QueuePrefix"]
    queues = {name for kind, name in found | {(s.kind, s.name) for s in updated}}
    for kind in ("annotator", "notifier", "archiver", "restorer", "restore-events"):
        assert {f"{prefix}-{kind}", f"{prefix}-{kind}-dlq"} <= queues
    assert ("SQS queue", f"{prefix}-annotator-dlq") in found
    assert ("S3 default encryption", p["StorageBucketName"]) in found
    assert ("S3 bucket", p["ColdBucketName"]) in found
    assert sum(1 for kind, _ in found if kind == "SNS topic") == len(events.TOPICS)
    # and a second run finds everything
    again = run(Settings.from_env(env), echo=lambda line: None)
    assert {s.status for s in again} == {FOUND}
