"""``make loadtest`` in miniature: loadtest/run.py starts its own ``gas serve``, runs both Locust
scenarios (web: log in and browse; annotator: submit a VCF through the API and wait for it) for a
few seconds with a few users, and must report requests, no failure and a completed job.

The runner is a subprocess, never imported here: Locust monkey-patches the standard library
with gevent, which must not happen in the test process the other tests share.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_load_test_of_both_scenarios_passes(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "loadtest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAS_")}
    env["GAS_DATABASE_URL"] = database_url
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtest" / "run.py"),
            *(
                "--users",
                "4",
                "--annotators",
                "2",
                "--seconds",
                "4",
                "--spawn-rate",
                "4",
                "--settle",
                "1",
            ),
            *("--accounts", "2", "--jobs-per-account", "1", "--json", str(out)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["problems"] == []

    assert result["warmup"]["logins"] == {"done": 4, "failed": 0}
    assert result["warmup"]["login"]["requests"] == 8  # the form, then the POST, per user
    web = result["web"]
    assert web["requests"] > 0 and web["failures"] == 0
    assert set(web["endpoints"]) <= {
        "GET /",
        "GET /annotations",
        "GET /annotations/[id]",
        "GET /annotations/[id]/status.json",
    }
    annotator = result["annotator"]
    assert annotator["failures"] == 0 and annotator["jobs_failed"] == 0
    assert annotator["jobs_completed"] >= 1
    assert annotator["endpoints"]["POST /api/v1/jobs"]["requests"] >= 1
    assert annotator["endpoints"]["JOB submit → COMPLETED"]["p50"] > 0

    # The report a person reads: per scenario, requests/s, failures and percentiles.
    for text in ("web: 4 users", "annotator: 2 users", "req/s", "p95", "p99", "passed"):
        assert text in done.stdout, done.stdout
