"""The whole journey with the ``aws`` configuration and PostgreSQL, on moto's server.

Every backend is on "AWS" (moto's server, started in this process on a loopback port): S3 for
objects, S3 Glacier for the cold store, SNS/SQS for messages, SES for mail; the database is
PostgreSQL. ``gas aws bootstrap`` creates the buckets, topics, queues and notifications; then
the web server and each kind of worker run as separate processes, as they would on separate
machines, sharing only PostgreSQL and "AWS".

The journey: sign up → upload by presigned POST straight to S3 → annotated → "Results
available" sent through SES → download (a presigned GET from S3) → the Free window ends:
archived to Glacier (the API answers 409) → upgrade (``gas users set-plan``) → restoring (a
RestoreObject, held in progress here) → S3's ``s3:ObjectRestore:Completed`` event reaches the
restorer's bridge through SQS → restored (thawed back to S3) → the same bytes download again →
"have been restored" sent through SES.

moto notes: moto finishes a restore the first time something reads the object after
RestoreObject, and that read is what makes it send ``s3:ObjectRestore:Completed`` to the queue
configured on the bucket. The ``moto_restores`` fixture holds restores in progress instead, so
that "restoring" can be seen; the test then lets the restore finish and reads the object
(HeadObject), standing in for the hours S3 takes. moto's SES keeps the messages it accepted in
its backend, in this process, which is where the test reads them.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from gas.adapters import aws
from tests.aws.moto_server import REGION, assert_loopback, ses_sent_messages
from tests.e2e.conftest import wait_for
from tests.e2e.test_serve import VCF, sign_up
from tests.integration.web.test_presigned_upload import FormParser

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.postgres]

OBJECTS = "gas-e2e-objects"
COLD = "gas-e2e-cold"
SENDER = "gas-e2e@example.org"
USER = "barbara@example.org"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def mails_to(moto_endpoint: str, address: str, subject: str) -> list[EmailMessage]:
    """The messages SES accepted for ``address`` with ``subject``."""
    found = []
    for raw in ses_sent_messages(moto_endpoint):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        to = [a.addr_spec for a in message["To"].addresses] if message["To"] else []
        # (a Subject longer than a line is folded right after "Subject:", and Python's parser
        # keeps the space that starts the continuation line)
        if address in to and str(message["Subject"]).strip() == subject:
            found.append(message)
    return found


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def aws_server(make_server, moto_endpoint: str, **extra: str):  # type: ignore[no-untyped-def]
    """A GAS installation whose every backend is on moto, bootstrapped (not started)."""
    assert_loopback(moto_endpoint)
    settings = aws.AwsConfig(aws_region=REGION, aws_endpoint_url=moto_endpoint)
    aws.client("ses", settings).verify_email_identity(EmailAddress=SENDER)  # SES's sandbox
    server = make_server(
        GAS_STORAGE_URL=f"s3://{OBJECTS}",
        GAS_COLDSTORE_URL=f"s3-glacier://{COLD}",
        GAS_QUEUE_URL=f"sqs://gas-e2e-{uuid.uuid4().hex[:8]}",
        GAS_MAIL_URL="ses://",
        GAS_MAIL_FROM=f"GAS <{SENDER}>",
        GAS_AWS_ENDPOINT_URL=moto_endpoint,
        GAS_AWS_REGION=REGION,
        **DUMMY_CREDENTIALS,
        **extra,
    )
    assert server.env["GAS_DATABASE_URL"].startswith("postgresql")
    report = server.gas("aws", "bootstrap")
    assert "done:" in report and "S3 event notification" in report, report
    return server


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_journey_on_aws(make_server, moto_endpoint, moto_restores) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    s3 = aws.client("s3", aws.AwsConfig(aws_region=REGION, aws_endpoint_url=moto_endpoint))
    server = aws_server(make_server, moto_endpoint, GAS_FREE_RETENTION_SECONDS="10")
    assert "done: 0 created, 0 updated" in server.gas("aws", "bootstrap")  # idempotent
    server.start("web")
    for kind in ("annotator", "notifier", "archiver", "restorer"):
        server.spawn("worker", kind)

    # --- sign up and upload straight to S3 -----------------------------------------------
    s = requests.Session()
    sign_up(s, server.url, USER)
    page = s.get(server.url + "/annotate")
    assert page.status_code == 200
    form = FormParser()
    form.feed(page.text)
    assert form.action == f"{moto_endpoint}/{OBJECTS}"
    assert f"form-action 'self' {moto_endpoint}" in page.headers["Content-Security-Policy"]
    to_s3 = requests.post(
        form.action,
        data={**form.hidden, form.select_name: form.options["GRCh38"]},
        files={"file": ("sample.vcf", VCF.encode(), "application/octet-stream")},
        allow_redirects=False,
        timeout=30,
    )
    assert to_s3.status_code == 303, to_s3.text
    back = to_s3.headers["Location"]
    assert back.startswith(server.url + "/annotate/uploaded?token="), back
    received = s.get(back)  # the browser follows S3's redirect, logged in
    assert received.status_code == 200, server.log()
    assert "Annotation request received" in received.text
    job_id = re.search(r"/annotations/([0-9a-f-]{36})/received", received.url).group(1)
    token = server.gas("tokens", "create", USER).strip().splitlines()[-1]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"

    def job() -> dict[str, Any]:
        answer = api.get(f"{server.url}/api/v1/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    assert job()["input_file_name"] == "sample.vcf" and job()["assembly"]["requested"] == "GRCh38"

    # --- annotated, and the email through SES --------------------------------------------
    final = wait_for(
        lambda: job()["status"] in {"COMPLETED", "FAILED"} and job()["status"],
        60,
        "the job to end",
    )
    assert final == "COMPLETED", server.log()
    subject = f"Results available for job {job_id}"
    (mail,) = wait_for(lambda: mails_to(moto_endpoint, USER, subject), 30, "the SES email")
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert f"{server.url}/annotations/{job_id}" in body_of(mail)

    # --- download: a presigned GET from S3 ----------------------------------------------
    def download() -> bytes:
        answer = api.get(f"{server.url}/api/v1/jobs/{job_id}/results", allow_redirects=False)
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        assert location.startswith(f"{moto_endpoint}/{OBJECTS}/"), location
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=" in location
        got = requests.get(location, timeout=30)
        assert got.status_code == 200
        assert "attachment" in got.headers["Content-Disposition"]
        return got.content

    results = download()
    assert results.startswith(b"##fileformat=VCFv4.2") and b"TP53" in results
    via_page = s.get(f"{server.url}/annotations/{job_id}/results", allow_redirects=False)
    assert via_page.status_code == 302
    assert urlsplit(via_page.headers["Location"]).netloc == urlsplit(moto_endpoint).netloc

    # --- the Free window ends: archived to Glacier --------------------------------------
    wait_for(lambda: job()["results"]["state"] == "archived", 60, "the results to be archived")
    archived = api.get(f"{server.url}/api/v1/jobs/{job_id}/results", allow_redirects=False)
    assert archived.status_code == 409
    assert "Upgrade to Premium" in archived.json()["error"]
    (cold_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=COLD).get("Contents", [])]
    head = s3.head_object(Bucket=COLD, Key=cold_key)
    assert head["StorageClass"] == "GLACIER"
    assert "Restore" not in head

    # --- upgrade: restoring, then restored ----------------------------------------------
    assert "is now premium" in server.gas("users", "set-plan", USER, "premium")
    wait_for(lambda: job()["results"]["state"] == "restoring", 60, "the restore to start")
    restoring = api.get(f"{server.url}/api/v1/jobs/{job_id}/results", allow_redirects=False)
    assert restoring.status_code == 409
    assert "being restored" in restoring.json()["error"]
    assert 'ongoing-request="true"' in s3.head_object(Bucket=COLD, Key=cold_key)["Restore"]

    # S3 finishes the restore (hours later on AWS): moto reports it on the next read of the
    # object and sends s3:ObjectRestore:Completed to the restore-events queue; the restorer's
    # bridge turns it into results.restore_ready, and the thaw brings the results back.
    moto_restores.complete(COLD, cold_key)
    assert 'ongoing-request="false"' in s3.head_object(Bucket=COLD, Key=cold_key)["Restore"]
    wait_for(lambda: job()["results"]["state"] == "available", 60, "the results to be restored")

    assert download() == results  # the same bytes, from S3 again
    restored = f"Your results for job {job_id} have been restored"
    (mail,) = wait_for(lambda: mails_to(moto_endpoint, USER, restored), 30, "the restored email")
    assert f"{server.url}/annotations/{job_id}" in body_of(mail)
    # The thaw deleted the archive.
    wait_for(lambda: not s3.list_objects_v2(Bucket=COLD).get("Contents"), 30, "the archive to go")

    assert server.stop() == 0
    assert time.monotonic() - started < 120


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_browser_uploads_straight_to_s3_and_comes_back(make_server, moto_endpoint) -> None:  # type: ignore[no-untyped-def]
    """Headless Chromium on the S3 form: the size check still refuses a large file at once;
    a VCF goes to S3 (the page's Content-Security-Policy lets the form post there) and S3's 303
    brings the browser back to Request received, with the assembly chosen in the form."""
    import os
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            raise RuntimeError("CI needs Debian's chromium for the browser tests")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    server = aws_server(make_server, moto_endpoint)
    server.start("web")
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requested.append(f"{r.method} {r.url}"))
            page.goto(server.url + "/signup")
            page.fill("#name", "Barbara McClintock")
            page.fill("#email", USER)
            page.fill("#institution", "Cold Spring Harbor")
            page.fill("#password", "jumping genes 1983")
            page.fill("#password_confirm", "jumping genes 1983")
            page.click("button[type=submit]")
            # sign-up does not log in (it answers the same for a taken address): log in
            expect(page.get_by_test_id("flash")).to_contain_text("We have sent a message")
            page.fill("#email", USER)
            page.fill("#password", "jumping genes 1983")
            page.click("button[type=submit]")
            expect(page.get_by_test_id("logout")).to_be_visible()

            page.goto(server.url + "/annotate")
            big = {"name": "big.vcf", "mimeType": "text/plain", "buffer": b"#" * (200 * 1024)}
            page.get_by_test_id("file-input").set_input_files(big)
            expect(page.get_by_test_id("upload-size-error")).to_be_visible()
            expect(page.get_by_test_id("upload-size-upgrade-link")).to_be_visible()
            page.get_by_test_id("annotate-submit").click()  # refused in the page: no upload
            expect(page.get_by_test_id("upload-size-error")).to_be_visible()
            assert not [r for r in requested if r.startswith(f"POST {moto_endpoint}")]

            page.get_by_test_id("file-input").set_input_files(
                {"name": "mcclintock.vcf", "mimeType": "text/plain", "buffer": VCF.encode()}
            )
            expect(page.get_by_test_id("upload-size-error")).to_be_hidden()
            page.get_by_test_id("assembly-select").select_option(label="GRCh37 / hg19")
            page.get_by_test_id("annotate-submit").click()
            expect(page.get_by_test_id("received-message")).to_contain_text(
                "Annotation request received"
            )
            job_id = page.get_by_test_id("job-id").inner_text().strip()
            assert not errors, errors
        finally:
            browser.close()
    assert f"POST {moto_endpoint}/{OBJECTS}" in requested  # straight to S3
    assert any(r.startswith(f"GET {server.url}/annotate/uploaded?token=") for r in requested)
    token = server.gas("tokens", "create", USER).strip().splitlines()[-1]
    details = requests.get(
        f"{server.url}/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert details["input_file_name"] == "mcclintock.vcf"
    assert details["assembly"]["requested"] == "GRCh37" and details["status"] == "PENDING"
    assert server.stop() == 0
