"""The job pages: ownership (403), unknown ids (404), downloads, results states, the log."""

from __future__ import annotations

import html
import re
import uuid

from markupsafe import escape

from gas.domain.jobs import JobStatus, ResultsState
from tests.integration.web.conftest import SMALL_VCF, finish_job, submit

JOB_ROUTES = ("", "/received", "/input", "/results", "/log", "/status.json")


def test_another_users_job_is_403_on_every_job_route(
    client, logged_in, other_client, container
) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id)  # so that results and log exist
    bob_client, _ = other_client
    for suffix in JOB_ROUTES:
        response = bob_client.get(f"/annotations/{job_id}{suffix}")
        assert response.status_code == 403, suffix
        body = response.get_data(as_text=True)
        if suffix == "/status.json":
            assert response.json == {"error": "This page belongs to another user."}
        else:
            assert "This page belongs to another user." in body, suffix
            assert 'data-testid="error-code">403<' in body
        assert "Total: 2" not in body and "sample.vcf" not in body
    # The owner still gets everything.
    for suffix in JOB_ROUTES:
        assert client.get(f"/annotations/{job_id}{suffix}").status_code in (200, 302), suffix


def test_unknown_or_malformed_job_ids_are_404_on_every_job_route(client, logged_in) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid", "1%20OR%201=1", "x" * 300):
        for suffix in JOB_ROUTES:
            response = client.get(f"/annotations/{job_id}{suffix}")
            assert response.status_code == 404, (job_id, suffix)
            if suffix == "/status.json":
                assert response.json == {"error": "We could not find that page or annotation job."}
            else:
                assert "We could not find that page or annotation job." in response.get_data(
                    as_text=True
                )


def test_input_download_serves_the_uploaded_file(client, logged_in) -> None:
    job_id = submit(client, logged_in)
    response = client.get(f"/annotations/{job_id}/input")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/files/")
    download = client.get(response.headers["Location"])
    assert download.status_code == 200
    assert download.data == SMALL_VCF
    assert "attachment" in download.headers["Content-Disposition"]
    assert "sample.vcf" in download.headers["Content-Disposition"]


def test_completed_job_shows_results_and_log_and_downloads_them(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    results = b"##fileformat=VCFv4.2\n##INFO=<ID=ANN>\n#CHROM\tPOS\n"
    finish_job(container, job_id, results=results)

    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert 'data-testid="job-status" data-status="COMPLETED"' in details
    assert "text-bg-success" in details
    assert 'data-testid="job-completed"' in details and " UTC</time>" in details
    assert f'href="/annotations/{job_id}/results" data-testid="results-link"' in details
    assert f'href="/annotations/{job_id}/log" data-testid="log-link"' in details

    response = client.get(f"/annotations/{job_id}/results")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/files/")
    download = client.get(response.headers["Location"])
    assert download.status_code == 200 and download.data == results
    assert "sample.annot.vcf" in download.headers["Content-Disposition"]

    log_page = client.get(f"/annotations/{job_id}/log")
    html = log_page.get_data(as_text=True)
    assert log_page.status_code == 200
    assert (
        '<pre class="log-text border rounded p-3 bg-body-tertiary" data-testid="log-text">'
        "Total: 2\nIn dbSNP: 1 (50.0%)\n</pre>" in html
    )
    assert f'href="/annotations/{job_id}" data-testid="back-link"' in html

    status = client.get(f"/annotations/{job_id}/status.json").json
    assert status["status"] == "COMPLETED" and status["final"] is True
    assert status["results_state"] == "available"
    assert status["completed_at"].endswith("Z")


def test_archived_results_ask_a_free_user_to_upgrade(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id, results_state=ResultsState.ARCHIVED)
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert 'data-testid="results-archived"' in details
    assert (
        'href="/subscribe" data-testid="upgrade-link">Upgrade to Premium</a> to download' in details
    )
    assert 'data-testid="results-link"' not in details
    assert 'data-testid="log-link"' in details  # the log stays

    response = client.get(f"/annotations/{job_id}/results")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'data-reason="archived"' in html
    assert "archived at the end of the Free plan" in html
    assert 'href="/subscribe" data-testid="upgrade-link">Upgrade to Premium</a>' in html


def test_results_being_restored_say_check_back_later(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id, results_state=ResultsState.RESTORING)
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert 'data-testid="results-restoring"' in details
    assert "being restored — check back later" in details
    assert 'data-results-state="restoring"' in details
    assert 'data-watch-results="true"' in details  # the page keeps polling until it is back
    response = client.get(f"/annotations/{job_id}/results")
    assert response.status_code == 409
    assert "being restored — check back later" in response.get_data(as_text=True)


def test_results_of_an_unfinished_or_failed_job_are_409(client, logged_in, container) -> None:
    pending = submit(client, logged_in)
    response = client.get(f"/annotations/{pending}/results")
    assert response.status_code == 409
    assert "not ready yet" in response.get_data(as_text=True)
    log = client.get(f"/annotations/{pending}/log")
    assert log.status_code == 409
    assert 'data-testid="log-unavailable"' in log.get_data(as_text=True)

    failed = submit(client, logged_in, name="bad.vcf")
    finish_job(container, failed, status=JobStatus.FAILED, error="Line 3 has 4 columns.")
    details = client.get(f"/annotations/{failed}").get_data(as_text=True)
    assert (
        'data-testid="job-status" data-status="FAILED"' in details and "text-bg-danger" in details
    )
    assert (
        '<div class="text-danger mt-2" data-testid="job-error">Line 3 has 4 columns.</div>'
        in details
    )
    assert 'data-testid="results-none"' in details and 'data-testid="log-link"' in details
    assert client.get(f"/annotations/{failed}/status.json").json["error"] == "Line 3 has 4 columns."
    response = client.get(f"/annotations/{failed}/results")
    assert response.status_code == 409
    assert "This annotation failed" in response.get_data(as_text=True)


def test_a_running_job_shows_a_spinner_and_its_progress(client, logged_in, container) -> None:
    from datetime import UTC, datetime

    job_id = submit(client, logged_in)
    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        job.start(datetime.now(UTC))
        uow.jobs.save(job)
        uow.jobs.set_progress(job_id, 0.42)
        uow.commit()
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert 'data-testid="job-status" data-status="RUNNING"' in details
    assert "spinner-border" in details and "text-bg-info" in details
    assert '<span class="progress-text">42%</span>' in details
    status = client.get(f"/annotations/{job_id}/status.json").json
    assert status["status"] == "RUNNING" and status["progress"] == 42
    listing = client.get("/annotations").get_data(as_text=True)
    assert 'data-status="RUNNING"' in listing and "spinner-border" in listing


# --- the input's genome assembly -------------------------------------------------------------

EVIDENCE = "reference_sequence=/data/ref/human_g1k_v37.fasta in the ##UnifiedGenotyper line"
LIFTED = {
    "requested": "auto",
    "input": "GRCh37",
    "annotated_on": "GRCh38",
    "lifted": True,
    "evidence": EVIDENCE,
    "warnings": ["1 record is on GL000207.1, which GRCh38 does not have: not lifted."],
    "lifted_records": 3,
    "not_lifted": 1,
}
UNKNOWN = {
    "requested": "auto",
    "input": "unknown",
    "annotated_on": "GRCh38",
    "lifted": False,
    "evidence": None,
    "warnings": [
        "The file's header names no assembly; positions were read as GRCh38.",
        "Gene names may be wrong if the file is on GRCh37/hg19 or NCBI36/hg18.",
    ],
}
NATIVE = {"input": "GRCh38", "annotated_on": "GRCh38", "lifted": False, "evidence": "##contig"}


def assembly_cell(html: str) -> str:
    match = re.search(r'<dd[^>]*data-testid="job-assembly".*?</dd>', html, re.S)
    assert match, "no Assembly row"
    return match.group(0)


def test_details_say_what_was_detected_and_lifted_with_each_warning_as_an_alert(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id, assembly_report=LIFTED)
    html = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert '<dt class="col-sm-4 col-lg-3">Assembly</dt>' in html
    cell = assembly_cell(html)
    assert (
        '<span data-testid="assembly-text">GRCh37 (detected: reference_sequence=/data/ref/'
        "human_g1k_v37.fasta in the ##UnifiedGenotyper line) → lifted to GRCh38 for annotation; "
        "1 record could not be lifted</span>" in cell
    )
    alert = r'<div class="alert alert-warning[^"]*" role="alert" data-testid="assembly-warning">'
    (warning,) = re.findall(alert + r"(.*?)</div>", cell, re.S)
    assert "1 record is on GL000207.1, which GRCh38 does not have: not lifted." in warning
    assert 'data-testid="assembly-unknown"' not in cell


def test_an_unknown_assembly_and_its_warnings_are_prominent(client, logged_in, container) -> None:
    with_warnings = submit(client, logged_in, name="a.vcf")
    finish_job(container, with_warnings, assembly_report=UNKNOWN)
    cell = assembly_cell(client.get(f"/annotations/{with_warnings}").get_data(as_text=True))
    assert "unknown (could not be detected from the file); annotated on GRCh38" in cell
    assert cell.count('class="alert alert-warning') == 2
    for text in UNKNOWN["warnings"]:
        assert str(escape(text)) in cell

    without = submit(client, logged_in, name="b.vcf")
    finish_job(container, without, assembly_report={**UNKNOWN, "warnings": []})
    cell = assembly_cell(client.get(f"/annotations/{without}").get_data(as_text=True))
    assert (
        'class="alert alert-warning mt-2 mb-0" role="alert" data-testid="assembly-unknown"' in cell
    )
    assert "positions were taken as GRCh38" in cell


def test_my_annotations_badges_each_completed_jobs_assembly(client, logged_in, container) -> None:
    pending = submit(client, logged_in, name="pending.vcf")
    older = submit(client, logged_in, name="older.vcf")  # annotated before reports existed
    finish_job(container, older)
    lifted = submit(client, logged_in, name="lifted.vcf")
    finish_job(container, lifted, assembly_report=LIFTED)
    native = submit(client, logged_in, name="native.vcf")
    finish_job(container, native, assembly_report=NATIVE)
    unknown = submit(client, logged_in, name="unknown.vcf")
    finish_job(container, unknown, assembly_report=UNKNOWN)
    # Every record lifted: the engine's note that positions were lifted is no cause for alarm.
    clean = submit(client, logged_in, name="clean.vcf")
    lifted_note = ["positions were lifted from GRCh37/hg19 to GRCh38 for annotation"]
    finish_job(
        container, clean, assembly_report={**LIFTED, "not_lifted": 0, "warnings": lifted_note}
    )

    listing = client.get("/annotations").get_data(as_text=True)
    row = re.compile(r'<tr data-testid="job-row" data-job-id="([^"]+)".*?</tr>', re.S)
    rows = {m.group(1): m.group(0) for m in row.finditer(listing)}
    badge = re.compile(
        r'<span class="badge assembly-badge ([^"]+)" data-testid="job-assembly" '
        r'data-warning="(true|false)" title="([^"]*)">([^<]*)</span>'
    )
    assert not badge.search(rows[pending]) and not badge.search(rows[older])
    css, warning, lifted_title, text = badge.search(rows[lifted]).groups()
    assert text == "GRCh37→38" and warning == "true" and css == "text-bg-warning"
    assert lifted_title == (
        f"Assembly: GRCh37 (detected: {EVIDENCE}) → lifted to GRCh38 for annotation; "
        "1 record could not be lifted (1 warning on the job&#39;s page)"
    )
    css, warning, title, text = badge.search(rows[native]).groups()
    assert (text, warning, css) == ("GRCh38", "false", "text-bg-light border")
    assert "detected: ##contig" in title
    css, warning, _, text = badge.search(rows[unknown]).groups()
    assert (text, warning, css) == ("unknown", "true", "text-bg-warning")
    css, warning, title, text = badge.search(rows[clean]).groups()
    assert (text, warning, css) == ("GRCh37→38", "false", "text-bg-light border")
    assert title.endswith("(1 warning on the job&#39;s page)")

    # The live status gives the same badge, for the list to add when a job completes.
    status = client.get(f"/annotations/status.json?ids={lifted},{pending}").json["jobs"]
    assert status[0]["assembly_badge"] == {
        "text": "GRCh37→38",
        "title": html.unescape(lifted_title),
        "warning": True,
    }
    assert status[1]["assembly_badge"] is None


def test_the_engines_words_are_escaped_on_the_pages(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    hostile = {
        "input": "GRCh37<script>alert(1)</script>",
        "annotated_on": "GRCh38",
        "lifted": True,
        "evidence": '"><img src=x onerror=alert(2)>',
        "warnings": ["<b>bold</b> & <script>alert(3)</script>"],
    }
    finish_job(container, job_id, assembly_report=hostile)
    for page in (
        client.get(f"/annotations/{job_id}").get_data(as_text=True),
        client.get("/annotations").get_data(as_text=True),
    ):
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert '"><img' not in page  # no way out of the title attribute
    details = client.get(f"/annotations/{job_id}").get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(3)&lt;/script&gt;" in details
