"""The three outputs: annotated VCF, count log, summary JSON; names; assembly warnings."""

from __future__ import annotations

import json

import pytest

from gas.annotation import AnnotationOutputs, annotate_file, output_stem
from gas.annotation.output.ann import escape, genic_prefix, intergenic_prefix, intergenic_tail

from .vcfhelpers import ANN_HEADER, HEADER, SAMPLE_TEXT, annotate, fixture_path, write


@pytest.fixture
def sample(tmp_path):
    return annotate(fixture_path("sample-v4.2.vcf"), tmp_path)


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name, stem",
    [
        ("sample.vcf.gz", "sample"),
        ("x.vcf", "x"),
        ("x.bgz", "x"),
        ("x.vcf.bgz", "x"),
        ("x.VCF.GZ", "x"),
        ("x.vcf.bgzf", "x"),
        ("data.txt", "data.txt"),
        ("data.txt.gz", "data.txt"),
        ("my.sample.v2.vcf", "my.sample.v2"),
        ("dir/sub/y.vcf", "y"),
        ("..\\..\\evil.vcf", "evil"),
        (".vcf", ".vcf"),
        ("..", "input"),
    ],
)
def test_output_stem(name, stem):
    assert output_stem(name) == stem


def test_outputs_are_named_after_the_output_name(tmp_path):
    path = write(tmp_path, "7f3a~upload.tmp", SAMPLE_TEXT)
    outputs = annotate_file(path, tmp_path / "out", output_name="patient 1.vcf.gz")
    assert isinstance(outputs, AnnotationOutputs)
    assert outputs.annotated_vcf == tmp_path / "out" / "patient 1.annot.vcf"
    assert outputs.count_log == tmp_path / "out" / "patient 1.count.log"
    assert outputs.summary_json == tmp_path / "out" / "patient 1.summary.json"
    assert outputs.results_store == tmp_path / "out" / "patient 1.variants.parquet"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "patient 1.annot.vcf",
        "patient 1.count.log",
        "patient 1.summary.json",
        "patient 1.variants.parquet",
    ]
    assert "Input: patient 1.vcf.gz (VCFv4.2, plain text)" in outputs.count_log.read_text()


# ------------------------------------------------------------------ the VCF


def test_header_keeps_the_input_lines_and_adds_ours_before_chrom(sample):
    original = [line for line in SAMPLE_TEXT.splitlines() if line.startswith("##")]
    header = sample.header
    assert header[: len(original)] == original
    added = header[len(original) : -1]
    assert added[0].startswith("##GAS_version=")
    assert added[1] == (
        "##GAS_reference=GRCh38 gene table (NCBI Gene 2022-09-12; UCSC hg38 locations)"
    )
    ids = [line.split("ID=")[1].split(",")[0] for line in added if line.startswith("##INFO")]
    assert ids == ["VC", "TITV", "GENE", "CYTOBAND", "ANN"]
    assert header[-1] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"


def test_ann_header_is_exactly_the_standard_one(sample):
    assert ANN_HEADER in sample.header
    assert sum(line.startswith("##INFO=<ID=ANN,") for line in sample.header) == 1


def test_records_are_unchanged_except_for_what_is_appended_to_info(sample):
    inputs = [line.split("\t") for line in SAMPLE_TEXT.splitlines() if not line.startswith("#")]
    assert len(sample.records) == len(inputs)
    for before, after in zip(inputs, sample.records):
        assert after[:7] == before[:7]
        if before[7] == ".":
            assert after[7].startswith("VC=")
        else:
            assert after[7].startswith(before[7] + ";VC=")


def test_sample_columns_are_kept_and_info_is_extended_in_the_middle(tmp_path):
    result = annotate(fixture_path("quirks.vcf"), tmp_path)
    source = [
        line
        for line in fixture_path("quirks.vcf").read_text().splitlines()
        if line[:1] not in ("#", "")
    ]
    for before, after in zip(source, result.records):
        b = before.split("\t")
        assert after[:7] == b[:7] and after[8:] == b[8:]
        assert len(after) == 10


def test_every_ann_entry_has_sixteen_fields(tmp_path):
    for name in ("sample-v4.2.vcf", "quirks.vcf", "structural.vcf", "v3.3.vcf"):
        result = annotate(fixture_path(name), tmp_path / name)
        for i in range(len(result.records)):
            for entry in result.ann(i):
                assert len(entry) == 16, entry


def test_the_sample_fixture_annotations(sample):
    info = [sample.info(i) for i in range(len(sample.records))]
    assert [i["VC"] for i in info] == [
        "SNV",
        "SNV",
        "deletion",
        "insertion",
        "MNV",
        "indel",
        "SNV",
        "SNV,SNV",
        "SNV",
        "star",
        "ref",
    ]
    assert [i.get("GENE") for i in info] == [
        "TP53",
        "TP53",
        "BRCA1",
        "BRCA1",
        "BRCA1",
        "BRCA1",
        None,
        None,
        "WASH7P",
        "TP53",
        "TP53",
    ]
    assert info[7]["TITV"] == "ts,tv"
    # one ANN entry per allele × gene; none for * and missing ALT
    assert [len(sample.ann(i)) for i in range(11)] == [1, 1, 1, 1, 1, 1, 1, 2, 1, 0, 0]
    assert [e[0] for e in sample.ann(7)] == ["G", "T"]
    assert sample.ann(7)[0][3] == "ATP1B2-TP53"


def test_a_variant_in_two_genes_gets_an_entry_for_each(tmp_path):
    result = annotate(write(tmp_path, "o.vcf", HEADER + "17\t7687000\t.\tA\tG,T\t.\t.\t.\n"))
    assert result.info(0)["GENE"] == "TP53,WRAP53"
    assert [(e[0], e[3]) for e in result.ann(0)] == [
        ("G", "TP53"),
        ("G", "WRAP53"),
        ("T", "TP53"),
        ("T", "WRAP53"),
    ]


def test_ann_escaping():
    assert escape("a,b|c;d=e f") == "a%2Cb%7Cc%3Bd%3De_f"
    assert escape("TP53") == "TP53"
    assert genic_prefix("A B") == "A_B|intragenic_variant|MODIFIER|"
    entry = intergenic_prefix("<INS:ME=x>") + intergenic_tail("G1-G2", "1-2", "10", "")
    assert entry.split("|")[0] == "<INS:ME%3Dx>"
    assert len(entry.split("|")) == 16


def test_input_ann_and_our_keys_are_replaced_with_a_warning(tmp_path):
    text = (
        HEADER.replace(
            "#CHROM",
            '##INFO=<ID=ANN,Number=.,Type=String,Description="old SnpEff run">\n#CHROM',
        )
        + "17\t7675088\t.\tC\tT\t.\t.\tDP=3;ANN=T|missense_variant|MODERATE|TP53;GENE=OLD\n"
        + "17\t7675089\t.\tC\tT\t.\t.\tANN=x\n"
    )
    result = annotate(write(tmp_path, "a.vcf", text))
    assert sum(line.startswith("##INFO=<ID=ANN,") for line in result.header) == 1
    assert ANN_HEADER in result.header
    first = result.records[0][7]
    assert first.startswith("DP=3;VC=SNV;")
    assert first.count("ANN=") == 1 and first.count("GENE=") == 1
    assert "missense" not in first
    assert result.records[1][7].startswith("VC=SNV;")
    warnings = " ".join(result.outputs.warnings)
    assert "2 record(s) already had INFO ANN" in warnings
    assert "1 record(s) already had INFO GENE" in warnings


def test_re_annotating_our_own_output_gives_the_same_records(tmp_path, sample):
    again = annotate(sample.outputs.annotated_vcf, tmp_path / "again")
    assert again.records == sample.records
    assert sum(line.startswith("##GAS_version") for line in again.header) == 1


# ------------------------------------------------------------------ log and summary


def test_count_log(sample):
    log = sample.log
    lines = log.splitlines()
    assert lines[0] == "GAS annotation log"
    assert "Input: sample-v4.2.vcf (VCFv4.2, plain text)" in lines
    assert "Reference: GRCh38 gene table (NCBI Gene 2022-09-12)" in lines
    assert any(line.startswith("Started: ") and "Elapsed: " in line for line in lines)
    assert "Total: 11" in lines
    assert "In dbSNP: 3 (27.27%) (by rs id in the ID column)" in lines
    i = lines.index("Variants located:")
    assert lines[i + 1 : i + 3] == ["In interGenic 2", "In Genic 9"]
    assert (
        "Variant classes: SNV 6 / MNV 1 / insertion 1 / deletion 1 / indel 1 / star 1 / ref 1"
        in lines
    )
    assert "Transitions/Transversions: 3/3 (Ti/Tv 1.00)" in lines
    assert lines[-1] == "Warnings: none"


def test_summary_json(sample):
    on_disk = json.loads(sample.outputs.summary_json.read_text())
    assert on_disk == sample.summary
    s = sample.summary
    assert s["engine"]["name"] == "gas.annotation"
    assert s["input"] == {
        "name": "sample-v4.2.vcf",
        "format_version": "VCFv4.2",
        "compression": "none",
        "records": 11,
        "alleles": 12,
    }
    assert s["assembly"]["declared"] == "GRCh38"
    assert s["assembly"]["used"] == "GRCh38"
    counts = s["counts"]
    assert counts["by_location"] == {"intergenic": 2, "genic": 9}
    assert counts["by_chromosome"] == {"1": 1, "17": 10}
    assert counts["known_by_id"] == 3 and counts["novel"] == 8
    assert counts["by_class"]["SNV"] == 6
    assert s["titv"] == {"transitions": 3, "transversions": 3, "ratio": 1.0}
    assert s["warnings"] == []
    assert s["elapsed_seconds"] >= 0


# ------------------------------------------------------------------ assembly


def _gas_warnings(result):
    return [line for line in result.header if line.startswith("##GAS_warning=")]


def test_grch37_is_detected_from_contig_lengths_lifted_and_said_everywhere(tmp_path):
    result = annotate(fixture_path("grch37.vcf"), tmp_path)
    lifted = (
        "positions were lifted from GRCh37/hg19 to GRCh38 for annotation (2 record(s) lifted); "
        "the output keeps the input's positions and gives the GRCh38 one in INFO/GAS_GRCh38"
    )
    assert result.outputs.warnings == [lifted]
    assert f"- {lifted}" in result.log
    assembly = result.summary["assembly"]
    assert assembly["input"] == "GRCh37" and assembly["annotated_on"] == "GRCh38"
    assert assembly["lifted"] is True and assembly["lifted_records"] == 2
    assert assembly["evidence"].startswith("2 ##contig lengths of GRCh37")
    assert assembly["warnings"] == [lifted]
    assert any(
        line.startswith("##GAS_assembly=<Input=GRCh37,AnnotatedOn=GRCh38,Lifted=true,")
        for line in result.header
    )


@pytest.mark.parametrize(
    "header_line, expected",
    [
        ("##reference=file:///refs/hg19.fa", "GRCh37"),
        ("##reference=hs37d5", "GRCh37"),
        ("##reference=GRCh37", "GRCh37"),
        ("##reference=/data/b37/human_b37.fasta", "GRCh37"),
        ("##contig=<ID=chr1,length=249250621>", "GRCh37"),
        ("##contig=<ID=1,assembly=hg19>", "GRCh37"),
        ("##reference=GRCh38", "GRCh38"),
        ("##reference=hg38.fa", "GRCh38"),
        ("##contig=<ID=chr1,length=248956422>", "GRCh38"),
        ("##source=nothing-said", None),
    ],
)
def test_assembly_detection(tmp_path, header_line, expected):
    text = SAMPLE_TEXT.replace("##reference=GRCh38\n", "").replace(
        "##contig=<ID=17,length=83257441>\n##contig=<ID=1,length=248956422>\n", ""
    )
    text = text.replace("##fileDate", header_line + "\n##fileDate")
    result = annotate(write(tmp_path, "a.vcf", text))
    assembly = result.summary["assembly"]
    assert assembly["declared"] == expected
    assert assembly["input"] == (expected or "unknown")
    assert assembly["lifted"] == (expected == "GRCh37")
    if expected is None:  # the assumption is said, not warned about (nothing contradicts it)
        assert assembly["evidence"].endswith("GRCh38 assumed")
        assert result.outputs.warnings == []


def test_the_assembly_argument_is_used_and_conflicts_are_reported(tmp_path):
    path = write(tmp_path, "a.vcf", SAMPLE_TEXT)  # its header says GRCh38
    result = annotate(path, assembly="hg19")
    assert result.summary["assembly"]["input"] == "GRCh37"
    assert result.summary["assembly"]["requested"] == "GRCh37"
    assert result.summary["assembly"]["lifted"] is True
    warnings = result.outputs.warnings
    assert any(
        "you chose GRCh37/hg19, but the file's header looks like GRCh38" in w for w in warnings
    )
    assert len(_gas_warnings(result)) == 1
    plain = annotate(path, tmp_path / "o2", assembly="GRCh38")
    assert plain.outputs.warnings == []
    assert plain.summary["assembly"]["lifted"] is False
