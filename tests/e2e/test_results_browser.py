"""The results browser of the details page, in Debian's headless Chromium against a real
``gas serve``: a real VCF is annotated by the real engine, then the summary panel, the charts,
the variant table (paging, filters in the URL, reload, back/forward), an export of the
filtered rows, an expanded row and the phone layout are checked as a researcher sees them.

The file mixes mitochondrial SNVs (the built-in rCRS reference gives them transcript
consequences, HGVS and impacts with no bundle installed) with a few nuclear records (gene
level: their gene), so the numbers on the page can be computed here independently.
"""

from __future__ import annotations

import csv
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

# (imported first: it skips the module without Debian's chromium)
from tests.e2e import test_browser as browser_tests
from tests.results_vcf import MT_RECORDS, mixed_vcf

# the fixtures of the other browser tests: Chromium, a page, a SQLite-only server
browser = browser_tests.browser
page = browser_tests.page
database_url = browser_tests.database_url
sign_up = browser_tests.sign_up

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCREENSHOTS = "/tmp"


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shown_rows(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("variant-row")


def row_keys(page: Page) -> list[str]:
    rows = shown_rows(page)
    return [
        f"{rows.nth(i).get_attribute('data-record')}:{rows.nth(i).get_attribute('data-allele')}"
        for i in range(rows.count())
    ]


def wait_loaded(page: Page) -> None:
    expect(page.get_by_test_id("variant-browser")).to_have_attribute("data-loading", "false")


def chart_number(page: Page, chart: str, label: str) -> int:
    table = page.get_by_test_id(f"chart-{chart}").get_by_test_id("chart-table")
    cell = table.locator("tr", has=page.locator(f"th:text-is('{label}')")).locator("td")
    return int(cell.get_attribute("data-value") or "0")


def test_results_browser_summary_charts_table_filters_export_and_phone(  # type: ignore[no-untyped-def]
    make_server, page: Page
) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    server = make_server()
    server.start()
    sign_up(page, server.url, "rosalind@example.org")
    vcf, expected = mixed_vcf()
    page.goto(server.url + "/annotate")
    page.get_by_test_id("file-input").set_input_files(
        {"name": "mito.vcf", "mimeType": "text/plain", "buffer": vcf.encode()}
    )
    page.get_by_test_id("annotate-submit").click()
    job_id = page.get_by_test_id("job-id").inner_text().strip()
    details = f"{server.url}/annotations/{job_id}"
    page.goto(details)
    expect(page.get_by_test_id("job-status")).to_contain_text("COMPLETED", timeout=60_000)
    expect(page.get_by_test_id("job-status-live")).to_have_attribute("role", "status")

    # 1. The summary panel: numbers computed here from the file itself.
    panel = page.get_by_test_id("summary-panel")
    expect(panel.get_by_test_id("summary-variants")).to_have_text(str(expected["variants"]))
    expect(panel.get_by_test_id("summary-alleles")).to_have_text(str(expected["alleles"]))
    expect(panel.get_by_test_id("summary-known")).to_have_text(str(expected["known"]))
    expect(panel.get_by_test_id("summary-novel")).to_have_text(str(expected["novel"]))
    expect(panel.get_by_test_id("summary-titv")).to_have_text(
        f"{expected['ti'] / expected['tv']:.2f}"
    )
    # one assembly row on the page (the job's), none repeated in the summary
    expect(page.get_by_test_id("job-assembly")).to_have_count(1)

    # 2. The charts are drawn (a canvas with a size) and each has its numbers in words.
    for chart in ("consequences", "impacts", "chromosomes"):
        figure = page.get_by_test_id(f"chart-{chart}")
        expect(figure).to_have_attribute("data-chart-ready", "true")
        box = figure.get_by_test_id("chart-canvas").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, (chart, box)
        assert figure.get_by_test_id("chart-table").locator("tbody tr").count() >= 1
    impacts_canvas = page.get_by_test_id("chart-impacts").get_by_test_id("chart-canvas")
    moderate = chart_number(page, "impacts", "MODERATE")
    assert moderate > 0
    expect(impacts_canvas).to_have_attribute("aria-label", re.compile(rf"MODERATE: {moderate}\b"))
    assert chart_number(page, "chromosomes", "MT") == MT_RECORDS
    expect(
        page.get_by_test_id("chart-chromosomes").get_by_test_id("chart-canvas")
    ).to_have_attribute("aria-label", re.compile(rf"MT: {MT_RECORDS}\b"))

    # 3. The table, page by page (server-side paging; the page is in the URL).
    status = page.get_by_test_id("variant-status")
    expect(status).to_have_text(f"Showing 1–25 of {expected['alleles']} variant alleles.")
    expect(shown_rows(page)).to_have_count(25)
    first_page = row_keys(page)
    page.get_by_test_id("page-next").click()
    expect(status).to_contain_text(f"Showing 26–50 of {expected['alleles']}")
    wait_loaded(page)
    second_page = row_keys(page)
    assert len(second_page) == 25 and not set(first_page) & set(second_page)
    assert query(page)["offset"] == ["25"]
    gene_link = shown_rows(page).first.get_by_test_id("ensembl-link")
    expect(gene_link).to_have_attribute("target", "_blank")
    expect(gene_link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(shown_rows(page).first.get_by_test_id("ncbi-link")).to_have_attribute(
        "href",
        re.compile(r"^https://www\.ncbi\.nlm\.nih\.gov/gene/\d+$"),  # MT: NCBI GeneIDs
    )

    # 4. A filter narrows the table and goes into the URL (back to the first page).
    page.get_by_test_id("filter-impact-moderate").check()
    moderate_status = (
        f"Showing 1–{min(25, moderate)} of {moderate} variant alleles matching the filters."
    )
    expect(status).to_have_text(moderate_status)
    wait_loaded(page)
    assert query(page)["impact"] == ["MODERATE"] and "offset" not in query(page)
    impacts = shown_rows(page).evaluate_all("rows => rows.map(r => r.dataset.impact)")
    assert impacts and set(impacts) == {"MODERATE"}
    # and a gene on top of it
    page.get_by_test_id("filter-gene").fill("MT-ND2")
    page.get_by_test_id("filters-apply").click()
    expect(status).to_contain_text("matching the filters")
    wait_loaded(page)
    assert query(page)["gene"] == ["MT-ND2"] and query(page)["impact"] == ["MODERATE"]
    narrowed = row_keys(page)
    genes = shown_rows(page).evaluate_all("rows => rows.map(r => r.dataset.gene)")
    assert narrowed and len(narrowed) < moderate and set(genes) == {"MT-ND2"}
    narrowed_status = status.inner_text()

    # 5. A reload keeps the view; back and forward walk through the views.
    page.reload()
    expect(status).to_have_text(narrowed_status)
    wait_loaded(page)
    assert row_keys(page) == narrowed
    expect(page.get_by_test_id("filter-gene")).to_have_value("MT-ND2")
    expect(page.get_by_test_id("filter-impact-moderate")).to_be_checked()
    page.go_back()
    expect(status).to_have_text(moderate_status)
    expect(page.get_by_test_id("filter-gene")).to_have_value("")
    page.go_forward()
    expect(status).to_have_text(narrowed_status)
    wait_loaded(page)

    # 6. "Download these rows": the TSV holds exactly the filtered rows.
    link = page.get_by_test_id("download-tsv")
    expect(link).to_have_attribute("href", re.compile(r"format=tsv"))
    expect(link).to_have_attribute("href", re.compile(r"gene=MT-ND2"))
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".tsv")
    with open(download.path(), newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [f"{r['record']}:{r['allele']}" for r in rows] == narrowed
    assert {r["gene"] for r in rows} == {"MT-ND2"} and {r["impact"] for r in rows} == {"MODERATE"}
    expect(page.get_by_test_id("download-vcfgz")).to_have_attribute(
        "href", re.compile(r"format=vcf\.gz.*gene=MT-ND2|gene=MT-ND2.*format=vcf\.gz")
    )

    # 7. A row expands (keyboard-usable button) to every transcript of its allele.
    button = shown_rows(page).first.get_by_test_id("expand-row")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    transcripts = page.get_by_test_id("transcripts-table").first
    expect(transcripts).to_be_visible()
    names = transcripts.get_by_test_id("transcript-row").evaluate_all(
        "rows => rows.map(r => r.cells[0].textContent.trim())"
    )
    assert len(names) > 1 and "MT-ND2" in names and set(names) - {"MT-ND2"}, names
    page.screenshot(path=f"{SCREENSHOTS}/gas-results-desktop.png", full_page=True)

    # 8. Sorting by impact puts the most severe first (HIGH) and says so to screen readers.
    page.get_by_test_id("filters-clear").click()
    expect(status).to_have_text(f"Showing 1–25 of {expected['alleles']} variant alleles.")
    page.get_by_test_id("sort-impact").click()
    wait_loaded(page)
    expect(page.locator("th[data-sort=impact]")).to_have_attribute("aria-sort", "descending")
    expect(shown_rows(page).first).to_have_attribute("data-impact", "HIGH")
    assert query(page)["sort"] == ["impact"]

    # 9. A phone: the table scrolls inside its box, the page does not overflow.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(details)
    expect(status).to_contain_text("Showing 1–25")
    wait_loaded(page)
    shown_rows(page).first.get_by_test_id("expand-row").click()
    expect(page.get_by_test_id("transcripts-table").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    wrap = page.get_by_test_id("variant-table-wrap")
    assert wrap.evaluate("e => e.scrollWidth > e.clientWidth")  # it scrolls sideways itself
    page.screenshot(path=f"{SCREENSHOTS}/gas-results-phone.png", full_page=True)

    assert not violations, violations
