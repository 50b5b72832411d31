"""Which assembly a VCF is on, from every kind of header signal (vcf/assembly.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gas.annotation.reference.assemblies import chromosome_lengths
from gas.annotation.vcf.assembly import AssemblyDetector, mt_sequence

REALWORLD = Path(__file__).resolve().parents[2] / "data" / "realworld"


def detect(*lines: str):
    detector = AssemblyDetector()
    for line in lines:
        detector.read_meta(line)
    return detector.call()


@pytest.mark.parametrize(
    "line, assembly, evidence",
    [
        ("##reference=file:///refs/hs37d5.fa", "GRCh37", "##reference=file:///refs/hs37d5.fa"),
        ("##reference=ucsc.hg19.fasta", "GRCh37", "##reference=ucsc.hg19.fasta"),
        ("##reference=GRCh38", "GRCh38", "##reference=GRCh38"),
        ("##reference=/ref/Homo_sapiens_assembly38.fasta", "GRCh38", None),
        ("##reference=hg18.fa", "NCBI36", None),
        ("##reference=NCBI Build 36", "NCBI36", None),
        ("##reference=/ref/human_b36_both.fasta", "NCBI36", None),
        ("##reference=chm13v2.0.fa", "T2T-CHM13", None),
        ("##assembly=GRCh37", "GRCh37", "##assembly=GRCh37"),
        ("##assembly=ftp://ftp.ncbi.nlm.nih.gov/genomes/GCA_000001405.15", "GRCh38", None),
        (
            '##UnifiedGenotyper=<ID=UnifiedGenotyper,Version=3.4,CommandLineOptions="analysis_'
            "type=UnifiedGenotyper reference_sequence=/humgen/1kg/reference/human_g1k_v37.fasta "
            'nonDeterministicRandomSeed=false">',
            "GRCh37",
            "reference_sequence=/humgen/1kg/reference/human_g1k_v37.fasta in the "
            "##UnifiedGenotyper line",
        ),
        (
            '##GATKCommandLine=<ID=HaplotypeCaller,CommandLine="HaplotypeCaller --reference '
            '/ref/Homo_sapiens_assembly38.fasta --output out.vcf">',
            "GRCh38",
            "--reference /ref/Homo_sapiens_assembly38.fasta in the ##GATKCommandLine line",
        ),
        ("##bcftools_callCommand=mpileup -f /ref/hg19.fa in.bam", "GRCh37", None),
        ("##bcftoolsCommand=mpileup --fasta-ref /r/hs37d5.fa x.bam", "GRCh37", None),
        ("##contig=<ID=1,length=249250621>", "GRCh37", None),
        ("##contig=<ID=chr1,length=248956422>", "GRCh38", None),
        ("##contig=<ID=chr1,length=247249719>", "NCBI36", None),
        ("##contig=<ID=chrX,length=155270560>", "GRCh37", None),
        ("##contig=<ID=1,md5=6aef897c3d6ff0c78aff06ac189178dd>", "GRCh38", "##contig 1 md5"),
        ("##contig=<ID=1,assembly=b37>", "GRCh37", "##contig assembly=b37"),
        ("##source=caller-1.0", None, None),
        ("##contig=<ID=1,length=1000>", None, None),
    ],
)
def test_each_kind_of_header_signal(line, assembly, evidence):
    call = detect(line)
    assert call.assembly == assembly
    if evidence is not None:
        assert call.evidence == evidence
    assert call.conflicts == []


def test_contig_lengths_beat_a_name_and_the_disagreement_is_said():
    call = detect(
        "##reference=GRCh38",
        "##contig=<ID=1,length=249250621>",
        "##contig=<ID=2,length=243199373>",
    )
    assert call.assembly == "GRCh37"
    assert call.evidence == "2 ##contig lengths of GRCh37 (e.g. 1 249,250,621 bp)"
    assert call.conflicts == [
        "##reference=GRCh38 says GRCh38, but 2 ##contig lengths of GRCh37 (e.g. 1 249,250,621 "
        "bp) says GRCh37; GRCh37 was taken (the stronger evidence)"
    ]


@pytest.mark.parametrize(
    "lines, mt",
    [
        (["##contig=<ID=chrM,length=16571>"], "NC_001807"),
        (["##contig=<ID=MT,length=16569>"], "rCRS"),
        (["##contig=<ID=chrM,md5=c68f52674c9fb33aef52dcf399755519>"], "rCRS"),
        (["##contig=<ID=M,md5=d2ed829b8a1628d16cbeee88e88e39eb>"], "NC_001807"),
        (["##contig=<ID=NC_012920.1>"], "rCRS"),
        (["##reference=hg19.fa"], None),
    ],
)
def test_the_mt_sequence_from_the_header(lines, mt):
    assert detect(*lines).mt == mt


@pytest.mark.parametrize(
    "lines, assembly, chrom, expected",
    [
        ([], "GRCh38", "chrM", "rCRS"),
        ([], "GRCh37", "MT", "rCRS"),  # b37 naming
        ([], "GRCh37", "chrM", "NC_001807"),  # UCSC hg19 naming
        (["##reference=ucsc.hg19.fasta"], "GRCh37", "MT", "NC_001807"),
        (["##contig=<ID=chrM,length=16569>"], "GRCh37", "chrM", "rCRS"),  # the header decides
        ([], "NCBI36", "chrM", "NC_001807"),
        ([], "GRCh38", "NC_001807", "NC_001807"),
    ],
)
def test_which_mt_sequence_records_are_on(lines, assembly, chrom, expected):
    assert mt_sequence(detect(*lines), assembly, chrom)[0] == expected


@pytest.mark.parametrize(
    "path, assembly, mt",
    [
        ("htslib-test/index.vcf", "GRCh37", "rCRS"),  # bcftools --fasta-ref hs37d5, contigs
        ("htslib-test/test-vcf-hdr-in.vcf", "GRCh37", None),  # ##reference=hs37d5
        ("r-bioc-structuralvariantannotation/manta-0.29.6.vcf", "GRCh37", "NC_001807"),
        ("r-bioc-structuralvariantannotation/manta-1.1.1.vcf", "GRCh38", "rCRS"),
        ("r-bioc-structuralvariantannotation/MT.vcf", "GRCh37", "rCRS"),
        ("r-bioc-structuralvariantannotation/colo829_somatic_manta.vcf", "GRCh37", "rCRS"),
    ],
)
def test_real_world_headers(path, assembly, mt):
    lines = [
        line.rstrip("\n")
        for line in (REALWORLD / path).read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith("##")
    ]
    call = detect(*lines)
    assert (call.assembly, call.mt) == (assembly, mt)


def test_chromosome_lengths_come_from_the_chains_and_are_right():
    lengths = chromosome_lengths()
    assert lengths["GRCh38"]["1"] == 248_956_422 and lengths["GRCh38"]["Y"] == 57_227_415
    assert lengths["GRCh37"]["1"] == 249_250_621 and lengths["GRCh37"]["X"] == 155_270_560
    assert lengths["NCBI36"]["1"] == 247_249_719 and lengths["NCBI36"]["22"] == 49_691_432
    assert all(len(table) == 24 for table in lengths.values())
