"""Mail adapters: an outbox directory of RFC 5322 files (the default) and SMTP.

``mailer_from_url`` picks one from ``GAS_MAIL_URL``:

- ``outbox:///abs/path`` or ``outbox://relative/path`` — everything after ``outbox://`` is the
  directory;
- ``smtp://[user:pass@]host[:port][?starttls=true][&timeout=SECONDS]`` (port 25 by default);
- ``smtps://[user:pass@]host[:port]`` — TLS from the first byte (port 465 by default).
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import logging
import os
import secrets
import smtplib
import ssl as _ssl
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from gas.ports import Mailer

log = logging.getLogger("gas.mail")

_DEFAULT_MSGID_DOMAIN = "gas.localhost"


def _complete_headers(message: EmailMessage) -> None:
    """Add the Date and Message-ID headers a sender is expected to supply, if missing.

    The message is changed in place so that a retry of the same message keeps its Message-ID
    (receivers use it to drop duplicates).
    """
    if message["Date"] is None:
        message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    if message["Message-ID"] is None:
        # make_msgid() alone would call socket.getfqdn(), which can stall on DNS.
        _, sender = email.utils.parseaddr(str(message["From"] or ""))
        domain = sender.rpartition("@")[2] or _DEFAULT_MSGID_DOMAIN
        message["Message-ID"] = email.utils.make_msgid(domain=domain)


def _one_line(value: object) -> str:
    return " ".join(str(value or "").split())


class OutboxMailer:
    """Files each message in ``directory`` as ``<UTC timestamp>-<random>.eml`` (CRLF, RFC 5322).

    Meant for development and single-machine use: nothing leaves the machine. One INFO line per
    message is logged on ``gas.mail`` so the operator sees where it went.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.directory)!r})"

    def send(self, message: EmailMessage) -> None:
        """Write ``message`` atomically (temp file + rename) into the outbox directory."""
        _complete_headers(message)
        data = message.as_bytes(policy=email.policy.SMTP)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        final = self.directory / f"{stamp}-{secrets.token_hex(8)}.eml"
        # The temp name does not end in .eml, so readers globbing *.eml never see a partial file.
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        log.info(
            "outbox: to=%s subject=%s file=%s",
            _one_line(message["To"]),
            _one_line(message["Subject"]),
            final,
        )


class SmtpMailer:
    """Sends each message over SMTP, one connection per message.

    ``starttls`` upgrades a plain connection; ``ssl`` uses TLS from the start (SMTPS). Both
    verify the server's certificate with ``ssl_context`` (the system's trust store by default).
    Any failure raises, so the event that asked for the message is retried.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose STARTTLS or implicit TLS (smtps), not both")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        tls = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        user = f", username={self.username!r}" if self.username else ""
        return f"SmtpMailer({self.host!r}, {self.port}, {tls}{user})"

    def _connect(self) -> smtplib.SMTP:
        # local_hostname is given so smtplib does not call socket.getfqdn(), which can stall.
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname="localhost",
                timeout=self.timeout,
                context=self.ssl_context or _ssl.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, local_hostname="localhost", timeout=self.timeout)

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to the server; raises OSError or smtplib.SMTPException."""
        _complete_headers(message)
        with self._connect() as smtp:
            if self.starttls:
                smtp.starttls(context=self.ssl_context or _ssl.create_default_context())
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(message)
        if refused:
            # Some recipients were accepted: retrying would send them a second copy.
            log.warning("smtp: some recipients refused: %s", refused)
        log.info(
            "smtp: to=%s subject=%s via=%s:%s",
            _one_line(message["To"]),
            _one_line(message["Subject"]),
            self.host,
            self.port,
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _smtp_from_url(url: str) -> SmtpMailer:
    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    try:
        port = parts.port
    except ValueError:
        raise ValueError("GAS_MAIL_URL has an invalid port") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"GAS_MAIL_URL needs a host, as in {parts.scheme}://mail.example.org:25")
    starttls = False
    timeout: float = 30
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "starttls":
            if value.lower() in _TRUE:
                starttls = True
            elif value.lower() in _FALSE:
                starttls = False
            else:
                raise ValueError(f"GAS_MAIL_URL: starttls must be true or false, got {value!r}")
        elif name == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ValueError(f"GAS_MAIL_URL: timeout must be a number, got {value!r}") from None
        else:
            raise ValueError(f"GAS_MAIL_URL: unknown parameter {name!r} (known: starttls, timeout)")
    if implicit_tls and starttls:
        raise ValueError("GAS_MAIL_URL: smtps:// is already TLS; drop ?starttls=true")
    return SmtpMailer(
        host,
        port if port is not None else (465 if implicit_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        starttls=starttls,
        ssl=implicit_tls,
        timeout=timeout,
    )


def mailer_from_url(url: str, settings: Any = None) -> Mailer:
    """The mailer named by a ``GAS_MAIL_URL`` value (see the module docstring). ``ses://``
    needs ``settings`` (the AWS region and endpoint)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(
            "GAS_MAIL_URL must look like outbox:///path, smtp://host:port or smtps://host:port"
        )
    if scheme == "outbox":
        if not rest:
            raise ValueError("GAS_MAIL_URL: outbox:// needs a directory, as in outbox:///var/mail")
        return OutboxMailer(Path(rest))
    if scheme in {"smtp", "smtps"}:
        return _smtp_from_url(url)
    if scheme == "ses":
        if settings is None:
            raise ValueError("GAS_MAIL_URL: ses:// needs the AWS settings (GAS_AWS_REGION …)")
        from gas.adapters.ses import ses_mailer_from_url

        return ses_mailer_from_url(url, settings)
    # Only the scheme is named: the rest of the URL may hold a password.
    raise ValueError(
        f"GAS_MAIL_URL has an unknown scheme {scheme!r} (use outbox://, smtp:// or smtps://)"
    )
