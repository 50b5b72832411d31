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


# ---------------------------------------------------------------- ANN entries → store columns

#: the text columns :func:`entry_columns` makes, in order (see ``output.results_store``)
ENTRY_TEXT_COLUMNS = (
    "consequence", "most_severe", "impact", "gene", "gene_id", "transcript", "biotype",
    "exon", "intron", "hgvsc", "hgvsp", "protein_position", "nearest", "warnings",
)

cdef enum:
    C_CONSEQUENCE, C_MOST_SEVERE, C_IMPACT, C_GENE, C_GENE_ID, C_TRANSCRIPT, C_BIOTYPE
    C_EXON, C_INTRON, C_HGVSC, C_HGVSP, C_PROTEIN_POSITION, C_NEAREST, C_WARNINGS, N_TEXT

cdef extern from "string.h" nogil:
    int memcmp(const void *, const void *, size_t)
    void *memcpy(void *, const void *, size_t)
    const void *memchr(const void *, int, size_t)


cdef inline int _hex(unsigned char c) noexcept nogil:
    if c >= 48 and c <= 57:
        return c - 48
    if c >= 65 and c <= 70:
        return c - 55
    return -1


cdef inline Py_ssize_t _put(const unsigned char *src, Py_ssize_t a, Py_ssize_t b,
                            unsigned char *dst, Py_ssize_t at, bint unescape) noexcept nogil:
    """src[a:b] appended to ``dst`` at ``at``; with ``unescape``, ANN's percent-encoding of
    ``,|;=`` undone (``results_store._unescape``, the reference). Returns the new end."""
    cdef unsigned char c
    cdef int hi, lo, code
    if not unescape or memchr(src + a, 37, b - a) == NULL:
        memcpy(dst + at, src + a, b - a)
        return at + b - a
    while a < b:
        c = src[a]
        if c == 37 and a + 3 <= b:  # "%XX"
            hi = _hex(src[a + 1])
            lo = _hex(src[a + 2])
            code = hi * 16 + lo if hi >= 0 and lo >= 0 else -1
            if code == 0x2C or code == 0x7C or code == 0x3B or code == 0x3D:
                dst[at] = <unsigned char>code
                at += 1
                a += 3
                continue
        dst[at] = c
        at += 1
        a += 1
    return at


cdef struct _Columns:
    unsigned char *data  # N_TEXT rows of ``width`` bytes
    Py_ssize_t width
    unsigned char *valid  # N_TEXT rows of ``n`` flags
    Py_ssize_t n
    Py_ssize_t at[N_TEXT]  # bytes used per column


cdef inline void _text(_Columns *out, int column, Py_ssize_t row, const unsigned char *src,
                       Py_ssize_t a, Py_ssize_t b, bint unescape) noexcept nogil:
    """Row ``row`` of text column ``column`` is src[a:b] (not null)."""
    out.at[column] = _put(src, a, b, out.data + column * out.width, out.at[column], unescape)
    out.valid[column * out.n + row] = 1


def entry_columns(const unsigned char[::1] blob, Py_ssize_t n, const unsigned char[::1] exon):
    """The results store's per-row columns from ``n`` ANN entries joined by newlines (the
    compiled twin of ``results_store.entry_columns_arrow``, the reference): per text column of
    ENTRY_TEXT_COLUMNS its (int32 offsets, UTF-8 bytes, validity), then DISTANCE's (int64
    values, validity). One pass over the bytes, without the GIL."""
    import numpy as np

    cdef Py_ssize_t size = blob.shape[0]
    if size >= 2**31 - 1:  # Arrow strings: 32-bit offsets
        raise OverflowError(f"{size:,} bytes of ANN entries in one row group")
    data_a = np.empty((N_TEXT, size + 1), dtype=np.uint8)
    offsets_a = np.zeros((N_TEXT, n + 1), dtype=np.int32)
    valid_a = np.zeros((N_TEXT, n), dtype=np.uint8)
    distance_a = np.zeros(n, dtype=np.int64)
    dvalid_a = np.zeros(n, dtype=np.uint8)
    cdef unsigned char[:, ::1] data = data_a
    cdef int[:, ::1] offsets = offsets_a
    cdef unsigned char[:, ::1] valid = valid_a
    cdef long long[::1] distance = distance_a
    cdef unsigned char[::1] dvalid = dvalid_a
    cdef _Columns out
    cdef Py_ssize_t fs[16]
    cdef Py_ssize_t fe[16]
    cdef Py_ssize_t pos = 0, i, j, k, end, stop, p
    cdef int c
    cdef bint intergenic, gene_feature, negative
    cdef long long value
    cdef const unsigned char *src = &blob[0] if size else NULL
    out.data = &data[0, 0]
    out.width = data.shape[1]
    out.valid = &valid[0, 0] if n else NULL
    out.n = n
    for c in range(N_TEXT):
        out.at[c] = 0
    if exon.shape[0] < n:
        raise ValueError("one exon flag per row")
    with nogil:
        for i in range(n):
            k = 0
            fs[0] = pos
            while pos < size and blob[pos] != 10:
                if blob[pos] == 124 and k < 15:
                    fe[k] = pos
                    k += 1
                    fs[k] = pos + 1
                pos += 1
            end = pos
            fe[k] = end
            for j in range(k + 1, 16):
                fs[j] = end
                fe[j] = end
            pos = end + 1
            k = fe[5] - fs[5]
            intergenic = k == 17 and memcmp(src + fs[5], b"intergenic_region", 17) == 0
            gene_feature = k == 4 and memcmp(src + fs[5], b"gene", 4) == 0
            # consequence; the most severe term: the text before the first "&" (as Arrow's
            # split, "" before a leading "&"); IMPACT
            if fe[1] > fs[1]:
                stop = fs[1]
                while stop < fe[1] and blob[stop] != 38:
                    stop += 1
                _text(&out, C_CONSEQUENCE, i, src, fs[1], fe[1], False)
                _text(&out, C_MOST_SEVERE, i, src, fs[1], stop, False)
            if fe[2] > fs[2]:
                _text(&out, C_IMPACT, i, src, fs[2], fe[2], False)
            if intergenic:
                if fe[3] > fs[3]:
                    _text(&out, C_NEAREST, i, src, fs[3], fe[3], True)
            else:
                if fe[3] > fs[3]:
                    _text(&out, C_GENE, i, src, fs[3], fe[3], True)
                if fe[4] > fs[4]:
                    _text(&out, C_GENE_ID, i, src, fs[4], fe[4], True)
                if not gene_feature and fe[6] > fs[6]:
                    _text(&out, C_TRANSCRIPT, i, src, fs[6], fe[6], True)
            if fe[7] > fs[7]:
                _text(&out, C_BIOTYPE, i, src, fs[7], fe[7], True)
            if fe[8] > fs[8]:
                c = C_EXON if exon[i] else C_INTRON
                _text(&out, c, i, src, fs[8], fe[8], False)
            if fe[9] > fs[9]:
                _text(&out, C_HGVSC, i, src, fs[9], fe[9], True)
            if fe[10] > fs[10]:
                _text(&out, C_HGVSP, i, src, fs[10], fe[10], True)
            stop = fs[13]
            while stop < fe[13] and blob[stop] != 47:
                stop += 1
            if stop > fs[13]:
                _text(&out, C_PROTEIN_POSITION, i, src, fs[13], stop, False)
            if fe[14] > fs[14]:
                p = fs[14]
                negative = blob[p] == 45
                if negative:
                    p += 1
                value = 0
                while p < fe[14]:
                    if blob[p] < 48 or blob[p] > 57 or p - fs[14] > 17:  # (no int64 overflow)
                        break
                    value = value * 10 + (blob[p] - 48)
                    p += 1
                if p == fe[14] and p > fs[14] + negative:
                    distance[i] = -value if negative else value
                    dvalid[i] = 1
                else:
                    with gil:
                        text = bytes(blob[fs[14]:fe[14]]).decode(errors="replace")
                        raise ValueError(f"ANN entry {i}: distance {text!r} is not a number")
            if fe[15] > fs[15]:
                _text(&out, C_WARNINGS, i, src, fs[15], fe[15], False)
            for c in range(N_TEXT):
                offsets[c, i + 1] = <int>out.at[c]
    columns = {}
    for c in range(N_TEXT):
        columns[ENTRY_TEXT_COLUMNS[c]] = (offsets_a[c], data_a[c, : out.at[c]], valid_a[c])
    return columns, (distance_a, dvalid_a)


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL

#: the VCF columns :func:`record_columns` cuts from each line: POS, ID, REF, FILTER
RECORD_TEXT_COLUMNS = ("id", "ref", "filter")


def record_columns(list lines, const long long[::1] keep):
    """POS (int64), and ID, REF and FILTER as (int32 offsets, UTF-8 bytes, validity; an ID or
    FILTER ``.`` is null) of the VCF lines at ``keep`` (the compiled twin of the Arrow cut in
    ``results_store.Rows.finish``): each line read up to its seventh tab only."""
    import numpy as np

    cdef Py_ssize_t n = keep.shape[0], i, k, size, total = 0, p, col, a, b
    cdef const char *text
    cdef Py_ssize_t count = len(lines)
    for i in range(n):
        if keep[i] < 0 or keep[i] >= count:  # (the list is indexed unchecked below)
            raise IndexError(f"record_columns: position {keep[i]} is not one of the lines")
        text = PyUnicode_AsUTF8AndSize(lines[keep[i]], &size)
        total += size
    if total >= 2**31 - 1:  # Arrow strings: 32-bit offsets
        raise OverflowError(f"{total:,} bytes of record lines in one chunk")
    data_a = np.empty((3, total + 1), dtype=np.uint8)
    offsets_a = np.zeros((3, n + 1), dtype=np.int32)
    valid_a = np.zeros((3, n), dtype=np.uint8)
    pos_a = np.zeros(n, dtype=np.int64)
    cdef unsigned char[:, ::1] data = data_a
    cdef int[:, ::1] offsets = offsets_a
    cdef unsigned char[:, ::1] valid = valid_a
    cdef long long[::1] pos = pos_a
    cdef Py_ssize_t at[3]
    cdef Py_ssize_t fs[8]
    cdef Py_ssize_t fe[8]
    cdef long long value
    at[0] = at[1] = at[2] = 0
    for i in range(n):
        line = lines[keep[i]]
        text = PyUnicode_AsUTF8AndSize(line, &size)
        k = 0
        fs[0] = 0
        p = 0
        while p < size and k < 7:
            if text[p] == 9:
                fe[k] = p
                k += 1
                fs[k] = p + 1
            p += 1
        if k < 7:
            raise ValueError(f"record line {i} has fewer than eight columns")
        value = 0
        a = fs[1]
        b = fe[1]
        if a == b:
            raise ValueError(f"record line {i}: empty POS")
        while a < b:
            if text[a] < 48 or text[a] > 57:
                raise ValueError(f"record line {i}: POS is not a number")
            value = value * 10 + (text[a] - 48)
            a += 1
        pos[i] = value
        for col in range(3):
            k = 2 if col == 0 else (3 if col == 1 else 6)
            a = fs[k]
            b = fe[k]
            if col == 1 or not (b - a == 1 and text[a] == 46):  # ID or FILTER "." is null
                memcpy(&data[col, at[col]], text + a, b - a)
                at[col] += b - a
                valid[col, i] = 1
            offsets[col, i + 1] = <int>at[col]
    columns = {}
    for col in range(3):
        columns[RECORD_TEXT_COLUMNS[col]] = (offsets_a[col], data_a[col, : at[col]], valid_a[col])
    return pos_a, columns
