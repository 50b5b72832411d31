"""Uploading on the Annotate page: the job is created, the Free limit is enforced by the
server with an upgrade prompt and nothing kept, and files that are not VCFs are refused."""

from __future__ import annotations

import gzip
import random
import re

import sqlalchemy as sa

from gas.domain.plans import Plan
from gas.entrypoints.web import MULTIPART_SLACK
from gas.services import accounts, jobs
from tests.integration.web.conftest import SMALL_VCF, submit, upload, user_id, vcf_of_size

# Messages about jobs (sign-up queues a welcome email: account.notice)
JOB_MESSAGES = "SELECT count(*) FROM queue_messages WHERE topic <> 'account.notice'"


def assert_nothing_kept(container) -> None:  # type: ignore[no-untyped-def]
    assert list(container.storage.keys()) == []
    with container.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one() == 0
        assert conn.execute(sa.text(JOB_MESSAGES)).scalar_one() == 0


def test_annotate_page_offers_a_file_picker_assembly_and_the_limit(client, logged_in) -> None:
    html = client.get("/annotate").get_data(as_text=True)
    assert 'type="file"' in html and 'name="file"' in html
    assert 'enctype="multipart/form-data"' in html
    assert '<option value="auto" selected>Detect from file</option>' in html
    assert '<option value="GRCh38">GRCh38</option>' in html
    assert '<option value="GRCh37">GRCh37 / hg19</option>' in html
    assert '<option value="NCBI36">NCBI36 / hg18</option>' in html
    assert 'data-max-bytes="153600"' in html  # the browser check reads the limit from here
    assert 'data-plan="free"' in html
    assert "150 KB" in html
    assert 'src="/static/js/annotate.js"' in html
    assert ">Annotate</button>" in html


def test_upload_goes_to_request_received_then_my_annotations_and_details(
    client, logged_in, container
) -> None:
    first = submit(client, logged_in, name="first.vcf")
    response = upload(client, logged_in, SMALL_VCF, "second.vcf", assembly="GRCh37")
    assert response.status_code == 303
    second = re.search(r"/annotations/([0-9a-f-]{36})/received", response.headers["Location"])[1]

    received = client.get(response.headers["Location"])
    html = received.get_data(as_text=True)
    assert received.status_code == 200
    assert "Annotation request received — assigned ID" in html
    assert f'<code data-testid="job-id">{second}</code>' in html
    assert f'href="/annotations/{second}"' in html

    # My Annotations: the original's columns first, then ours; newest first.
    listing = client.get("/annotations").get_data(as_text=True)
    thead = re.search(r"<thead>(.*?)</thead>", listing, re.S)[1]
    headers = re.findall(r"<th[^>]*>(.*?)</th>", thead)
    assert headers[:4] == ["Request ID", "Request Time", "VCF File Name", "Status"]
    assert headers[4:] == ["Variants", "Results", '<span class="visually-hidden">Actions</span>']
    rows = re.findall(r'<tr data-testid="job-row" data-job-id="([^"]+)"', listing)
    assert rows == [second, first]
    assert listing.count('data-testid="job-status" data-status="PENDING"') == 2
    assert f'href="/annotations/{first}"' in listing
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-testid="job-submitted">'
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>",
        listing,
    )
    assert ">first.vcf</td>" in listing and ">second.vcf</td>" in listing
    assert 'data-status-url="/annotations/status.json"' in listing

    # The details page.
    details = client.get(f"/annotations/{second}").get_data(as_text=True)
    for field in (
        "Request ID",
        "Request Time",
        "VCF Input File",
        "Status",
        "Complete Time",
        "Annotated Results File",
        "Annotation Log File",
    ):
        assert f">{field}</dt>" in details, field
    assert f'data-testid="job-id">{second}</dd>' in details
    assert f'href="/annotations/{second}/input" data-testid="input-link">second.vcf</a>' in details
    assert ">Assembly</dt>" in details
    assert '<span data-testid="assembly-text">GRCh37 / hg19 (chosen at upload)</span>' in details
    assert 'data-testid="job-status" data-status="PENDING"' in details
    assert 'data-testid="results-pending"' in details
    assert 'data-testid="results-link"' not in details
    assert 'data-testid="log-pending"' in details
    assert f'data-status-url="/annotations/{second}/status.json"' in details

    # status.json: no worker runs here, so the job waits.
    status = client.get(f"/annotations/{second}/status.json")
    assert status.status_code == 200
    assert status.json["status"] == "PENDING" and status.json["final"] is False
    assert status.json["id"] == second and status.json["results_state"] is None

    # The stored job, its input at <user_id>/<job_id>~<name>, and its annotation request.
    job = jobs.get_job(container.uow(readonly=True), second, user_id(container))
    assert job.assembly == "GRCh37" and job.input_file_name == "second.vcf"
    # No assembly chosen: "Detect from file", stored as None for the engine to read the header.
    assert jobs.get_job(container.uow(readonly=True), first, user_id(container)).assembly is None
    first_details = client.get(f"/annotations/{first}").get_data(as_text=True)
    assert "Detected from the file when the annotation runs" in first_details
    assert job.input_key == f"{job.user_id}/{second}~second.vcf"
    with container.storage.open(job.input_key) as fh:
        assert fh.read() == SMALL_VCF
    assert container.queue.stats()["annotator"]["ready"] == 2


def test_several_statuses_at_once_only_for_the_owner(client, logged_in, other_client) -> None:
    mine = submit(client, logged_in)
    bob_client, bob = other_client
    theirs = submit(bob_client, bob)
    response = client.get(f"/annotations/status.json?ids={mine},{theirs},nonsense,{mine}")
    assert response.status_code == 200
    assert [j["id"] for j in response.json["jobs"]] == [mine]
    assert response.json["jobs"][0]["status"] == "PENDING"


def test_a_gzipped_vcf_is_accepted(client, logged_in) -> None:
    submit(client, logged_in, gzip.compress(SMALL_VCF), name="sample.vcf.gz")


def test_over_the_free_limit_is_refused_with_an_upgrade_prompt_and_nothing_kept(
    client, logged_in, container
) -> None:
    limit = container.settings.free_max_upload_bytes
    assert submit(
        client, logged_in, vcf_of_size(limit), name="exact.vcf"
    )  # the limit itself is fine
    with container.engine.begin() as conn:  # start again from an empty installation
        conn.execute(sa.text("DELETE FROM queue_messages"))
        conn.execute(sa.text("DELETE FROM jobs"))
    for key in list(container.storage.keys()):
        container.storage.delete(key)

    # Just over: refused while streaming. Far over: refused from Content-Length, unread.
    for size in (limit + 1, limit + MULTIPART_SLACK + 1, 3 * limit):
        response = upload(client, logged_in, vcf_of_size(size), name="big.vcf")
        assert response.status_code == 413, size
        html = response.get_data(as_text=True)
        assert 'data-testid="upload-error"' in html
        assert "Free accounts can annotate files of up to 150 KB." in html
        assert 'href="/subscribe" data-testid="upload-upgrade-link">Upgrade to Premium</a>' in html
        assert 'type="file"' in html  # still the Annotate page, ready for another try
        assert_nothing_kept(container)


def test_a_huge_upload_is_refused_before_its_body_is_parsed(
    client, logged_in, container, monkeypatch
) -> None:
    from werkzeug.wrappers import Request

    def no_parsing(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the body of an over-limit upload was parsed")

    token = logged_in.csrf_token("/annotate")
    monkeypatch.setattr(Request, "_load_form_data", no_parsing)
    body = vcf_of_size(container.settings.free_max_upload_bytes + MULTIPART_SLACK + 10)
    response = client.post(
        "/annotate",
        data={"csrf_token": token, "file": (__import__("io").BytesIO(body), "big.vcf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert_nothing_kept(container)


def test_a_premium_user_may_upload_a_larger_file(client, logged_in, container) -> None:
    big = vcf_of_size(3 * container.settings.free_max_upload_bytes)
    assert upload(client, logged_in, big).status_code == 413
    assert accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    html = client.get("/annotate").get_data(as_text=True)
    assert 'data-plan="premium"' in html and 'data-max-bytes="1073741824"' in html
    job_id = submit(client, logged_in, big, name="big.vcf")
    job = jobs.get_job(container.uow(readonly=True), job_id, user_id(container))
    assert job.input_size == len(big)


def varied_vcf(size: int) -> bytes:
    """A VCF of at least ``size`` bytes with varied records: gzip shrinks it about 4 times."""
    rng = random.Random(size)
    lines = [SMALL_VCF]
    total = len(SMALL_VCF)
    while total < size:
        line = (
            f"1\t{rng.randint(1, 10**8)}\trs{rng.randint(1, 10**9)}\tA\tG\t"
            f"{rng.randint(10, 99)}\tPASS\tDP={rng.randint(1, 500)};AF={rng.random():.4f}\n"
        ).encode()
        lines.append(line)
        total += len(line)
    return b"".join(lines)


def test_the_free_limit_is_on_the_decompressed_size_premium_may_send_the_same_gzip(
    client, logged_in, container
) -> None:
    text = varied_vcf(170 * 1024)
    small_gzip = gzip.compress(text)  # about 45 KB: under the limit as sent, over it inflated
    assert len(small_gzip) < container.settings.free_max_upload_bytes // 2
    response = upload(client, logged_in, small_gzip, name="sample.vcf.gz")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "Free accounts can annotate files of up to 150 KB." in html
    assert 'href="/subscribe" data-testid="upload-upgrade-link">Upgrade to Premium</a>' in html
    assert_nothing_kept(container)

    assert accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    job_id = submit(client, logged_in, small_gzip, name="sample.vcf.gz")
    job = jobs.get_job(container.uow(readonly=True), job_id, user_id(container))
    assert job.input_size == len(small_gzip)
    with container.storage.open(job.input_key) as fh:
        assert fh.read() == small_gzip  # kept as sent


def test_a_file_that_is_not_a_vcf_is_refused_and_nothing_kept(client, logged_in, container) -> None:
    cases = [
        (b"just some notes\n", "notes.txt", "does not start with a VCF header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "picture.vcf", "not a text VCF file"),
        (b"", "empty.vcf", "The file is empty."),
    ]
    for content, name, message in cases:
        response = upload(client, logged_in, content, name)
        assert response.status_code == 400, name
        html = response.get_data(as_text=True)
        assert 'data-testid="upload-error"' in html
        assert message in html, name
        assert "upload-upgrade-link" not in html
        assert_nothing_kept(container)


def test_no_file_or_an_unknown_assembly_is_a_400(client, logged_in, container) -> None:
    token = logged_in.csrf_token("/annotate")
    response = client.post(
        "/annotate", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "Please choose a VCF file to annotate." in response.get_data(as_text=True)
    response = upload(client, logged_in, SMALL_VCF, assembly="hg19")
    assert response.status_code == 400
    assert "Unknown assembly" in response.get_data(as_text=True)
    assert_nothing_kept(container)


def test_an_upload_without_a_csrf_token_is_refused(client, logged_in, container) -> None:
    import io

    response = client.post(
        "/annotate",
        data={"file": (io.BytesIO(SMALL_VCF), "sample.vcf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert_nothing_kept(container)
