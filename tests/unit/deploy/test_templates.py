"""The CloudFormation templates in deploy/aws: cfn-lint clean, up to date with the one list of
topics/queues/buckets (gas.adapters.aws_layout, also used by ``gas aws bootstrap``), every
resource the README promises present, IAM exactly as the README's table, scaling as designed."""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gas.adapters import aws_layout
from gas.domain import events
from tests.unit.deploy import cfn


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load()


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_there_are_templates_and_each_parses() -> None:
    assert cfn.MAIN in cfn.TEMPLATES
    for path in cfn.TEMPLATES:
        template = cfn.load(path)
        assert template["AWSTemplateFormatVersion"] == "2010-09-09"
        assert template["Resources"]


def test_cfn_lint_is_clean() -> None:
    """Errors and warnings alike (cfn-lint exits non-zero on either)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), *map(str, cfn.TEMPLATES)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_template_is_what_the_generator_makes() -> None:
    """The messaging, the buckets and the launch templates come from aws_layout and
    user-data.sh: run deploy/aws/generate.py after changing either."""
    current = cfn.MAIN.read_text()
    assert cfn.generator().render(current) == current, "run .venv/bin/python deploy/aws/generate.py"


def test_the_generator_check_mode_catches_a_stale_template(tmp_path: Path) -> None:
    stale = tmp_path / "gas.yaml"
    stale.write_text(cfn.MAIN.read_text().replace("-job-requested", "-job-asked", 1))
    generate = cfn.generator()
    assert generate.main(["--check", "--template", str(stale)]) == 1
    assert generate.main(["--template", str(stale)]) == 0
    assert stale.read_text() == cfn.MAIN.read_text()


def test_messaging_is_the_bootstrap_list(template: dict[str, Any]) -> None:
    """Every topic, queue, DLQ and subscription bootstrap makes, with its attributes."""
    layout = aws_layout.messaging("${QueuePrefix}")
    topics = {
        r["Properties"]["TopicName"]["Fn::Sub"]: k
        for k, r in resources_of(template, "AWS::SNS::Topic").items()
    }
    assert set(topics) == {t.name for t in layout.topics}
    assert len(topics) == len(events.TOPICS)

    queues = {
        r["Properties"]["QueueName"]["Fn::Sub"]: r["Properties"]
        for r in resources_of(template, "AWS::SQS::Queue").values()
    }
    wanted = {q.name for q in layout.queues} | {q.dlq for q in layout.queues}
    wanted |= {layout.restore_events, layout.restore_events_dlq}
    assert set(queues) == wanted

    reference = aws_layout.worker_queue_attributes(60, "DLQ", 5)
    for queue in layout.queues:
        properties = queues[queue.name]
        for key, value in reference.items():
            if key == "VisibilityTimeout":
                assert properties[key] == {"Ref": "QueueLeaseSeconds"}
            elif key == "RedrivePolicy":
                assert properties[key]["deadLetterTargetArn"]["Fn::GetAtt"][1] == "Arn"
            else:
                assert properties[key] == value, (queue.name, key)
        assert {k: queues[queue.dlq][k] for k in aws_layout.dlq_attributes()} == (
            aws_layout.dlq_attributes()
        )

    subscriptions = {
        (r["Properties"]["TopicArn"]["Ref"], r["Properties"]["Endpoint"]["Fn::GetAtt"][0])
        for r in resources_of(template, "AWS::SNS::Subscription").values()
        if r["Properties"]["RawMessageDelivery"] is True and r["Properties"]["Protocol"] == "sqs"
    }
    generate = cfn.generator()
    assert subscriptions == {
        (generate.topic_id(topic), generate.queue_id(kind))
        for kind, kind_topics in events.SUBSCRIPTIONS.items()
        for topic in kind_topics
    }


def test_redrive_allows_one_receive_more_than_the_attempts(template: dict[str, Any]) -> None:
    mapping = template["Mappings"]["RedriveMaxReceiveCount"]
    allowed = template["Parameters"]["QueueMaxAttempts"]["AllowedValues"]
    assert set(allowed) == set(mapping)
    for attempts in allowed:
        assert mapping[attempts]["Count"] == int(attempts) + 1


def test_every_resource_the_readme_promises_is_there(template: dict[str, Any]) -> None:
    promised = cfn.promised_resources()
    assert len(promised) >= 15
    by_id = template["Resources"]
    for ids, kind in promised:
        for logical_id in ids:
            if logical_id.endswith("*"):
                found = [
                    k
                    for k, r in by_id.items()
                    if k.startswith(logical_id[:-1]) and r["Type"] == kind
                ]
                assert found, f"README promises {logical_id} ({kind})"
            else:
                assert by_id.get(logical_id, {}).get("Type") == kind, (
                    f"README promises {logical_id} ({kind})"
                )
    # and nothing is left out of the README's table
    documented = {kind for _, kind in promised}
    assert {r["Type"] for r in by_id.values()} <= documented


def test_iam_roles_are_exactly_the_readme_table(template: dict[str, Any]) -> None:
    readme = cfn.readme_iam()
    roles = cfn.template_iam(template)
    assert set(roles) == {"web", "annotator", "utility"}
    for role, actions in roles.items():
        assert actions == readme[role], (
            role,
            "only in the template:",
            actions - readme[role],
            "only in the README:",
            readme[role] - actions,
        )


def _statements(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    policy = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_each_role_reaches_only_its_own_queues(template: dict[str, Any]) -> None:
    annotator = _statements(template, "AnnotatorRole")["Consume"]["Resource"]
    assert {r["Fn::GetAtt"][0] for r in annotator} == {"AnnotatorQueue", "AnnotatorDeadLetterQueue"}
    utility = _statements(template, "UtilityRole")["Consume"]["Resource"]
    text = " ".join(r["Fn::Sub"] for r in utility)
    assert "annotator" not in text
    for kind in ("notifier", "archiver", "restorer"):
        assert f"${{QueuePrefix}}-{kind}*" in text
    assert "Consume" not in _statements(template, "WebRole")
    assert "Cold" not in _statements(template, "WebRole")


def test_security_groups_let_only_the_load_balancer_reach_web_and_instances_the_database(
    template: dict[str, Any],
) -> None:
    groups = resources_of(template, "AWS::EC2::SecurityGroup")
    web = groups["WebSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0]) for r in web] == [
        (8000, "LoadBalancerSecurityGroup")
    ]
    assert "SecurityGroupIngress" not in groups["WorkerSecurityGroup"]["Properties"]
    database = groups["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {(r["FromPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0]) for r in database} == {
        (5432, "WebSecurityGroup"),
        (5432, "WorkerSecurityGroup"),
    }
    assert all("CidrIp" not in r for r in database + web)


def test_load_balancer_https_redirect_and_health_check(template: dict[str, Any]) -> None:
    listeners = {
        r["Properties"]["Port"]: r["Properties"]
        for r in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    target = template["Resources"]["WebTargetGroup"]["Properties"]
    assert target["HealthCheckPath"] == "/healthz"


def test_database_is_encrypted_private_and_its_password_is_managed(
    template: dict[str, Any],
) -> None:
    database = template["Resources"]["Database"]["Properties"]
    assert database["Engine"] == "postgres"
    assert database["StorageEncrypted"] is True
    assert database["PubliclyAccessible"] is False
    assert database["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in database
    assert database["MultiAZ"] == {"Fn::If": ["IsMultiAZ", True, False]}


def _user_data(template: dict[str, Any], role: str) -> tuple[str, dict[str, Any]]:
    data = template["Resources"][f"{role}LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script, variables = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    return script, variables


@pytest.mark.parametrize(
    ("role", "commands"),
    [
        ("Web", ["web --host 0.0.0.0 --port 8000"]),
        ("Annotator", ["worker annotator"]),
        ("Utility", ["worker notifier", "worker archiver", "worker restorer"]),
    ],
)
def test_user_data_installs_gas_and_runs_the_role_as_systemd_services(
    template: dict[str, Any], role: str, commands: list[str]
) -> None:
    script, variables = _user_data(template, role)
    units = variables["Units"]
    units = units["Fn::Sub"] if isinstance(units, dict) else units
    for command in commands:
        assert re.search(rf"^unit \w+ \S+ {command}$", units, re.M), units
    assert "pip install --quiet '${GasPackage}'" in script
    assert "KillSignal=SIGTERM" in script and "KillMode=mixed" in script
    assert "TimeoutStopSec=$timeout" in script
    if role != "Web":
        assert "${DrainTimeoutSeconds}" in units
    # secrets are fetched at start into the service's tmpfs, never written into user data
    assert "GAS_SECRET_KEY_FILE=$run/secret_key" in script
    assert "aws secretsmanager get-secret-value" in script
    assert not re.search(r"GAS_(SECRET_KEY|DATABASE_URL|STRIPE_SECRET_KEY)=[^$ ]", script)


def test_user_data_is_valid_bash_once_substituted(template: dict[str, Any]) -> None:
    script, _ = _user_data(template, "Utility")
    rendered = re.sub(r"\$\{!([^}]*)\}", r"${\1}", re.sub(r"\$\{[A-Za-z0-9:.]+\}", "x", script))
    result = subprocess.run(
        ["bash", "-n"], input=rendered, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert base64.b64encode(rendered.encode())  # fits the launch template's Base64


def _metric_math(queries: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], str]:
    """The metric queries by id, and the expression of the one that returns data."""
    by_id = {m["Id"]: m for m in queries}
    returned = [m for m in queries if m.get("ReturnData", True)]
    assert len(returned) == 1
    return by_id, returned[0]["Expression"]


def _scale_in_alarm(template: dict[str, Any], alarm_id: str, policy_id: str) -> dict[str, Any]:
    """An alarm of ours that runs a simple scaling policy of the group after 15 of 15 minutes."""
    alarm = template["Resources"][alarm_id]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    props = alarm["Properties"]
    assert props["AlarmActions"] == [{"Ref": policy_id}]
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 15
    assert props["ComparisonOperator"] == "LessThanThreshold"
    policy = template["Resources"][policy_id]["Properties"]
    assert policy["PolicyType"] == "SimpleScaling"
    return props


def test_web_scales_out_on_requests_per_target_and_never_in_by_target_tracking(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["WebScaling"]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ALBRequestCountPerTarget"
    )
    assert tracking["TargetValue"] == {"Ref": "WebRequestsPerTarget"}
    # no datapoint without requests, and hunting by one: scale-in is the alarms' job
    assert tracking["DisableScaleIn"] is True


def test_web_scales_in_one_at_a_time_on_requests_per_instance_read_as_0_when_idle(
    template: dict[str, Any],
) -> None:
    alarm = _scale_in_alarm(template, "WebScaleInAlarm", "WebScaleIn")
    assert alarm["Threshold"] == {"Ref": "WebScaleInRequestsPerTarget"}
    metrics, expression = _metric_math(alarm["Metrics"])
    assert expression == "FILL(requests, 0) / instances"
    requests = metrics["requests"]["MetricStat"]
    assert requests["Metric"]["MetricName"] == "RequestCount"
    assert requests["Stat"] == "Sum" and requests["Period"] == 60
    dims = {d["Name"] for d in requests["Metric"]["Dimensions"]}
    assert dims == {"LoadBalancer", "TargetGroup"}
    instances = metrics["instances"]["MetricStat"]["Metric"]
    assert instances["MetricName"] == "GroupInServiceInstances"
    assert instances["Dimensions"][0]["Value"] == {"Ref": "WebGroup"}
    policy = template["Resources"]["WebScaleIn"]["Properties"]
    assert policy["AutoScalingGroupName"] == {"Ref": "WebGroup"}
    assert (policy["AdjustmentType"], policy["ScalingAdjustment"]) == ("ChangeInCapacity", -1)
    assert policy["Cooldown"] == "300"
    # the threshold leaves headroom: removing one of 3 keeps the rest below the target
    params = template["Parameters"]
    assert (
        params["WebScaleInRequestsPerTarget"]["Default"] * 3 / 2
        < (params["WebRequestsPerTarget"]["Default"])
    )


def test_idle_groups_go_back_to_their_minimum(template: dict[str, Any]) -> None:
    web = _scale_in_alarm(template, "WebIdleAlarm", "WebIdle")
    assert (web["MetricName"], web["Statistic"], web["Threshold"]) == ("RequestCount", "Sum", 1)
    assert web["TreatMissingData"] == "breaching"  # no request: no datapoint at all
    annotators = _scale_in_alarm(template, "AnnotatorIdleAlarm", "AnnotatorIdle")
    _, expression = _metric_math(annotators["Metrics"])
    assert expression == "visible + in_flight" and annotators["Threshold"] == 1
    for policy_id, group, minimum in (
        ("WebIdle", "WebGroup", "WebMinSize"),
        ("AnnotatorIdle", "AnnotatorGroup", "AnnotatorMinSize"),
    ):
        policy = template["Resources"][policy_id]["Properties"]
        assert policy["AutoScalingGroupName"] == {"Ref": group}
        assert policy["AdjustmentType"] == "ExactCapacity"
        assert policy["ScalingAdjustment"] == {"Ref": minimum}


def test_annotators_scale_out_on_load_per_instance(template: dict[str, Any]) -> None:
    policy = template["Resources"]["AnnotatorScaling"]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingConfiguration"]
    assert tracking["TargetValue"] == {"Ref": "AnnotatorLoadPerInstance"}
    assert tracking["DisableScaleIn"] is True
    metrics, expression = _metric_math(tracking["CustomizedMetricSpecification"]["Metrics"])
    assert expression == "(visible + in_flight) / instances"
    queue = {"Fn::GetAtt": ["AnnotatorQueue", "QueueName"]}
    for metric_id, name in (
        ("visible", "ApproximateNumberOfMessagesVisible"),
        ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
    ):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert metric["MetricName"] == name
        assert metric["Dimensions"][0]["Value"] == queue
    instances = metrics["instances"]["MetricStat"]["Metric"]
    assert instances["MetricName"] == "GroupInServiceInstances"
    group = template["Resources"]["AnnotatorGroup"]["Properties"]
    assert "GroupInServiceInstances" in group["MetricsCollection"][0]["Metrics"]
    # one job running + the 4 waiting that 120 s of acceptable wait allows at 30 s a job
    assert template["Parameters"]["AnnotatorLoadPerInstance"]["Default"] == 5


def test_annotators_scale_in_one_at_a_time_on_the_same_load(template: dict[str, Any]) -> None:
    alarm = _scale_in_alarm(template, "AnnotatorScaleInAlarm", "AnnotatorScaleIn")
    assert alarm["Threshold"] == {"Ref": "AnnotatorScaleInLoadPerInstance"}
    tracked = template["Resources"]["AnnotatorScaling"]["Properties"]
    tracked_metrics, tracked_expression = _metric_math(
        tracked["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
    )
    metrics, expression = _metric_math(alarm["Metrics"])
    assert expression == tracked_expression
    for metric_id, query in metrics.items():
        if "MetricStat" in query:
            stat = query["MetricStat"]
            assert stat["Metric"] == tracked_metrics[metric_id]["MetricStat"]["Metric"]
            assert stat["Period"] == 60
    policy = template["Resources"]["AnnotatorScaleIn"]["Properties"]
    assert policy["AutoScalingGroupName"] == {"Ref": "AnnotatorGroup"}
    assert (policy["AdjustmentType"], policy["ScalingAdjustment"]) == ("ChangeInCapacity", -1)
    assert policy["Cooldown"] == "300"
    # removing one of 3 leaves the others less than fully busy
    assert template["Parameters"]["AnnotatorScaleInLoadPerInstance"]["Default"] * 3 / 2 < 1


def test_the_simulation_models_the_templates_policies(template: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location(
        "gas_deploy_simulate_t", cfn.ROOT / "deploy" / "simulate.py"
    )
    assert spec is not None and spec.loader is not None
    sim = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = sim  # dataclasses look their module up
    spec.loader.exec_module(sim)
    ours, params = sim.GasPolicy(), template["Parameters"]
    assert ours.web_requests_per_target == params["WebRequestsPerTarget"]["Default"]
    assert ours.web_scale_in_below == params["WebScaleInRequestsPerTarget"]["Default"]
    assert (ours.metric, ours.scale_in, ours.web_scale_in) == ("load", "alarm", "alarm")
    assert ours.target == params["AnnotatorLoadPerInstance"]["Default"]
    assert ours.scale_in_below == params["AnnotatorScaleInLoadPerInstance"]["Default"]
    assert ours.scale_in_cooldown_s == int(
        template["Resources"]["AnnotatorScaleIn"]["Properties"]["Cooldown"]
    )
    assert ours.scale_in_cooldown_s == int(
        template["Resources"]["WebScaleIn"]["Properties"]["Cooldown"]
    )
    assert ours.scale_in_points == ours.web_idle_points == ours.annotator_idle_points == 15
    assert (
        ours.warmup_s
        == template["Resources"]["AnnotatorScaling"]["Properties"]["EstimatedInstanceWarmup"]
    )
    assert not ours.fill_missing_with_zero and ours.idle_scale_in_s is None


def test_annotators_protect_themselves_and_drain_on_termination(
    template: dict[str, Any],
) -> None:
    _, variables = _user_data(template, "Annotator")
    assert variables["Drain"] == "true"
    script, _ = _user_data(template, "Annotator")
    assert "GAS_AWS_SCALE_IN_PROTECTION=${ScaleInProtection}" in script
    hook = template["Resources"]["AnnotatorDrainHook"]["Properties"]
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["LifecycleHookName"] == "gas-drain" and "gas-drain" in script
    statements = _statements(template, "AnnotatorRole")
    assert "autoscaling:SetInstanceProtection" in statements["ScaleInProtection"]["Action"]
