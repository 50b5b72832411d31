"""``gas serve`` with ``GAS_LOG_FORMAT=json``: one scrape of the web's ``/metrics`` adds up
what the web and the worker processes counted (a job's duration is observed in the annotator,
its request in the web), and every process started by ``gas serve`` logs JSON lines, the
annotator's carrying the job's id."""

from __future__ import annotations

import json
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import wait_for
from tests.e2e.test_serve import VCF, job_status, sign_up, upload

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_one_scrape_adds_up_every_process_and_every_process_logs_json(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(GAS_LOG_FORMAT="json")
    server.start()
    s = requests.Session()
    sign_up(s, server.url, "rosalind@example.org")
    received = upload(s, server.url, "sample.vcf", VCF.encode())
    assert received.status_code == 200, received.text
    job_id = re.search(r"assigned ID\s*(?:<[^>]+>\s*)*([0-9a-f-]{36})", received.text).group(1)
    wait_for(lambda: job_status(s, server.url, job_id) == "COMPLETED", 60, "the job")

    found = wait_for(
        lambda: (m := scrape(server.url)).get(("gas_job_duration_seconds_count", ())) and m,
        10,
        "the annotator's observation",
    )
    assert found[("gas_job_duration_seconds_count", ())] == 1  # (the annotator's process)
    assert found[("gas_job_variants_per_second_count", ())] == 1
    handled = (
        "gas_worker_messages_total",
        (("outcome", "handled"), ("topic", "job.requested"), ("worker", "annotator")),
    )
    assert found[handled] == 1
    for kind in ("annotator", "notifier", "archiver", "restorer"):
        assert found[("gas_worker_processes", (("worker", kind),))] == 1
    annotate = (
        "gas_http_requests_total",
        (("method", "POST"), ("route", "/annotate"), ("status", "3xx")),
    )
    assert found[annotate] == 1  # (the web's process: a redirect to the job's page)
    assert found[("gas_jobs", (("state", "COMPLETED"),))] == 1
    assert found[("gas_queue_backlog", (("queue", "annotator"),))] == 0
    assert server.stop() == 0

    lines = [line for line in server.log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert {"serve", "web", "annotator", "notifier"} <= {r["role"] for r in records}
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    completed = [r for r in records if "COMPLETED in" in r["message"]]
    assert completed and completed[0]["job_id"] == job_id and completed[0]["role"] == "annotator"
    assert completed[0]["user_id"]  # (looked up: the message names only the job)
    requests_logged = [r for r in records if r["role"] == "web" and r.get("request_id")]
    assert all(len(r["request_id"]) == 32 for r in requests_logged)
    # standard output holds log lines only (the start-up banner went to standard error)
    others = [line for line in server.log().splitlines() if line and not line.startswith("{")]
    assert all(not line.startswith("20") for line in others), others  # no text-format lines
