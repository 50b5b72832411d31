"""Transcript-level annotation of a chunk of records against a reference bundle.

Per chunk: the records are parsed and checked by the gene-level annotator's code; every ALT
allele is checked against the genome (REF mismatch → a warning, not an error) and
normalized; all alleles are looked up at once in the transcripts' interval index (numpy);
then each (allele, transcript) pair gets its consequences (consequence.py) and the record
is written with ``ANN`` (and optionally ``CSQ``), known-variant matches and a TSV row.
"""

from __future__ import annotations

import io
import multiprocessing
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from . import alleles as al
from . import so
from .ann import ANN_HEADER, ERROR_CHROMOSOME_NOT_FOUND, escape
from .bundle import Bundle
from .consequence import Allele, TxEffect, transcript_effect
from .engine import _RSID_RE, LIFT_INFO_KEYS, OUR_INFO_HEADERS, _Annotator, _Chunk
from .header import normalize_assembly
from .intervals import IntervalIndex
from .knownvars import allele_hash
from .limits import InputLimits
from .normalize import normalize
from .output.results_store import Rows, add_unannotated_rows, record_rows
from .output.results_store import allele_frequency as _allele_frequency
from .report import Counts, Warnings
from .transcripts import CANONICAL, CDS_END_NF, CDS_START_NF, MANE, TxModel

WARNING_REF = "WARNING_REF_DOES_NOT_MATCH_GENOME"
INFO_REALIGN = "INFO_REALIGN_3_PRIME"
WARNING_INCOMPLETE = "WARNING_TRANSCRIPT_INCOMPLETE"

CSQ_FIELDS = (
    "Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|"
    "HGVSp|cDNA_position|CDS_position|Protein_position|Amino_acids|Codons|Existing_variation|"
    "DISTANCE|STRAND|FLAGS|CANONICAL"
)
CSQ_HEADER = (
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations in the format '
    f'of Ensembl VEP (GAS). Format: {CSQ_FIELDS}">'
)
TSV_COLUMNS = (
    "CHROM",
    "POS",
    "ID",
    "REF",
    "ALT",
    "Allele",
    "Consequence",
    "IMPACT",
    "SYMBOL",
    "Gene",
    "Feature_type",
    "Feature",
    "BIOTYPE",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "DISTANCE",
    "STRAND",
    "Existing_variation",
)
MODEL_CACHE = 20_000
_V3_DEL = re.compile(r"D(\d+)")
_V3_INS = re.compile(r"I([ACGTNacgtn]+)")


@dataclass
class TxOptions:
    csq: bool = False
    tsv: TextIO | None = None
    per_transcript: bool = False
    #: processes annotating chunks (1: this one only)
    workers: int = 1


#: the annotator a worker process inherited (fork) from its parent
_WORKER: TranscriptAnnotator | None = None


def _work(lines: list[str], first_no: int) -> dict[str, object]:
    annotator = _WORKER
    assert annotator is not None
    annotator._start_chunk_stats()
    annotator._annotate_here(lines, first_no)
    return annotator._chunk_stats()


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


class _ContigCodes:
    """What the gene-level record parser needs from a reference: contig numbers."""

    def __init__(self, bundle: Bundle):
        self.code_for = bundle.aliases.code
        self.no_genes_code = -1


class TranscriptAnnotator(_Annotator):
    """The gene-level annotator's reading and checking, with transcript-level annotation."""

    level = "transcript"
    what_may_be_wrong = "annotations"

    def __init__(
        self,
        bundle: Bundle,
        limits: InputLimits,
        assembly: str | None,
        out: TextIO,
        options: TxOptions,
    ) -> None:
        super().__init__(_ContigCodes(bundle), limits, assembly, out)  # type: ignore[arg-type]
        self.bundle = bundle
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
        self.our_info_keys = tuple(keys)
        alternation = "|".join(re.escape(k) for k in keys)
        self._our_keys_re = re.compile(rf"(?:^|;)({alternation})(?:[=;]|$)")
        self._our_keys_re_m = re.compile(rf"(?:^|;)({alternation})(?:[=;]|$)", re.M)
        self._our_header_re = re.compile(rf"##(?:INFO=<ID=(?:{alternation}),|GAS_)")
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
        self.our_info_headers = headers
        self._pool: Any = None
        self._pool_failed = False
        self._pending: deque[Any] = deque()
        self.models: dict[int, TxModel] = {}
        self.tx_ann_tail: dict[int, str] = {}
        #: per transcript: ANN fields 4-8 with their separators, the incomplete-CDS
        #: warning (or ""), cDNA length, CDS length and protein length as text
        self._tx_ann: dict[int, tuple[str, str, str, str, str]] = {}
        #: (upstream?, distance) -> its TxEffect (at most 2 x 5,001 of them)
        self._flank_effects: dict[tuple[bool, int], TxEffect] = {}
        self._gene_names: dict[int, str] = {}
        #: transcripts whose flags the results store has been given
        self._store_tx: dict[int, None] = {}
        self.index: IntervalIndex = bundle.tx_index
        self.tx_order = self.index.order
        self.by_consequence: Counter[str] = Counter()
        self.by_impact: Counter[str] = Counter()
        self.by_location: Counter[str] = Counter()
        self.known_alleles = 0
        self.known_records = 0
        self.known_by_source: Counter[str] = Counter()
        self.ref_mismatches = 0
        if options.tsv is not None:
            options.tsv.write(
                "#" + "\t".join(TSV_COLUMNS + tuple(k for k, _, _ in self.known_keys)) + "\n"
            )

    def extra_header_lines(self) -> list[str]:
        return [f"##GAS_refdata={self.bundle.identity}"]

    def detail(self) -> dict[str, object]:
        return {
            "by_consequence": {
                t: self.by_consequence[t] for t, _ in so.TERMS if self.by_consequence[t]
            },
            "by_impact": {i: self.by_impact[i] for i in so.IMPACTS},
            "by_location": {loc: self.by_location[loc] for loc in so.LOCATIONS},
            "known_records": self.known_records,
            "known_alleles": self.known_alleles,
            "known_by_source": dict(self.known_by_source),
            "ref_mismatches": self.ref_mismatches,
        }

    # ---------------------------------------------------------------- workers

    def read(self, source, progress) -> None:  # type: ignore[no-untyped-def]
        try:
            super().read(source, progress)
        finally:
            self._close_pool()

    def _annotate_chunk(self, lines: list[str], first_no: int) -> None:
        if self.options.workers > 1 and self._pool is None and not self._pool_failed:
            self._open_pool()
        if self._pool is None:
            self._annotate_here(lines, first_no)
            return
        self._pending.append(self._pool.apply_async(_work, (lines, first_no)))
        while len(self._pending) > 2 * self.options.workers:
            self._merge(self._pending.popleft().get())

    def _flush(self) -> None:
        while self._pending:
            self._merge(self._pending.popleft().get())

    def _open_pool(self) -> None:
        global _WORKER
        try:
            context = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform: annotate here
            self._pool_failed = True
            return
        _WORKER = self
        try:
            self._pool = context.Pool(self.options.workers)
        finally:
            _WORKER = None

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is not None:
            pool.terminate()
            pool.join()

    def _start_chunk_stats(self) -> None:
        """In a worker: fresh outputs and counters for one chunk."""
        self.out = io.StringIO()
        self._worker_rows = Rows()
        if self.rows_sink is not None:
            self.rows_sink = self._worker_rows.extend
        if self.options.tsv is not None:
            self.options.tsv = io.StringIO()
        self.warnings = Warnings()
        self.counts = Counts()
        self._unknown_chroms = {}
        self.by_consequence = Counter()
        self.by_impact = Counter()
        self.by_location = Counter()
        self.known_by_source = Counter()
        self.known_alleles = self.known_records = self.ref_mismatches = 0

    def _chunk_stats(self) -> dict[str, object]:
        tsv = self.options.tsv
        return {
            "text": self.out.getvalue(),  # type: ignore[attr-defined]
            "tsv": tsv.getvalue() if tsv is not None else "",  # type: ignore[attr-defined]
            "counts": self.counts,
            "once": self.warnings._once,
            "counted": self.warnings._counted,
            "unknown": list(self._unknown_chroms),
            "by_consequence": self.by_consequence,
            "by_impact": self.by_impact,
            "by_location": self.by_location,
            "known_by_source": self.known_by_source,
            "numbers": (self.known_alleles, self.known_records, self.ref_mismatches),
            "rows": self._worker_rows if self.rows_sink is not None else None,
        }

    def _merge(self, r: dict[str, Any]) -> None:
        """In the parent: write a worker's chunk and add up its counts, in input order."""
        self.out.write(r["text"])
        if self.options.tsv is not None and r["tsv"]:
            self.options.tsv.write(r["tsv"])
        self.counts.merge(r["counts"])
        for message in r["once"]:
            self.warnings.add(message)
        for template, (n, line) in r["counted"].items():
            seen = self.warnings._counted.get(template)
            if seen is None:
                self.warnings._counted[template] = [n, line]
            else:
                seen[0] += n
                seen[1] = min(seen[1], line)
        for name in r["unknown"]:
            if len(self._unknown_chroms) < 1000:
                self._unknown_chroms.setdefault(name, None)
        self.by_consequence.update(r["by_consequence"])
        self.by_impact.update(r["by_impact"])
        self.by_location.update(r["by_location"])
        self.known_by_source.update(r["known_by_source"])
        if r["rows"] is not None and self.rows_sink is not None:
            self.rows_sink(r["rows"])
        alleles, records, mismatches = r["numbers"]
        self.known_alleles += alleles
        self.known_records += records
        self.ref_mismatches += mismatches

    # ---------------------------------------------------------------- a chunk

    def annotate_lines(self, lines: list[str], first_no: int) -> None:
        self._annotate_here(lines, first_no)

    def _annotate_here(self, lines: list[str], first_no: int) -> None:
        chunk = self._parse_records(lines, first_no)
        if not chunk.records:
            return
        queries = self._alleles(chunk)
        self._overlaps(queries)
        if self.bundle.known is not None:
            self._known(queries)
        bands = None
        if self.has_bands:
            first = chunk.first_q[:-1]
            codes = np.array([chunk.q_code[q] for q in first], dtype=np.int64)
            pos = np.array([int(parts[1]) for parts in chunk.records], dtype=np.int64)
            bands = self.bundle.bands_at(codes, pos)
        self._write(chunk, queries, bands)

    def _alleles(self, chunk: _Chunk) -> list[_Query]:
        genome = self.bundle.genome
        fetch = genome.fetch
        lengths = genome.lengths
        queries: list[_Query] = []
        add = queries.append
        first_q = chunk.first_q
        v3 = self.header.is_v3
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
                            self.ref_mismatches += 1
                            self.warnings.count(
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
        no_hits = []
        models = self.models
        upstream, downstream = so.UPSTREAM, so.DOWNSTREAM
        flanks = self._flank_effects
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
                    if len(models) >= MODEL_CACHE:
                        models.clear()
                        self.tx_ann_tail.clear()
                        self._tx_ann.clear()
                    model = models[t] = TxModel(self.bundle, t)
                # up- or downstream (flank_effect, inlined: most pairs are these); such
                # effects are never changed after this, so equal ones are shared
                if a_end < model.start:
                    key = (model.strand > 0, model.start - a_end)
                    effect = flank_get(key)
                    if effect is None:
                        effect = flanks[key] = TxEffect(
                            [upstream if key[0] else downstream], distance=key[1]
                        )
                elif a_start > model.end:
                    key = (model.strand < 0, a_start - model.end)
                    effect = flank_get(key)
                    if effect is None:
                        effect = flanks[key] = TxEffect(
                            [upstream if key[0] else downstream], distance=key[1]
                        )
                else:
                    effect = transcript_effect(model, allele)
                hits.append(_Hit(effect, model))
            if hits:
                if len(hits) > 1:
                    hits.sort(key=_hit_order)
                query.hits = hits
            else:
                no_hits.append(j)
        if no_hits:
            self._intergenic([queries[idx[j]] for j in no_hits])
        for q in queries:
            if q.allele is not None and q.allele.code < 0:
                q.hits = [_Hit(TxEffect([so.INTERGENIC], flags=[ERROR_CHROMOSOME_NOT_FOUND]))]

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
                    TxEffect([so.INTERGENIC], distance=distance),
                    None,
                    "-".join(names),
                    "-".join(ids),
                )
            ]

    def _known(self, queries: list[_Query]) -> None:
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
            self.known_alleles += 1
            for source, row in matches:
                self.known_by_source[source.label] += 1
                ident = source.ids.get(row)
                for one in ident.split(";") if ident else ():
                    if one and one not in q.known_ids:
                        q.known_ids.append(one)
                for fieldname in source.fields:
                    value = source.values[fieldname].get(row)
                    if value:
                        q.known_values.setdefault(f"{source.label}_{fieldname}", value)

    # ---------------------------------------------------------------- writing

    def _write(self, chunk: _Chunk, queries: list[_Query], bands: list[str] | None) -> None:
        first_q = chunk.first_q
        out_lines: list[str] = []
        emit = out_lines.append
        our_keys = self._our_keys_re.search
        may_have_our_keys = bool(
            self._our_keys_re_m.search("\n".join([parts[7] for parts in chunk.records]))
        )
        csq = self.options.csq
        tsv = self.options.tsv
        tsv_rows: list[str] = []
        known_keys = self.known_keys
        genic = 0
        flank_terms = (so.UPSTREAM, so.DOWNSTREAM)
        gene_names = self._gene_names
        ann_of = self._ann
        lifts = chunk.lifts
        rows = Rows() if self.rows_sink is not None else None
        seen_tx = self._store_tx
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
                self.by_consequence[top.terms[0]] += 1
                self.by_impact[so.IMPACT[top.terms[0]]] += 1
                best_rank = min(best_rank, top.rank)
                flags = query.flags
                allele_row0 = len(rows) if rows is not None else 0
                for hit in hits:
                    tx = hit.tx
                    if tx is not None and hit.effect.terms[0] not in flank_terms:
                        name = gene_names.get(tx.gene)
                        genes[name if name is not None else self._gene_name(tx)] = None
                    entry = ann_of(allele_esc, hit, flags)
                    ann.append(entry)
                    if rows is not None:
                        rows.hits.append((entry, hit is hits[0], bool(hit.effect.exon)))
                        if tx is not None and tx.index not in seen_tx:
                            seen_tx[tx.index] = None
                            rows.tx_flags[tx.tx_id] = (
                                bool(tx.flags & CANONICAL),
                                bool(tx.flags & MANE),
                                tx.coding,
                            )
                    if csq:
                        csq_entries.append(self._csq(query.csq_allele, hit, existing))
                if rows is not None:
                    values = query.known_values
                    rows.add_allele(
                        allele_row0,
                        (
                            allele_text,
                            q - q0 + 1,
                            chunk.q_class[q],
                            existing or None,
                            values.get("ClinVar_CLNSIG") if values else None,
                            _allele_frequency(values) if values else None,
                        ),
                    )
                if tsv is not None:
                    chosen = hits if self.options.per_transcript else hits[:1]
                    for hit in chosen:
                        tsv_rows.append(self._tsv_row(parts, allele_text, query, hit, existing))
            nq = q1 - q0
            if nq == 1:
                added = f"VC={chunk.q_class[q0]};TITV={chunk.q_titv[q0]}"
            else:
                added = f"VC={','.join(chunk.q_class[q0:q1])};TITV={','.join(chunk.q_titv[q0:q1])}"
            if lift is not None:
                added += ";" + lift[1]
            if genes:
                genic += 1
                added += ";GENE=" + ",".join(genes)
            if bands is not None and bands[r]:
                added += ";CYTOBAND=" + bands[r]
            if ann:
                added += ";ANN=" + ",".join(ann)
                self.by_location[so.LOCATION_OF[so.TERMS[best_rank][0]]] += 1
            if csq_entries:
                added += ";CSQ=" + ",".join(csq_entries)
            if known_keys:
                values = [queries[q].known_values for q in range(q0, q1)]
                for key, _, _ in known_keys:
                    if any(key in v for v in values):
                        added += f";{key}=" + ",".join(v.get(key, ".") for v in values)
            ident = parts[2]
            if record_ids or _RSID_RE.search(ident):
                self.known_records += 1
            if record_ids:
                present = [] if ident == "." else ident.split(";")
                new = [i for i in record_ids if i not in present]
                if new:
                    parts[2] = ";".join(present + new)
            info = parts[7]
            if may_have_our_keys and our_keys(info):
                info = self._drop_our_keys(info, chunk.line_no[r])
            if rows is not None:
                if len(rows) == row0:  # no annotated allele: still a row per allele
                    unlifted = lift[1] if lift is not None and lift[0] is None else None
                    add_unannotated_rows(rows, chunk, r, unlifted)
                record_rows(
                    rows,
                    row0,
                    chunk.line_no[r],
                    parts,
                    lift,
                    bool(record_ids or _RSID_RE.search(parts[2])),
                )
            parts[7] = added if info == "." or not info else f"{info};{added}"
            emit("\t".join(parts))
        emit("")
        self.out.write("\n".join(out_lines))
        if tsv is not None and tsv_rows:
            tsv.write("\n".join(tsv_rows) + "\n")
        if rows is not None:
            self.rows_sink(rows)  # type: ignore[misc]

        counts = self.counts
        nrec = len(chunk.records)
        counts.records += nrec
        counts.alleles += len(chunk.q_class)
        counts.known_by_id += chunk.known
        counts.genic += genic
        counts.intergenic += nrec - genic - chunk.unlifted
        counts.by_class.update(chunk.q_class)
        counts.titv.update(chunk.q_titv)
        counts.add_chromosomes(Counter(chunk.chroms))

    def _gene_name(self, tx: TxModel) -> str:
        name = self._gene_names.get(tx.gene)
        if name is None:
            name = self._gene_names[tx.gene] = escape(self.bundle.gene_name[tx.gene].decode())
        return name

    def _tail(self, tx: TxModel) -> str:
        """ANN fields 4–8 of a transcript: gene name and id, feature type and id, biotype."""
        tail = self.tx_ann_tail.get(tx.index)
        if tail is None:
            gene_id = escape(self.bundle.gene_id[tx.gene].decode())
            tail = (
                f"{self._gene_name(tx)}|{gene_id}|transcript|{escape(tx.tx_id)}|"
                f"{escape(tx.biotype)}"
            )
            self.tx_ann_tail[tx.index] = tail
        return tail

    def _tx_ann_parts(self, tx: TxModel) -> tuple[str, str, str, str, str]:
        parts = self._tx_ann.get(tx.index)
        if parts is None:
            warn = (
                WARNING_INCOMPLETE if tx.flags & (CDS_START_NF | CDS_END_NF) and tx.coding else ""
            )
            cds_len = n_aa = ""
            if tx.coding:
                cds_len = str(tx.cds_cdna_end - tx.cds_cdna_start + 1)
            parts = (f"|{self._tail(tx)}|", warn, str(tx.cdna_len), cds_len, n_aa)
            self._tx_ann[tx.index] = parts
        return parts

    def _n_aa(self, tx: TxModel) -> str:
        parts = self._tx_ann_parts(tx)
        if not parts[4]:
            n_aa = str(len(tx.protein) - tx.protein.endswith("*"))
            parts = (*parts[:4], n_aa)
            self._tx_ann[tx.index] = parts
        return parts[4]

    def _ann(self, allele: str, hit: _Hit, flags: list[str]) -> str:
        e = hit.effect
        tx = hit.tx
        e_terms = e.terms
        terms = e_terms[0] if len(e_terms) == 1 else "&".join(e_terms)
        impact = so.IMPACT[e_terms[0]]
        if tx is None:
            notes = list(flags) + e.flags
            distance = "" if e.distance is None else str(e.distance)
            return (
                f"{allele}|{terms}|{impact}|{hit.near}|{hit.near_ids}|intergenic_region|"
                f"{hit.near_ids}||||||||{distance}|{'&'.join(notes)}"
            )
        tail, warn, cdna_len, cds_len, _ = self._tx_ann_parts(tx)
        if flags or e.flags or e.shifted or warn:
            notes = list(flags) + e.flags
            if e.shifted:
                notes.append(INFO_REALIGN)
            if warn:
                notes.append(warn)
            note = "&".join(notes)
        else:
            note = ""
        if e.distance is not None:  # up- or downstream: nothing but the distance
            if not (e.exon or e.intron or e.hgvs_c or e.cdna_pos):
                return f"{allele}|{terms}|{impact}{tail}||||||{e.distance}|{note}"
            distance = str(e.distance)
        else:
            distance = ""
        rank = e.exon or e.intron
        if rank and "-" in rank:
            head, total = rank.split("/")
            if "-" in head:
                rank = head.split("-")[0] + "/" + total
        cdna_pos = e.cdna_pos
        if cdna_pos:
            first = cdna_pos if cdna_pos.isdigit() else _first(cdna_pos)
            cdna = f"{first}/{cdna_len}" if first else ""
        else:
            cdna = ""
        cds = aa = ""
        cds_pos = e.cds_pos
        if cds_pos:
            first = cds_pos if cds_pos.isdigit() else _first(cds_pos)
            if first:
                cds = f"{first}/{cds_len}"
        if e.aa_pos:
            aa_first = e.aa_pos if e.aa_pos.isdigit() else _first(e.aa_pos)
            aa = f"{aa_first}/{self._n_aa(tx)}"
        hgvs_p = e.hgvs_p
        if "=" in hgvs_p:
            hgvs_p = hgvs_p.replace("=", "%3D")
        return (
            f"{allele}|{terms}|{impact}{tail}{rank}|{e.hgvs_c}|"
            f"{hgvs_p}|{cdna}|{cds}|{aa}|{distance}|{note}"
        )

    def _csq(self, allele: str, hit: _Hit, existing: str) -> str:
        e = hit.effect
        tx = hit.tx
        terms = "&".join(e.terms)
        impact = so.IMPACT[e.terms[0]]
        distance = "" if e.distance is None else str(e.distance)
        if tx is None:
            return f"{escape(allele)}|{terms}|{impact}|||||||||||||||{existing}|{distance}|||"
        bundle = self.bundle
        gene_name = self._gene_name(tx)
        gene_id = escape(bundle.gene_id[tx.gene].decode())
        hgvs_c = f"{tx.tx_id}:{e.hgvs_c}" if e.hgvs_c else ""
        hgvs_p = f"{tx.protein_id or tx.tx_id}:{e.hgvs_p}" if e.hgvs_p else ""
        flags = []
        if tx.flags & CDS_START_NF:
            flags.append("cds_start_NF")
        if tx.flags & CDS_END_NF:
            flags.append("cds_end_NF")
        canonical = "YES" if tx.flags & CANONICAL else ""
        return (
            f"{escape(allele)}|{terms}|{impact}|{gene_name}|{gene_id}|Transcript|"
            f"{escape(tx.tx_id)}|{escape(tx.biotype)}|{e.exon}|{e.intron}|{hgvs_c}|"
            f"{_escape_p(hgvs_p)}|{e.cdna_pos}|{e.cds_pos}|{e.aa_pos}|{e.amino_acids}|"
            f"{e.codons}|{existing}|{distance}|{tx.strand}|{'&'.join(flags)}|{canonical}"
        )

    def _tsv_row(
        self, parts: list[str], allele_text: str, query: _Query, hit: _Hit, existing: str
    ) -> str:
        e = hit.effect
        tx = hit.tx
        bundle = self.bundle
        if tx is not None:
            cols = [
                bundle.gene_name[tx.gene].decode(),
                bundle.gene_id[tx.gene].decode(),
                "Transcript",
                tx.tx_id,
                tx.biotype,
                e.exon,
                e.intron,
                f"{tx.tx_id}:{e.hgvs_c}" if e.hgvs_c else "",
                f"{tx.protein_id or tx.tx_id}:{e.hgvs_p}" if e.hgvs_p else "",
                e.cdna_pos,
                e.cds_pos,
                e.aa_pos,
                e.amino_acids,
                e.codons,
                "" if e.distance is None else str(e.distance),
                str(tx.strand),
            ]
        else:
            cols = [hit.near, hit.near_ids, "", "", "", "", "", "", "", "", "", "", "", ""]
            cols += ["" if e.distance is None else str(e.distance), ""]
        row = [
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[4],
            allele_text,
            ",".join(e.terms),
            so.IMPACT[e.terms[0]],
            *cols,
            existing.replace("&", ","),
        ]
        row += [query.known_values.get(k, "") for k, _, _ in self.known_keys]
        return "\t".join(v.replace("\t", " ") for v in row)


def _escape_p(hgvs_p: str) -> str:
    """HGVS p. in ANN/CSQ: only ``=`` (``p.Leu3=``) needs encoding; c. never does."""
    return hgvs_p.replace("=", "%3D") if "=" in hgvs_p else hgvs_p


_RANK = so.RANK


def _hit_order(hit: _Hit) -> tuple[int, tuple[int, int, int]]:
    tx = hit.tx
    rank = _RANK[hit.effect.terms[0]]
    if tx is None:
        return (rank, (0, 0, 0))
    return (rank, tx.order_key)


def _first(span: str) -> str:
    first = span.split("-", 1)[0]
    if first == "?":
        first = span.split("-", 1)[1] if "-" in span else ""
    return "" if first == "?" else first


def _iupac_equal(genome: str, ref: str) -> bool:
    """REF matches if they differ only where either has an ambiguity code."""
    if len(genome) != len(ref):
        return False
    return all(
        g == r or g not in "ACGT" or r not in "ACGT" for g, r in zip(genome, ref, strict=True)
    )
