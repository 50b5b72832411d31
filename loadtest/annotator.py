"""Locust scenario "annotator": scripts that submit a small VCF through the JSON API every few
seconds and wait for it to be annotated.

Each simulated user holds an API token of its own account (``run.py`` creates them), sends
``POST /api/v1/jobs`` with the fixtures' ``test.vcf`` (a few KB), polls ``GET /api/v1/jobs/{id}``
every second until the job is COMPLETED, then waits 2–5 s and submits the next one. The time
from submission to COMPLETED is recorded as a custom Locust event, request type ``JOB``, name
``submit → COMPLETED``; a FAILED job, or one not done within ``JOB_TIMEOUT`` seconds, is a
failure of that event.

Run it through ``loadtest/run.py`` (``make loadtest``); alone:
``LOADTEST_FIXTURES=fixtures.json locust -f loadtest/annotator.py --headless -H URL``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gevent
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fixtures, next_account  # noqa: E402

POLL_SECONDS = 1.0
JOB_TIMEOUT = 300.0
JOB_EVENT = ("JOB", "submit → COMPLETED")


class AnnotatorUser(FastHttpUser):
    wait_time = between(2, 5)
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        account = next_account("annotator")
        self.headers = {"Authorization": f"Bearer {account['token']}"}
        self.vcf = Path(fixtures()["vcf"]).read_bytes()

    def _job_done(self, started: float, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=JOB_EVENT[0],
            name=JOB_EVENT[1],
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(self.vcf),
            exception=exception,
            context={},
        )

    @task
    def submit_and_wait(self) -> None:
        started = time.perf_counter()
        with self.client.post(
            "/api/v1/jobs",
            name="/api/v1/jobs",
            headers=self.headers,
            files={"file": ("test.vcf", self.vcf, "text/plain")},
            catch_response=True,
        ) as answer:
            if answer.status_code != 201:
                answer.failure(f"HTTP {answer.status_code}: {(answer.text or '')[:200]}")
                return
            job_id = answer.json()["id"]
        while True:
            gevent.sleep(POLL_SECONDS)
            with self.client.get(
                f"/api/v1/jobs/{job_id}",
                name="/api/v1/jobs/[id]",
                headers=self.headers,
                catch_response=True,
            ) as answer:
                if answer.status_code != 200:
                    answer.failure(f"HTTP {answer.status_code}")
                    continue
                job = answer.json()
            if job["status"] == "COMPLETED":
                self._job_done(started, None)
                return
            if job["status"] == "FAILED":
                self._job_done(started, RuntimeError(f"job FAILED: {job.get('error')}"))
                return
            if time.perf_counter() - started > JOB_TIMEOUT:
                self._job_done(started, TimeoutError(f"job not done in {JOB_TIMEOUT:.0f} s"))
                return
