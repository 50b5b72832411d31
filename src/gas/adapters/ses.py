"""Mail through Amazon SES (``GAS_MAIL_URL=ses://[?configuration_set=NAME]``).

Each message is sent as raw RFC 5322 bytes with the SES v2 ``SendEmail`` API
(``Content.Raw``), so what SES delivers is exactly what the outbox and SMTP mailers would have
written, with the same ``Date`` and ``Message-ID`` completion. SES takes the sender from the
``From`` header (an identity verified in SES) and the recipients from ``To``/``Cc``/``Bcc``.
Any failure raises (botocore's ``ClientError`` or a connection error, after the client's own
retries), so the event that asked for the message is retried.

AWS documents that SES sets its own ``Message-ID`` (and ``Date``) on what it delivers, so with
SES a retried message is not recognisable by its Message-ID the way it is with SMTP (moto keeps
the headers as sent). The IAM role that sends needs ``ses:SendEmail`` and ``ses:SendRawEmail``
on the sender identity (and on the configuration set, if one is named).
"""

from __future__ import annotations

import email.policy
import logging
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gas.adapters import aws
from gas.adapters.mail import _complete_headers, _one_line

log = logging.getLogger("gas.mail")

MAX_RAW_BYTES = 40 * 1024 * 1024  # SES v2's limit for a raw message, attachments included


class SesMailer:
    """The ``Mailer`` port over SES. ``client`` is a boto3 ``sesv2`` client
    (:func:`gas.adapters.aws.client`); ``configuration_set`` names the SES configuration set
    whose event destinations record sends, bounces and complaints."""

    def __init__(self, client: Any, *, configuration_set: str | None = None) -> None:
        self.client = client
        self.configuration_set = configuration_set

    def __repr__(self) -> str:
        extra = f", configuration_set={self.configuration_set!r}" if self.configuration_set else ""
        return f"SesMailer({self.client.meta.region_name!r}{extra})"

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; raises on failure."""
        _complete_headers(message)
        data = message.as_bytes(policy=email.policy.SMTP)
        if len(data) > MAX_RAW_BYTES:
            raise ValueError(f"message of {len(data)} bytes is over SES's {MAX_RAW_BYTES}")
        args: dict[str, Any] = {"Content": {"Raw": {"Data": data}}}
        if self.configuration_set:
            args["ConfigurationSetName"] = self.configuration_set
        answer = self.client.send_email(**args)
        log.info(
            "ses: to=%s subject=%s message_id=%s",
            _one_line(message["To"]),
            _one_line(message["Subject"]),
            answer.get("MessageId"),
        )


def ses_mailer_from_url(url: str, settings: aws.AwsSettings, *, client: Any = None) -> SesMailer:
    """The mailer named by ``GAS_MAIL_URL=ses://[?configuration_set=NAME]`` (the region and
    endpoint are ``GAS_AWS_REGION`` and ``GAS_AWS_ENDPOINT_URL``)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "ses":
        raise ValueError("GAS_MAIL_URL: expected ses://")
    if parts.netloc or parts.path.strip("/"):
        raise ValueError(
            "GAS_MAIL_URL: ses:// takes no host or path (the region is GAS_AWS_REGION), "
            "as in ses:// or ses://?configuration_set=gas"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    configuration_set = options.pop("configuration_set", None) or None
    if options:
        raise ValueError(
            f"GAS_MAIL_URL: unknown parameter(s) {sorted(options)} (known: configuration_set)"
        )
    return SesMailer(client or aws.client("sesv2", settings), configuration_set=configuration_set)
