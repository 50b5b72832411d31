"""The JSON API /api/v1 through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import io
import random
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
import schemathesis

from gas.domain.jobs import JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.services import accounts
from tests.integration.api.support import ANNOTATED, LOG_TEXT, VCF, make_user, set_job

FREE_LIMIT = 150 * 1024
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class SteppingClock:
    """Each reading one second after the previous: submissions have distinct, ordered times."""

    def __init__(self) -> None:
        self._now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


@pytest.fixture
def ada(container):  # type: ignore[no-untyped-def]
    return make_user(container, "ada@example.org")


@pytest.fixture
def bob(container):  # type: ignore[no-untyped-def]
    return make_user(container, "bob@example.org")


def submit(client, headers, content: bytes = VCF, name: str = "sample.vcf", **form):  # type: ignore[no-untyped-def]
    data = {"file": (io.BytesIO(content), name), **form}
    return client.post(
        "/api/v1/jobs", data=data, headers=headers, content_type="multipart/form-data"
    )


def stored_keys(container) -> list[str]:  # type: ignore[no-untyped-def]
    return list(container.storage.keys())


def job_count(container, user_id: str) -> int:  # type: ignore[no-untyped-def]
    with container.uow(readonly=True) as uow:
        return len(uow.jobs.list_for_user(user_id, limit=1000))


# --- authentication --------------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(client, ada) -> None:
    response = client.get("/api/v1/jobs")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gas"'
    assert "Authorization: Bearer" in response.get_json()["error"]


@pytest.mark.parametrize(
    "header",
    ["Bearer gas_not-a-real-token", "Bearer nonsense", "bearer gas_" + "x" * 300],
)
def test_wrong_token_is_401_invalid_token(client, ada, header: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": header})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"]


@pytest.mark.parametrize("header", ["Basic YWRhOnB3", "Bearer", "Bearer   ", "gas_abc"])
def test_other_schemes_and_empty_tokens_are_401(client, ada, header: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="gas"')
    assert response.is_json


def test_revoked_token_is_401(client, container) -> None:
    user, headers = make_user(container, "carol@example.org")
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    with container.uow(readonly=True) as uow:
        (token,) = uow.tokens.list_for_user(user.id)
    assert accounts.revoke_api_token(container.uow(), container.clock, user.id, token.id)
    response = client.get("/api/v1/jobs", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_logged_in_session_is_not_an_api_credential(client, ada) -> None:
    user, _ = ada
    with client.session_transaction() as session:
        session["user_id"] = user.id
    assert client.get("/api/v1/jobs").status_code == 401


def test_every_job_route_needs_a_token(client, container, ada) -> None:
    user, headers = ada
    job_id = submit(client, headers).get_json()["id"]
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/results"):
        assert client.get(path).status_code == 401
    assert client.get(f"/api/v1/jobs/{job_id}/log").status_code == 401
    assert submit(client, {}).status_code == 401
    assert job_count(container, user.id) == 1


# --- the whole cycle -------------------------------------------------------------------------


def test_submit_follow_download_and_read_the_log(client, container, ada) -> None:
    user, headers = ada
    response = submit(client, headers, assembly="GRCh38")
    assert response.status_code == 201
    job = response.get_json()
    assert response.headers["Location"] == f"http://gas.test/api/v1/jobs/{job['id']}"
    assert job["status"] == "PENDING"
    assert job["input_file_name"] == "sample.vcf"
    assert job["input_size"] == len(VCF)
    assert job["assembly"] == {
        "requested": "GRCh38",
        "input": None,
        "annotated_on": None,
        "lifted": None,
        "evidence": None,
        "warnings": [],
    }
    assert job["completed_at"] is None and job["error"] is None
    assert job["results"] == {"state": None}
    assert ISO_Z.match(job["submitted_at"])
    assert job["links"] == {
        "self": f"http://gas.test/api/v1/jobs/{job['id']}",
        "results": f"http://gas.test/api/v1/jobs/{job['id']}/results",
        "log": f"http://gas.test/api/v1/jobs/{job['id']}/log",
        "summary": f"http://gas.test/api/v1/jobs/{job['id']}/summary",
        "variants": f"http://gas.test/api/v1/jobs/{job['id']}/variants",
        "html": f"http://gas.test/annotations/{job['id']}",
    }
    # the upload is stored under <user_id>/<job_id>~<file name>
    assert stored_keys(container) == [f"{user.id}/{job['id']}~sample.vcf"]

    set_job(container, job["id"], JobStatus.COMPLETED)

    shown = client.get(f"/api/v1/jobs/{job['id']}", headers=headers)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    body = shown.get_json()
    assert body["status"] == "COMPLETED"
    assert body["results"] == {"state": "available"}
    assert ISO_Z.match(body["completed_at"]) and ISO_Z.match(body["started_at"])
    assert body["completed_at"] >= body["submitted_at"]
    assert body["progress"] == 1.0

    results = client.get(f"/api/v1/jobs/{job['id']}/results", headers=headers)
    assert results.status_code == 302
    location = urlparse(results.headers["Location"])
    assert (location.scheme, location.netloc) == ("http", "gas.test")  # absolute, on GAS_BASE_URL
    assert location.path.startswith("/files/")
    download = client.get(location.path)
    assert download.status_code == 200
    assert download.data == ANNOTATED
    assert "sample.annot.vcf" in download.headers["Content-Disposition"]

    log = client.get(f"/api/v1/jobs/{job['id']}/log", headers=headers)
    assert log.status_code == 200
    assert log.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert log.get_data(as_text=True) == LOG_TEXT


def test_a_gzipped_vcf_and_the_other_assembly_are_accepted(client, ada) -> None:
    _, headers = ada
    response = submit(client, headers, gzip.compress(VCF), "sample.vcf.gz", assembly="GRCh37")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["assembly"]["requested"] == "GRCh37"
    assert response.get_json()["input_file_name"] == "sample.vcf.gz"


@pytest.mark.parametrize(("form", "requested"), [({}, "auto"), ({"assembly": "auto"}, "auto")])
def test_by_default_the_assembly_is_detected_from_the_file(
    client, container, ada, form, requested
) -> None:
    _, headers = ada
    response = submit(client, headers, **form)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["assembly"] == {
        "requested": requested,
        "input": None,
        "annotated_on": None,
        "lifted": None,
        "evidence": None,
        "warnings": [],
    }
    with container.uow(readonly=True) as uow:
        assert uow.jobs.get(response.get_json()["id"]).assembly is None  # the engine decides


def test_an_ncbi36_input_may_be_declared(client, ada) -> None:
    _, headers = ada
    response = submit(client, headers, assembly="NCBI36")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["assembly"]["requested"] == "NCBI36"


def test_a_completed_job_shows_the_assembly_the_engine_found_and_lifted(
    client, container, ada, tmp_path
) -> None:
    """The annotator's use case over the real database and storage, with an engine stand-in
    whose summary reports a GRCh37 input lifted to GRCh38."""
    from gas.services.annotate import AnnotationRun, run_annotation
    from tests.fakes import FakeBadInput, FakeEngine, fake_output_stem

    report = {
        "requested": "auto",
        "input": "GRCh37",
        "annotated_on": "GRCh38",
        "lifted": True,
        "evidence": "reference_sequence=/data/ref/human_g1k_v37.fasta in the "
        "##UnifiedGenotyper line",
        "warnings": ["1 record is on GL000207.1, which GRCh38 does not have: not lifted."],
        "lifted_records": 3,
        "not_lifted": 1,
    }
    _, headers = ada
    job_id = submit(client, headers).get_json()["id"]
    run = AnnotationRun(
        uow=container.uow,
        storage=container.storage,
        clock=container.clock,
        engine=FakeEngine(summary={"assembly": report}, summary_in_outputs=False),
        bad_input=(FakeBadInput,),
        output_stem=fake_output_stem,
        workdir=tmp_path,
    )
    run_annotation(run, job_id, redelivered=False, last_attempt=False)

    body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert body["status"] == "COMPLETED"
    assert body["assembly"] == {
        "requested": "auto",
        "input": "GRCh37",
        "annotated_on": "GRCh38",
        "lifted": True,
        "evidence": report["evidence"],
        "warnings": report["warnings"],
    }
    listed = client.get("/api/v1/jobs", headers=headers).get_json()["jobs"]
    assert listed[0]["assembly"] == body["assembly"]


def test_a_failed_job_shows_its_reason_and_log_but_has_no_results(client, container, ada) -> None:
    _, headers = ada
    job_id = submit(client, headers).get_json()["id"]
    set_job(container, job_id, JobStatus.FAILED)
    body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert body["status"] == "FAILED"
    assert body["error"] == "Line 3 has 5 columns; a VCF needs at least 8."
    assert body["results"] == {"state": None}
    results = client.get(f"/api/v1/jobs/{job_id}/results", headers=headers)
    assert results.status_code == 409
    assert "failed" in results.get_json()["error"] and "log" in results.get_json()["error"]
    log = client.get(f"/api/v1/jobs/{job_id}/log", headers=headers)
    assert log.status_code == 200 and "wrong number of columns" in log.get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "state", "message"),
    [
        (JobStatus.PENDING, None, "not ready yet"),
        (JobStatus.RUNNING, None, "not ready yet"),
        (JobStatus.COMPLETED, ResultsState.ARCHIVED, "Upgrade to Premium to download"),
        (JobStatus.COMPLETED, ResultsState.RESTORING, "being restored; check back later"),
    ],
)
def test_results_are_409_until_they_can_be_downloaded(
    client, container, ada, status, state, message
) -> None:
    _, headers = ada
    job_id = submit(client, headers).get_json()["id"]
    set_job(container, job_id, status, state)
    response = client.get(f"/api/v1/jobs/{job_id}/results", headers=headers)
    assert response.status_code == 409
    assert response.is_json
    assert message in response.get_json()["error"]
    shown = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert shown["results"]["state"] == (state.value if state else None)


def test_the_log_is_409_until_there_is_one(client, container, ada) -> None:
    _, headers = ada
    job_id = submit(client, headers).get_json()["id"]
    for status in (JobStatus.PENDING, JobStatus.RUNNING):
        if status is JobStatus.RUNNING:
            set_job(container, job_id, status)
        response = client.get(f"/api/v1/jobs/{job_id}/log", headers=headers)
        assert response.status_code == 409
        assert "no log yet" in response.get_json()["error"]


# --- other users, unknown jobs -------------------------------------------------------------


def test_another_users_job_is_403_on_every_route(client, container, ada, bob) -> None:
    _, ada_headers = ada
    _, bob_headers = bob
    job_id = submit(client, ada_headers).get_json()["id"]
    set_job(container, job_id, JobStatus.COMPLETED)
    for suffix in ("", "/results", "/log"):
        response = client.get(f"/api/v1/jobs/{job_id}{suffix}", headers=bob_headers)
        assert response.status_code == 403, suffix
        assert response.get_json() == {"error": "This annotation job belongs to another user."}
    assert client.get("/api/v1/jobs", headers=bob_headers).get_json()["jobs"] == []


@pytest.mark.parametrize(
    "job_id",
    [
        "0b5c2c8e-6b8f-4a53-9d7e-2f0c1e4b7a10",  # a well-formed id nobody has
        "not-a-uuid",
        "1234",
        "%00",
        "x" * 500,
    ],
)
def test_unknown_or_malformed_job_ids_are_404_on_every_route(client, ada, job_id: str) -> None:
    _, headers = ada
    for suffix in ("", "/results", "/log"):
        response = client.get(f"/api/v1/jobs/{job_id}{suffix}", headers=headers)
        assert response.status_code == 404, suffix
        assert response.get_json()["error"]


def test_unknown_paths_and_methods_answer_json(client, ada) -> None:
    _, headers = ada
    missing = client.get("/api/v1/nothing-here", headers=headers)
    assert missing.status_code == 404 and missing.is_json and missing.get_json()["error"]
    not_allowed = client.delete("/api/v1/jobs", headers=headers)
    assert not_allowed.status_code == 405 and not_allowed.get_json()["error"]
    assert set(not_allowed.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_an_unexpected_error_is_a_json_500_without_details(container) -> None:
    from gas.entrypoints.web import create_app

    app = create_app(container)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/api/v1/boom")
    assert response.status_code == 500
    assert response.is_json
    assert "secret" not in response.get_data(as_text=True)
    assert response.get_json()["error"]


# --- refused uploads keep nothing ----------------------------------------------------------


@pytest.mark.parametrize("size", [FREE_LIMIT + 1, FREE_LIMIT + 200 * 1024])
def test_over_the_free_limit_is_413_and_nothing_is_kept(client, container, ada, size) -> None:
    user, headers = ada
    content = VCF + b"#" * (size - len(VCF))
    response = submit(client, headers, content)
    assert response.status_code == 413
    assert "Upgrade to Premium" in response.get_json()["error"]
    assert "150 KB" in response.get_json()["error"]
    assert job_count(container, user.id) == 0
    assert stored_keys(container) == []


def test_exactly_the_free_limit_is_accepted(client, ada) -> None:
    _, headers = ada
    content = VCF + b"#" * (FREE_LIMIT - len(VCF))
    assert submit(client, headers, content).status_code == 201


def test_premium_users_may_send_larger_files(client, container) -> None:
    _, headers = make_user(container, "pat@example.org", Plan.PREMIUM)
    content = VCF + b"#" * (FREE_LIMIT + 50 * 1024)
    response = submit(client, headers, content)
    assert response.status_code == 201
    assert response.get_json()["input_size"] == len(content)


def vcf_text_of(size: int) -> bytes:
    """A VCF of at least ``size`` bytes with varied records: gzip shrinks it about 4 times."""
    rng = random.Random(size)
    lines = [VCF]
    total = len(VCF)
    while total < size:
        line = (
            f"1\t{rng.randint(1, 10**8)}\trs{rng.randint(1, 10**9)}\tA\tG\t"
            f"{rng.randint(10, 99)}\tPASS\tDP={rng.randint(1, 500)};AF={rng.random():.4f}\n"
        ).encode()
        lines.append(line)
        total += len(line)
    return b"".join(lines)


OVER_FREE_GZ = gzip.compress(vcf_text_of(170 * 1024))  # about 45 KB sent, 170 KB of text


def multipart(content: bytes, name: str) -> tuple[bytes, str]:
    """A multipart/form-data body with the file field, and its Content-Type."""
    boundary = "gas-test-boundary"
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_small_gzip_over_the_free_limit_decompressed_is_413_and_nothing_is_kept(
    client, container, ada
) -> None:
    user, headers = ada
    assert len(OVER_FREE_GZ) < FREE_LIMIT // 2
    response = submit(client, headers, OVER_FREE_GZ, "sample.vcf.gz")
    assert response.status_code == 413
    assert response.get_json()["error"] == (
        "Free accounts can annotate files of up to 150 KB. "
        "Upgrade to Premium to annotate larger files."
    )
    assert job_count(container, user.id) == 0
    assert stored_keys(container) == []


def test_a_chunked_upload_of_such_a_gzip_is_413_too(client, container, ada) -> None:
    """Sent without a Content-Length (Transfer-Encoding: chunked, as waitress passes it on)."""
    user, headers = ada
    body, content_type = multipart(OVER_FREE_GZ, "sample.vcf.gz")
    response = client.post(
        "/api/v1/jobs",
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": content_type, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "Upgrade to Premium" in response.get_json()["error"]
    assert job_count(container, user.id) == 0
    assert stored_keys(container) == []

    # the same request with a small file goes through: the 413 is not the chunking's doing
    body, content_type = multipart(gzip.compress(VCF), "small.vcf.gz")
    response = client.post(
        "/api/v1/jobs",
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": content_type, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 201, response.get_json()


def test_premium_users_may_send_that_gzip(client, container) -> None:
    _, headers = make_user(container, "pat@example.org", Plan.PREMIUM)
    response = submit(client, headers, OVER_FREE_GZ, "sample.vcf.gz")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["input_size"] == len(OVER_FREE_GZ)


def test_the_servers_hard_cap_is_a_json_413(app, container) -> None:
    _, headers = make_user(container, "pat@example.org", Plan.PREMIUM)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = submit(app.test_client(), headers, VCF + b"#" * 4096)
    assert response.status_code == 413
    assert response.get_json()["error"]
    assert stored_keys(container) == []


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"hello, this is not a VCF\n", "notes.txt"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image.vcf"),
        (b"", "empty.vcf"),
        (b"\x1f\x8b\x08\x00broken", "broken.vcf.gz"),
    ],
)
def test_a_file_that_is_not_a_vcf_is_400_and_nothing_is_kept(
    client, container, ada, content: bytes, name: str
) -> None:
    user, headers = ada
    response = submit(client, headers, content, name)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert job_count(container, user.id) == 0
    assert stored_keys(container) == []


def test_missing_file_field_or_bad_assembly_is_400(client, container, ada) -> None:
    user, headers = ada
    no_file = client.post(
        "/api/v1/jobs",
        data={"assembly": "GRCh38"},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 400 and "'file'" in no_file.get_json()["error"]
    as_json = client.post("/api/v1/jobs", json={"file": "x"}, headers=headers)
    assert as_json.status_code == 400
    for unknown in ("hg19", "hg12"):
        bad_assembly = submit(client, headers, assembly=unknown)
        assert bad_assembly.status_code == 400 and unknown in bad_assembly.get_json()["error"]
        assert "auto, GRCh38, GRCh37, NCBI36" in bad_assembly.get_json()["error"]
    assert job_count(container, user.id) == 0
    assert stored_keys(container) == []


# --- listing -------------------------------------------------------------------------------


def test_the_list_is_the_callers_jobs_newest_first_with_pagination(client, container, ada, bob):
    container.clock = SteppingClock()
    _, headers = ada
    _, bob_headers = bob
    ids = [submit(client, headers, name=f"s{i}.vcf").get_json()["id"] for i in range(5)]
    submit(client, bob_headers)
    newest_first = list(reversed(ids))

    listing = client.get("/api/v1/jobs", headers=headers)
    assert listing.status_code == 200
    body = listing.get_json()
    assert [job["id"] for job in body["jobs"]] == newest_first
    assert (body["limit"], body["offset"]) == (100, 0)
    assert body["jobs"][0]["input_file_name"] == "s4.vcf"
    submitted = [job["submitted_at"] for job in body["jobs"]]
    assert submitted == sorted(submitted, reverse=True)

    page = client.get("/api/v1/jobs?limit=2&offset=2", headers=headers).get_json()
    assert [job["id"] for job in page["jobs"]] == newest_first[2:4]
    assert (page["limit"], page["offset"]) == (2, 2)
    last = client.get("/api/v1/jobs?limit=500&offset=4", headers=headers).get_json()
    assert [job["id"] for job in last["jobs"]] == newest_first[4:]
    beyond = client.get(f"/api/v1/jobs?offset={2**31 - 1}", headers=headers).get_json()
    assert beyond["jobs"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "limit=%EF%BC%95",  # a full-width digit five
        "offset=-1",
        "offset=1e3",
        f"offset={2**31}",
        "offset=99999999999999999999999",
    ],
)
def test_nonsense_pagination_is_400(client, ada, query: str) -> None:
    _, headers = ada
    response = client.get(f"/api/v1/jobs?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]


# --- the document --------------------------------------------------------------------------


def test_the_openapi_document_is_public_and_describes_every_route(client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "http://gas.test"}]  # GAS_BASE_URL, not the Host
    assert set(doc["paths"]) >= {  # (and the routes of the results browser)
        "/healthz",
        "/api/v1/openapi.json",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/results",
        "/api/v1/jobs/{job_id}/log",
        "/api/v1/jobs/{job_id}/rerun",
    }
    assert set(doc["paths"]["/api/v1/jobs/{job_id}"]) == {"get", "delete"}
    schemathesis.openapi.from_dict(doc).validate()  # against the OpenAPI 3.1 meta-schema
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"Job", "JobList", "Error"} <= set(doc["components"]["schemas"])
    # every route of the blueprint is documented
    documented = {
        (path.replace("{job_id}", "<job_id>"), method.upper())
        for path, item in doc["paths"].items()
        for method in item
    }
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule in {"/healthz", "/metrics"}:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (rule.rule, method) in documented


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
