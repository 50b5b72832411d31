"""DELETE /api/v1/jobs/{id}, POST /api/v1/jobs/{id}/rerun and the list's search, filter,
sort and total, with their access checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest

from gas.domain.jobs import JobStatus, ResultsState, job_prefix
from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.api.support import VCF, make_user, new_job, set_job

BIG = VCF + b"1\t12346\t.\tA\tG\t50\tPASS\t" + b"x" * (200 * 1024) + b"\n"  # over Free's 150 KB


@pytest.fixture
def ada(container):  # type: ignore[no-untyped-def]
    return make_user(container, "ada@example.org")


@pytest.fixture
def bob(container):  # type: ignore[no-untyped-def]
    return make_user(container, "bob@example.org")


def keys_of(container, user_id: str, job_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(container.storage.keys(job_prefix(user_id, job_id)))


# --- delete ----------------------------------------------------------------------------------


def test_delete_is_204_then_404_and_the_files_are_gone(client, container, ada, bob) -> None:
    user, headers = ada
    job = new_job(container, user.id)
    set_job(container, job.id, JobStatus.COMPLETED)
    kept = new_job(container, user.id)
    bobs = new_job(container, bob[0].id)
    assert len(keys_of(container, user.id, job.id)) == 3

    response = client.delete(f"/api/v1/jobs/{job.id}", headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert keys_of(container, user.id, job.id) == []
    assert client.get(f"/api/v1/jobs/{job.id}", headers=headers).status_code == 404
    again = client.delete(f"/api/v1/jobs/{job.id}", headers=headers)
    assert again.status_code == 404 and again.get_json()["error"]
    # the others are untouched
    assert keys_of(container, user.id, kept.id) and keys_of(container, bob[0].id, bobs.id)
    listed = client.get("/api/v1/jobs", headers=headers).get_json()
    assert [j["id"] for j in listed["jobs"]] == [kept.id]


def test_deleting_someone_elses_job_is_403_and_keeps_it(client, container, ada, bob) -> None:
    job = new_job(container, ada[0].id)
    response = client.delete(f"/api/v1/jobs/{job.id}", headers=bob[1])
    assert response.status_code == 403
    assert response.get_json() == {"error": "This annotation job belongs to another user."}
    assert client.get(f"/api/v1/jobs/{job.id}", headers=ada[1]).status_code == 200
    assert keys_of(container, ada[0].id, job.id)


@pytest.mark.parametrize("job_id", ["0d5e1e5e-0000-4000-8000-000000000000", "not-a-uuid"])
def test_deleting_an_unknown_job_is_404(client, ada, job_id: str) -> None:
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=ada[1]).status_code == 404


def test_a_running_job_is_409_until_it_ends(client, container, ada) -> None:
    user, headers = ada
    job = new_job(container, user.id)
    set_job(container, job.id, JobStatus.RUNNING)
    response = client.delete(f"/api/v1/jobs/{job.id}", headers=headers)
    assert response.status_code == 409
    assert "RUNNING: it can be deleted once it has ended" in response.get_json()["error"]
    assert client.get(f"/api/v1/jobs/{job.id}", headers=headers).status_code == 200


def test_deleting_archived_results_deletes_the_cold_copy(client, container, ada) -> None:
    user, headers = ada
    job = new_job(container, user.id)
    set_job(container, job.id, JobStatus.COMPLETED)
    with container.uow() as uow:
        current = uow.jobs.get(job.id)
        with container.storage.open(current.results_key) as fh:
            info = container.cold.archive("cold-copy-of-" + job.id, fh)
        current.mark_archived(
            container.clock.now(), archive_id=info.archive_id, size=info.size, sha256=info.sha256
        )
        uow.jobs.save(current)
        uow.commit()
    container.storage.delete(current.results_key)
    assert container.cold.describe(info.archive_id) is not None
    assert client.delete(f"/api/v1/jobs/{job.id}", headers=headers).status_code == 204
    assert container.cold.describe(info.archive_id) is None


def test_delete_needs_a_token(client, container, ada) -> None:
    job = new_job(container, ada[0].id)
    assert client.delete(f"/api/v1/jobs/{job.id}").status_code == 401


# --- re-run ----------------------------------------------------------------------------------


def test_rerun_is_201_with_a_new_pending_job(client, container, ada) -> None:
    user, headers = ada
    job = new_job(container, user.id)
    set_job(container, job.id, JobStatus.COMPLETED)
    response = client.post(
        f"/api/v1/jobs/{job.id}/rerun", json={"assembly": "GRCh37"}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] != job.id and body["status"] == "PENDING"
    assert body["input_file_name"] == "sample.vcf"
    assert body["assembly"]["requested"] == "GRCh37"
    assert body["queue_position"] == 1
    assert response.headers["Location"] == body["links"]["self"]
    with container.storage.open(f"{user.id}/{body['id']}~sample.vcf") as fh:
        assert fh.read() == VCF
    # without a body: the original's choice (auto); deleting the original keeps the copies
    plain = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=headers)
    assert plain.status_code == 201 and plain.get_json()["assembly"]["requested"] == "auto"
    assert client.delete(f"/api/v1/jobs/{job.id}", headers=headers).status_code == 204
    for new_id in (body["id"], plain.get_json()["id"]):
        assert keys_of(container, user.id, new_id)


def test_rerun_of_someone_elses_job_is_403(client, container, ada, bob) -> None:
    job = new_job(container, ada[0].id)
    set_job(container, job.id, JobStatus.FAILED)
    response = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=bob[1])
    assert response.status_code == 403
    assert client.get("/api/v1/jobs", headers=bob[1]).get_json()["total"] == 0


@pytest.mark.parametrize("job_id", ["0d5e1e5e-0000-4000-8000-000000000000", "not-a-uuid"])
def test_rerun_of_an_unknown_job_is_404(client, ada, job_id: str) -> None:
    assert client.post(f"/api/v1/jobs/{job_id}/rerun", headers=ada[1]).status_code == 404


def test_rerun_of_an_unfinished_job_is_409(client, container, ada) -> None:
    job = new_job(container, ada[0].id)
    response = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=ada[1])
    assert response.status_code == 409
    assert "re-run once it has ended" in response.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": b"{not json", "content_type": "application/json"},
        {"json": ["GRCh37"]},
        {"json": {"assembly": "hg19"}},
        {"json": {"assembly": 38}},
        {"data": {"assembly": "GRCh99"}},
    ],
)
def test_rerun_with_a_bad_body_is_400(client, container, ada, body) -> None:
    job = new_job(container, ada[0].id)
    set_job(container, job.id, JobStatus.COMPLETED)
    response = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=ada[1], **body)
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_a_free_user_rerunning_a_premium_sized_input_is_413(client, container) -> None:
    user, headers = make_user(container, "was-premium@example.org", Plan.PREMIUM)
    job = new_job(container, user.id, content=BIG, name="big.vcf")
    set_job(container, job.id, JobStatus.COMPLETED)
    accounts.change_plan(container.uow(), container.clock, user.id, Plan.FREE)
    before = sorted(container.storage.keys(user.id + "/"))
    response = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=headers)
    assert response.status_code == 413
    assert "Upgrade to Premium" in response.get_json()["error"]
    assert sorted(container.storage.keys(user.id + "/")) == before


def test_a_rerun_without_its_input_is_409(client, container, ada) -> None:
    job = new_job(container, ada[0].id)
    set_job(container, job.id, JobStatus.COMPLETED)
    container.storage.delete(job.input_key)
    response = client.post(f"/api/v1/jobs/{job.id}/rerun", headers=ada[1])
    assert response.status_code == 409
    assert "no longer stored" in response.get_json()["error"]


# --- the list, and the job's new fields ------------------------------------------------------


def test_the_list_searches_filters_sorts_and_counts(client, container, ada) -> None:
    user, headers = ada
    ids = {}
    for name in ("alpha.vcf", "Beta.vcf", "alphabet.vcf"):
        ids[name] = new_job(container, user.id, name=name).id
    set_job(container, ids["Beta.vcf"], JobStatus.FAILED)

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v1/jobs?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [j["input_file_name"] for j in response.get_json()["jobs"]]

    assert names("q=ALPHA&sort=name") == ["alpha.vcf", "alphabet.vcf"]
    assert names("status=FAILED") == ["Beta.vcf"]
    both = sorted(names("status=PENDING&status=FAILED"))
    assert both == ["Beta.vcf", "alpha.vcf", "alphabet.vcf"]
    assert names("sort=status")[0] in ("alpha.vcf", "alphabet.vcf")  # pending before failed
    body = client.get("/api/v1/jobs?q=alpha&limit=1", headers=headers).get_json()
    assert body["total"] == 2 and len(body["jobs"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "status=DONE",
        "status=pending",
        "status=PENDING,FAILED",
        "status=",
        "sort=random",
        "sort=NEWEST",
        "q=" + "x" * 201,
        "q=a%00b",
    ],
)
def test_unknown_list_parameters_are_400(client, ada, query: str) -> None:
    response = client.get(f"/api/v1/jobs?{query}", headers=ada[1])
    assert response.status_code == 400 and response.get_json()["error"]


def test_the_job_json_has_its_queue_position_and_variant_count(client, container, ada) -> None:
    user, headers = ada
    first, second = new_job(container, user.id), new_job(container, user.id)
    assert (
        client.get(f"/api/v1/jobs/{second.id}", headers=headers).get_json()["queue_position"] == 2
    )
    set_job(container, first.id, JobStatus.COMPLETED, ResultsState.AVAILABLE)
    with container.uow() as uow:
        job = uow.jobs.get(first.id)
        job.variant_count = 42
        uow.jobs.save(job)
        uow.commit()
    done = client.get(f"/api/v1/jobs/{first.id}", headers=headers).get_json()
    assert done["variant_count"] == 42 and done["queue_position"] is None
    listed = {j["id"]: j for j in client.get("/api/v1/jobs", headers=headers).get_json()["jobs"]}
    assert listed[second.id]["queue_position"] == 1  # the first is no longer waiting
    submitted = client.post(
        "/api/v1/jobs",
        data={"file": (io.BytesIO(VCF), "third.vcf")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert submitted.get_json()["queue_position"] == 2
