"""SesMailer on moto's server: what the Mailer contract (tests/integration/test_mail.py, kind
"ses") does not cover — refusals, the exact bytes sent, configuration sets, ``ses://`` URLs.

moto's SES keeps every accepted message (``ses_sent_messages`` reads them back from the
server's backend, in this process) and, like SES in its sandbox, refuses a sender that is not a
verified identity; it does not check that a configuration set exists.
"""

from __future__ import annotations

import base64
import email.policy
import json
import re
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gas.adapters import aws
from gas.adapters.ses import SesMailer, ses_mailer_from_url
from tests.aws.moto_server import SENDER


def message(sender: str = f"GAS <{SENDER}>", to: str = "alice@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Results available for job 42"
    msg.set_content("Your job completed.\n")
    return msg


def capture_send_email(client: Any) -> list[dict[str, Any]]:
    """The request bodies of ``client``'s SendEmail calls (they still go to moto)."""
    bodies: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        bodies.append(json.loads(params["body"]))

    client.meta.events.register("before-call.sesv2.SendEmail", hook)
    return bodies


def test_the_raw_rfc5322_bytes_are_what_ses_receives(sesv2_client: Any, ses_outbox: Any) -> None:
    bodies = capture_send_email(sesv2_client)
    msg = message()

    SesMailer(sesv2_client).send(msg)

    [body] = bodies
    assert set(body) == {"Content"}  # sender and recipients come from the headers
    raw = base64.b64decode(body["Content"]["Raw"]["Data"])
    assert raw == msg.as_bytes(policy=email.policy.SMTP)  # Date/Message-ID added in place
    assert raw.count(b"\r\n") > 5 and b"\n" not in raw.replace(b"\r\n", b"")
    assert ses_outbox() == [raw]


def test_a_retry_of_the_same_message_keeps_its_message_id(
    sesv2_client: Any, ses_outbox: Any
) -> None:
    msg = message()
    mailer = SesMailer(sesv2_client)
    mailer.send(msg)
    mailer.send(msg)
    first, second = ses_outbox()
    message_id = re.compile(rb"Message-ID: (<[^>]+>)")
    assert message_id.findall(first) == message_id.findall(second)


def test_a_configuration_set_is_named_in_each_send(sesv2_client: Any, ses_outbox: Any) -> None:
    bodies = capture_send_email(sesv2_client)
    SesMailer(sesv2_client, configuration_set="gas-mail").send(message())
    assert bodies[0]["ConfigurationSetName"] == "gas-mail"
    assert len(ses_outbox()) == 1


def test_an_unverified_sender_is_refused_and_raises(sesv2_client: Any, ses_outbox: Any) -> None:
    with pytest.raises(ClientError, match="MessageRejected"):
        SesMailer(sesv2_client).send(message(sender="someone@elsewhere.example"))
    assert ses_outbox() == []


def test_an_unreachable_endpoint_raises(moto_endpoint: str) -> None:
    import socket

    from botocore.exceptions import EndpointConnectionError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = aws.client(
        "sesv2",
        aws.AwsConfig(aws_endpoint_url=f"http://127.0.0.1:{port}"),
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    with pytest.raises(EndpointConnectionError):
        SesMailer(client).send(message())


def test_mail_urls(aws_settings: aws.AwsConfig) -> None:
    plain = ses_mailer_from_url("ses://", aws_settings)
    assert plain.configuration_set is None
    assert plain.client.meta.endpoint_url == aws_settings.aws_endpoint_url
    assert plain.client.meta.service_model.service_name == "sesv2"
    named = ses_mailer_from_url("ses://?configuration_set=gas-mail", aws_settings)
    assert named.configuration_set == "gas-mail"
    assert "gas-mail" in repr(named)


@pytest.mark.parametrize(
    "url", ["smtp://h", "ses://email.us-east-1.amazonaws.com", "ses:///x", "ses://?region=x"]
)
def test_bad_mail_urls_are_refused(aws_settings: aws.AwsConfig, url: str) -> None:
    with pytest.raises(ValueError, match="GAS_MAIL_URL"):
        ses_mailer_from_url(url, aws_settings)
