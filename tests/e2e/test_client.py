"""``gas client`` against ``gas serve`` (a subprocess, real annotation): log in, submit and
wait, status, list, download — plain and filtered — the variant table; then delete the job
over the API and find nothing of it left in storage."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

VCF = (
    "##fileformat=VCFv4.2\n"
    "##reference=GRCh38\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "17\t7675088\trs28934578\tC\tT\t50\tPASS\t.\n"  # in TP53
    "chr17\t43045700\t.\tA\tAG\t50\tPASS\t.\n"  # in BRCA1, with a chr prefix
    "1\t1000\t.\tG\tA\t50\tPASS\t.\n"  # intergenic
)


def test_the_client_journey_on_a_real_server(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start()
    server.gas("users", "create", "cli@example.org", "--password-stdin", stdin="long enough pw\n")
    token = server.gas("tokens", "create", "cli@example.org").strip().splitlines()[-1]
    config_home = tmp_path / "config"
    work = tmp_path / "work"
    work.mkdir()
    env = {**server.env, "XDG_CONFIG_HOME": str(config_home)}

    def client(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "gas", "client", *args],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, (done.stdout, done.stderr, server.log())
        assert "Traceback" not in done.stderr
        return done

    client("login", "--url", server.url, "--token", token)
    kept = config_home / "gas" / "client.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    sample = work / "sample.vcf"
    sample.write_text(VCF)
    submitted = client("submit", str(sample), "--wait", "--timeout", "90", "--interval", "0.5")
    job_id = submitted.stdout.strip().splitlines()[-1]
    assert f"Job {job_id} COMPLETED: 3 variants" in submitted.stderr

    status = client("status", job_id).stdout
    assert "Status:    COMPLETED" in status and "Variants:  3" in status
    assert "Results:   available" in status
    listed = client("list").stdout
    assert job_id in listed and "sample.vcf" in listed

    saved = client("download", job_id).stdout.strip()
    annotated = (work / saved).read_text()
    assert saved == "sample.annot.vcf"
    assert annotated.startswith("##fileformat=VCFv4.2") and "##INFO=<ID=ANN," in annotated
    assert len([line for line in annotated.splitlines() if not line.startswith("#")]) == 3

    # The variant table and a filtered export, with the same filter, agree.
    table = json.loads(client("variants", job_id, "--format", "json").stdout)
    assert table["total"] == 3
    assert {v["gene"] for v in table["variants"]} >= {"TP53", "BRCA1"}
    tp53 = json.loads(client("variants", job_id, "--gene", "TP53", "--format", "json").stdout)
    assert tp53["total"] == 1 and tp53["variants"][0]["pos"] == 7675088
    shown = client("variants", job_id, "--gene", "TP53").stdout.splitlines()
    assert shown[0].split()[:3] == ["chrom", "pos", "id"] and "7675088" in shown[1]
    exported = client("download", job_id, "--format", "tsv", "--gene", "TP53", "-o", "tp53.tsv")
    rows = (work / "tp53.tsv").read_text().splitlines()
    assert exported.stdout.strip() == "tp53.tsv"
    assert len([r for r in rows if r and not r.startswith("#")]) == 1 + 1  # header + TP53

    # Errors from the server: one line, exit status 1.
    missing = client("status", "00000000-0000-4000-8000-000000000000", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == ["Error: 404: No such annotation job."]

    # Delete over the API: 204, then 404, and nothing of the job is left in storage.
    auth = {"Authorization": f"Bearer {token}"}
    objects = server.data_dir / "objects"
    assert any(job_id in str(p) for p in objects.rglob("*") if p.is_file())
    assert requests.delete(f"{server.url}/api/v1/jobs/{job_id}", headers=auth).status_code == 204
    assert requests.delete(f"{server.url}/api/v1/jobs/{job_id}", headers=auth).status_code == 404
    assert not any(job_id in str(p) for p in objects.rglob("*") if p.is_file())
    gone = client("status", job_id, check=False)
    assert gone.returncode == 1 and "404" in gone.stderr
    assert server.stop() == 0


def test_the_client_journey_of_an_account_made_by_openid_connect(
    make_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Someone who has only ever logged in with the identity provider (a real OpenID provider
    run locally) makes an API token on the Profile page, and `gas client` works as them:
    login, submit, wait, variants."""
    import re

    from tests.e2e.conftest import csrf_token

    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        claims = {
            "email": "barbara@cshl.example.org",
            "email_verified": True,
            "name": "Barbara McClintock",
            "institution": "Cold Spring Harbor Laboratory",
        }
        assert requests.put(f"{issuer}/users/barbara", json=claims, timeout=10).ok
        server = make_server(
            GAS_OIDC_ISSUER=issuer,
            GAS_OIDC_CLIENT_ID="gas-client-test",
            GAS_OIDC_CLIENT_SECRET="gas-client-secret",
        )
        server.start()

        # The browser's part, with requests: GAS → the provider's form → back to GAS.
        browser = requests.Session()
        started = browser.get(server.url + "/login/oidc", allow_redirects=False, timeout=10)
        assert started.status_code == 302, started.text
        assert started.headers["Location"].startswith(f"{issuer}/oauth2/authorize?")
        authorized = requests.post(
            started.headers["Location"], data={"sub": "barbara"}, allow_redirects=False, timeout=10
        )
        assert authorized.status_code == 302, authorized.text
        back = authorized.headers["Location"]
        assert back.startswith(server.url + "/login/oidc/callback?")
        landed = browser.get(back, allow_redirects=False, timeout=10)
        assert landed.status_code == 302, landed.text
        profile = browser.get(server.url + "/profile", allow_redirects=False, timeout=10)
        assert profile.status_code == 200
        assert 'value="barbara@cshl.example.org"' in profile.text
        assert 'data-testid="no-password"' in profile.text  # an account of the provider's

        made = browser.post(
            server.url + "/profile/tokens",
            data={"csrf_token": csrf_token(profile.text), "label": "laptop"},
            allow_redirects=False,
            timeout=10,
        )
        assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
        found = re.search(r'id="new-token" type="text" value="([^"]+)"', made.text)
        assert found, made.text
        token = found.group(1)

    # The provider is gone now: the API token does not need it.
    config_home = tmp_path / "config"
    work = tmp_path / "work"
    work.mkdir()
    env = {**server.env, "XDG_CONFIG_HOME": str(config_home)}

    def client(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "gas", "client", *args],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (done.stdout, done.stderr, server.log())
        assert "Traceback" not in done.stderr
        return done

    logged = client("login", "--url", server.url, "--token", token)
    assert f"Logged in to {server.url}" in logged.stderr
    sample = work / "sample.vcf"
    sample.write_text(VCF)
    job_id = client("submit", str(sample)).stdout.strip().splitlines()[-1]
    waited = client("wait", job_id, "--timeout", "90", "--interval", "0.5")
    assert f"Job {job_id} COMPLETED: 3 variants" in waited.stderr
    table = json.loads(client("variants", job_id, "--format", "json").stdout)
    assert table["total"] == 3
    assert {v["gene"] for v in table["variants"]} >= {"TP53", "BRCA1"}
    # the job is this account's: the API lists it for the token's owner
    auth = {"Authorization": f"Bearer {token}"}
    mine = requests.get(f"{server.url}/api/v1/jobs", headers=auth, timeout=10).json()
    assert [job["id"] for job in mine["jobs"]] == [job_id]
    assert server.stop() == 0
