"""The results routes keep the rules of every job route, on SQLite and PostgreSQL: a token,
404 for an unknown job, 403 for someone else's, 409 while the results cannot be read — and
the results store follows the annotated VCF to the cold store and back: archived, the table
is 409 with the upgrade message while the summary stays; restored, the table is back."""

from __future__ import annotations

from typing import Any

import pytest

from gas.domain.jobs import JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.services import accounts
from gas.services.cold_storage import (
    ColdStorage,
    archive_results,
    restore_user_results,
    start_free_window_for_job,
    thaw_results,
)
from tests.integration.api.support import make_user, new_job, set_job
from tests.integration.results.synthetic_job import Reference, annotate_job

ROUTES = [
    ("variants", {}),
    ("summary", {}),
    ("results", {"format": "tsv"}),
    ("results", {"format": "json"}),
    ("results", {"format": "vcf.gz"}),
    ("results", {"format": "tbi"}),
    ("results", {"format": "vcf", "gene": "SG0001"}),
]
TABLE_ROUTES = [r for r in ROUTES if r[0] != "summary"]


def _get(client: Any, headers: dict[str, str], job_id: str, route: str, params: dict) -> Any:
    return client.get(f"/api/v1/jobs/{job_id}/{route}", headers=headers, query_string=params)


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    # the Free window ends at once, and the local cold store retrieves at once
    return {
        **settings_env,
        "GAS_FREE_RETENTION_SECONDS": "0",
        "GAS_COLDSTORE_EXPEDITED_SECONDS": "0",
    }


def test_every_results_route_needs_a_token(client, container, reference: Reference) -> None:
    user, _ = make_user(container, "ada@example.org")
    job_id = annotate_job(container, user.id, reference.vcf, reference.bundle)
    for route, params in ROUTES:
        response = client.get(f"/api/v1/jobs/{job_id}/{route}", query_string=params)
        assert response.status_code == 401, route
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_someone_elses_job_is_403_and_an_unknown_one_404(
    client, container, reference: Reference
) -> None:
    ada, _ = make_user(container, "ada@example.org")
    _, bob = make_user(container, "bob@example.org")
    job_id = annotate_job(container, ada.id, reference.vcf, reference.bundle)
    for route, params in ROUTES:
        response = _get(client, bob, job_id, route, params)
        assert response.status_code == 403, (route, params)
        assert response.get_json()["error"]
        for unknown in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
            response = _get(client, bob, unknown, route, params)
            assert response.status_code == 404, (route, params, unknown)
    # a bad filter on someone else's job is still a 400 (nothing about the job is told)
    assert _get(client, bob, job_id, "variants", {"impact": "x"}).status_code == 400


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED])
def test_a_job_without_results_is_409_on_every_results_route(
    client, container, status: JobStatus
) -> None:
    ada, headers = make_user(container, "ada@example.org")
    job = new_job(container, ada.id)
    set_job(container, job.id, status)
    for route, params in ROUTES:
        response = _get(client, headers, job.id, route, params)
        assert response.status_code == 409, (route, params)
        assert (
            status.value in response.get_json()["error"]
            or "failed" in (response.get_json()["error"])
        )


def test_a_job_of_before_the_results_browser(client, container) -> None:
    """Completed by an earlier version: no results store, no summary."""
    ada, headers = make_user(container, "ada@example.org")
    job = new_job(container, ada.id)
    set_job(container, job.id, JobStatus.COMPLETED)
    for route, params in TABLE_ROUTES:
        response = _get(client, headers, job.id, route, params)
        if params.get("format") in ("vcf.gz", "tbi"):
            assert response.status_code == 200, params  # made from the annotated VCF alone
            continue
        assert response.status_code == 409, (route, params)
        assert response.get_json()["error"].startswith(
            "This job was annotated before the results browser existed; re-run it"
        )
    summary = _get(client, headers, job.id, "summary", {})
    assert summary.status_code == 409
    assert "no summary" in summary.get_json()["error"]


def test_archive_then_restore(client, container, reference: Reference) -> None:
    ada, headers = make_user(container, "ada@example.org", Plan.FREE)
    job_id = annotate_job(container, ada.id, reference.vcf, reference.bundle)
    first = _get(client, headers, job_id, "variants", {"gene": "SG0003"})
    assert first.status_code == 200
    summary = _get(client, headers, job_id, "summary", {}).get_json()
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    with container.storage.open(job.store_key) as fh:
        store_bytes = fh.read()
    assert _get(client, headers, job_id, "results", {"format": "tbi"}).status_code == 200
    exports = container.settings.data_dir / "cache" / "exports"
    assert len(list(exports.iterdir())) == 2  # the whole vcf.gz and its index, cached

    cs = ColdStorage(
        container.uow, container.storage, container.cold, container.clock, container.policy
    )
    assert start_free_window_for_job(cs, job_id)
    assert archive_results(cs, job_id)
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    assert job.results_state is ResultsState.ARCHIVED
    assert not container.storage.exists(job.store_key)
    assert not container.storage.exists(job.results_key)
    assert container.storage.exists(job.summary_key) and container.storage.exists(job.log_key)

    for route, params in TABLE_ROUTES:
        response = _get(client, headers, job_id, route, params)
        assert response.status_code == 409, (route, params)
        assert "Upgrade to Premium" in response.get_json()["error"]
    assert list(exports.iterdir()) == []  # no local copy kept of archived results
    archived = _get(client, headers, job_id, "summary", {})
    assert archived.status_code == 200
    body = archived.get_json()
    assert body["results"]["state"] == "archived"
    assert body["results"]["browsable"] is False
    assert "Upgrade to Premium" in body["results"]["message"]
    assert {k: v for k, v in body.items() if k != "results"} == {
        k: v for k, v in summary.items() if k != "results"
    }

    assert accounts.change_plan(container.uow(), container.clock, ada.id, Plan.PREMIUM)
    assert restore_user_results(cs, ada.id) == 1
    restoring = _get(client, headers, job_id, "variants", {})
    assert restoring.status_code == 409
    assert "being restored" in restoring.get_json()["error"]
    assert thaw_results(cs, job.archive_id)
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    assert job.results_state is ResultsState.AVAILABLE
    with container.storage.open(job.store_key) as fh:
        assert fh.read() == store_bytes
    again = _get(client, headers, job_id, "variants", {"gene": "SG0003"})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert _get(client, headers, job_id, "results", {"format": "tsv"}).status_code == 200
