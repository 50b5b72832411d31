"""Synthetic references and variants, for testing the engine against other annotators.

Test and benchmark support, not part of the product: it imports nothing from gas.annotation.

Makes a random genome (several chromosomes, regional GC content around 41 %, simple repeats,
occasional runs of N) with genes written into it: both strands, multi-exon, with 5' and 3'
UTRs, a start codon, an in-frame stop codon and no premature stop in every coding
sequence, canonical GT…AG introns, non-coding genes and transcripts, alternative
transcripts (other first or last exon ends, exon skipping, retained introns), and genes that
overlap others on the same or the opposite strand. The same models are written as an
Ensembl-style GTF (or GENCODE-style, on request) and an Ensembl-style GFF3 — the format
bcftools csq reads — next to the FASTA, so that every annotator runs on the same reference.
Random VCFs (SNVs, MNVs and short indels, left-aligned, REF matching the genome, sorted;
sites-only or with genotypes) go with it.

Everything is deterministic given the seed.

    python -m tests.support.synthetic --out DIR --genome-mb 6 --genes 300 --seed 1 \\
        --variants 200000 --samples 0 1 100

writes ``DIR/genome.fa`` (+ ``.fai``; ``genome.fa.gz`` + ``.fai`` + ``.gzi`` when ``bgzip``
is installed), ``DIR/genes.gtf``, ``DIR/genes.gff3``, ``DIR/variants.vcf`` (sites-only) or
``DIR/variants.<N>-samples.vcf``, and ``DIR/manifest.json`` (parameters and counts).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BASES = "ACGT"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_CODE_TO_BASE = np.frombuffer(b"ACGTN", dtype=np.uint8)

#: The standard genetic code, codon → one-letter amino acid (``*`` = stop).
CODON_TABLE: dict[str, str] = {}
_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
for _i, (_a, _b, _c) in enumerate((a, b, c) for a in "TCAG" for b in "TCAG" for c in "TCAG"):
    CODON_TABLE[_a + _b + _c] = _AA[_i]
STOP_CODONS = ("TAA", "TAG", "TGA")
SENSE_CODONS = tuple(sorted(c for c, aa in CODON_TABLE.items() if aa != "*"))

#: GFF3 feature type of a transcript, by biotype (as in Ensembl's GFF3 files).
GFF3_TRANSCRIPT_TYPE = {
    "protein_coding": "mRNA",
    "nonsense_mediated_decay": "mRNA",
    "lncRNA": "lnc_RNA",
    "lincRNA": "lnc_RNA",
    "retained_intron": "transcript",
    "processed_transcript": "transcript",
    "processed_pseudogene": "pseudogenic_transcript",
    "snRNA": "snRNA",
    "miRNA": "miRNA",
    "misc_RNA": "ncRNA",
}
GFF3_GENE_TYPE = {
    "protein_coding": "gene",
    "processed_pseudogene": "pseudogene",
}  # any other biotype: ncRNA_gene


def revcomp(seq: str) -> str:
    """The reverse complement of a DNA string (N stays N)."""
    return seq.translate(_COMPLEMENT)[::-1]


def translate(cds: str) -> str:
    """One-letter protein of a coding sequence (its length a multiple of 3)."""
    return "".join(CODON_TABLE.get(cds[i : i + 3], "X") for i in range(0, len(cds) - 2, 3))


# --- the model -------------------------------------------------------------------------------


@dataclass
class Transcript:
    """One transcript. Coordinates are 1-based, inclusive, on the forward strand."""

    transcript_id: str
    name: str
    biotype: str
    exons: list[tuple[int, int]]  # ascending genomic order
    cds: tuple[int, int] | None = None  # genomic span of the CDS, stop codon included
    tags: tuple[str, ...] = ()

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def coding(self) -> bool:
        return self.cds is not None


@dataclass
class Gene:
    gene_id: str
    name: str
    biotype: str
    chrom: str
    strand: str  # "+" or "-"
    transcripts: list[Transcript] = field(default_factory=list)

    @property
    def start(self) -> int:
        return min(t.start for t in self.transcripts)

    @property
    def end(self) -> int:
        return max(t.end for t in self.transcripts)


@dataclass
class Reference:
    """A synthetic genome and its gene models."""

    name: str
    seed: int
    chroms: dict[str, np.ndarray]  # chromosome → uint8 ASCII bases (upper case)
    genes: list[Gene]

    @property
    def chrom_names(self) -> list[str]:
        return list(self.chroms)

    def length(self, chrom: str) -> int:
        return int(self.chroms[chrom].shape[0])

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Bases ``start``…``end`` (1-based, inclusive) of ``chrom``."""
        return self.chroms[chrom][start - 1 : end].tobytes().decode("ascii")

    def transcripts(self) -> Iterator[tuple[Gene, Transcript]]:
        for gene in self.genes:
            for tx in gene.transcripts:
                yield gene, tx

    def spliced(self, gene: Gene, tx: Transcript) -> str:
        """The transcript's sequence, 5'→3' on its own strand."""
        seq = "".join(self.fetch(gene.chrom, s, e) for s, e in tx.exons)
        return revcomp(seq) if gene.strand == "-" else seq

    def cds_sequence(self, gene: Gene, tx: Transcript) -> str:
        """The coding sequence (start codon to stop codon inclusive), on the gene's strand."""
        if tx.cds is None:
            return ""
        lo, hi = tx.cds
        seq = "".join(
            self.fetch(gene.chrom, max(s, lo), min(e, hi))
            for s, e in tx.exons
            if e >= lo and s <= hi
        )
        return revcomp(seq) if gene.strand == "-" else seq

    def protein(self, gene: Gene, tx: Transcript) -> str:
        return translate(self.cds_sequence(gene, tx))

    def validate(self) -> None:
        """Check every promise the generator makes; raise ValueError on the first broken one."""
        for gene, tx in self.transcripts():
            where = f"{gene.gene_id}/{tx.transcript_id}"
            if gene.biotype != "protein_coding" and tx.coding:
                raise ValueError(f"{where}: a CDS in a non-coding gene")
            for (_s1, e1), (s2, _e2) in zip(tx.exons, tx.exons[1:], strict=False):
                if s2 - e1 - 1 < MIN_INTRON:
                    raise ValueError(f"{where}: intron shorter than {MIN_INTRON}")
                intron = self.fetch(gene.chrom, e1 + 1, s2 - 1)
                if gene.strand == "-":
                    intron = revcomp(intron)
                if not (intron.startswith("GT") and intron.endswith("AG")):
                    raise ValueError(f"{where}: intron {e1 + 1}-{s2 - 1} is not GT…AG")
            for s, e in tx.exons:
                if "N" in self.fetch(gene.chrom, s, e):
                    raise ValueError(f"{where}: N in an exon")
            if not tx.coding:
                continue
            assert tx.cds is not None
            lo, hi = tx.cds
            if not any(s <= lo <= e for s, e in tx.exons) or not any(
                s <= hi <= e for s, e in tx.exons
            ):
                raise ValueError(f"{where}: CDS ends outside the exons")
            cds = self.cds_sequence(gene, tx)
            if len(cds) % 3:
                raise ValueError(f"{where}: CDS length {len(cds)} is not a multiple of 3")
            if not cds.startswith("ATG"):
                raise ValueError(f"{where}: CDS does not start with ATG")
            protein = translate(cds)
            if not protein.endswith("*") or "*" in protein[:-1]:
                raise ValueError(f"{where}: stop codon missing or premature")


MIN_INTRON = 70
CHROM_GAP = 1_000  # genes keep this far from N runs and chromosome ends


# --- generation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    genome_mb: float = 6.0
    genes: int = 300
    seed: int = 1
    chromosomes: int | None = None  # default: from the genome size
    chr_prefix: bool = False
    gc: float = 0.41
    overlap_fraction: float = 0.15  # genes placed over another gene
    antisense_fraction: float = 0.6  # of those, on the opposite strand
    noncoding_fraction: float = 0.2  # genes that are not protein-coding


def _chrom_names(n: int, prefix: bool) -> list[str]:
    names = [str(i) for i in range(1, n)] + ["X"] if n > 1 else ["1"]
    return [f"chr{c}" if prefix else c for c in names]


def _random_genome(rng: np.random.Generator, lengths: list[int], gc: float) -> list[np.ndarray]:
    """Sequences with regional GC content, simple repeats and N runs (uint8 ASCII)."""
    out = []
    for length in lengths:
        codes = np.empty(length, dtype=np.uint8)
        pos = 0
        while pos < length:  # isochore-like blocks of 20–300 kb
            size = min(length - pos, int(rng.integers(20_000, 300_000)))
            g = float(np.clip(rng.normal(gc, 0.04), 0.30, 0.60))
            p = [(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]
            codes[pos : pos + size] = rng.choice(4, size=size, p=p)
            pos += size
        # simple repeats (homopolymers, di- and trinucleotide repeats) about every 1.5 kb
        for start in rng.integers(0, max(1, length - 100), size=length // 1500):
            unit = rng.integers(0, 4, size=int(rng.integers(1, 4)))
            copies = int(rng.integers(4, 12)) if unit.size > 1 else int(rng.integers(6, 20))
            rep = np.tile(unit, copies)
            codes[start : start + rep.size] = rep[: max(0, min(rep.size, length - start))]
        seq = _CODE_TO_BASE[codes]
        # N runs: one at the start (a telomere) and now and then inside
        seq[: int(rng.integers(200, 2_000))] = ord("N")
        for _ in range(int(rng.poisson(max(0.5, length / 2_000_000)))):
            start = int(rng.integers(length // 10, max(length // 10 + 1, length - 10_000)))
            seq[start : start + int(rng.integers(100, 5_000))] = ord("N")
        out.append(seq)
    return out


@dataclass
class _Layout:
    """A transcript being designed, in its own 5'→3' coordinates."""

    exons: list[int]  # exon lengths, 5'→3'
    introns: list[int]  # intron lengths, 5'→3'
    cds_start: int | None = None  # 0-based offset of the A of ATG in the spliced transcript
    cds_len: int = 0
    skippable: list[int] = field(default_factory=list)  # exons whose removal keeps the frame

    @property
    def span(self) -> int:
        return sum(self.exons) + sum(self.introns)


def _exon_len(rng: np.random.Generator, median: float, lo: int, hi: int) -> int:
    return int(np.clip(rng.lognormal(math.log(median), 0.5), lo, hi))


def _intron_len(rng: np.random.Generator) -> int:
    return int(np.clip(rng.lognormal(math.log(900), 1.0), MIN_INTRON, 12_000))


def _design_coding(rng: np.random.Generator) -> _Layout:
    while True:
        n = 1 if rng.random() < 0.06 else int(min(14, 2 + rng.geometric(0.2)))
        if n == 1:
            exons = [_exon_len(rng, 1500, 400, 5000)]
        else:
            exons = (
                [_exon_len(rng, 200, 40, 800)]
                + [_exon_len(rng, 130, 36, 500) for _ in range(n - 2)]
                + [_exon_len(rng, 900, 150, 4000)]
            )
        introns = [_intron_len(rng) for _ in range(n - 1)]
        total = sum(exons)
        utr5 = int(rng.integers(8, 250))
        if rng.random() < 0.1 and n > 2:  # 5' UTR spans an intron: the CDS starts in exon 2
            utr5 = exons[0] + int(rng.integers(0, max(1, exons[1] - 10)))
        # make some internal exons skippable: whole codons, starting at phase 0, all coding
        skippable: list[int] = []
        for i in range(2, n - 1):
            if rng.random() >= 0.3:
                continue
            before = sum(exons[:i])
            if before - utr5 < 6:
                continue
            shift = (before - utr5) % 3
            if exons[i - 1] - shift < 36:
                continue
            exons[i - 1] -= shift
            exons[i] -= exons[i] % 3
            skippable.append(i)
        total = sum(exons)
        if n > 1 and rng.random() < 0.03:  # now and then a stop codon split by the last intron
            utr3 = exons[-1] - int(rng.integers(1, 3))
        else:
            utr3 = int(
                np.clip(rng.lognormal(math.log(500), 0.8), 20, exons[-1] - 20 if n > 1 else 2000)
            )
        cds_len = total - utr5 - utr3
        cds_len -= cds_len % 3
        if cds_len < 90:
            continue
        cds_end = utr5 + cds_len
        # keep only the skippable exons that lie wholly inside the CDS (before the stop codon)
        ok = []
        for i in skippable:
            a = sum(exons[:i])
            b = a + exons[i]
            if a >= utr5 + 3 and b <= cds_end - 3 and (a - utr5) % 3 == 0 and exons[i] % 3 == 0:
                ok.append(i)
        return _Layout(exons, introns, utr5, cds_len, ok)


def _design_noncoding(rng: np.random.Generator, biotype: str) -> _Layout:
    if biotype in ("snRNA", "miRNA", "misc_RNA"):
        return _Layout([int(rng.integers(60, 350))], [])
    if biotype == "processed_pseudogene":
        return _Layout([_exon_len(rng, 900, 200, 3000)], [])
    n = int(min(6, 1 + rng.geometric(0.45)))
    exons = [_exon_len(rng, 250, 50, 2000) for _ in range(n)]
    return _Layout(exons, [_intron_len(rng) for _ in range(n - 1)])


def _genomic_exons(layout: _Layout, left: int, strand: str) -> list[tuple[int, int]]:
    """Exon intervals (ascending genomic order) of a layout whose leftmost base is ``left``."""
    pieces: list[int] = []  # alternating exon/intron lengths in genomic (left→right) order
    order_e = layout.exons if strand == "+" else layout.exons[::-1]
    order_i = layout.introns if strand == "+" else layout.introns[::-1]
    for k, e in enumerate(order_e):
        pieces.append(e)
        if k < len(order_i):
            pieces.append(order_i[k])
    out = []
    pos = left
    for k, length in enumerate(pieces):
        if k % 2 == 0:
            out.append((pos, pos + length - 1))
        pos += length
    return out


def _tx_positions(exons: list[tuple[int, int]], strand: str) -> np.ndarray:
    """Genomic position (1-based) of every transcript base, 5'→3'."""
    pos = np.concatenate([np.arange(s, e + 1, dtype=np.int64) for s, e in exons])
    return pos if strand == "+" else pos[::-1]


class _Builder:
    def __init__(self, params: Params):
        self.p = params
        self.rng = np.random.default_rng(params.seed)
        total = int(params.genome_mb * 1_000_000)
        n = params.chromosomes or int(np.clip(round(params.genome_mb / 1.5), 2, 12))
        weights = np.array([1.0 / (1 + 0.15 * i) for i in range(n)])
        lengths = [max(50_000, int(total * w / weights.sum())) for w in weights]
        self.names = _chrom_names(n, params.chr_prefix)
        seqs = _random_genome(self.rng, lengths, params.gc)
        self.seq = dict(zip(self.names, seqs, strict=True))
        # per chromosome: bases that a gene fixed (CDS, splice sites), and bases inside a gene
        self.claimed = {c: np.zeros(len(s) + 2, dtype=bool) for c, s in self.seq.items()}
        self.genic = {c: np.zeros(len(s) + 2, dtype=bool) for c, s in self.seq.items()}
        self.n_prefix = {
            c: np.concatenate([[0], np.cumsum(s == ord("N"))]) for c, s in self.seq.items()
        }
        self.genes: list[Gene] = []
        self.counter = Counter[str]()

    def _id(self, kind: str) -> str:
        self.counter[kind] += 1
        return f"SYN{kind}{self.counter[kind]:08d}"

    # -- writing into the genome --
    def _write(self, chrom: str, positions: np.ndarray, bases: str, strand: str) -> None:
        if strand == "-":
            bases = bases.translate(_COMPLEMENT)
        self.seq[chrom][positions - 1] = np.frombuffer(bases.encode("ascii"), dtype=np.uint8)
        self.claimed[chrom][positions] = True

    def _free(self, chrom: str, positions: np.ndarray) -> bool:
        return not self.claimed[chrom][positions].any()

    def _random_cds(self, codons: int) -> str:
        idx = self.rng.integers(0, len(SENSE_CODONS), size=codons - 2)
        stop = STOP_CODONS[int(self.rng.integers(0, 3))]
        return "ATG" + "".join(SENSE_CODONS[i] for i in idx) + stop

    def _splice_sites(self, exons: list[tuple[int, int]], strand: str) -> np.ndarray:
        pos = []
        for (_s1, e1), (s2, _e2) in zip(exons, exons[1:], strict=False):
            pos += [e1 + 1, e1 + 2, s2 - 2, s2 - 1]
        return np.array(pos, dtype=np.int64)

    def _write_splice_sites(self, chrom: str, exons: list[tuple[int, int]], strand: str) -> None:
        for (_s1, e1), (s2, _e2) in zip(exons, exons[1:], strict=False):
            left, right = np.array([e1 + 1, e1 + 2]), np.array([s2 - 2, s2 - 1])
            if strand == "+":
                self._write(chrom, left, "GT", "+")
                self._write(chrom, right, "AG", "+")
                # a donor consensus (GTRAGT) and a pyrimidine tract, where nothing is fixed
                self._soft(chrom, np.arange(e1 + 3, e1 + 7), "AAGT" if self._coin() else "GAGT")
                self._soft(chrom, np.arange(s2 - 14, s2 - 2), self._pyrimidines(12))
            else:  # minus strand: the donor is on the right, read from the other strand
                self._write(chrom, right[::-1], "GT", "-")
                self._write(chrom, left[::-1], "AG", "-")
                donor = "AAGT" if self._coin() else "GAGT"
                self._soft(chrom, np.arange(s2 - 3, s2 - 7, -1), donor.translate(_COMPLEMENT))
                self._soft(
                    chrom,
                    np.arange(e1 + 14, e1 + 2, -1),
                    self._pyrimidines(12).translate(_COMPLEMENT),
                )

    def _coin(self) -> bool:
        return bool(self.rng.random() < 0.5)

    def _pyrimidines(self, n: int) -> str:
        return "".join(
            "CT"[i] if self.rng.random() < 0.8 else "AG"[i] for i in self.rng.integers(0, 2, n)
        )

    def _soft(self, chrom: str, positions: np.ndarray, bases: str) -> None:
        """Write bases where no gene has fixed them (consensus, not a promise)."""
        keep = ~self.claimed[chrom][positions]
        arr = np.frombuffer(bases.encode("ascii"), dtype=np.uint8)
        self.seq[chrom][positions[keep] - 1] = arr[keep]

    # -- placing genes --
    def _place(self, span: int) -> tuple[str, int, str] | None:
        p, rng = self.p, self.rng
        for _ in range(60):
            if self.genes and rng.random() < p.overlap_fraction:
                anchor = self.genes[int(rng.integers(0, len(self.genes)))]
                chrom = anchor.chrom
                lo, hi = anchor.start - span // 2, anchor.end - span // 2
                left = int(rng.integers(lo, max(lo + 1, hi)))
                if rng.random() < p.antisense_fraction:
                    strand = "-" if anchor.strand == "+" else "+"
                else:
                    strand = anchor.strand
                overlap_ok = True
            else:
                lens = np.array([len(self.seq[c]) for c in self.names], dtype=float)
                chrom = self.names[int(rng.choice(len(self.names), p=lens / lens.sum()))]
                left = int(rng.integers(1, max(2, len(self.seq[chrom]) - span)))
                strand = "+" if rng.random() < 0.5 else "-"
                overlap_ok = False
            right = left + span - 1
            size = len(self.seq[chrom])
            if left < CHROM_GAP or right > size - CHROM_GAP:
                continue
            nn = self.n_prefix[chrom]
            if nn[min(size, right + CHROM_GAP)] - nn[left - CHROM_GAP] > 0:
                continue
            if not overlap_ok and self.genic[chrom][left - 500 : right + 500].any():
                continue
            return chrom, left, strand
        return None

    def add_coding_gene(self) -> Gene | None:
        lay = _design_coding(self.rng)
        spot = self._place(lay.span)
        if spot is None:
            return None
        chrom, left, strand = spot
        exons = _genomic_exons(lay, left, strand)
        tx_pos = _tx_positions(exons, strand)
        assert lay.cds_start is not None
        cds_pos = tx_pos[lay.cds_start : lay.cds_start + lay.cds_len]
        splice = self._splice_sites(exons, strand)
        if not self._free(chrom, cds_pos) or not self._free(chrom, splice):
            return None
        self._write(chrom, cds_pos, self._random_cds(lay.cds_len // 3), strand)
        self._write_splice_sites(chrom, exons, strand)
        cds_span = (int(cds_pos.min()), int(cds_pos.max()))
        gene = Gene(self._id("G"), "", "protein_coding", chrom, strand)
        gene.name = f"SG{self.counter['G']:04d}"
        main = Transcript(
            self._id("T"), "", "protein_coding", exons, cds_span, ("basic", "Ensembl_canonical")
        )
        gene.transcripts.append(main)
        self._alternatives(gene, main, lay)
        for k, tx in enumerate(gene.transcripts):
            tx.name = f"{gene.name}-{201 + k}"
        self._register(gene)
        return gene

    def _alternatives(self, gene: Gene, main: Transcript, lay: _Layout) -> None:
        rng = self.rng
        assert main.cds is not None
        lo, hi = main.cds
        plus = gene.strand == "+"
        # exon skipping: keeps the frame and the protein's ends
        if lay.skippable and rng.random() < 0.7:
            i = int(rng.choice(lay.skippable))
            k = i if plus else len(main.exons) - 1 - i
            exons = main.exons[:k] + main.exons[k + 1 :]
            gene.transcripts.append(
                Transcript(self._id("T"), "", "protein_coding", exons, main.cds, ("basic",))
            )
        # another transcription start (a shorter first exon) or end (a shorter last exon)
        if rng.random() < 0.35:
            exons = list(main.exons)
            if plus and exons[0][1] - exons[0][0] > 40:
                s, e = exons[0]
                limit = min(e - 20, lo - 5) if s <= lo <= e else e - 20
                if limit > s + 5:
                    exons[0] = (int(rng.integers(s + 5, limit)), e)
            elif not plus and exons[-1][1] - exons[-1][0] > 40:
                s, e = exons[-1]
                limit = max(s + 20, hi + 5) if s <= hi <= e else s + 20
                if limit < e - 5:
                    exons[-1] = (s, int(rng.integers(limit + 1, e - 4)))
            if exons != main.exons:
                gene.transcripts.append(
                    Transcript(self._id("T"), "", "protein_coding", exons, main.cds, ("basic",))
                )
        if rng.random() < 0.35:
            exons = list(main.exons)
            if plus:
                s, e = exons[-1]
                if s <= hi <= e and e - hi > 40:
                    exons[-1] = (s, int(rng.integers(hi + 10, e - 20)))
            else:
                s, e = exons[0]
                if s <= lo <= e and lo - s > 40:
                    exons[0] = (int(rng.integers(s + 20, lo - 10)), e)
            if exons != main.exons:
                gene.transcripts.append(
                    Transcript(self._id("T"), "", "protein_coding", exons, main.cds, ("basic",))
                )
        n = len(main.exons)
        # a retained intron: two neighbouring exons and the intron between them, non-coding
        if n >= 2 and rng.random() < 0.3:
            k = int(rng.integers(0, n - 1))
            merged = [(main.exons[k][0], main.exons[k + 1][1])]
            if k + 2 < n:
                merged.append(main.exons[k + 2])
            gene.transcripts.append(Transcript(self._id("T"), "", "retained_intron", merged))
        # a processed transcript: a few of the exons, non-coding
        if n >= 3 and rng.random() < 0.25:
            k = int(rng.integers(0, n - 2))
            gene.transcripts.append(
                Transcript(self._id("T"), "", "processed_transcript", main.exons[k : k + 3])
            )

    def add_noncoding_gene(self) -> Gene | None:
        rng = self.rng
        biotype = str(
            rng.choice(
                ["lncRNA", "lncRNA", "lncRNA", "snRNA", "miRNA", "misc_RNA", "processed_pseudogene"]
            )
        )
        lay = _design_noncoding(rng, biotype)
        spot = self._place(lay.span)
        if spot is None:
            return None
        chrom, left, strand = spot
        exons = _genomic_exons(lay, left, strand)
        if not self._free(chrom, self._splice_sites(exons, strand)):
            return None
        self._write_splice_sites(chrom, exons, strand)
        gene = Gene(self._id("G"), "", biotype, chrom, strand)
        prefix = {"lncRNA": "LINC", "processed_pseudogene": "SGP"}.get(biotype, "SNR")
        gene.name = f"{prefix}{self.counter['G']:04d}"
        gene.transcripts.append(
            Transcript(self._id("T"), "", biotype, exons, None, ("basic", "Ensembl_canonical"))
        )
        if biotype == "lncRNA" and len(exons) >= 3 and rng.random() < 0.4:
            drop = int(rng.integers(1, len(exons) - 1))
            gene.transcripts.append(
                Transcript(self._id("T"), "", biotype, exons[:drop] + exons[drop + 1 :], None)
            )
        for k, tx in enumerate(gene.transcripts):
            tx.name = f"{gene.name}-{201 + k}"
        self._register(gene)
        return gene

    def _register(self, gene: Gene) -> None:
        self.genic[gene.chrom][gene.start : gene.end + 1] = True
        self.genes.append(gene)

    def build(self) -> Reference:
        p = self.p
        misses = 0
        while len(self.genes) < p.genes and misses < 20 * p.genes + 100:
            if self.rng.random() < p.noncoding_fraction:
                made = self.add_noncoding_gene()
            else:
                made = self.add_coding_gene()
            if made is None:
                misses += 1
        order = {c: i for i, c in enumerate(self.names)}
        genes = sorted(self.genes, key=lambda g: (order[g.chrom], g.start, g.end, g.gene_id))
        for g in genes:
            g.transcripts.sort(key=lambda t: (t.start, t.end, t.transcript_id))
        return Reference(f"synthetic-s{p.seed}", p.seed, self.seq, genes)


def generate_reference(
    genome_mb: float = 6.0, genes: int = 300, seed: int = 1, **kwargs: object
) -> Reference:
    """A random genome with ``genes`` gene models (fewer if they do not fit). Deterministic."""
    params = Params(genome_mb=genome_mb, genes=genes, seed=seed, **kwargs)  # type: ignore[arg-type]
    ref = _Builder(params).build()
    ref.validate()
    return ref


# --- writing the reference -----------------------------------------------------------------


def write_fasta(ref: Reference, path: Path, width: int = 60) -> Path:
    """``path`` and ``path.fai``."""
    fai = []
    offset = 0
    with open(path, "wb") as out:
        for name, seq in ref.chroms.items():
            header = f">{name}\n".encode("ascii")
            out.write(header)
            offset += len(header)
            data = seq.tobytes()
            fai.append(f"{name}\t{len(data)}\t{offset}\t{width}\t{width + 1}\n")
            for i in range(0, len(data), width):
                line = data[i : i + width] + b"\n"
                out.write(line)
                offset += len(line)
    Path(f"{path}.fai").write_text("".join(fai), encoding="ascii")
    return path


def bgzip_fasta(path: Path) -> Path | None:
    """``path.gz`` with ``.fai`` and ``.gzi`` indexes, when ``bgzip`` is installed."""
    bgzip = shutil.which("bgzip")
    if bgzip is None:
        return None
    gz = Path(f"{path}.gz")
    with open(gz, "wb") as out:
        subprocess.run([bgzip, "-c", "-i", "-I", f"{gz}.gzi", str(path)], stdout=out, check=True)
    shutil.copyfile(f"{path}.fai", f"{gz}.fai")
    return gz


def _attrs_gtf(pairs: Iterable[tuple[str, str]]) -> str:
    return " ".join(f'{k} "{v}";' for k, v in pairs)


def _cds_segments(tx: Transcript, strand: str) -> list[tuple[int, int, int]]:
    """(start, end, phase) of each CDS piece, stop codon included, ascending order."""
    assert tx.cds is not None
    lo, hi = tx.cds
    pieces = [(max(s, lo), min(e, hi)) for s, e in tx.exons if e >= lo and s <= hi]
    ordered = pieces if strand == "+" else pieces[::-1]
    out, done = [], 0
    for s, e in ordered:
        out.append((s, e, (3 - done % 3) % 3))
        done += e - s + 1
    return sorted(out)


def _trim_stop(pieces: list[tuple[int, int, int]], strand: str) -> list[tuple[int, int, int]]:
    """CDS pieces without the last three bases (GTF CDS features exclude the stop codon)."""
    ordered = list(pieces) if strand == "+" else list(pieces[::-1])
    left = 3
    while left:
        s, e, ph = ordered[-1]
        size = e - s + 1
        if size <= left:
            ordered.pop()
            left -= size
        else:
            ordered[-1] = (s, e - left, ph) if strand == "+" else (s + left, e, ph)
            left = 0
    return sorted(ordered)


def _codon_pieces(tx: Transcript, strand: str, which: str) -> list[tuple[int, int, int]]:
    """The start or stop codon, split where it crosses an intron: (start, end, frame), the
    frame counted from the codon's first base in the direction of transcription."""
    pieces = _cds_segments(tx, strand)
    ordered = pieces if strand == "+" else pieces[::-1]  # 5'→3'
    if which == "stop":
        ordered = ordered[::-1]  # walk from the 3' end
    spans, need = [], 3
    for s, e, _ in ordered:
        take = min(e - s + 1, need)
        at_5prime_end = which == "start"
        from_low = (strand == "+") == at_5prime_end
        spans.append((s, s + take - 1) if from_low else (e - take + 1, e))
        need -= take
        if not need:
            break
    # frames in transcription order
    spans.sort(reverse=(strand == "-"))
    out, done = [], 0
    for s, e in spans:
        out.append((s, e, (3 - done % 3) % 3))
        done += e - s + 1
    return sorted(out)


def _utrs(tx: Transcript, strand: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(5' UTR pieces, 3' UTR pieces), ascending."""
    assert tx.cds is not None
    lo, hi = tx.cds
    left = [(s, min(e, lo - 1)) for s, e in tx.exons if s < lo]
    right = [(max(s, hi + 1), e) for s, e in tx.exons if e > hi]
    return (left, right) if strand == "+" else (right, left)


def _exon_phases(tx: Transcript, strand: str) -> list[tuple[int, int]]:
    """Ensembl's (phase, end_phase) of each exon, in ascending order; -1 where non-coding."""
    if tx.cds is None:
        return [(-1, -1)] * len(tx.exons)
    lo, hi = tx.cds
    ordered = tx.exons if strand == "+" else tx.exons[::-1]
    done = 0
    out = []
    for s, e in ordered:
        first = s if strand == "+" else e
        last = e if strand == "+" else s
        phase = done % 3 if lo <= first <= hi and done > 0 else -1
        done += max(0, min(e, hi) - max(s, lo) + 1)
        end_phase = done % 3 if lo <= last <= hi else -1
        out.append((phase, end_phase))
    return out if strand == "+" else out[::-1]


def write_gtf(ref: Reference, path: Path, style: str = "ensembl") -> Path:
    """Gene models as GTF: Ensembl style (``five_prime_utr``/``three_prime_utr``, unversioned
    ids with ``*_version``, ``gene_biotype``) or GENCODE style (``UTR``, versioned ids,
    ``gene_type``). CDS features exclude the stop codon, as in both."""
    gencode = style == "gencode"
    src = "SYNTHETIC"
    lines = [
        f"#!genome-build {ref.name}",
        "#!genome-version synthetic",
        f"#!genebuild-last-updated seed-{ref.seed}",
    ]

    def vid(x: str) -> str:
        return f"{x}.1" if gencode else x

    for gene in ref.genes:
        chrom, strand = gene.chrom, gene.strand
        g_attrs = [("gene_id", vid(gene.gene_id))]
        if not gencode:
            g_attrs.append(("gene_version", "1"))
        g_tail = [("gene_name", gene.name)]
        if gencode:
            g_tail = [("gene_type", gene.biotype), *g_tail, ("level", "2")]
        else:
            g_tail += [("gene_source", "synthetic"), ("gene_biotype", gene.biotype)]

        def row(
            kind: str,
            s: int,
            e: int,
            attrs: list[tuple[str, str]],
            phase: str = ".",
            chrom: str = chrom,
            strand: str = strand,
        ) -> str:
            fields = [chrom, src, kind, str(s), str(e), ".", strand, phase, _attrs_gtf(attrs)]
            return "\t".join(fields)

        lines.append(row("gene", gene.start, gene.end, g_attrs + g_tail))
        for tx in gene.transcripts:
            t_attrs = g_attrs + [("transcript_id", vid(tx.transcript_id))]
            if not gencode:
                t_attrs.append(("transcript_version", "1"))
            if gencode:
                t_tail = [
                    ("gene_type", gene.biotype),
                    ("gene_name", gene.name),
                    ("transcript_type", tx.biotype),
                    ("transcript_name", tx.name),
                    ("level", "2"),
                ]
            else:
                t_tail = g_tail + [
                    ("transcript_name", tx.name),
                    ("transcript_source", "synthetic"),
                    ("transcript_biotype", tx.biotype),
                ]
            tags = [("tag", t) for t in tx.tags]
            lines.append(row("transcript", tx.start, tx.end, t_attrs + t_tail + tags))
            feats: list[tuple[int, int, int, str, list[tuple[str, str]]]] = []
            n = len(tx.exons)
            for k, (s, e) in enumerate(tx.exons):
                rank = k + 1 if strand == "+" else n - k
                ex = [("exon_number", str(rank))]
                ex_id = f"SYNE{int(tx.transcript_id[4:]):08d}{rank:03d}"
                ex_tail = [("exon_id", vid(ex_id))] + ([] if gencode else [("exon_version", "1")])
                feats.append((s, 0, e, "exon", t_attrs + ex + t_tail + ex_tail + tags))
            if tx.cds is not None:
                pid = vid("SYNP" + tx.transcript_id[4:])
                p_attrs = [("protein_id", pid)] + ([] if gencode else [("protein_version", "1")])
                cds_all = _cds_segments(tx, strand)
                for s, e, ph in _trim_stop(cds_all, strand):
                    rank = _rank_of(tx, s, strand)
                    feats.append(
                        (
                            s,
                            1,
                            e,
                            f"CDS\t{ph}",
                            t_attrs + [("exon_number", str(rank))] + t_tail + p_attrs + tags,
                        )
                    )
                for which, kind in (("start", "start_codon"), ("stop", "stop_codon")):
                    for s, e, ph in _codon_pieces(tx, strand, which):
                        rank = _rank_of(tx, s, strand)
                        feats.append(
                            (
                                s,
                                2,
                                e,
                                f"{kind}\t{ph}",
                                t_attrs + [("exon_number", str(rank))] + t_tail + tags,
                            )
                        )
                utr5, utr3 = _utrs(tx, strand)
                for pieces, kind in ((utr5, "five_prime_utr"), (utr3, "three_prime_utr")):
                    for s, e in pieces:
                        feats.append(
                            (
                                s,
                                3,
                                e,
                                "UTR\t." if gencode else f"{kind}\t.",
                                t_attrs + t_tail + tags,
                            )
                        )
            for s, _o, e, kind, attrs in sorted(feats, key=lambda f: (f[0], f[1])):
                kind_name, _, phase = kind.partition("\t")
                lines.append(row(kind_name, s, e, attrs, phase or "."))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def _rank_of(tx: Transcript, pos: int, strand: str) -> int:
    for k, (s, e) in enumerate(tx.exons):
        if s <= pos <= e:
            return k + 1 if strand == "+" else len(tx.exons) - k
    raise ValueError(f"{pos} is in no exon of {tx.transcript_id}")


def write_gff3(ref: Reference, path: Path) -> Path:
    """Gene models as Ensembl's GFF3 (the layout bcftools csq reads): ``ID=gene:…``,
    ``ID=transcript:…;Parent=gene:…``, exons/CDS/UTRs with ``Parent=transcript:…``, biotype
    attributes. CDS features include the stop codon."""
    lines = ["##gff-version 3"]
    for name in ref.chrom_names:
        lines.append(f"##sequence-region   {name} 1 {ref.length(name)}")
    lines.append(f"#!genome-build {ref.name}")
    src = "synthetic"
    for name in ref.chrom_names:
        lines.append(
            f"{name}\t{src}\tchromosome\t1\t{ref.length(name)}\t.\t.\t.\tID=chromosome:{name};"
            f"Alias={name}"
        )
    for gene in ref.genes:
        chrom, strand = gene.chrom, gene.strand

        def row(
            kind: str,
            s: int,
            e: int,
            attrs: str,
            phase: str = ".",
            chrom: str = chrom,
            strand: str = strand,
        ) -> str:
            return f"{chrom}\t{src}\t{kind}\t{s}\t{e}\t.\t{strand}\t{phase}\t{attrs}"

        gtype = GFF3_GENE_TYPE.get(gene.biotype, "ncRNA_gene")
        lines.append(
            row(
                gtype,
                gene.start,
                gene.end,
                f"ID=gene:{gene.gene_id};Name={gene.name};biotype={gene.biotype};"
                f"description=synthetic gene {gene.name};gene_id={gene.gene_id};"
                "logic_name=synthetic;version=1",
            )
        )
        for tx in gene.transcripts:
            ttype = GFF3_TRANSCRIPT_TYPE.get(tx.biotype, "transcript")
            tags = f";tag={','.join(tx.tags)}" if tx.tags else ""
            canonical = ";Ensembl_canonical=1" if "Ensembl_canonical" in tx.tags else ""
            lines.append(
                row(
                    ttype,
                    tx.start,
                    tx.end,
                    f"ID=transcript:{tx.transcript_id};Parent=gene:{gene.gene_id};"
                    f"Name={tx.name};biotype={tx.biotype}{tags}{canonical};"
                    f"transcript_id={tx.transcript_id};version=1",
                )
            )
            parent = f"Parent=transcript:{tx.transcript_id}"
            feats: list[tuple[int, int, str]] = []
            phases = _exon_phases(tx, strand)
            n = len(tx.exons)
            for k, (s, e) in enumerate(tx.exons):
                rank = k + 1 if strand == "+" else n - k
                ex_id = f"SYNE{int(tx.transcript_id[4:]):08d}{rank:03d}"
                ph, end_ph = phases[k]
                feats.append(
                    (
                        s,
                        0,
                        row(
                            "exon",
                            s,
                            e,
                            f"{parent};Name={ex_id};constitutive=0;ensembl_end_phase={end_ph};"
                            f"ensembl_phase={ph};exon_id={ex_id};rank={rank};version=1",
                        ),
                    )
                )
            if tx.cds is not None:
                pid = "SYNP" + tx.transcript_id[4:]
                for s, e, ph in _cds_segments(tx, strand):
                    feats.append(
                        (s, 1, row("CDS", s, e, f"ID=CDS:{pid};{parent};protein_id={pid}", str(ph)))
                    )
                utr5, utr3 = _utrs(tx, strand)
                for pieces, kind in ((utr5, "five_prime_UTR"), (utr3, "three_prime_UTR")):
                    for s, e in pieces:
                        feats.append((s, 2, row(kind, s, e, parent)))
            lines += [r for _s, _o, r in sorted(feats, key=lambda f: (f[0], f[1]))]
        lines.append("###")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


# --- variants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]

    @property
    def kind(self) -> str:
        alt = self.alts[0]
        if len(self.ref) == len(alt) == 1:
            return "snv"
        if len(self.ref) == len(alt):
            return "mnv"
        if len(alt) == 1 and alt[0] == self.ref[0]:
            return "deletion"
        if len(self.ref) == 1 and alt[0] == self.ref[0]:
            return "insertion"
        return "delins"


def _left_align(ref: Reference, chrom: str, pos: int, seq: str, insertion: bool) -> tuple[int, str]:
    """Shift an inserted or deleted ``seq`` (placed after base ``pos - 1``) to the left."""
    data = ref.chroms[chrom]
    while pos > 2:
        before = chr(data[pos - 2])
        if before == "N" or before != seq[-1]:
            break
        seq = before + seq[:-1]
        pos -= 1
    return pos, seq


def generate_variants(
    ref: Reference,
    n: int,
    seed: int = 1,
    *,
    genic_fraction: float = 0.6,
    kinds: Sequence[tuple[str, float]] = (
        ("snv", 0.80),
        ("deletion", 0.085),
        ("insertion", 0.075),
        ("mnv", 0.02),
        ("delins", 0.02),
    ),
    multiallelic_fraction: float = 0.01,
    max_indel: int = 12,
) -> list[Variant]:
    """``n`` random variants (fewer after removing duplicates), sorted, REF from the genome.

    ``genic_fraction`` of them fall in or within 12 bases of an exon (so that coding,
    UTR and splice consequences are common), the rest anywhere outside N runs. Insertions
    and deletions are left-aligned, as normalised VCFs have them.
    """
    rng = np.random.default_rng([seed, 7919])
    names = ref.chrom_names
    exons = [(g.chrom, s, e) for g, t in ref.transcripts() for s, e in t.exons]
    ex_chrom = np.array([names.index(c) for c, _, _ in exons], dtype=np.int64)
    ex_lo = np.array([s - 12 for _, s, _ in exons], dtype=np.int64)
    ex_len = np.array([e - s + 25 for _, s, e in exons], dtype=np.int64)
    lengths = np.array([ref.length(c) for c in names], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])

    genic = rng.random(n) < genic_fraction
    chrom_idx = np.empty(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    k = int(genic.sum())
    if exons and k:
        pick = rng.choice(len(exons), size=k, p=ex_len / ex_len.sum())
        chrom_idx[genic] = ex_chrom[pick]
        pos[genic] = ex_lo[pick] + (rng.random(k) * ex_len[pick]).astype(np.int64)
    else:
        genic[:] = False
    m = int((~genic).sum())
    flat = rng.integers(0, offsets[-1], size=m)
    ci = np.searchsorted(offsets, flat, side="right") - 1
    chrom_idx[~genic] = ci
    pos[~genic] = flat - offsets[ci] + 1
    kind_names = [k for k, _ in kinds]
    kind_p = np.array([w for _, w in kinds], dtype=float)
    kind_of = rng.choice(len(kinds), size=n, p=kind_p / kind_p.sum())
    sizes = np.minimum(rng.geometric(0.45, size=n), max_indel)
    multi = rng.random(n) < multiallelic_fraction
    base_draw = rng.integers(0, 4, size=(n, max_indel + 3))

    out: dict[tuple[str, int, str, tuple[str, ...]], Variant] = {}
    for i in range(n):
        chrom = names[int(chrom_idx[i])]
        data = ref.chroms[chrom]
        size_c = data.shape[0]
        p = int(pos[i])
        kind = kind_names[int(kind_of[i])]
        size = int(sizes[i])
        if p < 2 or p + size + 2 > size_c:
            continue
        draw = base_draw[i]
        if kind == "snv":
            r = chr(data[p - 1])
            if r == "N":
                continue
            alt_b = [b for b in BASES if b != r]
            alts = (alt_b[int(draw[0]) % 3],)
            if multi[i]:
                second = alt_b[(int(draw[0]) + 1 + int(draw[1]) % 2) % 3]
                alts = tuple(sorted({alts[0], second}))
            v = Variant(chrom, p, r, alts)
        elif kind == "mnv":
            size = max(2, min(size, 3))
            r = ref.fetch(chrom, p, p + size - 1)
            if "N" in r:
                continue
            alt = "".join(
                BASES[(BASES.index(c) + 1 + int(d) % 3) % 4] for c, d in zip(r, draw, strict=False)
            )
            v = Variant(chrom, p, r, (alt,))
        elif kind == "deletion":
            seq = ref.fetch(chrom, p, p + size - 1)
            if "N" in seq:
                continue
            p2, seq = _left_align(ref, chrom, p, seq, insertion=False)
            anchor = chr(data[p2 - 2])
            if anchor == "N":
                continue
            v = Variant(chrom, p2 - 1, anchor + seq, (anchor,))
        elif kind == "insertion":
            seq = "".join(BASES[int(d)] for d in draw[:size])
            if rng.random() < 0.3:  # a duplication of the bases that follow
                seq = ref.fetch(chrom, p, p + size - 1)
            if "N" in seq:
                continue
            p2, seq = _left_align(ref, chrom, p, seq, insertion=True)
            anchor = chr(data[p2 - 2])
            if anchor == "N":
                continue
            v = Variant(chrom, p2 - 1, anchor, (anchor + seq,))
        else:  # delins: replace 1–3 bases by 1–4 others, differing at both ends
            rlen = 1 + int(draw[0]) % 3
            alen = 1 + int(draw[1]) % 4
            if rlen == alen:
                alen += 1
            r = ref.fetch(chrom, p, p + rlen - 1)
            if "N" in r:
                continue
            alt = "".join(BASES[int(d)] for d in draw[2 : 2 + alen])
            if alt[0] == r[0] or alt[-1] == r[-1]:
                continue
            v = Variant(chrom, p, r, (alt,))
        key = (v.chrom, v.pos, v.ref, v.alts)
        out.setdefault(key, v)
    order = {c: i for i, c in enumerate(names)}
    return sorted(out.values(), key=lambda v: (order[v.chrom], v.pos, v.ref, v.alts))


def write_vcf(
    ref: Reference,
    variants: Sequence[Variant],
    path: Path,
    samples: int = 0,
    seed: int = 1,
    *,
    compress: bool = False,
) -> Path:
    """A VCF 4.2 of ``variants``: sites-only, or with ``samples`` columns of unphased GTs.

    With ``compress`` (and ``bgzip`` installed) also ``path.gz`` with a tabix index.
    """
    rng = np.random.default_rng([seed, samples, 104729])
    n = len(variants)
    head = [
        "##fileformat=VCFv4.2",
        f"##source=gas.annotation.synthetic seed={ref.seed}",
        f"##reference=file://{ref.name}.fa",
    ]
    head += [f"##contig=<ID={c},length={ref.length(c)}>" for c in ref.chrom_names]
    head.append('##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">')
    cols = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    gt_rows: np.ndarray | None = None
    if samples:
        head.append('##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">')
        head.append('##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">')
        head.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
        cols += ["FORMAT"] + [f"S{i + 1:04d}" for i in range(samples)]
        freq = np.clip(rng.beta(0.4, 2.5, size=n), 0.002, 0.999)
        u = rng.random((n, samples))
        q = freq[:, None]
        code = np.where(u < (1 - q) ** 2, 0, np.where(u < (1 - q) ** 2 + 2 * q * (1 - q), 1, 2))
        code[rng.random((n, samples)) < 0.01] = 3  # missing
        table = np.frombuffer(b"0/0\t0/1\t1/1\t./.\t", dtype=np.uint8).reshape(4, 4)
        gt_rows = table[code].reshape(n, samples * 4)
        ac = (np.where(code == 3, 0, code)).sum(axis=1)
        an = 2 * (code != 3).sum(axis=1)
    dp = rng.integers(8, 120, size=n)
    with open(path, "w", encoding="ascii", newline="\n") as out:
        out.write("\n".join(head) + "\n" + "\t".join(cols) + "\n")
        buf = []
        for i, v in enumerate(variants):
            alts = ",".join(v.alts)
            if gt_rows is None:
                buf.append(f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{alts}\t50\tPASS\tDP={dp[i]}\n")
            else:
                ac_s = ",".join([str(int(ac[i]))] * len(v.alts))
                gts = gt_rows[i].tobytes()[:-1].decode("ascii")
                buf.append(
                    f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{alts}\t50\tPASS\t"
                    f"DP={dp[i]};AC={ac_s};AN={an[i]}\tGT\t{gts}\n"
                )
            if len(buf) >= 4096:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
    if compress and shutil.which("bgzip"):
        gz = Path(f"{path}.gz")
        with open(gz, "wb") as fh:
            subprocess.run(["bgzip", "-c", str(path)], stdout=fh, check=True)
        if shutil.which("tabix"):
            subprocess.run(["tabix", "-f", "-p", "vcf", str(gz)], check=True)
    return path


def vcf_name(samples: int) -> str:
    return "variants.vcf" if samples == 0 else f"variants.{samples}-samples.vcf"


def write_reference(ref: Reference, out: Path, *, gencode_gtf: bool = False) -> dict[str, Path]:
    """FASTA (+ indexes, + bgzip when available), GTF and GFF3 of ``ref`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "fasta": write_fasta(ref, out / "genome.fa"),
        "gtf": write_gtf(ref, out / "genes.gtf"),
        "gff3": write_gff3(ref, out / "genes.gff3"),
    }
    if gencode_gtf:
        files["gtf_gencode"] = write_gtf(ref, out / "genes.gencode.gtf", style="gencode")
    gz = bgzip_fasta(files["fasta"])
    if gz is not None:
        files["fasta_bgzip"] = gz
    return files


def describe(ref: Reference) -> dict[str, object]:
    """Counts of what a reference holds (for manifests and reports)."""
    tx_bio = Counter(t.biotype for _, t in ref.transcripts())
    overlapping = 0
    antisense = 0
    by_chrom: dict[str, list[Gene]] = {}
    for g in ref.genes:
        by_chrom.setdefault(g.chrom, []).append(g)
    for genes in by_chrom.values():
        for a, b in zip(genes, genes[1:], strict=False):
            if b.start <= a.end:
                overlapping += 1
                antisense += a.strand != b.strand
    return {
        "name": ref.name,
        "seed": ref.seed,
        "chromosomes": {c: ref.length(c) for c in ref.chrom_names},
        "n_bases": int(sum(int((s == ord("N")).sum()) for s in ref.chroms.values())),
        "genes": len(ref.genes),
        "genes_by_biotype": dict(Counter(g.biotype for g in ref.genes)),
        "genes_by_strand": dict(Counter(g.strand for g in ref.genes)),
        "transcripts": sum(tx_bio.values()),
        "transcripts_by_biotype": dict(tx_bio),
        "overlapping_gene_pairs": overlapping,
        "antisense_overlapping_pairs": antisense,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.support.synthetic",
        description="Write a synthetic reference (FASTA, GTF, GFF3) and random VCFs.",
    )
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--genome-mb", type=float, default=6.0)
    ap.add_argument("--genes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chromosomes", type=int, default=None)
    ap.add_argument("--chr-prefix", action="store_true", help="name chromosomes chr1, chr2, …")
    ap.add_argument("--variants", type=int, default=10_000)
    ap.add_argument(
        "--samples",
        type=int,
        nargs="+",
        default=[0],
        help="genotype columns (0 = sites-only); several values write several VCFs",
    )
    ap.add_argument("--gencode-gtf", action="store_true", help="also write genes.gencode.gtf")
    ap.add_argument("--compress", action="store_true", help="also bgzip + tabix the VCFs")
    args = ap.parse_args(argv)

    ref = generate_reference(
        args.genome_mb,
        args.genes,
        args.seed,
        chromosomes=args.chromosomes,
        chr_prefix=args.chr_prefix,
    )
    files = write_reference(ref, args.out, gencode_gtf=args.gencode_gtf)
    variants = generate_variants(ref, args.variants, seed=args.seed)
    for s in args.samples:
        files[f"vcf_{s}"] = write_vcf(
            ref, variants, args.out / vcf_name(s), s, args.seed, compress=args.compress
        )
    manifest = {
        "generator": "tests.support.synthetic",
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "reference": describe(ref),
        "variants": len(variants),
        "variants_by_kind": dict(Counter(v.kind for v in variants)),
        "files": {k: p.name for k, p in files.items()},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for p in files.values():
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
