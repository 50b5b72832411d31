"""Fixtures for the annotation engine's tests."""

from __future__ import annotations

import pytest

from gas.annotation.reference.genes import default_gene_table


@pytest.fixture(scope="session", autouse=True)
def _gene_table_loaded() -> None:
    """Load the gene table once, up front, so timings and memory checks exclude it."""
    default_gene_table()


@pytest.fixture(scope="session")
def handmade(tmp_path_factory):
    """The hand-made reference of refhelpers.py, built into bundles from its GTF and GFF3."""
    from gas.annotation.reference.bundle import build_bundle

    from . import refhelpers as rh

    base = tmp_path_factory.mktemp("handmade")
    genome, cds = rh.make_genome()
    rh.write_fasta(base / "ref.fa", genome)
    rh.write_gtf(base / "ref.gtf")
    rh.write_gff3(base / "ref.gff3")
    gtf = build_bundle(
        name="hand-gtf",
        assembly="TEST1",
        fasta=base / "ref.fa",
        gene_models=base / "ref.gtf",
        gene_model_format="gtf",
        out_dir=base / "refdata",
    )
    gff3 = build_bundle(
        name="hand-gff3",
        assembly="TEST1",
        fasta=base / "ref.fa",
        gene_models=base / "ref.gff3",
        gene_model_format="gff3",
        out_dir=base / "refdata",
    )
    return Handmade(base, genome, cds, gtf.path, gff3.path)


class Handmade:
    def __init__(self, base, genome, cds, gtf, gff3):
        self.base = base
        self.genome = genome
        self.cds = cds
        self.gtf = gtf
        self.gff3 = gff3

    def ref(self, pos: int, n: int = 1) -> str:
        return "".join(self.genome[pos - 1 : pos - 1 + n])
