"""GET /api/v1/jobs/{id}/variants and the downloads against a brute-force reading of the
annotated VCF (its ANN, ClinVar_* INFO and ID columns, parsed with plain Python): for each
filter the totals and the (chrom, pos, alt) of the answers agree, and every download holds
exactly what the filter selects."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pysam
import pytest

from gas.services.variants import ANSWER_COLUMNS
from tests.integration.results.conftest import Annotated
from tests.integration.results.synthetic_job import RANK, all_pages, brute_force

FILTERS: list[dict[str, Any]] = [
    {},
    {"gene": "SG0003"},
    {"gene": "sg0005"},  # case does not matter
    {"consequence": "missense_variant"},
    {"consequence": "intron_variant"},  # often not the most severe term of a transcript
    {"impact": "HIGH"},
    {"impact": ["HIGH", "MODERATE"]},
    {"impact": ["LOW", "MODIFIER"]},
    {"chrom": "2", "start": 20000, "end": 90000},
    {"chrom": "chrX"},
    {"q": "cv1"},  # known-variant ids in the ID column
    {"q": "SG0002"},
    {"q": "RS10001"},  # rs ids: the HGVS columns are not read (they cannot hold "rs" + digit)
    {"q": "p.arg"},  # HGVS p.
    {"q": "c.1"},  # HGVS c.
    {"known": "true"},
    {"known": "false", "impact": "HIGH"},
    {"clinvar": "pathogenic"},
    {"clinvar": "benign", "gene": "SG0008"},
    {"max_af": "0.1"},
    {"gene": "SG0019", "consequence": "synonymous_variant", "chrom": "1"},
    {"q": "_"},  # LIKE's wildcards are plain characters in a search
    {"gene": "NO_SUCH_GENE"},
    {"q": "%"},
]
EMPTY = [{"gene": "NO_SUCH_GENE"}, {"q": "%"}]


def _oracle_args(params: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name == "impact":
            values = value if isinstance(value, list) else [value]
            args["impacts"] = tuple(i for v in values for i in v.split(","))
        elif name in ("start", "end"):
            args[name] = int(value)
        elif name == "known":
            args[name] = value == "true"
        elif name == "max_af":
            args[name] = float(value)
        else:
            args[name] = value
    return args


def _keys(rows: list[dict[str, Any]]) -> Counter[tuple[str, int, str]]:
    return Counter((r["chrom"], r["pos"], r["alt"]) for r in rows)


def _all_rows(a: Annotated, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    def page(limit: int, offset: int) -> dict[str, Any]:
        response = a.variants(**params, limit=limit, offset=offset)
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    return all_pages(page)


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: repr(p))
def test_filters_agree_with_a_brute_force_filter_of_the_vcf(
    annotated: Annotated, params: dict[str, Any]
) -> None:
    expected = brute_force(annotated.alleles, **_oracle_args(params))
    total, rows = _all_rows(annotated, **params)
    assert total == len(expected) == len(rows)
    assert _keys(rows) == Counter(a.key for a, _ in expected)
    # the row shown for an allele is one of its transcripts that passes the filter, and
    # without a transcript filter it is the allele's first ANN entry (its most severe)
    shown = {(a.key): e for a, e in expected}
    for row in rows:
        entry = shown[(row["chrom"], row["pos"], row["alt"])]
        if entry is None:
            assert row["consequence"] is None
            continue
        if "consequence" in params:
            assert params["consequence"] in row["consequence"].split("&")
        if "gene" in params:
            assert row["gene"].upper() == params["gene"].upper()
        if not any(k in params for k in ("gene", "consequence", "impact", "q")):
            assert (row["transcript"] or "", row["consequence"]) == (
                entry.transcript,
                entry.consequence,
            )
    assert [r["record"] for r in rows] == sorted(r["record"] for r in rows)  # file order


def test_a_small_filter_is_not_trivial(annotated: Annotated) -> None:
    """Guards the table above: the synthetic job has something for each filter to find."""
    for params in [p for p in FILTERS[1:] if p not in EMPTY]:
        expected = brute_force(annotated.alleles, **_oracle_args(params))
        assert 0 < len(expected) < len(annotated.alleles), params


def test_every_transcript_with_transcripts_all(annotated: Annotated) -> None:
    total, rows = _all_rows(annotated, transcripts="all")
    expected = sum(max(1, len(a.entries)) for a in annotated.alleles)
    assert total == len(rows) == expected
    missense_total, missense = _all_rows(
        annotated, transcripts="all", consequence="missense_variant"
    )
    entries = [e for a in annotated.alleles for e in a.entries if "missense_variant" in e.terms]
    assert missense_total == len(entries)
    assert all("missense_variant" in r["consequence"].split("&") for r in missense)


def test_sort_by_impact_is_most_severe_first_then_file_order(annotated: Annotated) -> None:
    _, rows = _all_rows(annotated, sort="impact")
    expected = brute_force(annotated.alleles)

    def key(item: Any) -> tuple[float, int, int]:
        allele, entry = item
        severity = entry.severity if entry is not None else None
        return (
            severity if severity is not None else float("inf"),
            allele.record,
            allele.number,
        )

    ordered = [a.key for a, _ in sorted(expected, key=key)]
    assert [(r["chrom"], r["pos"], r["alt"]) for r in rows] == ordered
    impacts = [r["impact"] for r in rows if r["impact"]]
    order = {"HIGH": 0, "MODERATE": 1, "LOW": 2, "MODIFIER": 3}
    assert [order[i] for i in impacts] == sorted(order[i] for i in impacts)


def test_sort_by_gene(annotated: Annotated) -> None:
    _, rows = _all_rows(annotated, sort="gene", impact="HIGH")
    expected = brute_force(annotated.alleles, impacts=("HIGH",))
    ordered = sorted(expected, key=lambda item: (item[1].gene, item[0].record, item[0].number))
    assert [(r["chrom"], r["pos"], r["alt"]) for r in rows] == [a.key for a, _ in ordered]


def test_paging(annotated: Annotated) -> None:
    whole = annotated.variants(limit=1000).get_json()
    page = annotated.variants(limit=7, offset=30).get_json()
    assert (page["total"], page["offset"], page["limit"]) == (whole["total"], 30, 7)
    assert page["variants"] == whole["variants"][30:37]
    empty = annotated.variants(chrom="1", start=50000, end=40000).get_json()
    assert empty["total"] == 0 and empty["variants"] == []  # end before start: an empty range
    beyond = annotated.variants(offset=100000).get_json()
    assert beyond["variants"] == [] and beyond["total"] == whole["total"]
    assert set(page["variants"][0]) == set(ANSWER_COLUMNS)
    assert RANK  # the oracle's SO ranks are the engine's


@pytest.mark.parametrize(
    "params, word",
    [
        ({"impact": "SEVERE"}, "impact"),
        ({"impact": "high"}, "impact"),  # the API takes what it documents, exactly
        ({"impact": "HIGH,LOW"}, "impact"),
        ({"impact": ""}, "impact"),
        ({"start": ""}, "start"),
        ({"start": " 5"}, "start"),
        ({"start": "²"}, "start"),
        ({"known": "yes"}, "known"),
        ({"consequence": ""}, "consequence"),
        ({"consequence": "missense variant"}, "consequence"),
        ({"known": "maybe"}, "known"),
        ({"max_af": "2"}, "max_af"),
        ({"max_af": "x"}, "max_af"),
        ({"start": "0"}, "start"),
        ({"sort": "chaos"}, "sort"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"transcripts": "some"}, "transcripts"),
        ({"gene": "x" * 201}, "gene"),
        ({"gene": ["A", "B"]}, "gene"),
    ],
)
def test_a_bad_filter_is_400_with_a_message(
    annotated: Annotated, params: dict[str, Any], word: str
) -> None:
    response = annotated.variants(**params)
    assert response.status_code == 400
    assert word in response.get_json()["error"]
    download = annotated.get(
        f"/api/v1/jobs/{annotated.job_id}/results", query_string={"format": "tsv", **params}
    )
    if word not in ("limit", "offset"):  # a download has no pages
        assert download.status_code == 400


# --- downloads = the filter ----------------------------------------------------------------------


def _download(a: Annotated, fmt: str, job_id: str | None = None, **params: Any) -> Any:
    return a.get(
        f"/api/v1/jobs/{job_id or a.job_id}/results", query_string={"format": fmt, **params}
    )


def _tsv_rows(data: bytes) -> list[dict[str, str]]:
    lines = data.decode().splitlines()
    header = lines[0].split("\t")
    assert header == list(ANSWER_COLUMNS)
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


EXPORT_FILTERS = [
    {},
    {"gene": "SG0003"},
    {"impact": ["HIGH", "MODERATE"], "sort": "impact"},
    {"chrom": "2", "start": 20000, "end": 90000, "known": "true"},
    {"consequence": "missense_variant", "transcripts": "all"},
    {"clinvar": "pathogenic"},
]


@pytest.mark.parametrize("params", EXPORT_FILTERS, ids=lambda p: repr(p))
def test_tsv_and_json_hold_exactly_the_rows_of_the_table(
    annotated: Annotated, params: dict[str, Any]
) -> None:
    _, rows = _all_rows(annotated, **params)
    tsv = _download(annotated, "tsv", **params)
    assert tsv.status_code == 200
    assert tsv.headers["Content-Type"].startswith("text/tab-separated-values")
    got = _tsv_rows(tsv.data)
    assert got == [{c: _as_text(r[c]) for c in ANSWER_COLUMNS} for r in rows]
    body = _download(annotated, "json", **params)
    assert body.status_code == 200
    data = json.loads(body.data)
    assert data["total"] == len(rows)
    assert data["variants"] == rows
    filtered = any(k not in ("sort", "transcripts") for k in params)
    stem = "sample.filtered" if filtered else "sample"
    assert tsv.headers["Content-Disposition"] == f'attachment; filename="{stem}.variants.tsv"'
    assert body.headers["Content-Disposition"] == f'attachment; filename="{stem}.variants.json"'


def _vcf_records(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("params", EXPORT_FILTERS[1:], ids=lambda p: repr(p))
def test_a_filtered_vcf_gz_holds_the_records_of_the_filtered_rows(
    annotated: Annotated, params: dict[str, Any], tmp_path: Path
) -> None:
    _, rows = _all_rows(annotated, **params)
    wanted = sorted({r["record"] for r in rows})
    records = _vcf_records(annotated.annotated_vcf.decode())
    response = _download(annotated, "vcf.gz", **params)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="sample.filtered.annot.vcf.gz"'
    )
    text = gzip.decompress(response.data).decode()
    assert _vcf_records(text) == [records[i] for i in wanted]
    header = [line for line in text.splitlines() if line.startswith("#")]
    original = [line for line in annotated.annotated_vcf.decode().splitlines() if line[:1] == "#"]
    assert header[-1] == original[-1] and header[:-2] == original[:-1]
    assert header[-2].startswith("##GAS_filter=")
    # BGZF, readable by htslib, and its tabix index finds the records of a region
    gz = tmp_path / "x.vcf.gz"
    gz.write_bytes(response.data)
    index = _download(annotated, "tbi", **params)
    assert index.status_code == 200
    assert index.headers["Content-Disposition"] == (
        'attachment; filename="sample.filtered.annot.vcf.gz.tbi"'
    )
    (tmp_path / "x.vcf.gz.tbi").write_bytes(index.data)
    with pysam.VariantFile(str(gz)) as vcf:
        assert sum(1 for _ in vcf) == len(wanted)
    with pysam.TabixFile(str(gz)) as tabix:
        for chrom in tabix.contigs:
            fetched = list(tabix.fetch(chrom))
            assert fetched == [r for r in _vcf_records(text) if r.split("\t")[0] == chrom]
    # the same records as plain text
    plain = _download(annotated, "vcf", **params)
    assert plain.status_code == 200
    assert plain.data.decode() == text


def test_the_whole_vcf_gz_and_its_index(annotated: Annotated, tmp_path: Path) -> None:
    response = _download(annotated, "vcf.gz")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="sample.annot.vcf.gz"'
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert gzip.decompress(response.data) == annotated.annotated_vcf
    gz = tmp_path / "sample.annot.vcf.gz"
    gz.write_bytes(response.data)
    index = _download(annotated, "tbi")
    assert index.status_code == 200
    (tmp_path / "sample.annot.vcf.gz.tbi").write_bytes(index.data)
    records = _vcf_records(annotated.annotated_vcf.decode())
    with pysam.TabixFile(str(gz)) as tabix:
        assert set(tabix.contigs) == {"1", "2", "X"}
        for chrom, start, end in (("1", 10000, 60000), ("2", 0, 30000), ("X", 50000, 51000)):
            expected = [
                r
                for r in records
                if r.split("\t")[0] == chrom
                and start < int(r.split("\t")[1]) + len(r.split("\t")[3]) - 1
                and int(r.split("\t")[1]) - 1 < end
            ]
            assert list(tabix.fetch(chrom, start, end)) == expected
    # the bgzip file is BGZF (a "BC" extra field in every block), as htslib's tools want it
    assert response.data[:4] == b"\x1f\x8b\x08\x04" and response.data[12:14] == b"BC"
    # served from the cache the second time: the same bytes
    assert _download(annotated, "vcf.gz").data == response.data


def test_the_whole_download_with_the_tabix_binary(annotated: Annotated, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("tabix") is None:
        pytest.skip("the tabix binary is not installed")
    gz = tmp_path / "s.vcf.gz"
    gz.write_bytes(_download(annotated, "vcf.gz", gene="SG0001").data)
    (tmp_path / "s.vcf.gz.tbi").write_bytes(_download(annotated, "tbi", gene="SG0001").data)
    out = subprocess.run(["tabix", str(gz), "1"], capture_output=True, text=True, check=True).stdout
    _, rows = _all_rows(annotated, gene="SG0001")
    wanted = sorted({r["record"] for r in rows if r["chrom"] == "1"})
    records = _vcf_records(annotated.annotated_vcf.decode())
    assert out.splitlines() == [records[i] for i in wanted]


def test_the_plain_vcf_is_still_a_redirect_to_the_stored_file(annotated: Annotated) -> None:
    for query in ({}, {"format": "vcf"}, {"sort": "gene"}):
        response = annotated.get(f"/api/v1/jobs/{annotated.job_id}/results", query_string=query)
        assert response.status_code == 302
        followed = annotated.client.get(response.headers["Location"])
        assert followed.status_code == 200 and followed.data == annotated.annotated_vcf


def test_an_unsorted_vcf_has_no_index_but_a_vcf_gz(annotated: Annotated) -> None:
    index = _download(annotated, "tbi", annotated.unsorted_job_id)
    assert index.status_code == 409
    assert "not sorted" in index.get_json()["error"]
    again = _download(annotated, "tbi", annotated.unsorted_job_id)  # not cached as a failure
    assert again.status_code == 409
    filtered = _download(annotated, "tbi", annotated.unsorted_job_id, chrom="1")
    assert filtered.status_code == 409
    gz = _download(annotated, "vcf.gz", annotated.unsorted_job_id)
    assert gz.status_code == 200
    assert gzip.decompress(gz.data).count(b"\n") > 1000
    assert gz.headers["Content-Disposition"] == 'attachment; filename="unsorted.annot.vcf.gz"'


def test_unknown_formats_are_400(annotated: Annotated) -> None:
    for fmt in ("bam", "VCF.GZ", "vcf.gz.tbi", ""):
        response = _download(annotated, fmt)
        assert response.status_code == 400
        assert "format" in response.get_json()["error"]
    twice = annotated.get(f"/api/v1/jobs/{annotated.job_id}/results?format=tsv&format=json")
    assert twice.status_code == 400


def test_a_job_annotated_before_the_store_existed(annotated: Annotated) -> None:
    legacy = annotated.legacy_job_id
    response = annotated.variants(legacy)
    assert response.status_code == 409
    assert "before the results browser existed" in response.get_json()["error"]
    assert "re-run" in response.get_json()["error"]
    for fmt, params in (("tsv", {}), ("json", {}), ("vcf.gz", {"gene": "SG0001"})):
        assert _download(annotated, fmt, legacy, **params).status_code == 409
    # what needs no table still works: the summary, the VCF, its bgzip and index
    summary = annotated.get(f"/api/v1/jobs/{legacy}/summary")
    assert summary.status_code == 200
    assert summary.get_json()["results"]["browsable"] is False
    assert _download(annotated, "vcf", legacy).status_code == 302
    assert _download(annotated, "vcf.gz", legacy).status_code == 200
    assert _download(annotated, "tbi", legacy).status_code == 200


def test_the_summary(annotated: Annotated) -> None:
    response = annotated.get(f"/api/v1/jobs/{annotated.job_id}/summary")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    summary = response.get_json()
    alleles = annotated.alleles
    records = len({a.record for a in alleles})
    assert (summary["variants"], summary["alleles"]) == (records, len(alleles))
    assert summary["level"] == "transcript" and summary["consequence_scope"] == "all"
    tops = Counter(a.entries[0].impact for a in alleles if a.entries)
    assert summary["by_impact"] == dict(tops)
    assert sum(summary["by_consequence"].values()) == sum(tops.values())
    assert sum(summary["by_chromosome"].values()) == records
    assert sum(summary["by_class"].values()) == len(alleles)
    assert summary["known"]["known"] == len({a.record for a in alleles if a.known})
    assert summary["known"]["known"] + summary["known"]["novel"] == records
    assert summary["titv"]["ratio"] == pytest.approx(
        summary["titv"]["transitions"] / summary["titv"]["transversions"], abs=1e-4
    )
    high = Counter(
        a.entries[0].gene for a in alleles if a.entries and a.entries[0].impact == "HIGH"
    )
    top = summary["top_genes"][0]
    assert top["high"] == max(high.values()) and high[top["gene"]] == top["high"]
    assert summary["assembly"]["annotated_on"] == "GRCh38"
    assert summary["results"] == {"state": "available", "browsable": True, "message": None}
    assert isinstance(summary["warnings"], list)


def test_facets_for_the_filters(annotated: Annotated) -> None:
    from gas.services import results

    c = annotated.container
    with c.uow(readonly=True) as uow:
        job = uow.jobs.get(annotated.job_id)
        owner = uow.users.get(job.user_id)
    facets = results.job_facets(c.results, c.uow(readonly=True), owner, annotated.job_id)
    assert list(facets["chromosomes"]) == ["1", "2", "X"]
    assert sum(facets["chromosomes"].values()) == len(annotated.alleles)
    assert facets["impacts"]["HIGH"] > 0 and "missense_variant" in facets["consequences"]


def test_streamed_bodies_release_what_they_hold_when_closed_early(annotated: Annotated) -> None:
    """A client that goes away mid-download: the response is closed, its scratch files go."""
    scratch = Path(annotated.container.settings.data_dir) / "cache" / "tmp"
    for fmt in ("tsv", "json", "vcf", "vcf.gz"):
        response = annotated.client.get(
            f"/api/v1/jobs/{annotated.job_id}/results",
            query_string={"format": fmt, "gene": "SG0001"},
            headers=annotated.headers,
            buffered=False,
        )
        first = next(iter(response.response))
        assert first
        response.close()
    assert [p.name for p in scratch.iterdir()] == [f"{os.getpid()}-duckdb"]  # DuckDB's own
    assert io  # (imported for readers of this file: bodies are streamed, never whole)
