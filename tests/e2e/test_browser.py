"""The researcher's journey through the real pages, in Debian's headless Chromium.

Runs on SQLite only: what it tests is the browser side (forms, live status, downloads); the
same server code is run on PostgreSQL by tests/e2e/test_serve.py.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

if not os.path.exists(CHROMIUM):
    if IN_CI:
        raise RuntimeError("CI needs Debian's chromium for the browser tests (.ci/run installs it)")
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

VCF = (
    "##fileformat=VCFv4.3\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "17\t7675088\trs28934578\tC\tT\t50\tPASS\t.\n"
    "17\t43045700\t.\tA\tAG\t50\tPASS\t.\n"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    # Overrides the two-backend fixture: see the module docstring.
    return f"sqlite:///{tmp_path / 'gas.db'}"


PASSWORD = "jumping genes 1983"


def sign_up(page: Page, url: str, address: str) -> None:
    page.goto(url + "/signup")
    page.fill("#name", "Barbara McClintock")
    page.fill("#email", address)
    page.fill("#institution", "Cold Spring Harbor")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("button[type=submit]")
    # Sign-up answers the same whether or not the address is taken, and does not log in
    expect(page.get_by_test_id("flash")).to_contain_text("We have sent a message")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_free_user_journey_in_the_browser(make_server, page: Page) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start("web")  # workers start later, so the page sees the job waiting
    sign_up(page, server.url, "barbara@example.org")

    # 1. The 150 KB limit: the browser says so at once...
    page.goto(server.url + "/annotate")
    big = {"name": "big.vcf", "mimeType": "text/plain", "buffer": b"#" * (200 * 1024)}
    page.get_by_test_id("file-input").set_input_files(big)
    expect(page.get_by_test_id("upload-size-error")).to_be_visible()
    expect(page.get_by_test_id("upload-size-upgrade-link")).to_be_visible()
    # ...and the server refuses it even when the browser check is bypassed.
    page.evaluate("document.querySelector('[data-max-bytes]').removeAttribute('data-max-bytes')")
    page.evaluate("document.querySelector('[data-testid=annotate-form]').submit()")
    expect(page.get_by_test_id("upload-error")).to_contain_text("Upgrade to Premium")
    expect(page.get_by_test_id("upload-upgrade-link")).to_be_visible()

    # 2. A real upload.
    page.goto(server.url + "/annotate")
    page.get_by_test_id("file-input").set_input_files(
        {"name": "mcclintock.vcf", "mimeType": "text/plain", "buffer": VCF.encode()}
    )
    page.get_by_test_id("annotate-submit").click()
    expect(page.get_by_test_id("received-message")).to_contain_text("Annotation request received")
    job_id = page.get_by_test_id("job-id").inner_text().strip()

    # 3. My Annotations shows it PENDING; the status changes live once a worker runs.
    page.goto(server.url + "/annotations")
    row = page.locator(f"[data-testid=job-row][data-job-id='{job_id}']")
    expect(row.get_by_test_id("job-status")).to_contain_text("PENDING")
    expect(row.get_by_test_id("job-file-name")).to_have_text("mcclintock.vcf")
    page.evaluate("window.__notReloaded = true")
    server.spawn("worker", "all")
    expect(row.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=60_000)
    assert page.evaluate("window.__notReloaded === true"), "the list must update without a reload"

    # 4. Details: results download and the log.
    row.get_by_test_id("job-link").click()
    expect(page.get_by_test_id("job-status")).to_contain_text("COMPLETED")
    expect(page.get_by_test_id("job-completed")).to_contain_text("UTC")
    with page.expect_download() as info:
        page.get_by_test_id("results-link").click()
    download = info.value
    assert download.suggested_filename == "mcclintock.annot.vcf"
    with open(download.path()) as fh:
        content = fh.read()
    assert "##INFO=<ID=ANN," in content and "TP53" in content
    page.get_by_test_id("log-link").click()
    expect(page.get_by_test_id("log-text")).to_contain_text("Total: 2")

    # 5. The email.
    mails = wait_for(server.job_outbox, 30, "the email")
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Results available for job {job_id}"


def test_details_page_turns_completed_without_reload(make_server, page: Page) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start("web")
    sign_up(page, server.url, "live@example.org")
    page.goto(server.url + "/annotate")
    page.get_by_test_id("file-input").set_input_files(
        {"name": "live.vcf", "mimeType": "text/plain", "buffer": VCF.encode()}
    )
    page.get_by_test_id("annotate-submit").click()
    page.get_by_test_id("job-link").click()
    expect(page.get_by_test_id("job-status")).to_contain_text("PENDING")
    expect(page.get_by_test_id("results-link")).to_have_count(0)
    server.spawn("worker", "all")
    expect(page.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=60_000)
    expect(page.get_by_test_id("results-link")).to_be_visible()


GRCH37_VCF = Path(__file__).resolve().parents[1] / "data" / "vcf" / "grch37-ug.vcf"


def test_a_grch37_file_is_detected_lifted_and_its_warnings_shown(make_server, page: Page) -> None:  # type: ignore[no-untyped-def]
    """A GATK UnifiedGenotyper VCF called on human_g1k_v37 (GRCh37), uploaded with the default
    "Detect from file": the real engine finds the assembly in the header and lifts the
    positions to GRCh38; every page, and the email, say so."""
    server = make_server()
    server.start("web")
    sign_up(page, server.url, "nettie@example.org")

    page.goto(server.url + "/annotate")
    expect(page.get_by_test_id("assembly-select")).to_have_value("auto")
    expect(page.get_by_test_id("reference-offer")).to_contain_text(
        "GRCh37/hg19 and NCBI36/hg18 inputs are lifted to GRCh38"
    )
    page.get_by_test_id("file-input").set_input_files(str(GRCH37_VCF))
    page.get_by_test_id("annotate-submit").click()
    job_id = page.get_by_test_id("job-id").inner_text().strip()

    # My Annotations: the badge appears with the live status, naming the evidence.
    page.goto(server.url + "/annotations")
    row = page.locator(f"[data-testid=job-row][data-job-id='{job_id}']")
    expect(row.get_by_test_id("job-assembly")).to_have_count(0)
    server.spawn("worker", "all")
    expect(row.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=60_000)
    badge = row.get_by_test_id("job-assembly")
    expect(badge).to_have_text("GRCh37→38")
    expect(badge).to_have_attribute("title", re.compile(r"human_g1k_v37\.fasta"))
    page.reload()  # and the server renders the same badge
    expect(row.get_by_test_id("job-assembly")).to_have_text("GRCh37→38")

    # Details: what was detected and done, and each warning as an alert.
    row.get_by_test_id("job-link").click()
    assembly = page.get_by_test_id("job-assembly")
    expect(assembly).to_contain_text(
        "GRCh37 (detected: reference_sequence=/data/ref/human_g1k_v37.fasta"
    )
    expect(assembly).to_contain_text("lifted to GRCh38 for annotation")
    expect(assembly).to_contain_text("1 record could not be lifted")
    warnings = page.get_by_test_id("assembly-warning")
    expect(warnings.first).to_be_visible()
    expect(warnings.filter(has_text="could not be lifted")).to_have_count(1)
    expect(warnings.first).to_have_class(re.compile(r"\balert-warning\b"))

    # The email says it too.
    mails = wait_for(server.job_outbox, 30, "the email")
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    text = message.get_content()
    assert "Genome assembly: GRCh37 (detected: reference_sequence=" in text
    assert "lifted to GRCh38 for annotation" in text and "Assembly warnings:" in text


def test_log_in_with_openid_connect_in_the_browser(make_server, page: Page) -> None:  # type: ignore[no-untyped-def]
    """The OIDC journey in Chromium, against a real OpenID provider run locally: the button,
    the provider's page, back to GAS logged in with an account made from the identity."""
    import requests

    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        claims = {
            "email": "rosalind@kcl.example.org",
            "email_verified": True,
            "name": "Rosalind Franklin",
            "institution": "King's College London",
        }
        assert requests.put(f"{issuer}/users/rosalind", json=claims, timeout=10).ok
        server = make_server(
            GAS_OIDC_ISSUER=issuer,
            GAS_OIDC_CLIENT_ID="gas-browser-test",
            GAS_OIDC_CLIENT_SECRET="gas-browser-secret",
        )
        server.start("web")
        page.goto(server.url + "/login")
        button = page.get_by_test_id("oidc-login")
        expect(button).to_have_text("Log in with Globus")
        button.click()
        page.wait_for_url(f"{issuer}/oauth2/authorize*")
        page.fill("input[name=sub]", "rosalind")
        page.get_by_role("button", name="Authorize").click()
        expect(page.get_by_test_id("logout")).to_be_visible()
        page.goto(server.url + "/profile")
        expect(page.get_by_test_id("profile-email")).to_have_value("rosalind@kcl.example.org")
        expect(page.get_by_test_id("profile-name")).to_have_value("Rosalind Franklin")
        expect(page.get_by_test_id("profile-institution")).to_have_value("King's College London")
        expect(page.get_by_test_id("unverified-banner")).to_have_count(0)  # the provider vouched
        # no GAS password: no form that would ask for one; the address is the provider's
        expect(page.get_by_test_id("no-password")).to_be_visible()
        expect(page.get_by_test_id("email-from-provider")).to_be_visible()
        expect(page.get_by_test_id("email-form")).to_have_count(0)
        expect(page.get_by_test_id("password-form")).to_have_count(0)
        # and this log-in is listed among the sessions, as this browser's
        expect(page.get_by_test_id("session-row")).to_have_count(1)
        expect(page.get_by_test_id("this-session")).to_be_visible()


def test_where_you_are_logged_in_and_logging_out_another_browser(  # type: ignore[no-untyped-def]
    make_server, page: Page, browser: Browser
) -> None:
    """Profile → "Where you are logged in": both browsers are listed, this one marked; its
    "Log out" beside the other one ends that one only."""
    server = make_server()
    server.start("web")
    sign_up(page, server.url, "lab@example.org")
    other = browser.new_context()
    try:
        phone = other.new_page()
        phone.goto(server.url + "/login")
        phone.fill("#email", "lab@example.org")
        phone.fill("#password", PASSWORD)
        phone.click("button[type=submit]")
        expect(phone.get_by_test_id("logout")).to_be_visible()

        page.goto(server.url + "/profile")
        rows = page.get_by_test_id("session-row")
        expect(rows).to_have_count(2)
        expect(page.get_by_test_id("this-session")).to_have_count(1)
        not_this = rows.filter(has_not=page.get_by_test_id("this-session"))
        not_this.get_by_test_id("session-end").click()
        expect(page.get_by_test_id("flash")).to_contain_text("That session has been logged out")
        expect(page.get_by_test_id("session-row")).to_have_count(1)

        phone.goto(server.url + "/profile")
        expect(phone).to_have_url(re.compile(r"/login"))  # sent to log in again
    finally:
        other.close()
