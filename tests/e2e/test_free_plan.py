"""The Free plan end to end on a real ``gas serve``: a 2-second download window, a 1-second
Expedited retrieval from the local cold store, and the upgrade that brings the results back.

Driven over the JSON API with a token made by the CLI, as a script would; every wait polls
with a deadline (``wait_for``), none sleeps a fixed time.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
import requests

from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

EMAIL = "barbara@example.org"
VCF = (
    "##fileformat=VCFv4.2\n"
    "##reference=GRCh38\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "17\t7675088\trs28934578\tC\tT\t50\tPASS\t.\n"
    "1\t1000\t.\tG\tA\t50\tPASS\t.\n"
)


def test_free_results_are_archived_then_restored_on_upgrade(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server(
        GAS_FREE_RETENTION_SECONDS="2",
        GAS_COLDSTORE_EXPEDITED_SECONDS="1",
        GAS_QUEUE_POLL_SECONDS="0.2",
    )
    server.start()
    server.gas("users", "create", EMAIL, "--password-stdin", stdin="mobile elements\n")
    token = server.gas("tokens", "create", EMAIL).strip().splitlines()[-1]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    base = server.url + "/api/v1"

    created = api.post(base + "/jobs", files={"file": ("maize.vcf", VCF, "text/plain")})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    def job() -> dict[str, Any]:
        response = api.get(f"{base}/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def results_state() -> str | None:
        return job()["results"]["state"]  # type: ignore[no-any-return]

    def download() -> bytes:
        response = api.get(f"{base}/jobs/{job_id}/results")  # 302 to a signed link, followed
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["Content-Disposition"]
        return response.content

    # completed; the results download within the window
    status = wait_for(
        lambda: (s := job()["status"]) in {"COMPLETED", "FAILED"} and s, 30, "the job to end"
    )
    assert status == "COMPLETED", server.log()
    assert results_state() == "available"
    before = download()
    assert before.startswith(b"##fileformat=VCFv4.2")
    assert b"TP53" in before

    # the window ends: archived; the API says why with a 409 and the way out
    wait_for(lambda: results_state() == "archived", 30, "the results to be archived")
    refused = api.get(f"{base}/jobs/{job_id}/results", allow_redirects=False)
    assert refused.status_code == 409, refused.text
    assert "Upgrade to Premium to download them" in refused.json()["error"]
    log = api.get(f"{base}/jobs/{job_id}/log")
    assert log.status_code == 200 and "Total" in log.text  # the log stays hot
    cold = list((server.data_dir / "cold").rglob("*"))
    assert any(p.is_file() for p in cold), "nothing in the cold store"

    # upgrade from the CLI: restoring, then available again
    assert "is now premium" in server.gas("users", "set-plan", EMAIL, "premium")
    seen: list[str | None] = []

    def available() -> bool:
        state = results_state()
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == "available"

    wait_for(available, 30, "the results to be restored", interval=0.05)
    assert "restoring" in seen, seen
    assert seen[-1] == "available"
    assert download() == before  # the same bytes, at the same place

    # and the email
    subject = f"Your results for job {job_id} have been restored"

    def restored_mail() -> email.message.EmailMessage | None:
        for path in server.outbox():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            # (the generator folds this long subject onto a continuation line; unfolded, the
            # value keeps the folding whitespace, which mail clients do not show)
            if str(message["Subject"]).strip() == subject:
                return message
        return None

    message = wait_for(restored_mail, 30, "the 'restored' email")
    assert message["To"].addresses[0].addr_spec == EMAIL
    assert f"{server.url}/annotations/{job_id}" in message.get_body(("plain",)).get_content()
    assert not [p for p in (server.data_dir / "cold").rglob("*") if p.is_file()]
    assert server.stop() == 0
