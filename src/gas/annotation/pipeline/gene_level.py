"""Gene-level annotation: every allele of a chunk looked up in the built-in GRCh38 gene table
at once (numpy), then each record written with ``GENE``, ``CYTOBAND`` and an ``ANN`` entry
per gene (``intragenic_variant``) or for the nearest genes (``intergenic_variant``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..output.ann import (
    ERROR_CHROMOSOME_NOT_FOUND,
    escape,
    genic_prefix,
    genic_tail,
    intergenic_prefix,
    intergenic_tail,
)
from ..output.vcf_writer import OUR_INFO_HEADERS, OUR_INFO_KEYS, InfoKeys, annotated_info
from ..reference.genes import ASSEMBLY, REFERENCE_NAME, REFERENCE_SHORT, GeneTable
from ..reference.intervals import IntervalIndex
from ..vcf.records import Chunk
from .protocol import ChunkOutput


@dataclass
class _Lookup:
    """Gene lookup results of a chunk, as lists (per query unless said)."""

    bounds: list[int]  # genes of query q: genes[bounds[q]:bounds[q + 1]]
    genes: list[int]
    left: list[int]  # nearest gene on the left of an intergenic query, or -1
    right: list[int]
    left_dist: list[int]
    right_dist: list[int]


@lru_cache(maxsize=4)
def _genic_tails(genes: GeneTable) -> list[str]:
    """ANN fields 4–16 of a variant inside each gene of a table (made once per table)."""
    biotypes = {b: escape(b) for b in set(genes.biotype)}
    return [
        genic_tail(sym, gid, biotypes[bt])
        for sym, gid, bt in zip(genes.symbol, genes.gene_id, genes.biotype, strict=True)
    ]


class GeneAnnotator:
    """Gene names from a :class:`GeneTable` (an :class:`~.protocol.Annotator`)."""

    level = "gene"
    reference_name = REFERENCE_NAME
    reference_short = REFERENCE_SHORT
    assembly_used = ASSEMBLY
    info_keys: tuple[str, ...] = OUR_INFO_KEYS
    info_headers: list[str] = OUR_INFO_HEADERS

    def __init__(self, genes: GeneTable) -> None:
        self.genes = genes
        self.no_contig_code = genes.no_genes_code
        self.contig_code = genes.code_for
        self.keys = InfoKeys(self.info_keys)
        #: ANN fields 4–16 of a variant inside each gene
        self._genic_tail = _genic_tails(genes)
        self._genic_prefix: dict[str, str] = {}
        self._intergenic_prefix: dict[str, str] = {}

    def header_lines(self) -> list[str]:
        return []

    def detail(self) -> dict[str, object] | None:
        return None

    def merge_stats(self, stats: Any) -> None:
        """The gene level keeps no counters of its own."""

    def annotate(self, chunk: Chunk, out: ChunkOutput) -> None:
        if chunk.records:
            self._write_records(chunk, self._lookup(chunk), out)

    def _lookup(self, chunk: Chunk) -> _Lookup:
        """Every allele of the chunk against the gene table at once."""
        index = self.genes.index
        codes = np.array(chunk.q_code, dtype=np.int64)
        qs, qe = IntervalIndex.global_coords(
            codes, np.array(chunk.q_start, dtype=np.int64), np.array(chunk.q_end, dtype=np.int64)
        )
        qi, gi = index.overlaps(qs, qe)
        bounds = np.searchsorted(qi, np.arange(len(codes) + 1))
        left, right = index.flanks(codes, qs, qe)
        intergenic = bounds[1:] == bounds[:-1]
        has_left = intergenic & (left >= 0)
        has_right = intergenic & (right >= 0)
        left_dist = np.where(has_left, qs - index.end[np.maximum(left, 0)], -1)
        right_dist = np.where(has_right, index.start[np.maximum(right, 0)] - qe, -1)
        return _Lookup(
            bounds=bounds.tolist(),
            genes=gi.tolist(),
            left=np.where(has_left, left, -1).tolist(),
            right=np.where(has_right, right, -1).tolist(),
            left_dist=left_dist.tolist(),
            right_dist=right_dist.tolist(),
        )

    def _write_records(self, chunk: Chunk, found: _Lookup, out: ChunkOutput) -> None:
        genes = self.genes
        symbol = genes.symbol
        gene_id = genes.gene_id
        cytoband = genes.cytoband
        tails = self._genic_tail
        no_genes = genes.no_genes_code
        genic_prefixes = self._genic_prefix
        inter_prefixes = self._intergenic_prefix
        bounds = found.bounds
        gene_hits = found.genes
        left_l = found.left
        right_l = found.right
        left_dist = found.left_dist
        right_dist = found.right_dist
        records = chunk.records
        first_q = chunk.first_q
        q_allele = chunk.q_allele
        q_class = chunk.q_class
        q_titv = chunk.q_titv
        q_code = chunk.q_code
        keys = self.keys
        warnings = out.tally.warnings
        may_have_our_keys = keys.any_in(records)
        emit = out.vcf.append
        genic = 0
        lifts = chunk.lifts
        rows = out.rows
        for r, parts in enumerate(records):
            q0 = first_q[r]
            q1 = first_q[r + 1]
            lift = lifts[r] if lifts is not None else None
            if lift is not None and lift[0] is not None:
                parts[0], parts[1], parts[3], parts[4] = lift[0]  # the input's own position
            ann: list[str] = []
            rec_genes: list[int] = []
            band = ""
            for q in range(q0, q1):
                b0 = bounds[q]
                b1 = bounds[q + 1]
                allele = q_allele[q]
                if b1 > b0:
                    hits = gene_hits[b0:b1]
                    if rec_genes:
                        rec_genes.extend(g for g in hits if g not in rec_genes)
                    else:
                        rec_genes = hits
                    if allele is not None:
                        prefix = genic_prefixes.get(allele)
                        if prefix is None:
                            prefix = genic_prefix(allele)
                            if len(genic_prefixes) < 10_000:
                                genic_prefixes[allele] = prefix
                        if b1 - b0 == 1:
                            ann.append(prefix + tails[hits[0]])
                        else:
                            ann.extend([prefix + tails[g] for g in hits])
                        if rows is not None:  # its entries: the record's ``ann`` (below)
                            rows.allele_q.append(q)
                            rows.allele_rows.append(b1 - b0)
                    continue
                lg = left_l[q]
                rg = right_l[q]
                if lg >= 0 and rg >= 0:
                    names = f"{symbol[lg]}-{symbol[rg]}"
                    ids = f"{gene_id[lg]}-{gene_id[rg]}"
                    ld = left_dist[q]
                    rd = right_dist[q]
                    if ld <= rd:
                        near, distance = lg, str(ld)
                    else:
                        near, distance = rg, str(rd)
                elif lg >= 0:
                    near, names, ids, distance = lg, symbol[lg], gene_id[lg], str(left_dist[q])
                elif rg >= 0:
                    near, names, ids, distance = rg, symbol[rg], gene_id[rg], str(right_dist[q])
                else:
                    near, names, ids, distance = -1, "", "", ""
                if near >= 0 and not band:
                    band = cytoband[near]
                if allele is not None:
                    prefix = inter_prefixes.get(allele)
                    if prefix is None:
                        prefix = intergenic_prefix(allele)
                        if len(inter_prefixes) < 10_000:
                            inter_prefixes[allele] = prefix
                    error = ERROR_CHROMOSOME_NOT_FOUND if q_code[q] == no_genes else ""
                    entry = prefix + intergenic_tail(names, ids, distance, error)
                    ann.append(entry)
                    if rows is not None:
                        rows.allele_q.append(q)
                        rows.allele_rows.append(1)
            gene_names: list[str] = []
            if rec_genes:
                genic += 1
                band = cytoband[rec_genes[0]]
                if len(rec_genes) == 1:
                    gene_names = [symbol[rec_genes[0]]]
                else:
                    gene_names = list(dict.fromkeys([symbol[g] for g in rec_genes]))
            info = parts[7]
            if may_have_our_keys:
                info = keys.cleaned(info, chunk.line_no[r], warnings)
            if rows is not None:
                rows.add_record(ann, chunk, r, lift)
            parts[7] = annotated_info(
                info,
                q_class[q0:q1],
                q_titv[q0:q1],
                lift[1] if lift is not None else None,
                gene_names,
                band,
                ann,
            )
            emit("\t".join(parts))
        out.tally.add_chunk(chunk, genic)
