"""Transcript-level annotation of a chunk of records against a reference bundle.

Per chunk (parsed and checked by vcf/records.py): every ALT allele is checked against the
genome (REF mismatch → a warning, not an error) and normalized; all alleles are looked up at
once in the transcripts' interval index (numpy); then each (allele, transcript) pair gets its
effect (consequences/), and the record is written with ``ANN`` (and optionally ``CSQ``),
known-variant matches and TSV rows, whose text output/ makes from the effects.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kernel
from ..consequences import so
from ..consequences.effect import Allele, TxEffect
from ..consequences.normalize import normalize
from ..output.ann import (
    ANN_HEADER,
    ERROR_CHROMOSOME_NOT_FOUND,
    WARNING_REF,
    TxLabels,
    escape,
)
from ..output.csq import CSQ_HEADER
from ..output.tsv import tsv_header, tsv_row
from ..output.vcf_writer import (
    LIFT_INFO_KEYS,
    OUR_INFO_HEADERS,
    InfoKeys,
    annotated_info,
    with_ids,
)
from ..reference.bundle import Bundle
from ..reference.intervals import IntervalIndex
from ..reference.knownvars import allele_hash
from ..reference.transcripts import CANONICAL, MANE, TxModel
from ..vcf import alleles as al
from ..vcf.header import normalize_assembly
from ..vcf.records import RSID_RE, Chunk
from .protocol import ChunkOutput

MODEL_CACHE = 20_000
_V3_DEL = re.compile(r"D(\d+)")
_V3_INS = re.compile(r"I([ACGTNacgtn]+)")


@dataclass
class TxOptions:
    csq: bool = False
    #: TSV rows: one per allele (its most severe consequence), or per allele and transcript
    tsv: bool = False
    per_transcript: bool = False


@dataclass
class TxStats:
    """The transcript level's own counters (of a chunk, or of the run: see :meth:`merge`)."""

    by_consequence: Counter[str] = field(default_factory=Counter)
    by_impact: Counter[str] = field(default_factory=Counter)
    by_location: Counter[str] = field(default_factory=Counter)
    known_by_source: Counter[str] = field(default_factory=Counter)
    known_alleles: int = 0
    known_records: int = 0
    ref_mismatches: int = 0

    def merge(self, other: TxStats) -> None:
        self.by_consequence.update(other.by_consequence)
        self.by_impact.update(other.by_impact)
        self.by_location.update(other.by_location)
        self.known_by_source.update(other.known_by_source)
        self.known_alleles += other.known_alleles
        self.known_records += other.known_records
        self.ref_mismatches += other.ref_mismatches


@dataclass(slots=True)
class _Hit:
    """One ANN/CSQ entry: a transcript's effect, or an intergenic one (tx is None)."""

    effect: TxEffect
    tx: TxModel | None = None
    near: str = ""  # intergenic: nearest gene names / ids
    near_ids: str = ""


@dataclass(slots=True)
class _Query:
    allele: Allele | None
    flags: list[str] = field(default_factory=list)
    csq_allele: str = ""
    hits: list[_Hit] = field(default_factory=list)
    known_ids: list[str] = field(default_factory=list)
    known_values: dict[str, str] = field(default_factory=dict)


class TranscriptAnnotator:
    """Consequences on every transcript from a reference bundle (an
    :class:`~.protocol.Annotator`)."""

    level = "transcript"
    no_contig_code = -1

    def __init__(self, bundle: Bundle, options: TxOptions) -> None:
        self.bundle = bundle
        self.contig_code = bundle.aliases.code
        self.options = options
        self.reference_name = bundle.description
        self.reference_short = f"reference bundle {bundle.name}"
        self.assembly_used = normalize_assembly(bundle.assembly)
        known = bundle.known
        self.known_keys = known.info_keys if known is not None else []
        self.has_bands = bundle.cytobands is not None
        keys = ["VC", "TITV", "GENE", "ANN", "CSQ", *LIFT_INFO_KEYS]
        keys += [k for k, _, _ in self.known_keys]
        if self.has_bands:
            keys.append("CYTOBAND")
        self.info_keys = tuple(keys)
        self.keys = InfoKeys(self.info_keys)
        headers = [
            h
            for h in OUR_INFO_HEADERS
            if "ID=ANN" not in h and ("ID=CYTOBAND" not in h or self.has_bands)
        ]
        headers = [h.replace("(GAS, GRCh38 gene table)", f"(GAS, {bundle.name})") for h in headers]
        headers.append(ANN_HEADER)
        if options.csq:
            headers.append(CSQ_HEADER)
        for key, label, fieldname in self.known_keys:
            headers.append(
                f'##INFO=<ID={key},Number=A,Type=String,Description="{fieldname} of the '
                f'matching {label} variant, for each ALT allele (GAS, {bundle.name})">'
            )
        self.info_headers = headers
        self.models: dict[int, TxModel] = {}
        #: per-transcript text for the writers
        self.labels = TxLabels(bundle)
        #: (upstream?, distance) -> its TxEffect (at most 2 x 5,001 of them)
        self._flank_effects: dict[tuple[bool, int], TxEffect] = {}
        #: transcripts whose flags the results store has been given
        self._store_tx: dict[int, None] = {}
        self.index: IntervalIndex = bundle.tx_index
        #: the hot path: compiled kernel or Python reference (GAS_ENGINE_KERNEL, kernel.py)
        self.path = kernel.select()
        self._pair_hits = self.path.pair_hits if self.path.pair_hits is not None else pair_hits
        self.tx_order = self.index.order
        #: the run's counters (chunks' counters are merged into them)
        self.stats = TxStats()

    def tsv_header(self) -> str:
        """The TSV's column line."""
        return tsv_header([k for k, _, _ in self.known_keys])

    def header_lines(self) -> list[str]:
        return [f"##GAS_refdata={self.bundle.identity}"]

    def merge_stats(self, stats: Any) -> None:
        if stats is not None:
            self.stats.merge(stats)

    def detail(self) -> dict[str, object]:
        s = self.stats
        return {
            "by_consequence": {t: s.by_consequence[t] for t, _ in so.TERMS if s.by_consequence[t]},
            "by_impact": {i: s.by_impact[i] for i in so.IMPACTS},
            "by_location": {loc: s.by_location[loc] for loc in so.LOCATIONS},
            "known_records": s.known_records,
            "known_alleles": s.known_alleles,
            "known_by_source": dict(s.known_by_source),
            "ref_mismatches": s.ref_mismatches,
        }

    # ---------------------------------------------------------------- a chunk

    def annotate(self, chunk: Chunk, out: ChunkOutput) -> None:
        if not chunk.records:
            return
        stats = out.stats = TxStats()
        if self.path.alleles is not None:
            queries = self.path.alleles(self, chunk, out, stats, _Query, _ALLELE_HELPERS)
        else:
            queries = self._alleles(chunk, out, stats)
        self._overlaps(queries)
        if self.bundle.known is not None:
            self._known(queries, stats)
        bands = None
        if self.has_bands:
            first = chunk.first_q[:-1]
            codes = np.array([chunk.q_code[q] for q in first], dtype=np.int64)
            pos = np.array([int(parts[1]) for parts in chunk.records], dtype=np.int64)
            bands = self.bundle.bands_at(codes, pos)
        self._write(chunk, queries, bands, out, stats)

    def _alleles(self, chunk: Chunk, out: ChunkOutput, stats: TxStats) -> list[_Query]:
        genome = self.bundle.genome
        fetch = genome.fetch
        lengths = genome.lengths
        queries: list[_Query] = []
        add = queries.append
        first_q = chunk.first_q
        v3 = chunk.vcf_v3
        for r, parts in enumerate(chunk.records):
            q0, q1 = first_q[r], first_q[r + 1]
            pos = int(parts[1])
            ref = parts[3].upper()
            alts = parts[4].split(",") if q1 - q0 > 1 else (parts[4],)
            ref_checked: bool | None = None
            for a_index, q in enumerate(range(q0, q1)):
                alt_text = chunk.q_allele[q]
                code = chunk.q_code[q]
                if alt_text is None:
                    add(_Query(None))
                    continue
                if code < 0:
                    add(_Query(Allele(-1, pos, pos, "", ""), csq_allele=alt_text))
                    continue
                vclass = chunk.q_class[q]
                if vclass == al.SYMBOLIC:
                    kind = al.symbolic_kind(alts[a_index] if a_index < len(alts) else alt_text)
                    allele = Allele(
                        code, chunk.q_start[q], chunk.q_end[q], "", "", kind="sv", sv_type=kind
                    )
                    add(_Query(allele, csq_allele=alt_text))
                    continue
                flags: list[str] = []
                alt = alt_text.upper()
                r_seq = ref
                if v3 and (m := _V3_DEL.fullmatch(alt_text)):
                    n = int(m.group(1))
                    r_seq = fetch(code, pos, pos + n)
                    alt = r_seq[:1]
                elif v3 and (m := _V3_INS.fullmatch(alt_text)):
                    alt = ref[:1] + m.group(1).upper()
                    r_seq = ref[:1]
                else:
                    if ref_checked is None:
                        genome_ref = fetch(code, pos, pos + len(ref) - 1)
                        ref_checked = genome_ref == ref or _iupac_equal(genome_ref, ref)
                        if pos + len(ref) - 1 > lengths[code]:
                            ref_checked = False
                        if not ref_checked:
                            stats.ref_mismatches += 1
                            out.tally.warnings.count(
                                "{n} record(s) have a REF that does not match the reference "
                                f"genome of {self.bundle.name} (first at line {{line}}); they "
                                "were annotated as given, with "
                                f"{WARNING_REF} in ANN",
                                chunk.line_no[r],
                            )
                    if not ref_checked:
                        flags.append(WARNING_REF)
                core_r, core_a, off = al.trim(r_seq, alt)
                csq_allele = core_a or "-"
                if ref_checked is False or (len(core_r) == len(core_a)):
                    # substitutions need no alignment; nor does a change whose REF is not
                    # the genome's (the sequence around it is not what the input says)
                    start, tref, talt = pos + off, core_r, core_a
                else:
                    start, tref, talt = normalize(genome, code, pos, r_seq, alt)
                allele = Allele(code, start, start + len(tref) - 1, tref, talt)
                add(_Query(allele, flags, csq_allele))
        return queries

    def _overlaps(self, queries: list[_Query]) -> None:
        """Every allele against every transcript (and its 5 kb flanks) at once."""
        idx = [i for i, q in enumerate(queries) if q.allele is not None and q.allele.code >= 0]
        if idx:
            alleles = [queries[i].allele for i in idx]
            codes = np.fromiter((a.code for a in alleles), np.int64, len(alleles))  # type: ignore[union-attr]
            lo = np.fromiter((min(a.start, a.end) for a in alleles), np.int64, len(alleles))  # type: ignore[union-attr]
            hi = np.fromiter((max(a.start, a.end) for a in alleles), np.int64, len(alleles))  # type: ignore[union-attr]
            qs, qe = IntervalIndex.global_coords(codes, lo, hi)
            qi, ti = self.index.overlaps(qs, qe)
            bounds = np.searchsorted(qi, np.arange(len(idx) + 1)).tolist()
            tx_hits = self.tx_order[ti].tolist()
        else:
            bounds, tx_hits, codes, qs, qe = [0], [], None, None, None
        no_hits = self._pair_hits(self, queries, idx, bounds, tx_hits, _Hit, MODEL_CACHE)
        if no_hits:
            self._intergenic([queries[idx[j]] for j in no_hits])
        for q in queries:
            if q.allele is not None and q.allele.code < 0:
                q.hits = [_Hit(TxEffect(so.BIT[so.INTERGENIC], flags=[ERROR_CHROMOSOME_NOT_FOUND]))]

    def _intergenic(self, queries: list[_Query]) -> None:
        bundle = self.bundle
        index = bundle.gene_index
        codes = np.array([q.allele.code for q in queries], dtype=np.int64)  # type: ignore[union-attr]
        lo = np.array([min(q.allele.start, q.allele.end) for q in queries], dtype=np.int64)  # type: ignore[union-attr]
        hi = np.array([max(q.allele.start, q.allele.end) for q in queries], dtype=np.int64)  # type: ignore[union-attr]
        qs, qe = IntervalIndex.global_coords(codes, lo, hi)
        left, right = index.flanks(codes, qs, qe)
        order = index.order
        for k, q in enumerate(queries):
            lg, rg = int(left[k]), int(right[k])
            names: list[str] = []
            ids: list[str] = []
            distance = None
            best = None
            for g, d in (
                (lg, int(qs[k] - index.end[lg]) if lg >= 0 else 0),
                (rg, int(index.start[rg] - qe[k]) if rg >= 0 else 0),
            ):
                if g < 0:
                    continue
                gi = int(order[g])
                names.append(escape(bundle.gene_name[gi].decode()))
                ids.append(escape(bundle.gene_id[gi].decode()))
                if best is None or d < best:
                    best, distance = d, d
            q.hits = [
                _Hit(
                    TxEffect(so.BIT[so.INTERGENIC], distance=distance),
                    None,
                    "-".join(names),
                    "-".join(ids),
                )
            ]

    def _known(self, queries: list[_Query], stats: TxStats) -> None:
        known = self.bundle.known
        assert known is not None
        idx = [
            i
            for i, q in enumerate(queries)
            if q.allele is not None and q.allele.code >= 0 and q.allele.kind == "seq"
        ]
        if not idx:
            return
        keys = np.array(
            [(queries[i].allele.code << 32) | queries[i].allele.start for i in idx],  # type: ignore[union-attr]
            dtype=np.int64,
        )
        hashes = [allele_hash(queries[i].allele.ref, queries[i].allele.alt) for i in idx]  # type: ignore[union-attr]
        for j, matches in enumerate(known.lookup(keys, hashes)):
            if not matches:
                continue
            q = queries[idx[j]]
            stats.known_alleles += 1
            for source, row in matches:
                stats.known_by_source[source.label] += 1
                ident = source.ids.get(row)
                for one in ident.split(";") if ident else ():
                    if one and one not in q.known_ids:
                        q.known_ids.append(one)
                for fieldname in source.fields:
                    value = source.values[fieldname].get(row)
                    if value:
                        q.known_values.setdefault(f"{source.label}_{fieldname}", value)

    # ---------------------------------------------------------------- writing

    def _write(
        self,
        chunk: Chunk,
        queries: list[_Query],
        bands: list[str] | None,
        out: ChunkOutput,
        stats: TxStats,
    ) -> None:
        first_q = chunk.first_q
        emit = out.vcf.append
        keys = self.keys
        warnings = out.tally.warnings
        may_have_our_keys = keys.any_in(chunk.records)
        csq = self.options.csq
        tsv = self.options.tsv
        tsv_rows = out.tsv
        known_keys = self.known_keys
        genic = 0
        labels = self.labels
        bundle = self.bundle
        lifts = chunk.lifts
        rows = out.rows
        seen_tx = self._store_tx
        entry_of = self.path.effect_entry
        csq_of = self.path.csq_entry
        entries_of = self.path.allele_entries or allele_entries
        for r, parts in enumerate(chunk.records):
            q0, q1 = first_q[r], first_q[r + 1]
            row0 = len(rows) if rows is not None else 0
            lift = lifts[r] if lifts is not None else None
            if lift is not None and lift[0] is not None:
                parts[0], parts[1], parts[3], parts[4] = lift[0]  # the input's own position
            ann: list[str] = []
            csq_entries: list[str] = []
            genes: dict[str, None] = {}
            best_rank = len(so.TERMS)
            record_ids: list[str] = []
            for q in range(q0, q1):
                query = queries[q]
                allele_text = chunk.q_allele[q]
                if allele_text is None or query.allele is None:
                    continue
                allele_esc = escape(allele_text)
                existing = "&".join(query.known_ids)
                for one in query.known_ids:
                    if one not in record_ids:
                        record_ids.append(one)
                hits = query.hits
                top = hits[0].effect
                top_term = so.most_severe(top.terms)
                stats.by_consequence[top_term] += 1
                stats.by_impact[so.IMPACT[top_term]] += 1
                best_rank = min(best_rank, top.rank)
                base = len(ann)
                ann += entries_of(allele_esc, hits, query.flags, labels, genes, entry_of)
                for i, hit in enumerate(hits) if rows is not None or csq else ():
                    tx = hit.tx
                    if rows is not None:
                        if hit.effect.exon > 0:  # the entry's rank is an exon's
                            rows.exon_rows.append(row0 + base + i)
                        if tx is not None and tx.index not in seen_tx:
                            seen_tx[tx.index] = None
                            rows.tx_flags[tx.tx_id] = (
                                bool(tx.flags & CANONICAL),
                                bool(tx.flags & MANE),
                                tx.coding,
                            )
                    if csq:
                        csq_entries.append(
                            csq_of(query.csq_allele, hit.effect, tx, existing, labels)
                        )
                if rows is not None:
                    rows.add_allele(q, len(hits), existing, query.known_values)
                if tsv:
                    chosen = hits if self.options.per_transcript else hits[:1]
                    known_row = [query.known_values.get(k, "") for k, _, _ in known_keys]
                    for hit in chosen:
                        tx = hit.tx
                        gene = (
                            (bundle.gene_name[tx.gene].decode(), bundle.gene_id[tx.gene].decode())
                            if tx is not None
                            else (hit.near, hit.near_ids)
                        )
                        tsv_rows.append(
                            tsv_row(parts, allele_text, hit.effect, tx, gene, existing, known_row)
                        )
            if genes:
                genic += 1
            if ann:
                stats.by_location[so.LOCATION_OF[so.TERMS[best_rank][0]]] += 1
            known: list[tuple[str, list[str]]] = []
            if known_keys:
                per_allele = [queries[q].known_values for q in range(q0, q1)]
                for key, _, _ in known_keys:
                    if any(key in v for v in per_allele):
                        known.append((key, [v.get(key, ".") for v in per_allele]))
            ident = parts[2]
            if record_ids or RSID_RE.search(ident):
                stats.known_records += 1
            if record_ids:
                parts[2] = with_ids(ident, record_ids)
            info = parts[7]
            if may_have_our_keys:
                info = keys.cleaned(info, chunk.line_no[r], warnings)
            if rows is not None:
                rows.add_record(ann, chunk, r, lift)
            parts[7] = annotated_info(
                info,
                chunk.q_class[q0:q1],
                chunk.q_titv[q0:q1],
                lift[1] if lift is not None else None,
                list(genes),
                bands[r] if bands is not None else "",
                ann,
                csq_entries,
                known,
            )
            emit("\t".join(parts))
        out.tally.add_chunk(chunk, genic)


def allele_entries(
    allele_esc: str,
    hits: list[_Hit],
    flags: list[str],
    labels: TxLabels,
    genes: dict[str, None],
    entry_of: Callable[..., str],
) -> list[str]:
    """The ANN entries of one allele's hits; the genes it lies in (not only near) are added to
    ``genes``. The reference of the compiled ``output._format.allele_entries``."""
    flank_terms = (so.UPSTREAM, so.DOWNSTREAM)
    entries = []
    for hit in hits:
        tx = hit.tx
        if tx is not None and so.most_severe(hit.effect.terms) not in flank_terms:
            genes[labels.gene_name(tx)] = None
        entries.append(entry_of(allele_esc, hit.effect, tx, flags, labels, hit.near, hit.near_ids))
    return entries


def pair_hits(
    annotator: TranscriptAnnotator,
    queries: list[_Query],
    idx: list[int],
    bounds: list[int],
    tx_hits: list[int],
    hit_cls: type[_Hit],
    model_cache: int,
) -> list[int]:
    """Every (allele, transcript) pair of a chunk: each query's hits, most severe first;
    returns the positions in ``idx`` of the queries with no transcript. The reference of the
    compiled ``consequences._kernel.pair_hits``."""
    effect_of = annotator.path.transcript_effect
    no_hits: list[int] = []
    models = annotator.models
    upstream, downstream = so.BIT[so.UPSTREAM], so.BIT[so.DOWNSTREAM]
    flanks = annotator._flank_effects
    flank_get = flanks.get
    for j, i in enumerate(idx):
        query = queries[i]
        allele = query.allele
        assert allele is not None
        a_start, a_end = allele.start, allele.end
        hits = []
        for t in tx_hits[bounds[j] : bounds[j + 1]]:
            model = models.get(t)
            if model is None:
                if len(models) >= model_cache:
                    models.clear()
                    annotator.labels.clear()
                model = models[t] = TxModel(annotator.bundle, t)
            # up- or downstream (most pairs are these, so decided here); such
            # effects are never changed after this, so equal ones are shared
            if a_end < model.start:
                key = (model.strand > 0, model.start - a_end)
                effect = flank_get(key)
                if effect is None:
                    effect = flanks[key] = TxEffect(
                        upstream if key[0] else downstream, distance=key[1]
                    )
            elif a_start > model.end:
                key = (model.strand < 0, a_start - model.end)
                effect = flank_get(key)
                if effect is None:
                    effect = flanks[key] = TxEffect(
                        upstream if key[0] else downstream, distance=key[1]
                    )
            else:
                effect = effect_of(model, allele)
            hits.append(hit_cls(effect, model))
        if hits:
            if len(hits) > 1:
                hits.sort(key=_hit_order)
            query.hits = hits
        else:
            no_hits.append(j)
    return no_hits


def _hit_order(hit: _Hit) -> tuple[int, tuple[int, int, int]]:
    tx = hit.tx
    rank = so.top_rank(hit.effect.terms)
    if tx is None:
        return (rank, (0, 0, 0))
    return (rank, tx.order_key)


def _iupac_equal(genome: str, ref: str) -> bool:
    """REF matches if they differ only where either has an ambiguity code."""
    if len(genome) != len(ref):
        return False
    return all(
        g == r or g not in "ACGT" or r not in "ACGT" for g, r in zip(genome, ref, strict=True)
    )


#: the pieces of :meth:`TranscriptAnnotator._alleles` the compiled kernel's version uses too
_ALLELE_HELPERS = (_V3_DEL, _V3_INS, _iupac_equal, WARNING_REF, normalize, Allele, al)
