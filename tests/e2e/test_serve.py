"""The whole service, as a newcomer meets it: ``gas serve`` as a subprocess, driven over HTTP."""

from __future__ import annotations

import email
import email.policy
import json
import re
import signal
import time

import pytest
import requests
import sqlalchemy as sa

from gas.adapters.sql import tables
from gas.adapters.sql.database import create_engine
from tests.e2e.conftest import csrf_token, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

VCF = (
    "##fileformat=VCFv4.2\n"
    "##reference=GRCh38\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "17\t7675088\trs28934578\tC\tT\t50\tPASS\t.\n"  # in TP53
    "chr17\t43045700\t.\tA\tAG\t50\tPASS\t.\n"  # in BRCA1, with a chr prefix
    "1\t1000\t.\tG\tA\t50\tPASS\t.\n"  # intergenic
)


def sign_up(session: requests.Session, url: str, email_address: str) -> None:
    token = csrf_token(session.get(url + "/signup").text)
    page = session.post(
        url + "/signup",
        data={
            "csrf_token": token,
            "email": email_address,
            "name": "Rosalind Franklin",
            "institution": "King's College",
            "password": "photo 51 rules",
            "password_confirm": "photo 51 rules",
        },
    )
    assert page.status_code == 200, page.text
    assert "We have sent a message to" in page.text  # the same answer for a taken address
    token = csrf_token(page.text)  # the log-in page
    page = session.post(
        url + "/login",
        data={"csrf_token": token, "email": email_address, "password": "photo 51 rules"},
    )
    assert page.status_code == 200, page.text
    assert "Log out" in page.text


def upload(session: requests.Session, url: str, name: str, content: bytes) -> requests.Response:
    token = csrf_token(session.get(url + "/annotate").text)
    return session.post(
        url + "/annotate",
        data={"csrf_token": token},
        files={"file": (name, content, "text/plain")},
    )


def job_status(session: requests.Session, url: str, job_id: str) -> str:
    response = session.get(f"{url}/annotations/{job_id}/status.json")
    assert response.status_code == 200
    return str(response.json()["status"])


def test_sign_up_upload_complete_email_download(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start()
    s = requests.Session()
    sign_up(s, server.url, "rosalind@example.org")

    received = upload(s, server.url, "sample.vcf", VCF.encode())
    assert received.status_code == 200, received.text
    assert "Annotation request received" in received.text
    job_id = re.search(r"assigned ID\s*(?:<[^>]+>\s*)*([0-9a-f-]{36})", received.text).group(1)

    seen = {job_status(s, server.url, job_id)}
    final = wait_for(
        lambda: (
            (st := job_status(s, server.url, job_id)) in {"COMPLETED", "FAILED"}
            and st
            or seen.add(st)
        ),
        60,
        "the job to end",
    )
    assert final == "COMPLETED", server.log()
    assert seen <= {"PENDING", "RUNNING", None}

    # The "Results available" email, filed in the outbox as RFC 5322.
    mails = wait_for(server.job_outbox, 30, "the email in the outbox")
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Results available for job {job_id}"
    assert message["To"].addresses[0].addr_spec == "rosalind@example.org"
    body = message.get_body(("plain",)).get_content()
    assert f"{server.url}/annotations/{job_id}" in body

    # The results and the log, over HTTP.
    details = s.get(f"{server.url}/annotations/{job_id}")
    assert "COMPLETED" in details.text
    results = s.get(f"{server.url}/annotations/{job_id}/results")
    assert results.status_code == 200
    assert results.url.startswith(server.url + "/files/")
    assert "attachment" in results.headers["Content-Disposition"]
    assert "sample.annot.vcf" in results.headers["Content-Disposition"]
    text = results.text
    assert text.startswith("##fileformat=VCFv4.2")
    assert "##INFO=<ID=ANN," in text
    records = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(records) == 3
    assert "TP53" in records[0] and "BRCA1" in records[1]
    log = s.get(f"{server.url}/annotations/{job_id}/log")
    assert log.status_code == 200 and "Total: 3" in log.text

    # The input file is downloadable too.
    original = s.get(f"{server.url}/annotations/{job_id}/input")
    assert original.status_code == 200 and original.text == VCF

    assert server.stop() == 0


def test_broken_vcf_fails_with_a_reason_and_the_worker_goes_on(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start()
    s = requests.Session()
    sign_up(s, server.url, "broken@example.org")
    bad = VCF.replace("1\t1000\t.\tG\tA\t50\tPASS\t.\n", "1\t1000\t.\tG\n")
    job_ids = []
    for name, content in (("broken.vcf", bad), ("good.vcf", VCF)):
        page = upload(s, server.url, name, content.encode())
        assert page.status_code == 200, page.text
        job_ids.append(re.search(r"([0-9a-f]{8}-[0-9a-f-]{27})", page.url).group(1))

    def ended(job_id: str) -> str | None:
        data = s.get(f"{server.url}/annotations/{job_id}/status.json").json()
        return data["status"] if data["status"] in {"COMPLETED", "FAILED"} else None

    assert wait_for(lambda: ended(job_ids[0]), 60, "the broken job to end") == "FAILED"
    assert wait_for(lambda: ended(job_ids[1]), 60, "the good job to end") == "COMPLETED"
    details = s.get(f"{server.url}/annotations/{job_ids[0]}").text
    assert "line 6" in details  # the one-line reason names the offending line
    assert s.get(f"{server.url}/annotations/{job_ids[0]}/input").text == bad  # input kept
    assert "line 6" in s.get(f"{server.url}/annotations/{job_ids[0]}/log").text
    failed_mail = wait_for(
        lambda: [m for m in server.outbox() if b"failed" in m.read_bytes()], 30, "failure email"
    )
    assert failed_mail
    assert server.stop() == 0


def _job_and_message(database_url: str, job_id: str) -> tuple[str, list[dict[str, object]]]:
    """The job's status and its job.requested messages in the queue, read from the database
    (with ``gas serve`` stopped, nothing else can answer)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            status = connection.execute(
                sa.select(tables.jobs.c.status).where(tables.jobs.c.id == job_id)
            ).scalar_one()
            rows = connection.execute(
                sa.select(tables.queue_messages).where(
                    tables.queue_messages.c.topic == "job.requested"
                )
            )
            messages = [
                dict(row._mapping)
                for row in rows
                if json.loads(row._mapping["payload"]).get("job_id") == job_id
            ]
    finally:
        engine.dispose()
    return str(status), messages


def test_stopping_mid_job_loses_nothing(make_server, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM while a job runs, with no grace: the job is given back and finishes after a
    restart.

    What proves it (issue 11, item 6): the job is seen RUNNING — over the API and in the
    database — before the signal; after the stop it is still RUNNING in the database and its
    message is back in the queue as deliverable at once (state ready, no lease, its attempt
    given back), which only the worker's release does (a killed worker leaves the message
    leased until its lease expires); the log says so; and after a restart the same message is
    delivered again, resumed as a released message, and the job completes in full.
    """
    server = make_server(GAS_SHUTDOWN_GRACE_SECONDS="0", GAS_QUEUE_LEASE_SECONDS="5")
    server.start()
    server.gas(
        "users",
        "create",
        "big@example.org",
        "--premium",
        "--password-stdin",
        stdin="long enough pw\n",
    )
    token = server.gas("tokens", "create", "big@example.org").strip().splitlines()[-1]
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    body = "".join(f"17\t{7_000_000 + i * 7}\t.\tC\tT\t50\tPASS\t.\n" for i in range(200_000))
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        server.url + "/api/v1/jobs", headers=auth, files={"file": ("big.vcf", header + body)}
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    def status() -> str:
        return str(
            requests.get(f"{server.url}/api/v1/jobs/{job_id}", headers=auth).json()["status"]
        )

    started = wait_for(lambda: (st := status()) != "PENDING" and st, 60, "the job to start")
    assert started == "RUNNING", (
        f"the job was {started} before the stop could land: the test needs a longer job"
    )
    db_status, messages = _job_and_message(database_url, job_id)
    assert db_status == "RUNNING"
    assert len(messages) == 1 and messages[0]["state"] == "leased", messages  # being worked on
    message_id = messages[0]["id"]
    assert server.stop() == 0
    stopped_log = server.log()

    # Stopped mid-job: not finished, and given back at once (not killed and left to its lease).
    db_status, messages = _job_and_message(database_url, job_id)
    assert db_status == "RUNNING", f"the job was {db_status} when GAS had stopped:\n{stopped_log}"
    assert len(messages) == 1 and messages[0]["id"] == message_id, messages
    released = messages[0]
    why = f"{released}\n{stopped_log}"
    assert released["state"] == "ready" and released["receipt"] is None, why
    assert released["attempts"] == 0, why  # release gives the interrupted attempt back
    assert released["available_at"] <= time.time(), why  # deliverable now, no lease left
    assert f"message {message_id} released for redelivery" in stopped_log, stopped_log
    assert "killing" not in stopped_log
    assert "COMPLETED" not in stopped_log

    server.start()
    assert (
        wait_for(lambda: (st := status()) in {"COMPLETED", "FAILED"} and st, 120, "the job")
        == "COMPLETED"
    ), server.log()
    log = requests.get(f"{server.url}/api/v1/jobs/{job_id}/log", headers=auth).text
    assert "Total: 200000" in log
    assert server.stop() == 0
    # the released message was delivered again, as a first attempt, and acknowledged
    assert f"job {job_id}: resuming an interrupted attempt (released message)" in server.log()
    assert _job_and_message(database_url, job_id) == ("COMPLETED", [])


def test_sigterm_stops_cleanly_and_quickly_when_idle(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start()
    assert server.stop(signal.SIGINT, timeout=30) == 0
    assert "GAS stopped" in server.log()
