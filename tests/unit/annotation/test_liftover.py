"""Liftover of GRCh37/hg19 and NCBI36/hg18 inputs to GRCh38 (UCSC chains, `liftover`)."""

from __future__ import annotations

import pytest

from gas.annotation.reference.assemblies import GRCH37, NCBI36, RCRS, YORUBA_MT
from gas.annotation.reference.liftover import Lifted, Lifter

from .vcfhelpers import annotate, write


def _header(*lines: str) -> str:
    return (
        "##fileformat=VCFv4.2\n"
        + "".join(line + "\n" for line in lines)
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )


def _records(*rows: str) -> str:
    return "".join("\t".join(row.split()) + "\t.\t.\t.\n" for row in rows)


GRCH37_UG = (
    '##UnifiedGenotyper=<ID=UnifiedGenotyper,Version=3.4-46,CommandLineOptions="analysis_type='
    "UnifiedGenotyper input_file=[NA12878.bam] reference_sequence=/humgen/1kg/reference/"
    'human_g1k_v37.fasta dbsnp=(RodBinding name=dbsnp)">'
)


@pytest.mark.parametrize(
    "source, chrom, pos, expected",
    [
        (GRCH37, "1", 11856378, ("chr1", 11796321)),  # rs1801133, MTHFR c.665C>T
        (GRCH37, "chr1", 11856378, ("chr1", 11796321)),
        (NCBI36, "Y", 2715180, ("chrY", 2787139)),  # SRY
        (NCBI36, "1", 1105366, ("chr1", 1180123)),  # TTLL10
    ],
)
def test_known_positions_lift_with_both_chains(source, chrom, pos, expected):
    lifted = Lifter(source, lambda _c: RCRS).lift(chrom, pos, "G", "A")
    assert isinstance(lifted, Lifted)
    assert (lifted.chrom, lifted.pos) == expected
    assert (lifted.ref, lifted.alt) == ("G", "A")


@pytest.mark.parametrize(
    "chrom, pos, ref, alt, reason",
    [
        ("1", 13027899, "A", "G", "not_in_GRCh38"),  # in a region GRCh38 does not have
        ("1", 13026033, "AC", "A", "spans_a_break"),  # its second base is not in GRCh38
        ("1", 143150350, "A", "G", "other_chromosome"),  # hg19 chr1 → GRCh38 chr21
        ("1", 144275512, "AT", "A", "strand_flip_indel"),  # an inverted block
        ("1", 11856378, "G", "<DEL>", "symbolic_allele"),
        ("GL000192.1", 1000, "A", "G", "unknown_contig"),
    ],
)
def test_records_that_do_not_lift_say_why(chrom, pos, ref, alt, reason):
    assert Lifter(GRCH37, lambda _c: RCRS).lift(chrom, pos, ref, alt) == reason


def test_a_substitution_in_an_inverted_block_is_complemented():
    lifted = Lifter(GRCH37, lambda _c: RCRS).lift("1", 144275512, "AC", "GT,TT")
    assert isinstance(lifted, Lifted)
    assert lifted.chrom == "chr1"
    assert (lifted.ref, lifted.alt) == ("GT", "AC,AA")  # reverse complements
    # the two bases map to GRCh38 149670188 and 149670187 (1-based): the record starts at
    # the lower one
    assert lifted.pos == 149670187


def test_mt_on_the_rcrs_keeps_its_positions_and_hg19_chrm_is_converted():
    rcrs = Lifter(GRCH37, lambda _c: RCRS)
    assert rcrs.lift("MT", 3243, "A", "G") == Lifted("chrM", 3243, "A", "G")
    yoruba = Lifter(None, lambda _c: YORUBA_MT)  # nothing nuclear is lifted
    assert yoruba.lift("1", 100, "A", "G") is None
    converted = yoruba.lift("chrM", 3244, "A", "G")
    assert isinstance(converted, Lifted) and converted.chrom == "chrM"
    assert converted.pos == 3243  # hg19's chrM has an extra base before 3243


def test_a_grch37_file_is_lifted_and_keeps_its_own_positions(tmp_path):
    text = _header(GRCH37_UG) + _records(
        "1 11856378 rs1801133 G A",
        "1 13027899 . A G",
        "1 143150350 . A G",
    )
    result = annotate(write(tmp_path, "ug.vcf", text))
    first, deleted, moved = (result.info(i) for i in range(3))
    assert result.records[0][:2] == ["1", "11856378"]  # the input's coordinates
    assert first["GAS_GRCh38"] == "chr1:11796321"
    assert first["GENE"] == "MTHFR"  # not NPPA-NPPB, the GRCh38 gene at 1:11856378
    assert deleted["GAS_LIFTOVER"] == "WARNING_NOT_LIFTED:not_in_GRCh38"
    assert "ANN" not in deleted and "GENE" not in deleted
    assert moved["GAS_LIFTOVER"] == "WARNING_NOT_LIFTED:other_chromosome"
    assembly = result.summary["assembly"]
    assert assembly["input"] == "GRCh37" and assembly["lifted"] is True
    assert "reference_sequence=/humgen/1kg/reference/human_g1k_v37.fasta" in assembly["evidence"]
    assert assembly["lifted_records"] == 1 and assembly["not_lifted"] == 2
    assert assembly["not_lifted_by_reason"] == {"not_in_GRCh38": 1, "other_chromosome": 1}
    assert any("2 record(s) could not be lifted" in w for w in assembly["warnings"])
    assert "Lifted to GRCh38: 1 record(s); not lifted: 2" in result.log
    assert "Not lifted (not annotated) 2" in result.log
    assert any(h.startswith("##INFO=<ID=GAS_GRCh38,") for h in result.header)
    assert result.summary["counts"]["by_location"] == {"intergenic": 0, "genic": 1}


def test_ncbi36_records_get_their_grch38_genes(tmp_path):
    text = _header("##reference=hg18.fa") + _records("1 1105366 . C T", "Y 2715180 . C T")
    result = annotate(write(tmp_path, "hg18.vcf", text))
    assert result.info(0)["GENE"] == "TTLL10"  # not C1orf159
    assert result.info(1)["GENE"] == "SRY"  # not CD99
    assert result.info(1)["GAS_GRCh38"] == "chrY:2787139"
    assert result.summary["assembly"]["input"] == "NCBI36"


def test_the_users_choice_decides_what_is_lifted(tmp_path):
    path = write(tmp_path, "plain.vcf", _header() + _records("1 1105366 . C T"))
    as_hg18 = annotate(path, tmp_path / "a", assembly="NCBI36")
    assert as_hg18.info(0)["GENE"] == "TTLL10"
    assert as_hg18.summary["assembly"]["requested"] == "NCBI36"
    as_grch38 = annotate(path, tmp_path / "b", assembly="GRCh38")
    assert as_grch38.info(0)["GENE"] == "C1orf159"
    assert "GAS_GRCh38" not in as_grch38.info(0)
    detected = annotate(path, tmp_path / "c")  # says nothing: GRCh38 assumed, and said
    assert detected.summary["assembly"]["input"] == "unknown"
    assert detected.summary["assembly"]["evidence"].endswith("GRCh38 assumed")


def test_positions_beyond_grch38_chromosome_ends_are_a_prominent_warning(tmp_path):
    # chr1 of GRCh37 is longer than GRCh38's: such a position cannot be GRCh38
    text = _header() + _records("1 249000000 . A G", "1 100 . A G")
    result = annotate(write(tmp_path, "long.vcf", text))
    warnings = result.summary["assembly"]["warnings"]
    assert any(
        "1 record(s) have a POS beyond the end of their chromosome in GRCh38" in w for w in warnings
    )


def test_a_bundle_of_the_inputs_own_assembly_is_used_natively(tmp_path, monkeypatch, handmade):
    from gas.annotation.reference.bundle import build_bundle

    from . import refhelpers as rh

    refdata = tmp_path / "refdata"
    build_bundle(
        name="grch37-test",
        assembly="GRCh37",
        fasta=handmade.base / "ref.fa",
        gene_models=handmade.base / "ref.gtf",
        gene_model_format="gtf",
        out_dir=refdata,
    )
    monkeypatch.setenv("GAS_REFDATA_DIR", str(refdata))
    tx = rh.TRANSCRIPTS[0]
    pos = sorted(tx.exons)[0][0] + 1
    text = _header("##reference=hs37d5") + _records(f"1 {pos} . {handmade.ref(pos)} N")
    result = annotate(write(tmp_path, "b37.vcf", text))
    assembly = result.summary["assembly"]
    assert (assembly["input"], assembly["annotated_on"], assembly["lifted"]) == (
        "GRCh37",
        "GRCh37",
        False,
    )
    assert result.summary["engine"]["level"] == "transcript"
    assert "GAS_GRCh38" not in result.info(0)
    assert any(e[5] == "transcript" for e in result.ann(0))
    # a GRCh38 input next to it still gets the built-in GRCh38 table
    plain = annotate(
        write(tmp_path, "g38.vcf", _header("##reference=GRCh38") + _records("1 11796321 . G A")),
        tmp_path / "o38",
    )
    assert plain.summary["engine"]["level"] == "gene"
