"""Mitochondria out of the box: the built-in rCRS reference with NCBI RefSeq's 37 genes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gas.annotation.reference import mito

from .vcfhelpers import annotate, write

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _annotate_mt(tmp_path, rows, chrom="MT", header=HEADER, **kwargs):
    body = "".join(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\n" for pos, ref, alt in rows)
    return annotate(write(tmp_path, "mt.vcf", header + body), **kwargs)


def _entry(result, i, gene):
    """The ANN entry of record ``i`` for ``gene``'s transcript."""
    return next(e for e in result.ann(i) if e[3] == gene and e[5] == "transcript")


# (position, REF, ALT, gene, terms, HGVS c./n., HGVS p.)
GOLDEN = [
    (3243, "A", "G", "MT-TL1", "non_coding_transcript_exon_variant", "n.14A>G", ""),  # MELAS
    (3460, "G", "A", "MT-ND1", "missense_variant", "c.154G>A", "p.Ala52Thr"),  # LHON
    (8993, "T", "G", "MT-ATP6", "missense_variant", "c.467T>G", "p.Leu156Arg"),  # NARP
    (11778, "G", "A", "MT-ND4", "missense_variant", "c.1019G>A", "p.Arg340His"),  # LHON
    (14484, "T", "C", "MT-ND6", "missense_variant", "c.190A>G", "p.Met64Val"),  # LHON
    (1555, "A", "G", "MT-RNR1", "non_coding_transcript_exon_variant", "n.908A>G", ""),
]


@pytest.mark.parametrize("chrom", ["MT", "chrM", "M", "NC_012920.1"])
def test_golden_mitochondrial_variants_with_no_bundle(tmp_path, chrom):
    rows = [(pos, ref, alt) for pos, ref, alt, *_ in GOLDEN]
    result = _annotate_mt(tmp_path, rows, chrom=chrom, assembly="GRCh38")
    for i, (_pos, _ref, _alt, gene, terms, hgvs_c, hgvs_p) in enumerate(GOLDEN):
        entry = _entry(result, i, gene)
        assert entry[1] == terms
        assert entry[9] == hgvs_c
        assert entry[10] == hgvs_p
        assert entry[6] == gene and entry[7] in ("tRNA", "rRNA", "protein_coding")
        assert gene in result.info(i)["GENE"].split(",")
        assert "ERROR_CHROMOSOME_NOT_FOUND" not in result.info(i)["ANN"]
    mt = result.summary["mitochondrial"]
    assert mt["most_severe_by_allele"]["missense_variant"] == 4
    assert mt["reference_mismatches"] == 0  # every REF above is the rCRS base
    assert "Mitochondrial variants (built-in rCRS reference" in result.log


@pytest.mark.parametrize(
    "pos, ref, alt, terms, hgvs_p",
    [
        # MT-ND2 starts with ATT (4470-4472): an initiator, read as Met (ANN writes = as %3D)
        (4472, "T", "C", "start_retained_variant", "p.Met1%3D"),  # ATT>ATC
        (4472, "T", "G", "start_retained_variant", "p.Met1%3D"),  # ATT>ATG
        (4472, "T", "A", "start_retained_variant", "p.Met1%3D"),  # ATT>ATA
        (4470, "A", "G", "start_lost", "p.Met1?"),  # ATT>GTT: not a start codon
        (4470, "A", "C", "start_lost", "p.Met1?"),  # ATT>CTT
        (4473, "A", "G", "missense_variant", "p.Asn2Asp"),  # the second codon, as usual
    ],
)
def test_the_first_codon_of_an_mt_cds_is_an_initiator(tmp_path, pos, ref, alt, terms, hgvs_p):
    result = _annotate_mt(tmp_path, [(pos, ref, alt)])
    entry = _entry(result, 0, "MT-ND2")
    assert (entry[1], entry[10]) == (terms, hgvs_p)


def test_every_mt_gene_gets_its_hgnc_symbol():
    bundle = mito.builtin_mt_bundle()
    names = {n.decode() for n in bundle.gene_name}
    assert len(names) == 37
    assert all(n.startswith("MT-") for n in names)
    assert {"MT-TL1", "MT-ND1", "MT-CO1", "MT-CYB", "MT-RNR2", "MT-TS2", "MT-ATP8"} <= names
    assert mito.hgnc_symbol("TRNL1") == "MT-TL1" and mito.hgnc_symbol("COX3") == "MT-CO3"


def test_hg19_chrm_is_recognised_and_converted_not_annotated_as_rcrs(tmp_path):
    header = (
        "##fileformat=VCFv4.2\n##reference=file:///ref/hg19.fa\n"
        "##contig=<ID=chrM,length=16571>\n##contig=<ID=chr1,length=249250621>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    # hg19's chrM 3244 is the rCRS's 3243 (NC_001807 has an extra base before it)
    result = _annotate_mt(tmp_path, [(3244, "A", "G")], chrom="chrM", header=header)
    info = result.info(0)
    assert result.records[0][:2] == ["chrM", "3244"]
    assert info["GAS_GRCh38"] == "chrM:3243"
    assert _entry(result, 0, "MT-TL1")[9] == "n.14A>G"
    assembly = result.summary["assembly"]
    assert assembly["lifted"] is True and assembly["mt_converted"] == 1
    assert any("NC_001807" in w and "not the rCRS" in w for w in assembly["warnings"])


def test_a_grch37_b37_mt_is_the_rcrs_and_keeps_its_positions(tmp_path):
    header = (
        "##fileformat=VCFv4.2\n##reference=human_g1k_v37.fasta\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    result = _annotate_mt(tmp_path, [(3243, "A", "G")], header=header)
    assert result.info(0)["GAS_GRCh38"] == "chrM:3243"
    assert _entry(result, 0, "MT-TL1")[9] == "n.14A>G"
    assert result.summary["assembly"]["mt_converted"] == 0


def test_the_bundle_directory_goes_with_its_process_and_stale_ones_are_swept(tmp_path):
    code = (
        "from gas.annotation.reference.mito import builtin_mt_bundle;"
        "print(builtin_mt_bundle().path.parent)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    built = out.stdout.strip()
    assert built.startswith(str(tmp_path)) and not os.path.exists(built)  # removed at exit
    stale = tmp_path / "gas-mt-999999999-abc"  # a process that cannot exist
    (stale / "x").mkdir(parents=True)
    mine = tmp_path / f"gas-mt-{os.getpid()}-abc"  # a live process: kept
    mine.mkdir()
    mito.sweep_stale(tmp_path)
    assert not stale.exists() and mine.exists()
