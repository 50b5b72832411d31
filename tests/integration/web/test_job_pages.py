"""The job pages: ownership (403), unknown ids (404), downloads, results states, the log."""

from __future__ import annotations

import uuid

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
