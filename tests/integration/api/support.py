"""Helpers shared by the API tests: users with tokens, and jobs moved to any state."""

from __future__ import annotations

import io

from gas.domain.jobs import Job, JobStatus, ResultsState
from gas.domain.plans import Plan
from gas.services import accounts, jobs

VCF = (
    b"##fileformat=VCFv4.2\n"
    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    b"1\t12345\t.\tA\tG\t50\tPASS\t.\n"
)
ANNOTATED = VCF.replace(b"\t.\n", b"\tANN=G|synonymous_variant\n")
LOG_TEXT = "Total: 1\nIn dbSNP: 0 (0.00%)\nVariants located:\nIn CDS 1\n"


def make_user(container, email: str, plan: Plan = Plan.FREE):  # type: ignore[no-untyped-def]
    user = accounts.register(
        container.uow(),
        container.hasher,
        container.clock,
        email=email,
        password="correct horse",
        plan=plan,
    )
    token = accounts.create_api_token(container.uow(), container.clock, user.id, label="tests")
    return user, {"Authorization": f"Bearer {token}"}


def new_job(container, user_id: str, content: bytes = VCF, name: str = "sample.vcf") -> Job:  # type: ignore[no-untyped-def]
    """Submit a job through the service, as the API does."""
    return jobs.submit_job(
        container.uow(),
        container.storage,
        container.policy,
        container.clock,
        user_id=user_id,
        file_name=name,
        stream=io.BytesIO(content),
    )


def set_job(container, job_id: str, status: JobStatus, results_state: ResultsState | None = None):  # type: ignore[no-untyped-def]
    """Move a job through the domain's transitions, as the annotator (and archiver) would."""
    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        now = container.clock.now()
        stem = job.input_key.rsplit(".vcf", 1)[0]
        if status is not JobStatus.PENDING:
            assert job.start(now)
        if status is JobStatus.COMPLETED:
            results_key, log_key = stem + ".annot.vcf", stem + ".count.log"
            container.storage.put(results_key, io.BytesIO(ANNOTATED))
            container.storage.put(log_key, io.BytesIO(LOG_TEXT.encode()))
            assert job.complete(now, results_key=results_key, log_key=log_key, summary_key=None)
            if results_state is not None:
                job.results_state = results_state
        elif status is JobStatus.FAILED:
            log_key = stem + ".count.log"
            container.storage.put(log_key, io.BytesIO(b"line 3: wrong number of columns\n"))
            assert job.fail(now, "Line 3 has 5 columns; a VCF needs at least 8.", log_key=log_key)
        uow.jobs.save(job)
        uow.commit()
