"""A job stored on S3 (moto's server): its results store is an S3 object like its other
outputs, the web fetches it once into its local cache and answers /variants from there, and
the downloads stream the annotated VCF from S3."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from gas.adapters.store_cache import cache_name
from gas.domain.plans import Plan
from tests.integration.api.support import make_user
from tests.integration.results.synthetic_job import (
    Reference,
    annotate_job,
    make_reference,
    read_alleles,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return make_reference(tmp_path_factory.mktemp("synthetic-reference"))


def test_a_job_on_s3_answers_variants_and_downloads(
    tmp_path: Path, s3_object_store: Any, reference: Reference
) -> None:
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import create_app
    from tests.conftest import FAST_HASHER_PARAMS

    settings = Settings.from_env(
        {"GAS_DATA_DIR": str(tmp_path / "var"), "GAS_SECRET_KEY": "s3-results"}
    )
    container = build(
        settings,
        storage=s3_object_store,
        hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS)),
    )
    try:
        ada, headers = make_user(container, "ada@example.org", Plan.PREMIUM)
        job_id = annotate_job(container, ada.id, reference.vcf, reference.bundle)
        with container.uow(readonly=True) as uow:
            job = uow.jobs.get(job_id)
        assert job.store_key is not None
        keys = set(s3_object_store.keys())
        assert {job.results_key, job.store_key, job.summary_key, job.log_key} <= keys
        with s3_object_store.open(job.results_key) as fh:
            alleles = read_alleles(fh.read())

        client = create_app(container).test_client()
        response = client.get(
            f"/api/v1/jobs/{job_id}/variants", headers=headers, query_string={"limit": 1000}
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total"] == len(alleles)
        assert [(r["chrom"], r["pos"], r["alt"]) for r in body["variants"]] == [
            a.key for a in alleles[:1000]
        ]
        cached = tmp_path / "var" / "cache" / "stores" / cache_name(job.store_key, ".parquet")
        with s3_object_store.open(job.store_key) as fh:
            assert cached.read_bytes() == fh.read()  # fetched into the local cache

        high = client.get(
            f"/api/v1/jobs/{job_id}/variants", headers=headers, query_string={"impact": "HIGH"}
        )
        assert high.get_json()["total"] == sum(
            1 for a in alleles if a.entries and a.entries[0].impact == "HIGH"
        )
        summary = client.get(f"/api/v1/jobs/{job_id}/summary", headers=headers)
        assert summary.status_code == 200 and summary.get_json()["alleles"] == len(alleles)
        gz = client.get(
            f"/api/v1/jobs/{job_id}/results",
            headers=headers,
            query_string={"format": "vcf.gz", "impact": "HIGH"},
        )
        assert gz.status_code == 200
        records = [
            line for line in gzip.decompress(gz.data).decode().splitlines() if line[:1] != "#"
        ]
        assert len(records) == len(
            {a.record for a in alleles if a.entries and a.entries[0].impact == "HIGH"}
        )
    finally:
        container.close()
