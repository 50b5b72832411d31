"""The GRCh38 gene-level table that ships with GAS, loaded once per process.

Chromosome names from the input are normalised to the table's (``chr17`` → ``17``,
``chrM``/``M`` → ``MT``, RefSeq ``NC_000017.11`` → ``17``); names the table does not have
(MT, unplaced contigs, other species) map to a chromosome without genes.
"""

from __future__ import annotations

import gzip
import threading
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..output.ann import escape
from .contigs import PRIMARY_CHROMOSOMES, normalize_chrom
from .intervals import IntervalIndex

GENE_TABLE_FILE = "grch38-ncbi-genes.tsv.gz"
GENE_LOCI_FILE = "grch38-ncbi-gene-loci.tsv.gz"
REFERENCE_NAME = "GRCh38 gene table (NCBI Gene 2022-09-12; UCSC hg38 locations)"
REFERENCE_SHORT = "GRCh38 gene table (NCBI Gene 2022-09-12)"
ASSEMBLY = "GRCh38"


class GeneTable:
    """Genes as parallel columns, with an interval index for lookups.

    Gene ``i`` below means the i-th gene in index order (sorted by chromosome and start);
    every column is a list in that order.
    """

    def __init__(self, columns: dict[str, list[str] | list[int]], chromosomes: list[str]):
        self.chromosomes = chromosomes
        self.chrom_code = {name: i for i, name in enumerate(chromosomes)}
        #: code given to chromosomes the table has no genes for
        self.no_genes_code = len(chromosomes)
        codes = np.array([self.chrom_code[c] for c in columns["chrom"]], dtype=np.int64)
        self.index = IntervalIndex(
            codes,
            np.array(columns["start"], dtype=np.int64),
            np.array(columns["end"], dtype=np.int64),
        )
        order = self.index.order.tolist()

        def sort(name: str) -> list:  # type: ignore[type-arg]
            column = columns[name]
            return [column[i] for i in order]

        self.chrom: list[str] = sort("chrom")
        self.start: list[int] = sort("start")
        self.end: list[int] = sort("end")
        self.strand: list[str] = sort("strand")
        self.entrez_id: list[str] = sort("entrez_id")
        self.biotype: list[str] = sort("biotype")
        self.cytoband: list[str] = sort("cytoband")
        #: symbols and ids escaped for ANN (and safe in INFO)
        self.symbol: list[str] = [escape(v) for v in sort("symbol")]
        self.gene_id: list[str] = [escape(v) for v in sort("gene_id")]
        self._chrom_lock = threading.Lock()
        self._input_chrom_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.symbol)

    def code_for(self, input_chrom: str) -> int:
        """The chromosome code of an input CHROM value (``no_genes_code`` if unknown)."""
        code = self._input_chrom_codes.get(input_chrom)
        if code is None:
            code = self.chrom_code.get(normalize_chrom(input_chrom), self.no_genes_code)
            with self._chrom_lock:
                if len(self._input_chrom_codes) < 10_000:  # hostile inputs: bounded cache
                    self._input_chrom_codes[input_chrom] = code
        return code

    def find(self, symbol: str) -> list[int]:
        """Indices of the genes (loci) with this symbol."""
        return [i for i, s in enumerate(self.symbol) if s == symbol]


def _pick_cytoband(cytobands: str, chrom: str) -> str:
    """The band on this chromosome: rows of multi-locus genes list every locus's band.

    A band of another chromosome is not reported (it belongs to another copy of the gene).
    """
    n = len(chrom)
    for band in cytobands.split("|") if "|" in cytobands else (cytobands,):
        if band.startswith(chrom) and band[n : n + 1] in ("p", "q", "c", ""):
            return band
    return ""


def _read_rows(path_or_resource: Path | None, name: str) -> list[list[str]]:
    if path_or_resource is not None:
        raw = Path(path_or_resource).read_bytes()
    else:
        raw = resources.files("gas.annotation").joinpath("data", name).read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def load_gene_table(table_path: Path | None = None, loci_path: Path | None = None) -> GeneTable:
    """Read the gene table (and the loci that split multi-locus rows) into a GeneTable.

    Without arguments: the table shipped in ``data/``, with its loci file.
    """
    loci: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    if table_path is None or loci_path is not None:
        for chrom, start, end, strand, entrez in _read_rows(loci_path, GENE_LOCI_FILE):
            loci.setdefault((entrez, chrom, strand), []).append((int(start), int(end)))
    names = ("chrom", "start", "end", "strand", "entrez_id", "symbol")
    names += ("gene_id", "biotype", "cytoband")
    columns: dict[str, list] = {name: [] for name in names}  # type: ignore[type-arg]
    c_chrom, c_start, c_end, c_strand, c_entrez, c_symbol, c_gene_id, c_biotype, c_band = (
        columns[name].append for name in names
    )
    for row in _read_rows(table_path, GENE_TABLE_FILE):
        chrom, start, end, strand, entrez, symbol, _name, gene_type, cytobands, ensembl = row[:10]
        gene_id = ensembl.split("|", 1)[0] if ensembl else entrez
        band = _pick_cytoband(cytobands, chrom)
        spans = loci.get((entrez, chrom, strand)) or ((int(start), int(end)),)
        for s, e in spans:
            c_chrom(chrom)
            c_start(s)
            c_end(e)
            c_strand(strand)
            c_entrez(entrez)
            c_symbol(symbol)
            c_gene_id(gene_id)
            c_biotype(gene_type)
            c_band(band)
    present = set(columns["chrom"])
    chromosomes = [c for c in PRIMARY_CHROMOSOMES if c in present]
    chromosomes += sorted(present - set(chromosomes))
    return GeneTable(columns, chromosomes)


_load_lock = threading.Lock()


@cache
def _default_gene_table() -> GeneTable:
    return load_gene_table()


def default_gene_table() -> GeneTable:
    """The shipped GRCh38 table, loaded on first use and kept for the life of the process."""
    with _load_lock:
        return _default_gene_table()
