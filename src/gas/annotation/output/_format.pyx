# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled formatting of ANN and CSQ entries: the same functions, the same signatures and
the same text as ``output/ann.py`` (``effect_entry``) and ``output/csq.py`` (``csq_entry``),
which stay the reference (``gas.annotation.kernel`` chooses; the tests compare both).

Per entry the work is typed integer tests and one string join; the per-terms text (the
``&``-joined names and the IMPACT) is made once per distinct set of term flags."""

from gas.annotation.consequences import so
from gas.annotation.output.ann import INFO_REALIGN, escape, escape_p
from gas.annotation.reference.transcripts import CANONICAL, CDS_END_NF, CDS_START_NF

cdef dict _TERMS = {}  # flags -> (ANN terms "&"-joined, IMPACT)
cdef long _CDS_START_NF = CDS_START_NF
cdef long _CDS_END_NF = CDS_END_NF
cdef long _CANONICAL = CANONICAL
cdef str _INFO_REALIGN = INFO_REALIGN


cdef tuple _terms(object flags):
    found = _TERMS.get(flags)
    if found is None:
        names = so.names(flags)
        found = ("&".join(names), so.IMPACT[names[0]])
        if len(_TERMS) < 100_000:
            _TERMS[flags] = found
    return <tuple>found


cdef inline str _first(long start, long end):
    if start > 0:
        return str(start)
    return str(end) if end > 0 else ""


cdef inline str _span(long start, long end):
    if start < 0:
        return ""
    if start == end and start:
        return str(start)
    return f"{str(start) if start else '?'}-{str(end) if end else '?'}"


cdef inline str _rank(long first, long last, long total):
    if not first:
        return ""
    if first == last:
        return f"{first}/{total}"
    return f"{first}-{last}/{total}"


def effect_entry(str allele, object e, object tx, list flags, object labels,
                 str near="", str near_ids=""):
    """One ANN entry (see ``output.ann.effect_entry``, the reference)."""
    cdef tuple tn = _terms(e.terms)
    cdef str terms = tn[0]
    cdef str impact = tn[1]
    cdef list notes
    cdef str note, distance, rank, cdna, cds, aa, pos
    cdef long exon, intron, cdna_start, cds_start, aa_start
    cdef list eflags = e.flags
    if tx is None:
        notes = list(flags) + eflags
        d = e.distance
        distance = "" if d is None else str(d)
        return (f"{allele}|{terms}|{impact}|{near}|{near_ids}|intergenic_region|{near_ids}"
                f"||||||||{distance}|{'&'.join(notes)}")
    parts = labels._ann.get(tx.index)  # TxLabels.ann_parts without the method call
    if parts is None:
        parts = labels.ann_parts(tx)
    cdef str tail = parts[0]
    cdef str warn = parts[1]
    shifted = e.shifted
    if flags or eflags or shifted or warn:
        notes = list(flags) + eflags
        if shifted:
            notes.append(_INFO_REALIGN)
        if warn:
            notes.append(warn)
        note = "&".join(notes)
    else:
        note = ""
    exon = e.exon
    intron = e.intron
    cdna_start = e.cdna_start
    cdef str hgvs_c = e.hgvs_c
    d = e.distance
    if d is not None:
        if not (exon or intron or hgvs_c or cdna_start >= 0):
            return f"{allele}|{terms}|{impact}{tail}||||||{d}|{note}"
        distance = str(d)
    else:
        distance = ""
    if exon:
        rank = f"{exon}/{e.exons}"
    elif intron:
        rank = f"{intron}/{e.introns}"
    else:
        rank = ""
    cdna = cds = aa = ""
    if cdna_start >= 0:
        pos = _first(cdna_start, e.cdna_end)
        if pos:
            cdna = f"{pos}/{parts[2]}"
    cds_start = e.cds_start
    if cds_start >= 0:
        pos = _first(cds_start, e.cds_end)
        if pos:
            cds = f"{pos}/{parts[3]}"
    aa_start = e.aa_start
    if aa_start >= 0:
        aa = f"{_first(aa_start, e.aa_end)}/{labels.n_aa(tx)}"
    cdef str hgvs_p = e.hgvs_p
    if "=" in hgvs_p:
        hgvs_p = hgvs_p.replace("=", "%3D")
    return (
        f"{allele}|{terms}|{impact}{tail}{rank}|{hgvs_c}|"
        f"{hgvs_p}|{cdna}|{cds}|{aa}|{distance}|{note}"
    )


def csq_entry(str allele, object e, object tx, str existing, object labels):
    """One CSQ entry (see ``output.csq.csq_entry``, the reference)."""
    names = so.names(e.terms)
    cdef str terms = "&".join(names)
    cdef str impact = so.IMPACT[names[0]]
    d = e.distance
    cdef str distance = "" if d is None else str(d)
    if tx is None:
        return f"{escape(allele)}|{terms}|{impact}|||||||||||||||{existing}|{distance}|||"
    cdef str hgvs_c = e.hgvs_c
    cdef str hgvs_p = e.hgvs_p
    cdef str tx_id = tx.tx_id
    if hgvs_c:
        hgvs_c = f"{tx_id}:{hgvs_c}"
    if hgvs_p:
        hgvs_p = escape_p(f"{tx.protein_id or tx_id}:{hgvs_p}")
    cdef long txflags = tx.flags
    cdef str flagtext
    if txflags & _CDS_START_NF:
        flagtext = "cds_start_NF&cds_end_NF" if txflags & _CDS_END_NF else "cds_start_NF"
    else:
        flagtext = "cds_end_NF" if txflags & _CDS_END_NF else ""
    cdef str canonical = "YES" if txflags & _CANONICAL else ""
    cdef long intron = e.intron
    return (
        f"{escape(allele)}|{terms}|{impact}|{labels.gene_name(tx)}|{labels.gene_id(tx)}|"
        f"Transcript|{escape(tx_id)}|{escape(tx.biotype)}|"
        f"{_rank(e.exon, e.exon_last, e.exons)}|"
        f"{_rank(intron, intron, e.introns)}|{hgvs_c}|{hgvs_p}|"
        f"{_span(e.cdna_start, e.cdna_end)}|{_span(e.cds_start, e.cds_end)}|"
        f"{_span(e.aa_start, e.aa_end)}|{e.amino_acids}|"
        f"{e.codons}|{existing}|{distance}|{tx.strand}|{flagtext}|{canonical}"
    )


cdef long _UP_RANK = so.RANK[so.UPSTREAM]
cdef long _DOWN_RANK = so.RANK[so.DOWNSTREAM]


cdef extern from *:
    int __builtin_ctzll(unsigned long long)


def allele_entries(str allele_esc, list hits, list flags, object labels, dict genes,
                   object entry_of):
    """The ANN entries of one allele's hits, and its genes into ``genes`` (see
    ``pipeline.transcript_level.allele_entries``, the reference)."""
    cdef list entries = []
    cdef dict names = labels._gene_names
    cdef unsigned long long terms
    cdef long rank
    for hit in hits:
        tx = hit.tx
        effect = hit.effect
        if tx is not None:
            terms = effect.terms
            rank = __builtin_ctzll(terms) if terms else -1
            if rank != _UP_RANK and rank != _DOWN_RANK:
                name = names.get(tx.gene)
                if name is None:
                    name = labels.gene_name(tx)
                genes[name] = None
        entries.append(entry_of(allele_esc, effect, tx, flags, labels, hit.near, hit.near_ids))
    return entries
