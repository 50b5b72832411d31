"""Helpers for the web page tests: VCF files, uploads through the real form, a second user,
and jobs moved along their state machine the way the workers do it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from gas.domain.jobs import JobStatus, ResultsState, object_key
from tests.conftest import AuthActions

VCF_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
SMALL_VCF = (
    VCF_HEADER + "1\t12345\t.\tA\tG\t50\tPASS\t.\n1\t23456\trs1\tC\tT\t40\tPASS\t.\n"
).encode()
JOB_ID = re.compile(r"/annotations/([0-9a-f-]{36})/received")


def vcf_of_size(size: int) -> bytes:
    """A valid VCF of exactly ``size`` bytes (one record with a padded INFO value)."""
    head = VCF_HEADER + "1\t100\t.\tA\tG\t50\tPASS\tNOTE="
    padding = size - len(head) - 1
    assert padding >= 1, "size too small for a VCF"
    data = (head + "x" * padding + "\n").encode()
    assert len(data) == size
    return data


def upload(client, auth: AuthActions, content: bytes, name: str = "sample.vcf", **form: str):  # type: ignore[no-untyped-def]
    """POST the Annotate form with a file, CSRF token included."""
    data = {"csrf_token": auth.csrf_token("/annotate"), "file": (io.BytesIO(content), name)}
    data.update(form)
    return client.post("/annotate", data=data, content_type="multipart/form-data")


def submit(client, auth: AuthActions, content: bytes = SMALL_VCF, name: str = "sample.vcf") -> str:  # type: ignore[no-untyped-def]
    """Upload a VCF and return the new job's id."""
    response = upload(client, auth, content, name)
    assert response.status_code == 303, response.get_data(as_text=True)
    match = JOB_ID.search(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def user_id(container, email: str = "ada@example.org") -> str:  # type: ignore[no-untyped-def]
    from gas.services import accounts

    return accounts.get_user_by_email(container.uow(readonly=True), email).id


def finish_job(  # type: ignore[no-untyped-def]
    container,
    job_id: str,
    *,
    status: JobStatus = JobStatus.COMPLETED,
    results: bytes = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
    log_text: bytes = b"Total: 2\nIn dbSNP: 1 (50.0%)\n",
    results_state: ResultsState | None = None,
    error: str = "Line 3 has 4 columns; a VCF record needs at least 8.",
    assembly_report: dict | None = None,
):
    """End a job as the annotator would: RUNNING, outputs stored next to the input, then
    COMPLETED (or FAILED with ``error``). ``results_state`` forces archived/restoring;
    ``assembly_report`` is what the engine's summary said of the input's assembly."""
    now = datetime.now(UTC)
    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        assert job.start(now)
        stem = job.input_file_name.removesuffix(".vcf")
        log_key = object_key(job.user_id, job.id, f"{stem}.count.log")
        container.storage.put(log_key, io.BytesIO(log_text))
        if status is JobStatus.COMPLETED:
            results_key = object_key(job.user_id, job.id, f"{stem}.annot.vcf")
            if results_state in (None, ResultsState.AVAILABLE):
                container.storage.put(results_key, io.BytesIO(results))
            assert job.complete(
                now,
                results_key=results_key,
                log_key=log_key,
                summary_key=None,
                assembly_report=assembly_report,
            )
            if results_state is not None:
                job.results_state = results_state
        else:
            assert job.fail(now, error, log_key=log_key)
        uow.jobs.save(job)
        uow.commit()
    return job


@pytest.fixture
def logged_in(auth: AuthActions) -> AuthActions:
    """Ada, signed up and logged in (Free plan)."""
    response = auth.signup()
    assert response.status_code == 302, response.get_data(as_text=True)
    return auth


@pytest.fixture
def other_client(app):  # type: ignore[no-untyped-def]
    """A second browser: Bob, signed up and logged in."""
    client = app.test_client()
    bob = AuthActions(client)
    assert bob.signup("bob@example.org", name="Bob").status_code == 302
    return client, bob


@pytest.fixture
def outbox_messages(container):  # type: ignore[no-untyped-def]
    """Run the notifier over what is queued, then read the outbox's emails (oldest first)."""
    from email import message_from_bytes, policy

    from gas.entrypoints.workers import notifier_handlers

    handlers = notifier_handlers(container)

    def read():  # type: ignore[no-untyped-def]
        while (delivery := container.queue.claim("notifier")) is not None:
            handlers[delivery.topic](delivery)
            container.queue.ack(delivery)
        outbox = container.settings.data_dir / "outbox"
        return [
            message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(outbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        ]

    return read
