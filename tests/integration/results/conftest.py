"""Fixtures for the results tests: a synthetic reference (built once), and a module-wide app
over SQLite holding annotated jobs for the many read-only checks (the access rules and the
cold-storage journey use the per-test app of tests/conftest.py, on both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gas.domain.plans import Plan
from tests.integration.api.support import make_user
from tests.integration.results.synthetic_job import (
    Allele,
    Reference,
    annotate_job,
    make_reference,
    read_alleles,
)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return make_reference(tmp_path_factory.mktemp("synthetic-reference"))


@dataclass
class Annotated:
    """The module's app, its users and jobs."""

    container: Any
    client: Any
    headers: dict[str, str]  # ada's token
    bob_headers: dict[str, str]
    job_id: str  # sorted input, with a results store
    unsorted_job_id: str
    legacy_job_id: str  # annotated without a results store
    annotated_vcf: bytes
    alleles: list[Allele]

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kwargs)

    def variants(self, job_id: str | None = None, **params: Any) -> Any:
        return self.get(f"/api/v1/jobs/{job_id or self.job_id}/variants", query_string=params)


@pytest.fixture(scope="module")
def annotated(
    tmp_path_factory: pytest.TempPathFactory, reference: Reference
) -> Iterator[Annotated]:
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import create_app
    from tests.conftest import FAST_HASHER_PARAMS

    data_dir = tmp_path_factory.mktemp("results-app")
    env = {
        "GAS_DATA_DIR": str(data_dir),
        "GAS_SECRET_KEY": "results-secret",
        "GAS_BASE_URL": "http://gas.test",
    }
    container = build(
        Settings.from_env(env), hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS))
    )
    ada, headers = make_user(container, "ada@example.org", Plan.PREMIUM)
    _, bob_headers = make_user(container, "bob@example.org", Plan.PREMIUM)
    job_id = annotate_job(container, ada.id, reference.vcf, reference.bundle)
    unsorted = annotate_job(
        container, ada.id, reference.unsorted_vcf, reference.bundle, name="unsorted.vcf"
    )
    legacy = annotate_job(
        container, ada.id, reference.vcf, reference.bundle, name="old.vcf", results_store=False
    )
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    with container.storage.open(job.results_key) as fh:
        vcf = fh.read()
    app = create_app(container)
    app.config.update(TESTING=True)
    yield Annotated(
        container=container,
        client=app.test_client(),
        headers=headers,
        bob_headers=bob_headers,
        job_id=job_id,
        unsorted_job_id=unsorted,
        legacy_job_id=legacy,
        annotated_vcf=vcf,
        alleles=read_alleles(vcf),
    )
    container.close()


def store_path(container: Any, job_id: str) -> Path:
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    return container.storage.path_for(job.store_key)  # type: ignore[no-any-return]
