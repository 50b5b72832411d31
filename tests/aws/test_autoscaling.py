"""The scale-in protection adapter (gas.adapters.autoscaling) against moto's Auto Scaling, with
a stand-in for the EC2 instance metadata service (IMDSv2) on a loopback port."""

from __future__ import annotations

import http.server
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gas.adapters import aws
from gas.adapters.autoscaling import (
    Ec2ScaleInProtection,
    NoScaleInProtection,
    NotInAGroup,
    imds_instance_id,
    scale_in_protection,
)
from gas.config import Settings
from tests.aws.moto_server import make_client


class Imds:
    """IMDSv2's two calls: PUT /latest/api/token, then GET .../instance-id with that token."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.token = uuid.uuid4().hex
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: str) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def do_PUT(self) -> None:
                ok = self.path == "/latest/api/token" and self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                )
                self._answer(200 if ok else 400, imds.token if ok else "")

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != imds.token:
                    self._answer(401, "")
                elif self.path == "/latest/meta-data/instance-id":
                    self._answer(200, imds.instance_id)
                else:
                    self._answer(404, "")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def autoscaling(aws_settings: aws.AwsConfig) -> Any:
    return make_client("autoscaling", aws_settings)


@pytest.fixture
def group(aws_settings: aws.AwsConfig, autoscaling: Any) -> tuple[str, str]:
    """A group of one instance in moto: (group name, instance id)."""
    ec2 = make_client("ec2", aws_settings)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    name = f"gas-annotator-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        AvailabilityZones=["us-east-1a"],
    )
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]["Instances"]
    return name, instances[0]["InstanceId"]


@pytest.fixture
def imds(group: tuple[str, str]) -> Iterator[Imds]:
    server = Imds(group[1])
    yield server
    server.close()


def protected(autoscaling: Any, instance_id: str) -> bool:
    answer = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
    return bool(answer["AutoScalingInstances"][0]["ProtectedFromScaleIn"])


def test_finds_its_instance_and_group_and_protects_it_while_asked(
    autoscaling: Any, group: tuple[str, str], imds: Imds
) -> None:
    name, instance_id = group
    protection = Ec2ScaleInProtection.discover(autoscaling, imds_url=imds.url)
    assert (protection.group_name, protection.instance_id) == (name, instance_id)
    assert protected(autoscaling, instance_id) is False

    protection.set_protected(True)
    assert protected(autoscaling, instance_id) is True
    protection.set_protected(False)
    assert protected(autoscaling, instance_id) is False


def test_a_repeated_state_costs_no_call(autoscaling: Any, group: tuple[str, str]) -> None:
    calls: list[str] = []
    autoscaling.meta.events.register(
        "before-call.auto-scaling.SetInstanceProtection",
        lambda **kwargs: calls.append("set"),
    )
    protection = Ec2ScaleInProtection(autoscaling, group[1], group[0])
    protection.set_protected(True)
    protection.set_protected(True)
    protection.set_protected(False)
    protection.set_protected(False)
    assert calls == ["set", "set"]


def test_a_failure_is_logged_never_raised_and_tried_again(
    autoscaling: Any, group: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    name, instance_id = group
    wrong = Ec2ScaleInProtection(autoscaling, instance_id, "no-such-group")
    with caplog.at_level(logging.WARNING, "gas.adapters.autoscaling"):
        wrong.set_protected(True)  # does not raise
    assert "could not turn scale-in protection on" in caplog.text
    wrong.group_name = name
    wrong.set_protected(True)  # the failed state was not remembered
    assert protected(autoscaling, instance_id) is True
    wrong.set_protected(False)


def test_an_instance_in_no_group(autoscaling: Any) -> None:
    with pytest.raises(NotInAGroup):
        Ec2ScaleInProtection.discover(autoscaling, instance_id="i-0123456789abcdef0")


def test_imds_needs_the_session_token(group: tuple[str, str], imds: Imds) -> None:
    assert imds_instance_id(imds.url) == group[1]
    with pytest.raises(NotInAGroup):
        imds_instance_id("http://127.0.0.1:9", timeout=0.5)


def test_the_factory_from_settings(
    tmp_path, moto_endpoint: str, autoscaling: Any, group: tuple[str, str], imds: Imds
) -> None:
    base = {
        "GAS_DATA_DIR": str(tmp_path),
        "GAS_AWS_REGION": "us-east-1",
        "GAS_AWS_ENDPOINT_URL": moto_endpoint,
    }
    off = Settings.from_env(base)
    assert isinstance(scale_in_protection(off, imds_url=imds.url), NoScaleInProtection)
    on = Settings.from_env({**base, "GAS_AWS_SCALE_IN_PROTECTION": "true"})
    protection = scale_in_protection(on, imds_url=imds.url)
    assert isinstance(protection, Ec2ScaleInProtection)
    assert protection.group_name == group[0]
    # on, but not on an EC2 instance: a warning, and nothing is protected
    nowhere = scale_in_protection(on, imds_url="http://127.0.0.1:9")
    assert isinstance(nowhere, NoScaleInProtection)
    nowhere.set_protected(True)
