"""The results browser of the details page with Flask's client: the page (summary panel,
charts and their text alternatives, the table's shell and its filters), the session-
authenticated JSON and download routes its script uses, and every state of the results
(available, archived, being restored, no results store), with the per-user checks.

Jobs are annotated by the real engine (run_annotation, as the annotator worker does) on a
file whose numbers are computed independently (tests/results_vcf.py). One database is
enough: the queries run on the job's Parquet store; the SQL side is the jobs pages'.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from html.parser import HTMLParser

import pytest

from gas import annotation
from gas.domain.jobs import ResultsState
from gas.services.annotate import AnnotationRun, run_annotation
from tests.integration.web.conftest import finish_job, submit
from tests.results_vcf import MT_RECORDS, mixed_vcf

VCF, EXPECTED = mixed_vcf()


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    # One backend (see the module docstring); build() migrates it.
    return f"sqlite:///{tmp_path / 'gas.db'}"


def annotate(container, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """Annotate the job as the annotator worker does, with the real engine."""
    run = AnnotationRun(
        uow=container.uow,
        storage=container.storage,
        clock=container.clock,
        engine=functools.partial(annotation.annotate_file, refdata=None, workers=1),
        bad_input=(annotation.InvalidInputError,),
        output_stem=annotation.output_stem,
    )
    run_annotation(run, job_id, redelivered=False, last_attempt=False)
    with container.uow(readonly=True) as uow:
        job = uow.jobs.get(job_id)
    assert job is not None and job.status.value == "COMPLETED", job
    assert job.store_key, "the annotator stores a results store"


def set_results_state(container, job_id: str, state: ResultsState) -> None:  # type: ignore[no-untyped-def]
    with container.uow() as uow:
        job = uow.jobs.get(job_id, for_update=True)
        job.results_state = state
        uow.jobs.save(job)
        uow.commit()


@pytest.fixture
def annotated(client, logged_in, container) -> str:  # type: ignore[no-untyped-def]
    """Ada's job of the mixed VCF, annotated."""
    job_id = submit(client, logged_in, VCF.encode(), "mito.vcf")
    annotate(container, job_id)
    return job_id


def page_of(client, job_id: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/annotations/{job_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def text_of(html: str, name: str) -> str:
    """The text of the element with ``data-testid=name`` (its first line of content)."""
    match = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert match, f"no {name} in the page"
    return match.group(1).strip()


class Labels(HTMLParser):
    """Form fields and the ids their <label for> name."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.inline_scripts = 0
        self.styled = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a:
            self.styled += 1
        if tag == "script" and not a.get("src"):
            self.inline_scripts += 1
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag in ("input", "select") and a.get("type") not in ("hidden", "submit"):
            self.fields.append(a)


# --- the page ------------------------------------------------------------------------------------


def test_the_details_page_shows_the_summary_panel_with_the_files_numbers(client, annotated) -> None:
    html = page_of(client, annotated)
    assert text_of(html, "summary-variants") == str(EXPECTED["variants"])
    assert text_of(html, "summary-alleles") == str(EXPECTED["alleles"])
    assert text_of(html, "summary-known") == str(EXPECTED["known"])
    assert text_of(html, "summary-novel") == str(EXPECTED["novel"])
    assert text_of(html, "summary-titv") == f"{EXPECTED['ti'] / EXPECTED['tv']:.2f}"
    # the job's assembly row is the only one: the summary does not repeat it
    assert html.count('data-testid="job-assembly"') == 1


def test_each_chart_has_a_table_and_an_aria_label_with_its_numbers(client, annotated) -> None:
    html = page_of(client, annotated)
    for chart in ("consequences", "impacts", "chromosomes"):
        figure = html.split(f'data-testid="chart-{chart}"', 1)[1].split("</figure>", 1)[0]
        assert 'role="img"' in figure and "<canvas" in figure
        label = re.search(r'aria-label="([^"]+)"', figure)
        assert label and re.search(r": \d+", label.group(1)), chart
        assert '<th scope="col">' in figure and '<th scope="row"' in figure
    chromosomes = html.split('data-testid="chart-chromosomes"', 1)[1].split("</figure>", 1)[0]
    assert f"MT: {MT_RECORDS}" in chromosomes
    assert f'data-value="{MT_RECORDS}"' in chromosomes
    # gene-level nuclear variants: the page says the consequences are the mitochondrial ones
    assert "Mitochondrial alleles only" in html


def test_the_chart_library_is_served_from_the_package_and_the_csp_is_unchanged(
    client, annotated
) -> None:
    from gas.entrypoints.web import CONTENT_SECURITY_POLICY

    response = client.get(f"/annotations/{annotated}")
    html = response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert '<script defer src="/static/vendor/chartjs/chart.umd.min.js">' in html
    assert "cdn" not in html.lower()
    library = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert library.status_code == 200 and b"Chart.js v4" in library.data[:200]
    assert client.get("/static/vendor/chartjs/LICENSE.md").status_code == 200
    parsed = Labels()
    parsed.feed(html)
    assert parsed.inline_scripts == 0 and parsed.styled == 0


def test_every_filter_has_a_label_and_the_table_has_caption_headers_and_scopes(
    client, annotated
) -> None:
    html = page_of(client, annotated)
    parsed = Labels()
    parsed.feed(html.split('data-testid="variant-browser"', 1)[1])
    names = {str(f.get("name") or f.get("id")) for f in parsed.fields}
    for name in ("q", "gene", "consequence", "known", "chrom", "start", "end", "clinvar"):
        assert name in names, name
    assert {"max_af", "impact"} <= names
    unlabelled = [f for f in parsed.fields if f.get("id") not in parsed.labelled]
    assert not unlabelled, unlabelled
    table = html.split('data-testid="variant-table"', 1)[1].split("</table>", 1)[0]
    assert "<caption" in table and "mito.vcf" in table
    assert table.count('<th scope="col"') == 11
    assert 'aria-sort="ascending"' in table
    assert 'class="table-responsive' in html.split('data-testid="variant-table"', 1)[0][-400:]
    assert 'role="status"' in html and 'aria-live="polite"' in html
    browser = html.split('data-testid="variant-browser"', 1)[0][-400:]
    assert f'data-variants-url="/annotations/{annotated}/variants.json"' in html
    assert "variant-browser" in browser


def test_a_job_that_is_not_completed_has_no_results_browser(client, logged_in) -> None:
    job_id = submit(client, logged_in, VCF.encode(), "mito.vcf")
    html = page_of(client, job_id)
    assert 'data-testid="results-browser"' not in html
    assert "chart.umd.min.js" not in html


# --- the JSON routes -------------------------------------------------------------------------


def test_variants_json_pages_sorts_and_filters_like_the_api(client, annotated) -> None:
    url = f"/annotations/{annotated}/variants.json"
    first = client.get(url, query_string={"limit": 25})
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.json
    assert body["total"] == EXPECTED["alleles"] and len(body["variants"]) == 25
    second = client.get(url, query_string={"limit": 25, "offset": 25}).json
    keys = {(v["record"], v["allele"]) for v in body["variants"]}
    assert keys.isdisjoint({(v["record"], v["allele"]) for v in second["variants"]})

    moderate = client.get(url, query_string={"impact": "MODERATE", "limit": 1000}).json
    assert moderate["total"] > 0 and {v["impact"] for v in moderate["variants"]} == {"MODERATE"}
    summary = client.get(f"/annotations/{annotated}/summary.json").json
    assert moderate["total"] == summary["by_impact"]["MODERATE"]

    gene = client.get(url, query_string=[("gene", "mt-nd2"), ("impact", "MODERATE")]).json
    assert gene["total"] and {v["gene"] for v in gene["variants"]} == {"MT-ND2"}

    by_impact = client.get(url, query_string={"sort": "impact", "limit": 1}).json
    assert by_impact["variants"][0]["impact"] == "HIGH"

    mt = client.get(url, query_string={"chrom": "chrM", "limit": 1}).json
    assert mt["total"] == MT_RECORDS


def test_variants_json_gives_every_transcript_of_a_record(client, annotated) -> None:
    url = f"/annotations/{annotated}/variants.json"
    row = client.get(url, query_string={"chrom": "MT", "limit": 1}).json["variants"][0]
    every = client.get(
        url, query_string={"record": row["record"], "transcripts": "all", "limit": 1000}
    ).json
    assert every["total"] > 1
    assert {v["record"] for v in every["variants"]} == {row["record"]}
    assert len({v["transcript"] for v in every["variants"]}) == every["total"]


def test_a_bad_filter_is_a_400_with_a_message(client, annotated) -> None:
    response = client.get(f"/annotations/{annotated}/variants.json?impact=SEVERE")
    assert response.status_code == 400
    assert "impact" in response.json["error"]
    response = client.get(f"/annotations/{annotated}/variants.json?limit=5000")
    assert response.status_code == 400


def test_summary_and_facets_json(client, annotated) -> None:
    summary = client.get(f"/annotations/{annotated}/summary.json")
    assert summary.status_code == 200
    assert summary.json["variants"] == EXPECTED["variants"]
    assert summary.json["by_chromosome"]["MT"] == MT_RECORDS
    facets = client.get(f"/annotations/{annotated}/facets.json")
    assert facets.status_code == 200
    assert "missense_variant" in facets.json["consequences"]


# --- downloads of the filtered rows ------------------------------------------------------------


def test_the_tsv_download_holds_exactly_the_filtered_rows(client, annotated) -> None:
    filters = [("impact", "MODERATE"), ("gene", "MT-ND2")]
    shown = client.get(
        f"/annotations/{annotated}/variants.json", query_string=[*filters, ("limit", "1000")]
    ).json
    response = client.get(
        f"/annotations/{annotated}/download", query_string=[("format", "tsv"), *filters]
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert ".tsv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter="\t"))
    assert [(int(r["record"]), int(r["allele"])) for r in rows] == [
        (v["record"], v["allele"]) for v in shown["variants"]
    ]


def test_the_vcf_gz_download_holds_the_records_of_the_filtered_rows(client, annotated) -> None:
    shown = client.get(
        f"/annotations/{annotated}/variants.json", query_string={"impact": "HIGH"}
    ).json
    response = client.get(f"/annotations/{annotated}/download?format=vcf.gz&impact=HIGH")
    assert response.status_code == 200
    text = gzip.decompress(response.data).decode()
    records = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(records) == len({v["record"] for v in shown["variants"]}) > 0
    assert {int(line.split("\t")[1]) for line in records} == {v["pos"] for v in shown["variants"]}
    assert "##GAS_filter=impact=HIGH" in text


def test_a_download_holds_every_matching_row_whatever_the_pages_paging(client, annotated) -> None:
    response = client.get(f"/annotations/{annotated}/download?format=tsv&limit=10&offset=20")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)), delimiter="\t"))
    assert len(rows) == EXPECTED["alleles"]


def test_an_unknown_download_format_is_a_400(client, annotated) -> None:
    assert client.get(f"/annotations/{annotated}/download?format=xlsx").status_code == 400


# --- access rules --------------------------------------------------------------------------------

ROUTES = ("/variants.json", "/summary.json", "/facets.json", "/download?format=tsv")


def test_another_users_job_is_403_and_an_unknown_one_404_on_every_route(
    client, annotated, other_client
) -> None:
    bob, _ = other_client
    for route in ROUTES:
        response = bob.get(f"/annotations/{annotated}{route}")
        assert response.status_code == 403, route
        assert b"MT-ND" not in response.data and b"mito" not in response.data
        if route.endswith(".json"):
            assert response.json == {"error": "This page belongs to another user."}
    for route in ROUTES:
        response = client.get(f"/annotations/00000000-0000-0000-0000-000000000000{route}")
        assert response.status_code == 404, route


def test_a_logged_out_script_gets_a_json_401(client, annotated, logged_in) -> None:
    logged_in.logout()
    response = client.get(f"/annotations/{annotated}/variants.json")
    assert response.status_code == 401 and "log in" in response.json["error"]
    response = client.get(f"/annotations/{annotated}/download?format=tsv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the states of the results -------------------------------------------------------------------


def test_archived_results_keep_the_summary_and_the_table_says_upgrade(
    client, annotated, container
) -> None:
    set_results_state(container, annotated, ResultsState.ARCHIVED)
    html = page_of(client, annotated)
    assert text_of(html, "summary-variants") == str(EXPECTED["variants"])
    assert 'data-testid="chart-impacts"' in html
    assert 'data-testid="variants-archived"' in html
    assert 'data-testid="variants-upgrade-link"' in html and 'href="/subscribe"' in html
    assert 'data-testid="variant-browser"' not in html
    response = client.get(f"/annotations/{annotated}/variants.json")
    assert response.status_code == 409 and "Upgrade to Premium" in response.json["error"]
    assert client.get(f"/annotations/{annotated}/summary.json").status_code == 200
    assert client.get(f"/annotations/{annotated}/download?format=tsv").status_code == 409


def test_results_being_restored_say_so_in_the_table(client, annotated, container) -> None:
    set_results_state(container, annotated, ResultsState.RESTORING)
    html = page_of(client, annotated)
    assert 'data-testid="summary-panel"' in html
    assert "being restored" in html.split('data-testid="variants-restoring"', 1)[1][:300]
    assert client.get(f"/annotations/{annotated}/variants.json").status_code == 409


def test_a_job_annotated_before_results_stores_offers_a_rerun(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id)  # outputs as before: no results store, no summary
    html = page_of(client, job_id)
    section = html.split('data-testid="variants-no-store"', 1)[1].split("</div>", 1)[0]
    assert "before GAS kept a table" in section
    assert f'action="/annotations/{job_id}/rerun"' in section
    assert 'name="csrf_token"' in section
    assert 'data-testid="variant-browser"' not in html
    response = client.get(f"/annotations/{job_id}/variants.json")
    assert response.status_code == 409 and "re-run" in response.json["error"]
