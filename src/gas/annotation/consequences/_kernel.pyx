# cython: language_level=3, cdivision=True
"""Compiled per-(allele, transcript) classification: the same functions, the same signatures
and the same effect records as the Python rules, which stay the reference
(``gas.annotation.kernel`` chooses; the tests compare both paths byte for byte).

* :func:`transcript_effect` — ``consequences.transcript.transcript_effect``: single-base
  substitutions deep in an intron, in a UTR or non-coding exon away from the splice regions,
  and in an ordinary codon of the CDS (missense, synonymous, stop_gained) — most pairs that
  are not up/downstream — are classified here with typed integer arithmetic over the
  transcript's exon arrays; every other case (indels, splice zones, start/stop codons,
  partial codons, structural alleles) is handed to the Python rules unchanged.
* :func:`pair_hits` — the loop over a chunk's (allele, transcript) overlaps of
  ``pipeline.transcript_level.pair_hits``: up/downstream decided by two comparisons, shared
  flank effects, the per-allele sort of entries.
"""

import Cython

from gas.annotation.consequences import so
from gas.annotation.consequences.effect import TxEffect
from gas.annotation.consequences.coding import coding_effect, partial_coding
from gas.annotation.consequences.hgvs import aa3, hgvs_c
from gas.annotation.consequences.splice import FRAMESHIFT_INTRON
from gas.annotation.consequences.transcript import transcript_effect as _py_transcript_effect
from gas.annotation.reference.seq import revcomp
from gas.annotation.reference.transcripts import TxModel

CYTHON_VERSION = Cython.__version__

cdef dict _AA3 = {}
cdef dict _COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
cdef object _MISSENSE = so.BIT[so.MISSENSE]
cdef object _MISSENSE_NMD = so.flags_of([so.MISSENSE, so.NMD])
cdef object _SYNONYMOUS = so.BIT[so.SYNONYMOUS]
cdef object _SYNONYMOUS_NMD = so.flags_of([so.SYNONYMOUS, so.NMD])
cdef object _STOP_GAINED = so.BIT[so.STOP_GAINED]
cdef object _STOP_GAINED_NMD = so.flags_of([so.STOP_GAINED, so.NMD])
cdef object _UPSTREAM = so.BIT[so.UPSTREAM]
cdef object _DOWNSTREAM = so.BIT[so.DOWNSTREAM]
cdef str _NMD_BIOTYPE = "nonsense_mediated_decay"
cdef long _FRAMESHIFT_INTRON = FRAMESHIFT_INTRON


cdef object _new = object.__new__


cdef object _effect(object terms):
    """``TxEffect(terms)`` without the dataclass's Python ``__init__`` (checked below to be
    equal to it, field by field, when the module loads)."""
    e = _new(TxEffect)
    e.terms = terms
    e.exon = 0
    e.exon_last = 0
    e.exons = 0
    e.intron = 0
    e.introns = 0
    e.cdna_start = -1
    e.cdna_end = -1
    e.cds_start = -1
    e.cds_end = -1
    e.aa_start = -1
    e.aa_end = -1
    e.hgvs_c = ""
    e.hgvs_p = ""
    e.amino_acids = ""
    e.codons = ""
    e.distance = None
    e.flags = []
    e.shifted = False
    return e


if _effect(5) != TxEffect(5) or len(TxEffect.__slots__) != 19:
    raise ImportError("TxEffect's fields changed: consequences/_kernel.pyx must follow")


cdef object _exon_effect(object terms, long rank, long exons, long cdna):
    """An effect at one base of exon ``rank`` (of ``exons``), at cDNA position ``cdna``."""
    e = _effect(terms)
    e.exon = rank
    e.exon_last = rank
    e.exons = exons
    e.cdna_start = cdna
    e.cdna_end = cdna
    return e


cdef str _aa3(str aa):
    found = _AA3.get(aa)
    if found is None:
        found = _AA3[aa] = aa3(aa)
    return <str>found


cdef inline Py_ssize_t _bisect_right(list a, long x):
    cdef Py_ssize_t lo = 0, hi = len(a), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < <long>a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef str _c_pos(object tx, bint coding, long cdna):
    """``TxModel.c_pos``."""
    cdef long ccs, cce, n
    if coding:
        ccs = tx.cds_cdna_start
        if cdna < ccs:
            return f"-{ccs - cdna}"
        cce = tx.cds_cdna_end
        if cdna > cce:
            return f"*{cdna - cce}"
        return str(cdna - ccs + 1)
    if cdna < 1:
        return f"-{1 - cdna}"
    n = tx.cdna_len
    if cdna > n:
        return f"*{cdna - n}"
    return str(cdna)


cdef object _snv_cds(object tx, object allele, Py_ssize_t k, long s, list gs, list ge,
                     bint plus, Py_ssize_t n):
    """``coding.snv_cds``: None when the general rules must decide."""
    cdef str ref = allele.ref
    cdef str alt = allele.alt
    cdef str tref, talt
    cdef long cdna, c, px, k1, end, lead
    if plus:
        tref, talt = ref, alt
        cdna = <long>tx.ex_cdna[k] + (s - <long>gs[k])
    else:
        c_ref = _COMP.get(ref)
        c_alt = _COMP.get(alt)
        if c_ref is None or c_alt is None:
            return None
        tref, talt = <str>c_ref, <str>c_alt
        cdna = <long>tx.ex_cdna[k] + (<long>ge[k] - s)
    if ref == alt or len(ref) != 1:
        return None
    c = cdna - <long>tx.cds_cdna_start + 1
    if c <= 3:
        return None
    cdef str cds = tx.cds
    px = c + <long>tx.pad
    k1 = (px - 1) // 3
    end = 3 * k1 + 3
    if end > len(cds):
        return None
    cdef str ref_win = cds[end - 3 : end]
    lead = px - 1 - 3 * k1
    cdef str alt_win = ref_win[:lead] + talt + ref_win[lead + 1 :]
    cdef dict table = tx.codon_table
    r = table.get(ref_win, "X")
    a = table.get(alt_win, "X")
    if r == "X" or a == "X" or r == "*":
        return None
    cdef bint nmd = tx.biotype == _NMD_BIOTYPE
    cdef long aa_no = k1 + 1
    if a == "*":
        terms = _STOP_GAINED_NMD if nmd else _STOP_GAINED
        change = f"p.{_aa3(r)}{aa_no}Ter"
    elif a == r:
        terms = _SYNONYMOUS_NMD if nmd else _SYNONYMOUS
        change = f"p.{_aa3(r)}{aa_no}="
    else:
        terms = _MISSENSE_NMD if nmd else _MISSENSE
        change = f"p.{_aa3(r)}{aa_no}{_aa3(a)}"
    effect = _exon_effect(terms, k + 1 if plus else n - k, n, cdna)
    effect.cds_start = c
    effect.cds_end = c
    effect.aa_start = aa_no
    effect.aa_end = aa_no
    cdef str low = ref_win.lower()
    cdef str before = low[:lead]
    cdef str after = low[lead + 1 :]
    effect.codons = f"{before}{tref.upper()}{after}/{before}{talt.upper()}{after}"
    effect.amino_acids = r if r == a else f"{r}/{a}"
    effect.hgvs_p = change
    effect.hgvs_c = f"c.{c}{tref}>{talt}"
    return effect


cdef object _snv_fast(object tx, object allele, long s):
    """``exonic.snv_fast``: None when the general rules must decide."""
    cdef list gs = tx.gstarts
    cdef list ge = tx.gends
    cdef Py_ssize_t n = len(gs)
    cdef Py_ssize_t k = _bisect_right(gs, s) - 1
    if k < 0:
        return None
    cdef long strand = tx.strand
    cdef bint plus = strand > 0
    cdef bint coding = tx.coding
    cdef long gsk = gs[k]
    cdef long gek = ge[k]
    cdef long cs, ce, cdna, left, right
    cdef str where
    if s <= gek:
        if (k > 0 and s - gsk < 3) or (k < n - 1 and gek - s < 3):
            return None
        if coding:
            cs = tx.cds_start
            ce = tx.cds_end
            if cs <= s <= ce:
                return _snv_cds(tx, allele, k, s, gs, ge, plus, n)
            if (s < cs) == plus:
                term_list = tx.utr5_terms
            else:
                term_list = tx.utr3_terms
        else:
            term_list = tx.nc_exon_terms
        cdna = <long>tx.ex_cdna[k] + (s - gsk if plus else gek - s)
        effect = _exon_effect(term_list, k + 1 if plus else n - k, n, cdna)
        where = _c_pos(tx, coding, cdna)
    else:
        if k + 1 >= n:
            return None
        left = s - gek
        right = <long>gs[k + 1] - s
        if left <= 20 or right <= 20:
            return None
        effect = _effect(tx.intron_terms)
        effect.intron = k + 1 if plus else n - 1 - k
        effect.introns = n - 1
        ex_cdna = tx.ex_cdna
        if plus:
            if left <= right:
                where = f"{_c_pos(tx, coding, <long>ex_cdna[k] + gek - gsk)}+{left}"
            else:
                where = f"{_c_pos(tx, coding, <long>ex_cdna[k + 1])}-{right}"
        elif right <= left:
            where = (
                f"{_c_pos(tx, coding, <long>ex_cdna[k + 1] + <long>ge[k + 1] - <long>gs[k + 1])}"
                f"+{right}"
            )
        else:
            where = f"{_c_pos(tx, coding, <long>ex_cdna[k])}-{left}"
    cdef str ref = allele.ref
    cdef str alt = allele.alt
    if not plus:
        c_ref = _COMP.get(ref)
        ref = revcomp(ref) if c_ref is None else <str>c_ref
        c_alt = _COMP.get(alt)
        alt = revcomp(alt) if c_alt is None else <str>c_alt
    effect.hgvs_c = f"{'c.' if coding else 'n.'}{where}{ref}>{alt}"
    return effect


# ---------------------------------------------------------------------------- general rules
# The integer skeleton of ``consequences.transcript.transcript_effect`` (splice.py and
# exonic.py typed); the coding rules and HGVS c. are the Python functions themselves.

cdef inline bint _overlap(long a, long b, long c, long d):
    return b >= c and a <= d


cdef inline Py_ssize_t _exon_at(list gs, list ge, long g):
    cdef Py_ssize_t k = _bisect_right(gs, g) - 1
    if k >= 0 and g <= <long>ge[k]:
        return k
    return -1


cdef inline long _cdna_of(list gs, list ge, list ex_cdna, bint plus, long g):
    cdef Py_ssize_t k = _bisect_right(gs, g) - 1
    if plus:
        return <long>ex_cdna[k] + (g - <long>gs[k])
    return <long>ex_cdna[k] + (<long>ge[k] - g)


cdef tuple _splice_terms(long s, long e, set terms, list gs, list ge, bint plus,
                         Py_ssize_t n):
    """``splice.splice_terms``: (intron index or -1, frameshift intron touched)."""
    cdef bint ins = e < s
    cdef long lo = e if ins else s
    cdef long hi = s if ins else e
    cdef bint intronic = False, donor = False, acceptor = False, region = False
    cdef bint fifth = False, donor_region = False, ppt = False, frameshift_intron = False
    cdef bint start_ss, end_ss
    cdef Py_ssize_t intron_hit = -1, i, first
    cdef long i_s, i_e, k5, k3, d, a
    first = _bisect_right(gs, lo) - 2
    if first < 0:
        first = 0
    for i in range(first, n - 1):
        i_s = <long>ge[i] + 1
        i_e = <long>gs[i + 1] - 1
        if i_s - 20 > hi:
            break
        if i_e + 20 < lo:
            continue
        if lo > i_s + 20 and hi < i_e - 20:
            intronic = True
            intron_hit = i
            continue
        if i_e - i_s + 1 <= _FRAMESHIFT_INTRON:
            if _overlap(s, e, i_s, i_e):
                frameshift_intron = True
            continue
        if s == e:
            if i_s <= s <= i_e:
                k5 = s - i_s + 1
                k3 = i_e - s + 1
                if plus:
                    d, a = k5, k3
                else:
                    d, a = k3, k5
                if d <= 2:
                    donor = True
                elif a <= 2:
                    acceptor = True
                else:
                    intronic = True
                    if d == 5:
                        fifth = True
                    elif d <= 6:
                        donor_region = True
                    if a <= 17:
                        ppt = True
                    if k5 <= 8 or k3 <= 8:
                        region = True
                intron_hit = i
            elif i_s - 3 <= s < i_s or i_e < s <= i_e + 3:
                region = True
            continue
        if _overlap(s, e, i_s + 2, i_e - 2) or (ins and (s == i_s + 2 or e == i_e - 2)):
            intronic = True
            intron_hit = i
        start_ss = _overlap(s, e, i_s, i_s + 1)
        end_ss = _overlap(s, e, i_e - 1, i_e)
        if start_ss or end_ss:
            if intron_hit < 0:
                intron_hit = i
        if plus:
            donor |= start_ss
            acceptor |= end_ss
            fifth |= _overlap(s, e, i_s + 4, i_s + 4)
            donor_region |= _overlap(s, e, i_s + 2, i_s + 5)
            ppt |= _overlap(s, e, i_e - 16, i_e - 2)
        else:
            donor |= end_ss
            acceptor |= start_ss
            fifth |= _overlap(s, e, i_e - 4, i_e - 4)
            donor_region |= _overlap(s, e, i_e - 5, i_e - 2)
            ppt |= _overlap(s, e, i_s + 2, i_s + 16)
        if not (start_ss or end_ss) and (
            _overlap(s, e, i_s + 2, i_s + 7)
            or _overlap(s, e, i_e - 7, i_e - 2)
            or _overlap(s, e, i_s - 3, i_s - 1)
            or _overlap(s, e, i_e + 1, i_e + 3)
            or (ins and (s == i_s or e == i_e or s == i_s + 2 or e == i_e - 2))
        ):
            region = True
    if donor:
        terms.add(so.SPLICE_DONOR)
    if acceptor:
        terms.add(so.SPLICE_ACCEPTOR)
    if fifth:
        terms.add(so.SPLICE_DONOR_5TH_BASE)
    elif donor_region:
        terms.add(so.SPLICE_DONOR_REGION)
    if ppt:
        terms.add(so.SPLICE_POLYPYRIMIDINE)
    if region and not (fifth or donor_region):
        terms.add(so.SPLICE_REGION)
    if intronic:
        terms.add(so.INTRON)
    return intron_hit, frameshift_intron


cdef str _hgvs_pos(object tx, bint coding, list gs, list ge, list ex_cdna, bint plus,
                   long g):
    """``TxModel.hgvs_pos``."""
    cdef Py_ssize_t n = len(gs), k
    cdef long strand = 1 if plus else -1
    cdef long cdna, left, right, g0 = gs[0], g1 = ge[n - 1]
    if g < g0:
        cdna = _cdna_of(gs, ge, ex_cdna, plus, g0) - (g0 - g) * strand
        return _c_pos(tx, coding, cdna)
    if g > g1:
        cdna = _cdna_of(gs, ge, ex_cdna, plus, g1) + (g - g1) * strand
        return _c_pos(tx, coding, cdna)
    k = _bisect_right(gs, g) - 1
    if g <= <long>ge[k]:
        return _c_pos(tx, coding, _cdna_of(gs, ge, ex_cdna, plus, g))
    left = g - <long>ge[k]
    right = <long>gs[k + 1] - g
    if plus:
        if left <= right:
            return f"{_c_pos(tx, coding, _cdna_of(gs, ge, ex_cdna, plus, ge[k]))}+{left}"
        return f"{_c_pos(tx, coding, _cdna_of(gs, ge, ex_cdna, plus, gs[k + 1]))}-{right}"
    if right <= left:
        return f"{_c_pos(tx, coding, _cdna_of(gs, ge, ex_cdna, plus, gs[k + 1]))}+{right}"
    return f"{_c_pos(tx, coding, _cdna_of(gs, ge, ex_cdna, plus, ge[k]))}-{left}"


cdef str _hgvs_c(object tx, object allele, Py_ssize_t simple_exon, Py_ssize_t intron,
                 object effect, list gs, list ge, bint plus, bint coding):
    """``hgvs.hgvs_c``: insertions, and deletions on the plus strand (shifted 3' along the
    genome), are the Python function's; the rest is written here."""
    cdef str ref = allele.ref
    cdef str alt = allele.alt
    if not ref or (not alt and plus):
        return hgvs_c(tx, allele, simple_exon, intron, effect)
    cdef long s = allele.start
    cdef long e = allele.end
    cdef list ex_cdna = tx.ex_cdna
    cdef str prefix = "c." if coding else "n."
    cdef str where
    if s == e:
        where = _hgvs_pos(tx, coding, gs, ge, ex_cdna, plus, s)
    elif plus:
        where = (f"{_hgvs_pos(tx, coding, gs, ge, ex_cdna, plus, s)}_"
                 f"{_hgvs_pos(tx, coding, gs, ge, ex_cdna, plus, e)}")
    else:
        where = (f"{_hgvs_pos(tx, coding, gs, ge, ex_cdna, plus, e)}_"
                 f"{_hgvs_pos(tx, coding, gs, ge, ex_cdna, plus, s)}")
    if not alt:
        return f"{prefix}{where}del"
    cdef str tref = ref if plus else revcomp(ref)
    cdef str talt = alt if plus else revcomp(alt)
    if len(ref) == 1 and len(alt) == 1:
        return f"{prefix}{where}{tref}>{talt}"
    if len(ref) > 1 and talt == revcomp(tref):
        return f"{prefix}{where}inv"
    return f"{prefix}{where}delins{talt}"


cdef object _general(object tx, object allele, long s, long e):
    """``consequences.transcript.transcript_effect`` past its fast path."""
    cdef bint ins = e < s
    cdef long lo = e if ins else s
    cdef long hi = s if ins else e
    cdef list gs = tx.gstarts
    cdef list ge = tx.gends
    cdef Py_ssize_t n = len(gs)
    cdef bint plus = <long>tx.strand > 0
    cdef set terms = set()
    cdef Py_ssize_t intron_hit, k, k_first, k_end, k1, k2, simple_exon, nhits
    cdef bint frameshift_intron, exonic, coding, in_cds, before, after
    cdef long r, rmin, rmax, cs, ce, a, b, pa, pb
    effect = _effect(0)
    intron_hit, frameshift_intron = _splice_terms(s, e, terms, gs, ge, plus, n)
    # exonic.exon_hits
    cdef list hits = []
    k_end = _bisect_right(gs, hi)
    k_first = _bisect_right(gs, lo) - 1
    if k_first < 0:
        k_first = 0
    for k in range(k_first, k_end):
        if _overlap(s, e, gs[k], ge[k]):
            hits.append(k)
    nhits = len(hits)
    exonic = nhits > 0 or frameshift_intron
    if nhits:
        rmin = rmax = -1
        for k in hits:
            r = k + 1 if plus else n - k
            if rmin < 0 or r < rmin:
                rmin = r
            if r > rmax:
                rmax = r
        effect.exon = rmin
        effect.exon_last = rmax
        effect.exons = n
    if intron_hit >= 0:
        effect.intron = intron_hit + 1 if plus else n - 1 - intron_hit
        effect.introns = n - 1
    # exonic.containing_exon
    simple_exon = -1
    if ins:
        k1 = _exon_at(gs, ge, e)
        k2 = _exon_at(gs, ge, s)
        if k1 >= 0 and k1 == k2:
            simple_exon = k1
    elif nhits == 1:
        k = hits[0]
        if <long>gs[k] <= s and e <= <long>ge[k]:
            simple_exon = k
    if exonic:  # effect.span_positions(tx, s, e, ins, tx.cdna_of)
        ex_cdna = tx.ex_cdna
        if ins:
            a, b = e, s
        else:
            a, b = s, e
        pa = _cdna_of(gs, ge, ex_cdna, plus, a) if _exon_at(gs, ge, a) >= 0 else 0
        pb = _cdna_of(gs, ge, ex_cdna, plus, b) if _exon_at(gs, ge, b) >= 0 else 0
        if not plus:
            pa, pb = pb, pa
        effect.cdna_start = pa
        effect.cdna_end = pb
    coding = tx.coding
    if not coding:
        terms.add(so.NC_EXON if exonic else so.NC_TRANSCRIPT)
    else:
        cs = tx.cds_start
        ce = tx.cds_end
        if exonic:  # exonic.utr_terms
            before = _overlap(s, e, tx.start, cs - 1) or (ins and s == cs)
            after = _overlap(s, e, ce + 1, tx.end) or (ins and e == ce)
            if (before if plus else after):
                terms.add(so.UTR5)
            if (after if plus else before):
                terms.add(so.UTR3)
        if s == e:
            in_cds = nhits > 0 and cs <= s <= ce
        else:
            in_cds = False
            for k in hits:
                if _overlap(s, e, max(<long>gs[k], cs), min(<long>ge[k], ce)):
                    in_cds = True
                    break
        if in_cds:
            if simple_exon >= 0 and cs <= lo and hi <= ce:
                coding_effect(tx, allele, effect, terms)
            else:
                partial_coding(tx, allele, effect, terms)
        elif frameshift_intron and cs <= lo and hi <= ce:
            terms.add(so.CODING_SEQUENCE)
    if tx.biotype == _NMD_BIOTYPE:
        terms.add(so.NMD)
    if not terms:
        if not coding:
            terms.add(so.NC_EXON if exonic else so.NC_TRANSCRIPT)
        elif <long>tx.cds_start <= lo <= <long>tx.cds_end:
            terms.add(so.CODING_SEQUENCE)
        else:
            terms.add(so.CODING_TRANSCRIPT)
    if allele.ref != allele.alt:
        effect.hgvs_c = _hgvs_c(
            tx, allele, simple_exon, intron_hit if not nhits else -1, effect, gs, ge, plus,
            coding
        )
    effect.terms = so.flags_of(terms)
    return effect


def transcript_effect(tx, allele):
    """Consequences of an allele that overlaps the transcript (see
    ``consequences.transcript.transcript_effect``, the reference)."""
    cdef long s, e
    if allele.kind != "seq":
        return _py_transcript_effect(tx, allele)
    s = allele.start
    e = allele.end
    if s == e and len(<str>allele.alt) == 1:
        fast = _snv_fast(tx, allele, s)
        if fast is not None:
            return fast
    return _general(tx, allele, s, e)


cdef inline long _top_rank(object flags):
    """``so.top_rank``: the index of the lowest set bit (flags fit in 64 bits)."""
    cdef unsigned long long f = flags
    if f == 0:
        return -1
    return __builtin_ctzll(f)


cdef extern from *:
    int __builtin_ctzll(unsigned long long)


def _hit_order(hit):
    """``pipeline.transcript_level._hit_order``."""
    tx = hit.tx
    rank = _top_rank(hit.effect.terms)
    if tx is None:
        return (rank, (0, 0, 0))
    return (rank, tx.order_key)


def _hit_key(hit):
    """The order of :func:`_hit_order` as one integer, for transcript hits: (rank, MANE /
    canonical / other, coding first, transcript index)."""
    cdef tuple key = hit.tx.order_key
    cdef unsigned long long k = _top_rank(hit.effect.terms)
    k = (k * 4 + <unsigned long long>key[0]) * 2 + <unsigned long long>key[1]
    return (k << 40) | <unsigned long long>key[2]


def pair_hits(annotator, list queries, list idx, list bounds, list tx_hits, hit_cls,
              long model_cache):
    """Every (allele, transcript) pair of a chunk: the hits of each query, sorted; returns
    the positions in ``idx`` of the queries with no transcript (see
    ``pipeline.transcript_level.pair_hits``, the reference)."""
    cdef dict models = annotator.models
    cdef dict flanks = annotator._flank_effects
    cdef list no_hits = []
    cdef list hits
    cdef Py_ssize_t j, b0, b1, m
    cdef long a_start, a_end, t_start, t_end, strand
    bundle = annotator.bundle
    effect_of = annotator.path.transcript_effect
    hit_new = hit_cls.__new__
    if tuple(hit_cls.__slots__) != ("effect", "tx", "near", "near_ids"):
        raise TypeError(f"pair_hits: unexpected fields of {hit_cls.__name__}")
    upstream = _UPSTREAM
    downstream = _DOWNSTREAM
    for j in range(len(idx)):
        query = queries[<Py_ssize_t>idx[j]]
        allele = query.allele
        a_start = allele.start
        a_end = allele.end
        hits = []
        b0 = bounds[j]
        b1 = bounds[j + 1]
        for m in range(b0, b1):
            t = tx_hits[m]
            model = models.get(t)
            if model is None:
                if len(models) >= model_cache:
                    models.clear()
                    annotator.labels.clear()
                model = models[t] = TxModel(bundle, t)
            t_start = model.start
            t_end = model.end
            if a_end < t_start:
                strand = model.strand
                key = (strand > 0, t_start - a_end)
                effect = flanks.get(key)
                if effect is None:
                    effect = flanks[key] = TxEffect(
                        upstream if strand > 0 else downstream, distance=t_start - a_end
                    )
            elif a_start > t_end:
                strand = model.strand
                key = (strand < 0, a_start - t_end)
                effect = flanks.get(key)
                if effect is None:
                    effect = flanks[key] = TxEffect(
                        upstream if strand < 0 else downstream, distance=a_start - t_end
                    )
            else:
                effect = effect_of(model, allele)
            hit = hit_new(hit_cls)
            hit.effect = effect
            hit.tx = model
            hit.near = ""
            hit.near_ids = ""
            hits.append(hit)
        if hits:
            if len(hits) > 1:
                hits.sort(key=_hit_key)
            query.hits = hits
        else:
            no_hits.append(j)
    return no_hits


# ---------------------------------------------------------------------------- a chunk's alleles

cdef tuple _ALLELE_SLOTS = ("code", "start", "end", "ref", "alt", "kind", "sv_type")
cdef tuple _QUERY_SLOTS = ("allele", "flags", "csq_allele", "hits", "known_ids", "known_values")


cdef inline object _allele(object cls, long code, long start, long end, str ref, str alt):
    a = cls.__new__(cls)
    a.code = code
    a.start = start
    a.end = end
    a.ref = ref
    a.alt = alt
    a.kind = "seq"
    a.sv_type = ""
    return a


cdef inline object _query(object cls, object allele, list flags, str csq_allele):
    q = cls.__new__(cls)
    q.allele = allele
    q.flags = flags
    q.csq_allele = csq_allele
    q.hits = []
    q.known_ids = []
    q.known_values = {}
    return q


cdef tuple _trim(str ref, str alt):
    """``vcf.alleles.trim``."""
    cdef Py_ssize_t lr = len(ref), la = len(alt), n, p = 0, s = 0
    n = lr if lr < la else la
    while p < n and ref[p] == alt[p]:
        p += 1
    cdef str r = ref[p:]
    cdef str a = alt[p:]
    lr -= p
    la -= p
    n = lr if lr < la else la
    while s < n and r[lr - 1 - s] == a[la - 1 - s]:
        s += 1
    if s:
        r = r[: lr - s]
        a = a[: la - s]
    return r, a, p


def alleles(annotator, chunk, out, stats, query_cls, helpers):
    """Every ALT allele of a chunk checked against the genome and normalized (see
    ``pipeline.transcript_level.TranscriptAnnotator._alleles``, the reference). ``helpers``:
    the reference module's own pieces (``_V3_DEL``, ``_V3_INS``, ``_iupac_equal``,
    ``WARNING_REF``, ``normalize``, ``Allele``, ``alleles`` module), so both paths use them."""
    v3_del, v3_ins, iupac_equal, warning_ref, normalize, allele_cls, al = helpers
    if (tuple(query_cls.__slots__) != _QUERY_SLOTS
            or tuple(allele_cls.__slots__) != _ALLELE_SLOTS):
        raise TypeError("alleles: unexpected fields of _Query or Allele")
    bundle = annotator.bundle
    genome = bundle.genome
    fetch = genome.fetch
    cdef list lengths = genome.lengths
    cdef list queries = []
    cdef list first_q = chunk.first_q
    cdef list q_allele = chunk.q_allele
    cdef list q_code = chunk.q_code
    cdef list q_class = chunk.q_class
    cdef bint v3 = chunk.vcf_v3
    cdef list records = chunk.records
    cdef Py_ssize_t r, q, q0, q1, a_index, nrec = len(records)
    cdef long pos, code, start, nref
    cdef str ref, alt, r_seq, alt_text, core_r, core_a, genome_ref
    cdef list parts, flags
    cdef object ref_checked
    symbolic = al.SYMBOLIC
    for r in range(nrec):
        parts = records[r]
        q0 = first_q[r]
        q1 = first_q[r + 1]
        pos = int(parts[1])
        ref = (<str>parts[3]).upper()
        alts = (<str>parts[4]).split(",") if q1 - q0 > 1 else (parts[4],)
        ref_checked = None
        nref = len(ref)
        for q in range(q0, q1):
            a_index = q - q0
            alt_obj = q_allele[q]
            code = q_code[q]
            if alt_obj is None:
                queries.append(query_cls(None))
                continue
            alt_text = <str>alt_obj
            if code < 0:
                queries.append(
                    query_cls(allele_cls(-1, pos, pos, "", ""), csq_allele=alt_text)
                )
                continue
            vclass = q_class[q]
            if vclass == symbolic:
                kind = al.symbolic_kind(alts[a_index] if a_index < len(alts) else alt_text)
                allele = allele_cls(
                    code, chunk.q_start[q], chunk.q_end[q], "", "", kind="sv", sv_type=kind
                )
                queries.append(query_cls(allele, csq_allele=alt_text))
                continue
            flags = []
            alt = alt_text.upper()
            r_seq = ref
            m = v3_del.fullmatch(alt_text) if v3 else None
            if m is not None:
                r_seq = fetch(code, pos, pos + int(m.group(1)))
                alt = r_seq[:1]
            else:
                m = v3_ins.fullmatch(alt_text) if v3 else None
                if m is not None:
                    alt = ref[:1] + m.group(1).upper()
                    r_seq = ref[:1]
                else:
                    if ref_checked is None:
                        genome_ref = fetch(code, pos, pos + nref - 1)
                        ref_checked = genome_ref == ref or iupac_equal(genome_ref, ref)
                        if pos + nref - 1 > <long>lengths[code]:
                            ref_checked = False
                        if not ref_checked:
                            stats.ref_mismatches += 1
                            out.tally.warnings.count(
                                "{n} record(s) have a REF that does not match the reference "
                                f"genome of {bundle.name} (first at line {{line}}); they "
                                "were annotated as given, with "
                                f"{warning_ref} in ANN",
                                chunk.line_no[r],
                            )
                    if not ref_checked:
                        flags.append(warning_ref)
            core_r, core_a, off = _trim(r_seq, alt)
            csq_allele = core_a or "-"
            if ref_checked is False or len(core_r) == len(core_a):
                start = pos + <long>off
                queries.append(_query(query_cls, _allele(
                    allele_cls, code, start, start + len(core_r) - 1, core_r, core_a
                ), flags, csq_allele))
            else:
                start, tref, talt = normalize(genome, code, pos, r_seq, alt)
                queries.append(_query(query_cls, _allele(
                    allele_cls, code, start, start + len(<str>tref) - 1, tref, talt
                ), flags, csq_allele))
    return queries
