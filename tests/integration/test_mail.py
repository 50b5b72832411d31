"""Contract tests of the Mailer port on the outbox directory and on a real local SMTP server."""

from __future__ import annotations

import email
import email.policy
import importlib.util
import io
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gas.adapters.mail import OutboxMailer, SmtpMailer, mailer_from_url
from gas.ports import Mailer
from tests.fakes import FakeMailer

# "fake": tests.fakes.FakeMailer, the service tests' mailer, held to the same contract
MAILER_KINDS = ["outbox", "smtp", "ses", "fake"]
HAS_CRYPTOGRAPHY = importlib.util.find_spec("cryptography") is not None
needs_tls_cert = pytest.mark.skipif(
    not HAS_CRYPTOGRAPHY,
    reason="TLS tests need a self-signed certificate made with the 'cryptography' package, "
    "which is not installed",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """An aiosmtpd handler that keeps every envelope and can refuse chosen recipients."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        # Parsed as the outbox's files are, so both backends are compared alike (CRLF → LF).
        return [
            email.message_from_binary_file(io.BytesIO(e.content), policy=email.policy.default)
            for e in self.envelopes
        ]


@contextmanager
def smtp_server(handler: Collector, **kwargs) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def make_message(
    *,
    to: str = "alice@example.org",
    subject: str = "Results available for job 42",
    body: str = "Your job completed at 2025-01-01 12:00 UTC.\nhttp://127.0.0.1:8000/jobs/42\n",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "GAS <gas@example.org>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def outbox_messages(directory: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(directory.glob("*.eml")):
        with path.open("rb") as fh:
            messages.append(email.message_from_binary_file(fh, policy=email.policy.default))
    return messages


@pytest.fixture(params=MAILER_KINDS)
def mail_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Mailer, Callable[[], list[EmailMessage]]]]:
    """A mailer and a function returning what it delivered, parsed back."""
    if request.param == "outbox":
        directory = tmp_path / "outbox"
        yield OutboxMailer(directory), lambda: outbox_messages(directory)
    elif request.param == "smtp":
        handler = Collector()
        with smtp_server(handler) as port:
            yield SmtpMailer("127.0.0.1", port, timeout=10), handler.messages
    elif request.param == "ses":  # SES v2 on moto's server (tests/aws/moto_server.py)
        from gas.adapters.ses import SesMailer

        sent = request.getfixturevalue("ses_outbox")  # verifies the sender identity
        mailer = SesMailer(request.getfixturevalue("sesv2_client"))
        yield (
            mailer,
            lambda: [
                # Parsed as the outbox's files are (CRLF → LF), like the SMTP kind's.
                email.message_from_binary_file(io.BytesIO(raw), policy=email.policy.default)
                for raw in sent()
            ],
        )
    elif request.param == "fake":
        fake = FakeMailer()
        yield (
            fake,
            lambda: [
                email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
                for m in fake.sent
            ],
        )
    else:
        raise AssertionError(request.param)


# --- contract -------------------------------------------------------------------------------


def test_a_sent_message_arrives_with_its_headers_and_body(mail_backend) -> None:
    mailer, delivered = mail_backend

    mailer.send(make_message())

    [received] = delivered()
    assert received["From"] == "GAS <gas@example.org>"
    assert received["To"] == "alice@example.org"
    assert received["Subject"] == "Results available for job 42"
    assert received.get_content() == (
        "Your job completed at 2025-01-01 12:00 UTC.\nhttp://127.0.0.1:8000/jobs/42\n"
    )


def test_date_and_message_id_are_added_when_missing(mail_backend) -> None:
    mailer, delivered = mail_backend

    mailer.send(make_message())

    [received] = delivered()
    assert received["Date"].datetime.tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", str(received["Message-ID"]))


def test_an_existing_message_id_and_date_are_kept(mail_backend) -> None:
    mailer, delivered = mail_backend
    message = make_message()
    message["Message-ID"] = "<job-42.completed@gas.example.org>"
    message["Date"] = "Wed, 01 Jan 2025 12:00:00 +0000"

    mailer.send(message)

    [received] = delivered()
    assert received["Message-ID"] == "<job-42.completed@gas.example.org>"
    assert received["Date"] == "Wed, 01 Jan 2025 12:00:00 +0000"


def test_non_ascii_subject_and_body_survive(mail_backend) -> None:
    mailer, delivered = mail_backend

    mailer.send(make_message(subject="Résultats — job 42 ✓", body="Données prêtes: ✓\n"))

    [received] = delivered()
    assert received["Subject"] == "Résultats — job 42 ✓"
    assert received.get_content() == "Données prêtes: ✓\n"


def test_each_message_is_delivered_once(mail_backend) -> None:
    mailer, delivered = mail_backend

    for n in range(3):
        mailer.send(make_message(subject=f"message {n}"))

    assert sorted(m["Subject"] for m in delivered()) == ["message 0", "message 1", "message 2"]


# --- outbox ---------------------------------------------------------------------------------


def test_outbox_writes_one_crlf_file_and_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "outbox"
    caplog.set_level(logging.INFO, logger="gas.mail")

    OutboxMailer(directory).send(make_message())

    [path] = list(directory.iterdir())
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{16}\.eml", path.name)
    data = path.read_bytes()
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    records = [r for r in caplog.records if r.name == "gas.mail"]
    assert [r.levelno for r in records] == [logging.INFO]
    assert records[0].getMessage() == (
        f"outbox: to=alice@example.org subject=Results available for job 42 file={path}"
    )


def test_outbox_file_names_sort_in_sending_order(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path)
    for n in range(5):
        mailer.send(make_message(subject=f"message {n}"))

    subjects = [m["Subject"] for m in outbox_messages(tmp_path)]
    assert subjects == [f"message {n}" for n in range(5)]


def test_outbox_creates_its_directory_on_first_send(tmp_path: Path) -> None:
    directory = tmp_path / "not" / "yet"
    mailer = OutboxMailer(directory)
    assert not directory.exists()
    mailer.send(make_message())
    assert len(list(directory.glob("*.eml"))) == 1


def test_outbox_that_cannot_be_created_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(OSError):
        OutboxMailer(blocker).send(make_message())


def test_outbox_failure_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gas.adapters.mail as mail_module

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mail_module.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        OutboxMailer(tmp_path).send(make_message())
    assert list(tmp_path.iterdir()) == []


# --- SMTP -----------------------------------------------------------------------------------


def test_smtp_envelope_uses_the_message_addresses() -> None:
    handler = Collector()
    with smtp_server(handler) as port:
        SmtpMailer("127.0.0.1", port, timeout=10).send(make_message(to="Bob <bob@example.org>"))

    [envelope] = handler.envelopes
    assert envelope.mail_from == "gas@example.org"
    assert envelope.rcpt_tos == ["bob@example.org"]


def test_smtp_with_nothing_listening_raises() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), timeout=5)
    with pytest.raises(OSError):
        mailer.send(make_message())


def test_smtp_refused_recipient_raises() -> None:
    handler = Collector()
    handler.refuse.add("nobody@example.org")
    with (
        smtp_server(handler) as port,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        SmtpMailer("127.0.0.1", port, timeout=10).send(make_message(to="nobody@example.org"))
    assert handler.envelopes == []


def accept_only(username: str, password: str):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then answers "535" itself (its default assumes we replied).
        return AuthResult(success=ok, handled=False)

    return authenticator


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
def test_smtp_logs_in_when_given_credentials() -> None:
    handler = Collector()
    with smtp_server(
        handler,
        authenticator=accept_only("gas", "s3cret:pw"),
        auth_required=True,
        auth_require_tls=False,
    ) as port:
        mailer = mailer_from_url(f"smtp://gas:s3cret%3Apw@127.0.0.1:{port}")
        mailer.send(make_message())

    assert len(handler.envelopes) == 1


@AUTH_WITHOUT_TLS
def test_smtp_wrong_password_raises() -> None:
    handler = Collector()
    with (
        smtp_server(
            handler,
            authenticator=accept_only("gas", "right"),
            auth_required=True,
            auth_require_tls=False,
        ) as port,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        SmtpMailer("127.0.0.1", port, username="gas", password="wrong", timeout=10).send(
            make_message()
        )
    assert handler.envelopes == []


# --- SMTP over TLS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GAS test SMTP server")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(tls_cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    return context


@needs_tls_cert
def test_smtp_starttls_then_login(tls_cert: tuple[Path, Path]) -> None:
    handler = Collector()
    with smtp_server(
        handler,
        tls_context=server_context(tls_cert),
        require_starttls=True,
        authenticator=accept_only("gas", "pw"),
        auth_required=True,
    ) as port:
        SmtpMailer(
            "127.0.0.1",
            port,
            username="gas",
            password="pw",
            starttls=True,
            timeout=10,
            ssl_context=ssl.create_default_context(cafile=str(tls_cert[0])),
        ).send(make_message())

    [received] = handler.messages()
    assert received["Subject"] == "Results available for job 42"


@needs_tls_cert
def test_smtp_starttls_refuses_an_untrusted_certificate(tls_cert: tuple[Path, Path]) -> None:
    handler = Collector()
    with (
        smtp_server(handler, tls_context=server_context(tls_cert), require_starttls=True) as port,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        SmtpMailer("127.0.0.1", port, starttls=True, timeout=10).send(make_message())
    assert handler.envelopes == []


@needs_tls_cert
def test_smtps_implicit_tls(tls_cert: tuple[Path, Path]) -> None:
    handler = Collector()
    with smtp_server(handler, ssl_context=server_context(tls_cert)) as port:
        SmtpMailer(
            "127.0.0.1",
            port,
            ssl=True,
            timeout=10,
            ssl_context=ssl.create_default_context(cafile=str(tls_cert[0])),
        ).send(make_message())

    assert len(handler.envelopes) == 1


# --- mailer_from_url --------------------------------------------------------------------------


def test_outbox_url_with_an_absolute_path(tmp_path: Path) -> None:
    mailer = mailer_from_url(f"outbox://{tmp_path}/out")
    assert isinstance(mailer, OutboxMailer)
    assert mailer.directory == tmp_path / "out"
    assert str(tmp_path).startswith("/")


def test_outbox_url_with_a_relative_path() -> None:
    mailer = mailer_from_url("outbox://var/outbox")
    assert isinstance(mailer, OutboxMailer)
    assert mailer.directory == Path("var/outbox")


def test_outbox_url_of_the_default_setting_sends_there(tmp_path: Path) -> None:
    mailer_from_url(f"outbox://{tmp_path / 'outbox'}").send(make_message())
    assert len(outbox_messages(tmp_path / "outbox")) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org:2525", ("mail.example.org", 2525, None, None, False, False)),
        ("smtp://mail.example.org", ("mail.example.org", 25, None, None, False, False)),
        (
            "smtp://user:p%40ss%3Aw%2Frd@mail.example.org:587?starttls=true",
            ("mail.example.org", 587, "user", "p@ss:w/rd", True, False),
        ),
        (
            "smtp://me%40example.org:pw@mail.example.org:587?starttls=1",
            ("mail.example.org", 587, "me@example.org", "pw", True, False),
        ),
        ("smtps://u:pw@mail.example.org", ("mail.example.org", 465, "u", "pw", False, True)),
        ("smtps://mail.example.org:4650", ("mail.example.org", 4650, None, None, False, True)),
        ("SMTP://127.0.0.1:25?starttls=false", ("127.0.0.1", 25, None, None, False, False)),
    ],
)
def test_smtp_urls(url: str, expected: tuple) -> None:
    mailer = mailer_from_url(url)
    assert isinstance(mailer, SmtpMailer)
    got = (
        mailer.host,
        mailer.port,
        mailer.username,
        mailer.password,
        mailer.starttls,
        mailer.ssl,
    )
    assert got == expected


def test_smtp_url_timeout() -> None:
    mailer = mailer_from_url("smtp://h:25?timeout=2.5")
    assert isinstance(mailer, SmtpMailer)
    assert mailer.timeout == 2.5


def test_smtp_repr_hides_the_password() -> None:
    mailer = mailer_from_url("smtp://user:hunter2@h:25")
    assert "hunter2" not in repr(mailer)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ses://", "ses:// needs the AWS settings"),
        ("ftp://user:hunter2@h", "GAS_MAIL_URL"),
        ("/var/outbox", "GAS_MAIL_URL"),
        ("outbox://", "GAS_MAIL_URL"),
        ("smtp://", "GAS_MAIL_URL"),
        ("smtp://user:hunter2@h:notaport", "GAS_MAIL_URL"),
        ("smtp://h?starttls=maybe", "GAS_MAIL_URL"),
        ("smtp://h?tls=yes", "GAS_MAIL_URL"),
        ("smtps://h?starttls=true", "GAS_MAIL_URL"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        mailer_from_url(url)
    assert "hunter2" not in str(caught.value)


def test_a_url_built_mailer_delivers_to_a_real_server() -> None:
    handler = Collector()
    with smtp_server(handler) as port:
        mailer_from_url(f"smtp://127.0.0.1:{port}").send(make_message())
    assert len(handler.envelopes) == 1
