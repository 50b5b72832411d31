"""EC2 Auto Scaling: instance scale-in protection while an annotator runs a job
(the ``ScaleInProtection`` port, ``GAS_AWS_SCALE_IN_PROTECTION=true``).

An autoscaling group that scales in picks instances to terminate; a protected instance is never
picked. The annotator worker turns the protection on for its own instance when it starts a job
and off when the job ends, so a scale-in takes idle annotators only. Which instance and which
group: the instance id from the instance metadata service (IMDSv2, a session token first), the
group from ``DescribeAutoScalingInstances``. Permissions: ``autoscaling:SetInstanceProtection``
on the group, ``autoscaling:DescribeAutoScalingInstances``.

Run one ``gas worker annotator`` per instance with this on: the protection is the instance's,
so two workers on one instance would turn it off under each other's job.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gas.adapters import aws

log = logging.getLogger(__name__)

IMDS_URL = "http://169.254.169.254"
IMDS_TIMEOUT_SECONDS = 2.0


class NotInAGroup(RuntimeError):
    """This process is not on an EC2 instance that belongs to an autoscaling group."""


class NoScaleInProtection:
    """Nothing to protect (the setting is off, or not on an instance of a group)."""

    def set_protected(self, protected: bool) -> None:
        return None


class Ec2ScaleInProtection:
    """``SetInstanceProtection`` for one instance of one group. Remembers what it last set, so
    a repeated call costs nothing; a failed call is logged and tried again next time."""

    def __init__(self, client: Any, instance_id: str, group_name: str) -> None:
        self.client = client
        self.instance_id = instance_id
        self.group_name = group_name
        self._protected: bool | None = None
        self._lock = threading.Lock()

    def set_protected(self, protected: bool) -> None:
        with self._lock:
            if self._protected is protected:
                return
            try:
                self.client.set_instance_protection(
                    InstanceIds=[self.instance_id],
                    AutoScalingGroupName=self.group_name,
                    ProtectedFromScaleIn=protected,
                )
            except Exception as exc:
                self._protected = None
                log.warning(
                    "could not turn scale-in protection %s for %s in %s (%s)",
                    "on" if protected else "off",
                    self.instance_id,
                    self.group_name,
                    aws.error_code(exc) or exc,
                )
                return
            self._protected = protected
            log.info(
                "scale-in protection %s for %s in %s",
                "on" if protected else "off",
                self.instance_id,
                self.group_name,
            )

    @classmethod
    def discover(
        cls, client: Any, *, imds_url: str = IMDS_URL, instance_id: str | None = None
    ) -> Ec2ScaleInProtection:
        """This instance (from ``imds_url`` unless given) and its group; NotInAGroup if the
        instance belongs to none."""
        instance_id = instance_id or imds_instance_id(imds_url)
        answer = client.describe_auto_scaling_instances(InstanceIds=[instance_id])
        instances = answer.get("AutoScalingInstances") or []
        if not instances:
            raise NotInAGroup(f"instance {instance_id} is in no autoscaling group")
        return cls(client, instance_id, instances[0]["AutoScalingGroupName"])


def imds_instance_id(base_url: str = IMDS_URL, timeout: float = IMDS_TIMEOUT_SECONDS) -> str:
    """This EC2 instance's id, from the instance metadata service (IMDSv2)."""
    import requests

    try:
        token = requests.put(
            f"{base_url}/latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
            timeout=timeout,
        )
        token.raise_for_status()
        answer = requests.get(
            f"{base_url}/latest/meta-data/instance-id",
            headers={"X-aws-ec2-metadata-token": token.text},
            timeout=timeout,
        )
        answer.raise_for_status()
    except requests.RequestException as exc:
        raise NotInAGroup(f"no instance metadata service at {base_url} ({exc})") from exc
    return answer.text.strip()


def scale_in_protection(settings: Any, *, imds_url: str = IMDS_URL) -> Any:
    """The ``ScaleInProtection`` for ``settings`` (``aws_scale_in_protection``, the AWS
    region and endpoint): EC2's when on and on an instance of a group, else one that does
    nothing (with a warning when it was asked for)."""
    if not getattr(settings, "aws_scale_in_protection", False):
        return NoScaleInProtection()
    try:
        return Ec2ScaleInProtection.discover(aws.client("autoscaling", settings), imds_url=imds_url)
    except Exception as exc:
        log.warning(
            "GAS_AWS_SCALE_IN_PROTECTION is on but this instance cannot be protected: %s", exc
        )
        return NoScaleInProtection()
