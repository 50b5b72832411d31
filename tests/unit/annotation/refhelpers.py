"""A tiny hand-made reference for the transcript-level tests: FASTA, GTF and GFF3 written here.

Contig ``1`` (12,000 bases, random but seeded) carries:

==========  ======  =================================  ==============  ==================
transcript  strand  exons                              CDS (with stop)  notes
==========  ======  =================================  ==============  ==================
TXP.1       \\+      201-300, 401-500, 601-700          251-651         67 codons
TXM.1       \\-      1201-1300, 1401-1500, 1601-1700    1250-1650       67 codons
TXN.1       \\+      2201-2300, 2401-2500               —               lncRNA
TXI.1       \\+      2701-2800                          2711-2771       cds_end_NF, 61 bases
TXD.1       \\+      201-300, 401-500, 601-700          251-651         nonsense_mediated_decay
==========  ======  =================================  ==============  ==================

Introns start with GT and end with AG; every CDS starts with ATG and (but TXI) ends with
TAA, with no other stop in frame. Contig ``MT`` (200 bases) has no genes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from gas.annotation.reference.seq import STANDARD, revcomp

GENOME_LENGTH = 12_000
SENSE = sorted(c for c, aa in STANDARD.items() if aa != "*")


@dataclass
class Tx:
    tid: str
    gene: str
    name: str
    strand: str
    exons: list[tuple[int, int]]
    cds: tuple[int, int] | None
    biotype: str = "protein_coding"
    tags: list[str] = field(default_factory=list)
    stop: bool = True

    def tx_order_exons(self) -> list[tuple[int, int]]:
        return self.exons if self.strand == "+" else self.exons[::-1]

    def cds_positions(self) -> list[int]:
        """Genomic positions of the CDS, 5' to 3'."""
        assert self.cds
        s, e = self.cds
        out: list[int] = []
        for a, b in self.tx_order_exons():
            rng = range(max(a, s), min(b, e) + 1)
            out.extend(rng if self.strand == "+" else reversed(rng))
        return out


TRANSCRIPTS = [
    Tx("TXP.1", "GP.1", "GENEP", "+", [(201, 300), (401, 500), (601, 700)], (251, 651)),
    Tx("TXM.1", "GM.1", "GENEM", "-", [(1201, 1300), (1401, 1500), (1601, 1700)], (1250, 1650)),
    Tx("TXN.1", "GN.1", "GENEN", "+", [(2201, 2300), (2401, 2500)], None, "lncRNA"),
    Tx(
        "TXI.1",
        "GI.1",
        "GENEI",
        "+",
        [(2701, 2800)],
        (2711, 2771),
        tags=["cds_end_NF"],
        stop=False,
    ),
    Tx(
        "TXD.1",
        "GP.1",
        "GENEP",
        "+",
        [(201, 300), (401, 500), (601, 700)],
        (251, 651),
        "nonsense_mediated_decay",
    ),
]


def make_genome(seed: int = 7) -> tuple[list[str], dict[str, str]]:
    """The genome (contig 1 as a list of bases) and each coding transcript's CDS."""
    rng = random.Random(seed)
    g = [rng.choice("ACGT") for _ in range(GENOME_LENGTH)]
    cds_seqs: dict[str, str] = {}

    def put(pos: int, base: str, strand: str) -> None:
        g[pos - 1] = base if strand == "+" else revcomp(base)

    for tx in TRANSCRIPTS:
        exons = sorted(tx.exons)
        for (_, e1), (s2, _) in zip(exons, exons[1:], strict=False):
            intron = list(range(e1 + 1, s2))
            five, three = (intron, intron[::-1]) if tx.strand == "+" else (intron[::-1], intron)
            put(five[0], "G", tx.strand)
            put(five[1], "T", tx.strand)
            put(three[0], "G", tx.strand)
            put(three[1], "A", tx.strand)
        if tx.cds is None:
            continue
        same = [
            t.tid
            for t in TRANSCRIPTS
            if t.tid in cds_seqs and (t.cds, t.exons) == (tx.cds, tx.exons)
        ]
        if same:
            cds_seqs[tx.tid] = cds_seqs[same[0]]
            continue
        positions = tx.cds_positions()
        n = len(positions)
        codons = ["ATG"]
        while 3 * len(codons) < n - (3 if tx.stop else 0):
            codons.append(rng.choice(SENSE))
        seq = "".join(codons)[: n - (3 if tx.stop else 0)]
        if tx.stop:
            seq += "TAA"
        for p, b in zip(positions, seq, strict=True):
            put(p, b, tx.strand)
        cds_seqs[tx.tid] = seq
    return g, cds_seqs


def write_fasta(path: Path, genome: list[str], mt: str = "") -> None:
    seq = "".join(genome)
    lines = [">1 test contig"]
    lines += [seq[i : i + 60] for i in range(0, len(seq), 60)]
    lines.append(">MT")
    mt = mt or "".join(random.Random(3).choice("ACGT") for _ in range(200))
    lines += [mt[i : i + 60] for i in range(0, len(mt), 60)]
    path.write_text("\n".join(lines) + "\n")


def _cds_parts(tx: Tx, with_stop: bool) -> list[tuple[int, int, int]]:
    """CDS parts in transcript order with their GTF/GFF3 phase."""
    assert tx.cds
    s, e = tx.cds
    if not with_stop and tx.stop:
        s, e = (s, e - 3) if tx.strand == "+" else (s + 3, e)
    parts = []
    done = 0
    for a, b in tx.tx_order_exons():
        lo, hi = max(a, s), min(b, e)
        if lo > hi:
            continue
        parts.append((lo, hi, (3 - done % 3) % 3))
        done += hi - lo + 1
    return parts


def write_gtf(path: Path, transcripts: list[Tx] = TRANSCRIPTS) -> None:
    lines = ["#!genome-build test"]
    genes: dict[str, list[Tx]] = {}
    for tx in transcripts:
        genes.setdefault(tx.gene, []).append(tx)
    for gene, txs in genes.items():
        first = txs[0]
        gid, gver = gene.split(".")
        start = min(t.exons[0][0] for t in txs)
        end = max(t.exons[-1][1] for t in txs)
        gbiotype = "protein_coding" if first.cds else first.biotype
        gattr = (
            f'gene_id "{gid}"; gene_version "{gver}"; gene_name "{first.name}"; '
            f'gene_biotype "{gbiotype}";'
        )
        lines.append(f"1\ttest\tgene\t{start}\t{end}\t.\t{first.strand}\t.\t{gattr}")
        for tx in txs:
            tid, tver = tx.tid.split(".")
            tattr = (
                f'{gattr} transcript_id "{tid}"; transcript_version "{tver}"; '
                f'transcript_biotype "{tx.biotype}";'
            )
            for tag in tx.tags:
                tattr += f' tag "{tag}";'
            lines.append(
                f"1\ttest\ttranscript\t{tx.exons[0][0]}\t{tx.exons[-1][1]}\t.\t{tx.strand}\t.\t{tattr}"
            )
            for rank, (a, b) in enumerate(tx.tx_order_exons(), 1):
                lines.append(
                    f'1\ttest\texon\t{a}\t{b}\t.\t{tx.strand}\t.\t{tattr} exon_number "{rank}";'
                )
            if tx.cds:
                pid = tid.replace("TX", "PR")
                for a, b, phase in _cds_parts(tx, with_stop=False):
                    lines.append(
                        f"1\ttest\tCDS\t{a}\t{b}\t.\t{tx.strand}\t{phase}\t{tattr} "
                        f'protein_id "{pid}"; protein_version "1";'
                    )
                if tx.stop:
                    s, e = tx.cds
                    a, b = (e - 2, e) if tx.strand == "+" else (s, s + 2)
                    lines.append(f"1\ttest\tstop_codon\t{a}\t{b}\t.\t{tx.strand}\t0\t{tattr}")
    path.write_text("\n".join(lines) + "\n")


def write_gff3(path: Path, transcripts: list[Tx] = TRANSCRIPTS) -> None:
    lines = ["##gff-version 3", f"##sequence-region 1 1 {GENOME_LENGTH}"]
    genes: dict[str, list[Tx]] = {}
    for tx in transcripts:
        genes.setdefault(tx.gene, []).append(tx)
    for gene, txs in genes.items():
        first = txs[0]
        gid, gver = gene.split(".")
        start = min(t.exons[0][0] for t in txs)
        end = max(t.exons[-1][1] for t in txs)
        gtype = "gene" if first.cds else "ncRNA_gene"
        biotype = "protein_coding" if first.cds else first.biotype
        lines.append(
            f"1\ttest\t{gtype}\t{start}\t{end}\t.\t{first.strand}\t.\t"
            f"ID=gene:{gid};Name={first.name};biotype={biotype};gene_id={gid};version={gver}"
        )
        for tx in txs:
            tid, tver = tx.tid.split(".")
            ttype = "mRNA" if tx.cds else "lnc_RNA"
            tags = f";tag={','.join(tx.tags)}" if tx.tags else ""
            lines.append(
                f"1\ttest\t{ttype}\t{tx.exons[0][0]}\t{tx.exons[-1][1]}\t.\t{tx.strand}\t.\t"
                f"ID=transcript:{tid};Parent=gene:{gid};biotype={tx.biotype};"
                f"transcript_id={tid};version={tver}{tags}"
            )
            for rank, (a, b) in enumerate(tx.tx_order_exons(), 1):
                lines.append(
                    f"1\ttest\texon\t{a}\t{b}\t.\t{tx.strand}\t.\tParent=transcript:{tid};rank={rank}"
                )
            if tx.cds:
                pid = tid.replace("TX", "PR")
                for a, b, phase in _cds_parts(tx, with_stop=True):
                    lines.append(
                        f"1\ttest\tCDS\t{a}\t{b}\t.\t{tx.strand}\t{phase}\t"
                        f"ID=CDS:{pid};Parent=transcript:{tid};protein_id={pid}"
                    )
    path.write_text("\n".join(lines) + "\n")


VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def other_base(base: str) -> str:
    return "ACGT"[("ACGT".index(base) + 1) % 4]


REFSEQ_IDS = {
    "TXP.1": "NM_000001.1",
    "TXM.1": "NM_000002.1",
    "TXN.1": "NR_000003.1",
    "TXI.1": "NM_000004.1",
}
ENTREZ = {"GP.1": "1001", "GM.1": "1002", "GN.1": "1003", "GI.1": "1004"}


def write_refseq_gff3(path: Path) -> None:
    """The models (but the NMD transcript) as NCBI writes GFF3: NC_ names, rna-/cds- ids."""
    seqid = "NC_000001.11"
    lines = ["##gff-version 3", f"##sequence-region {seqid} 1 {GENOME_LENGTH}"]
    lines.append(
        f"{seqid}\tRefSeq\tregion\t1\t{GENOME_LENGTH}\t.\t+\t.\tID={seqid}:1..{GENOME_LENGTH};chromosome=1"
    )
    for tx in TRANSCRIPTS:
        if tx.tid not in REFSEQ_IDS:
            continue
        acc = REFSEQ_IDS[tx.tid]
        gene = ENTREZ[tx.gene]
        biotype = "protein_coding" if tx.cds else "lncRNA"
        start, end = tx.exons[0][0], tx.exons[-1][1]
        lines.append(
            f"{seqid}\tBestRefSeq\tgene\t{start}\t{end}\t.\t{tx.strand}\t.\tID=gene-{tx.name};"
            f"Dbxref=GeneID:{gene},HGNC:HGNC%3A{gene};Name={tx.name};gbkey=Gene;gene={tx.name};"
            f"gene_biotype={biotype}"
        )
        ttype = "mRNA" if tx.cds else "lnc_RNA"
        tag = ";tag=MANE Select" if tx.tid == "TXP.1" else ""
        lines.append(
            f"{seqid}\tBestRefSeq\t{ttype}\t{start}\t{end}\t.\t{tx.strand}\t.\tID=rna-{acc};"
            f"Parent=gene-{tx.name};Dbxref=GeneID:{gene};Name={acc};gbkey={ttype};"
            f"gene={tx.name};product=test%2C product;transcript_id={acc}{tag}"
        )
        for rank, (a, b) in enumerate(tx.tx_order_exons(), 1):
            lines.append(
                f"{seqid}\tBestRefSeq\texon\t{a}\t{b}\t.\t{tx.strand}\t.\tID=exon-{acc}-{rank};"
                f"Parent=rna-{acc};gbkey={ttype};gene={tx.name};transcript_id={acc}"
            )
        if tx.cds:
            protein = acc.replace("NM_", "NP_")
            for a, b, phase in _cds_parts(tx, with_stop=True):
                lines.append(
                    f"{seqid}\tBestRefSeq\tCDS\t{a}\t{b}\t.\t{tx.strand}\t{phase}\tID=cds-{protein};"
                    f"Parent=rna-{acc};Name={protein};gbkey=CDS;gene={tx.name};"
                    f"protein_id={protein}"
                )
    path.write_text("\n".join(lines) + "\n")


def write_gencode_gtf(path: Path) -> None:
    """The GTF as GENCODE writes it: versions inside the ids, gene_type/transcript_type."""
    text = []
    src = path.with_suffix(".ensembl.gtf")
    write_gtf(src)
    for line in src.read_text().splitlines():
        if line.startswith("#"):
            text.append(line)
            continue
        cols = line.split("\t")
        attrs = cols[8]
        for key in ("gene", "transcript", "protein"):
            m = re.search(rf'{key}_id "([^"]+)"; {key}_version "(\d+)";', attrs)
            if m:
                attrs = attrs.replace(m.group(0), f'{key}_id "{m.group(1)}.{m.group(2)}";')
        attrs = attrs.replace("gene_biotype", "gene_type").replace(
            "transcript_biotype", "transcript_type"
        )
        cols[0] = "chr1"
        text.append("\t".join(cols[:8] + [attrs]))
    path.write_text("\n".join(text) + "\n")
