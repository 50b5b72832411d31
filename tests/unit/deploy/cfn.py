"""Helpers for the tests of deploy/aws: the template, its generator, and the README's promises."""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "aws"
TEMPLATES = sorted(DEPLOY.glob("*.yaml"))
MAIN = DEPLOY / "gas.yaml"
README = ROOT / "README.md"


def load(path: Path = MAIN) -> dict[str, Any]:
    """The template as plain data (short tags such as !Ref become their long form), parsed with
    cfn-lint's CloudFormation-aware YAML decoder."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    assert template is not None
    return json.loads(json.dumps(template, default=str))


@cache
def generator() -> ModuleType:
    """deploy/aws/generate.py, imported."""
    spec = importlib.util.spec_from_file_location("gas_deploy_generate", DEPLOY / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_aws_section() -> str:
    text = README.read_text()
    start = text.index("### On AWS")
    end = text.index("\n## ", start)
    return text[start:end]


def _table_after(text: str, marker: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after ``marker``, header and rule left out."""
    lines = text[text.index(marker) :].splitlines()
    rows: list[list[str]] = []
    started = False
    for line in lines[1:]:
        if line.startswith("|"):
            started = True
            cells = re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))
            rows.append([c.strip() for c in cells])
        elif started:
            break
    return [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]


def promised_resources() -> list[tuple[list[str], str]]:
    """README's "What the stack creates": (logical ids, some ending in ``*``; resource type)."""
    rows = _table_after(on_aws_section(), "**What the stack creates**")
    out = []
    for row in rows:
        ids = re.findall(r"`([A-Za-z0-9*]+)`", row[0])
        kind = re.findall(r"`(AWS::[A-Za-z0-9:]+)`", row[1])
        assert ids and len(kind) == 1, row
        out.append((ids, kind[0]))
    return out


ACTION = re.compile(r"`([a-z0-9-]+:[A-Z][A-Za-z]*)`")


def readme_iam() -> dict[str, set[str]]:
    """README's IAM permissions: role → the actions it is granted ("Every role" included)."""
    section = on_aws_section()
    marker = "**IAM permissions**"
    start = section.index(marker)
    every_role = section[start : section.index("\n|", start)]
    common = set(ACTION.findall(every_role))
    roles = {}
    for row in _table_after(section, marker):
        role = row[0].split(" ")[0]
        roles[role] = common | set(ACTION.findall(row[1]))
    return roles


def template_iam(template: dict[str, Any]) -> dict[str, set[str]]:
    """role (``WebRole`` → ``web``) → the actions its inline policies allow."""
    roles = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        actions: set[str] = set()
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                found = statement["Action"]
                actions |= {found} if isinstance(found, str) else set(found)
        roles[name.removesuffix("Role").lower()] = actions
    return roles


# --- the template as moto's CloudFormation can deploy it -------------------------------------

# What moto (5.x) cannot create through CloudFormation: resource types it has no model for, and
# attributes its models do not answer. README "On AWS" lists the same.
MOTO_UNSUPPORTED_TYPES = frozenset(
    {
        "AWS::SNS::Subscription",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SecretsManager::Secret",
        "AWS::AutoScaling::ScalingPolicy",
        "AWS::AutoScaling::LifecycleHook",
        "AWS::CloudWatch::Alarm",
    }
)
MOTO_UNSUPPORTED_ATTRIBUTES = frozenset(
    {("Database", "MasterUserSecret.SecretArn"), ("LoadBalancer", "CanonicalHostedZoneID")}
)


def moto_unsupported_types(template: dict[str, Any]) -> set[str]:
    from moto.cloudformation.parsing import get_model_map

    return {r["Type"] for r in template["Resources"].values()} - set(get_model_map())


def placeholder(name: str, attribute: str | None = None) -> str:
    suffix = f"/{attribute}" if attribute else ""
    return f"arn:aws:moto-unsupported:us-east-1:123456789012:{name}{suffix}"


def for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``template`` without the resources moto cannot create (returned too), every reference to
    them, or to an attribute moto does not answer, replaced by a placeholder ARN."""
    dropped = {k for k, r in template["Resources"].items() if r["Type"] in MOTO_UNSUPPORTED_TYPES}

    def gone(name: str, attribute: str | None) -> bool:
        return name in dropped or (name, attribute or "") in MOTO_UNSUPPORTED_ATTRIBUTES

    def substitute(match: re.Match[str]) -> str:
        name, _, attribute = match.group(1).partition(".")
        return placeholder(name, attribute) if gone(name, attribute) else match.group(0)

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if list(value) == ["Ref"] and value["Ref"] in dropped:
            return placeholder(value["Ref"])
        if list(value) == ["Fn::GetAtt"]:
            target = value["Fn::GetAtt"]
            name, attribute = target if isinstance(target, list) else target.split(".", 1)
            if gone(name, attribute):
                return placeholder(name, attribute)
        if list(value) == ["Fn::Sub"]:
            sub = value["Fn::Sub"]
            text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, None)
            text = re.sub(r"\$\{([A-Za-z0-9:.]+)\}", substitute, text)
            return {"Fn::Sub": text if variables is None else [text, walk(variables)]}
        out = {}
        for key, item in value.items():
            if key == "DependsOn":
                needed = [
                    d for d in ([item] if isinstance(item, str) else item) if d not in dropped
                ]
                if needed:
                    out[key] = needed
                continue
            out[key] = walk(item)
        return out

    filtered = dict(template)
    filtered["Resources"] = {
        k: walk(r) for k, r in template["Resources"].items() if k not in dropped
    }
    filtered["Outputs"] = walk(template.get("Outputs", {}))
    return filtered, dropped
