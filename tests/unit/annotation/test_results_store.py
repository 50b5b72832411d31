"""The per-job results store (Parquet): the same answers as the annotated VCF's ANN."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from gas.annotation.output.results_store import COLUMNS

from .test_consequences import run, snv
from .vcfhelpers import ann_entries, annotate, write


def _rows(path):
    return pq.read_table(path).to_pylist()


def _unescape(value: str) -> str:
    return value.replace("%3D", "=").replace("%2C", ",").replace("%7C", "|").replace("%3B", ";")


def test_one_row_per_ann_entry_with_the_same_fields(handmade, tmp_path):
    records = [snv(handmade, p) for p in range(140, 2900, 37)] + ["1 300 AC A", "1 500 A AT,G"]
    recs, outputs = run(handmade, tmp_path, records)
    table = pq.read_table(outputs.results_store)
    assert table.schema.names == list(COLUMNS)
    rows = table.to_pylist()
    expected = []
    for rec in recs:
        for entry in ann_entries(rec[7]):
            expected.append(
                (
                    int(rec[1]),
                    entry[0],
                    entry[1],
                    entry[2],
                    entry[6] or None,
                    _unescape(entry[9]) or None,
                    _unescape(entry[10]) or None,
                )
            )
    got = [
        (r["pos"], r["alt"], r["consequence"], r["impact"], r["transcript"], r["hgvsc"], r["hgvsp"])
        for r in rows
    ]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    # one top row per allele, and it is the first ANN entry of the allele
    tops = [r for r in rows if r["top"]]
    alleles = {(r["line"], r["allele"]) for r in rows}
    assert len(tops) == len(alleles)
    for rec in recs:
        first = ann_entries(rec[7])[0]
        top = next(r for r in tops if r["pos"] == int(rec[1]) and r["alt"] == first[0])
        assert top["consequence"] == first[1]
    assert outputs.summary["results_store"]["rows"] == len(rows)
    # every record has rows, and ``record`` is its ordinal in the annotated VCF
    assert sorted({r["record"] for r in rows}) == list(range(len(recs)))
    assert all(recs[r["record"]][1] == str(r["pos"]) for r in rows)


def test_a_record_without_annotated_alleles_still_has_a_row(handmade, tmp_path):
    recs, outputs = run(handmade, tmp_path, ["1 700 A .", snv(handmade, 800)])
    rows = _rows(outputs.results_store)
    first = [r for r in rows if r["record"] == 0]
    assert [(r["alt"], r["consequence"], r["top"]) for r in first] == [(".", None, True)]
    assert {r["record"] for r in rows} == {0, 1}


def test_the_store_is_the_same_from_several_processes(handmade, tmp_path, monkeypatch):
    from gas.annotation.pipeline import stream

    monkeypatch.setattr(stream, "CHUNK_LINES", 40)
    records = [snv(handmade, p) for p in range(140, 2900, 6)]
    _, one = run(handmade, tmp_path / "w1", records, workers=1)
    _, two = run(handmade, tmp_path / "w2", records, workers=2)
    assert _rows(one.results_store) == _rows(two.results_store)
    assert one.summary["top_genes"] == two.summary["top_genes"]


def test_gene_level_lifted_and_unlifted_records(tmp_path):
    text = (
        "##fileformat=VCFv4.2\n##reference=hs37d5\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "1\t11856378\trs1801133\tG\tA\t.\tPASS\t.\n"
        "1\t13027899\t.\tA\tG,T\t.\t.\t.\n"
        "MT\t8993\t.\tT\tG\t.\t.\t.\n"
    )
    result = annotate(write(tmp_path, "g.vcf", text))
    rows = _rows(result.outputs.results_store)
    mthfr = [r for r in rows if r["line"] == 4]
    assert [(r["gene"], r["consequence"], r["grch38_pos"], r["known"]) for r in mthfr] == [
        ("MTHFR", "intragenic_variant", 11796321, True)
    ]
    assert mthfr[0]["filter"] == "PASS" and mthfr[0]["id"] == "rs1801133"
    unlifted = [r for r in rows if r["line"] == 5]
    assert [(r["alt"], r["allele"], r["warnings"]) for r in unlifted] == [
        ("G", 1, "WARNING_NOT_LIFTED:not_in_GRCh38"),
        ("T", 2, "WARNING_NOT_LIFTED:not_in_GRCh38"),
    ]
    assert all(r["consequence"] is None and r["top"] for r in unlifted)
    atp6 = next(r for r in rows if r["line"] == 6 and r["top"])
    assert (atp6["gene"], atp6["hgvsp"], atp6["impact"]) == ("MT-ATP6", "p.Leu156Arg", "MODERATE")
    assert result.summary["top_genes"] == [{"gene": "MT-ATP6", "high": 0, "moderate": 1}]


def test_no_store_when_not_asked(tmp_path):
    text = (
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "1\t100\t.\tA\tG\t.\t.\t.\n"
    )
    result = annotate(write(tmp_path, "n.vcf", text), results_store=False)
    assert result.outputs.results_store is None
    assert not list((tmp_path / "out").glob("*.parquet"))


@pytest.mark.parametrize(
    "column, kind", [("severity", "int16"), ("distance", "int64"), ("af", "double")]
)
def test_numeric_columns_are_typed(handmade, tmp_path, column, kind):
    _, outputs = run(handmade, tmp_path, [snv(handmade, 200)])
    assert str(pq.read_table(outputs.results_store).schema.field(column).type) == kind
