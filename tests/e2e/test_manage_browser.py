"""My Annotations on a phone (390 px wide) in Debian's headless Chromium: queue positions,
live status announced to screen readers, failure reason, variant count, search and filter in
the URL, delete with a confirmation, re-run from the details page.

SQLite only, like test_browser.py: what it tests is the browser side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: I001

from tests.e2e.test_browser import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

GOOD = (
    "##fileformat=VCFv4.3\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "17\t7675088\trs28934578\tC\tT\t50\tPASS\t.\n"
    "17\t43045700\t.\tA\tAG\t50\tPASS\t.\n"
)
BROKEN = GOOD.replace("17\t43045700\t.\tA\tAG\t50\tPASS\t.\n", "17\t43045700\t.\tA\n")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'gas.db'}"


PASSWORD = "photo 51 rules"


def sign_up(page: Page, url: str, address: str) -> None:
    """As test_browser.sign_up, on a phone: the menu (and its Log out) is collapsed."""
    page.goto(url + "/signup")
    page.fill("#name", "Rosalind Franklin")
    page.fill("#email", address)
    page.fill("#institution", "King's College")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("button[type=submit]")
    # Sign-up answers the same whether or not the address is taken, and does not log in
    expect(page.get_by_test_id("flash")).to_contain_text("We have sent a message")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/annotations$"))


def upload(page: Page, url: str, name: str, content: str) -> str:
    page.goto(url + "/annotate")
    page.get_by_test_id("file-input").set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": content.encode()}
    )
    page.get_by_test_id("annotate-submit").click()
    return page.get_by_test_id("job-id").inner_text().strip()


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_my_annotations_on_a_phone(make_server, phone: Page) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    server.start("web")  # no workers yet: the jobs wait in the queue
    sign_up(phone, server.url, "rosalind@example.org")
    good = upload(phone, server.url, "good.vcf", GOOD)
    broken = upload(phone, server.url, "broken.vcf", BROKEN)

    phone.goto(server.url + "/annotations")
    good_row = phone.locator(f"[data-testid=job-row][data-job-id='{good}']")
    broken_row = phone.locator(f"[data-testid=job-row][data-job-id='{broken}']")
    expect(good_row.get_by_test_id("job-queue")).to_have_text("Queue position 1 (next)")
    expect(broken_row.get_by_test_id("job-queue")).to_have_text("Queue position 2 (1 ahead)")
    assert fits_the_screen(phone), "My Annotations must not scroll sideways at 390 px"
    expect(good_row.get_by_test_id("job-link")).to_be_visible()
    expect(good_row.get_by_test_id("job-delete")).to_be_visible()

    # Workers start: the rows change without a reload, and a screen reader hears it.
    phone.evaluate("window.__notReloaded = true")
    server.spawn("worker", "all")
    expect(good_row.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=60_000)
    expect(broken_row.get_by_test_id("job-status")).to_contain_text("FAILED", timeout=60_000)
    assert phone.evaluate("window.__notReloaded === true")
    expect(good_row.get_by_test_id("job-variants")).to_have_text("2")
    expect(good_row.get_by_test_id("job-queue")).to_have_count(0)
    expect(good_row.get_by_test_id("job-results")).to_have_attribute("data-state", "available")
    expect(broken_row.get_by_test_id("job-error")).to_contain_text("line 4")
    announcer = phone.get_by_test_id("jobs-announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_contain_text(re.compile(r"(good|broken)\.vcf: (COMPLETED|FAILED)"))
    assert fits_the_screen(phone)

    # Search and filter: the state is in the URL, and survives a reload.
    phone.get_by_test_id("jobs-q").fill("good")
    phone.get_by_test_id("jobs-apply").click()
    expect(phone.get_by_test_id("job-row")).to_have_count(1)
    assert phone.url == server.url + "/annotations?q=good"  # one URL per view, to share
    phone.goto(server.url + "/annotations")
    phone.get_by_test_id("jobs-status-filter").select_option("FAILED")
    phone.get_by_test_id("jobs-apply").click()
    expect(phone.get_by_test_id("job-row")).to_have_count(1)
    expect(phone.get_by_test_id("job-file-name")).to_have_text("broken.vcf")
    phone.reload()
    expect(phone.get_by_test_id("jobs-status-filter")).to_have_value("FAILED")

    # Delete from the list: a confirmation first, then back to the same view.
    filtered = phone.url
    broken_row.get_by_test_id("job-delete").click()
    expect(phone.get_by_test_id("delete-warning")).to_contain_text("cannot be undone")
    phone.get_by_test_id("confirm-delete").click()
    expect(phone.get_by_test_id("flash")).to_contain_text(f"Deleted broken.vcf (job {broken})")
    assert phone.url == filtered
    expect(phone.get_by_test_id("no-jobs")).to_contain_text("No annotations match")
    assert phone.goto(f"{server.url}/annotations/{broken}").status == 404

    # Re-run from the details page: a new job, the original kept.
    phone.goto(f"{server.url}/annotations/{good}")
    phone.get_by_test_id("rerun").click()
    expect(phone.get_by_test_id("received-message")).to_contain_text("request received")
    rerun = phone.get_by_test_id("job-id").inner_text().strip()
    assert rerun != good
    phone.goto(server.url + "/annotations")
    expect(phone.get_by_test_id("job-row")).to_have_count(2)
    expect(
        phone.locator(f"[data-testid=job-row][data-job-id='{rerun}']").get_by_test_id("job-status")
    ).to_contain_text("COMPLETED", timeout=60_000)
