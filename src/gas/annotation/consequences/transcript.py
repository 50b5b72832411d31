"""Consequences of one allele on one transcript, the way Ensembl VEP predicts them.

Alleles come normalized (normalize.py): ``start``/``end`` are the genomic span of the
reference bases the allele replaces; an insertion has ``ref == ""`` and ``end == start - 1``
(it sits between ``end`` and ``start``). "Overlap" is VEP's: spans ``[a, b]`` and ``[c, d]``
overlap when ``b >= c and a <= d``, which for an insertion means both bases around it are
inside the other span.

Splice terms, per intron ``[is, ie]`` of a transcript (``+`` strand shown; the minus strand
mirrors them): splice_donor_variant ``is..is+1``; splice_acceptor_variant ``ie-1..ie``;
splice_donor_5th_base_variant ``is+4``; splice_donor_region_variant ``is+2..is+5``;
splice_polypyrimidine_tract_variant ``ie-16..ie-2``; splice_region_variant ``is+2..is+7``,
``ie-7..ie-2`` and the 3 exon bases on either side (not reported with the donor sites,
donor 5th base or donor region, as VEP). Introns of 12 bases or fewer are gaps in the
alignment of a transcript to the genome, not real introns: no intron or splice terms.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from . import so
from .hgvs import aa3, protein_change
from .normalize import right_align_limit
from .seq import revcomp, start_codons, translate
from .transcripts import TxModel

FRAMESHIFT_INTRON = 12


@dataclass(slots=True)
class Allele:
    """A normalized ALT allele on a contig (see the module docstring)."""

    code: int
    start: int
    end: int
    ref: str
    alt: str
    kind: str = "seq"  # "seq", or "sv" for a symbolic allele (span only)
    sv_type: str = ""

    @property
    def insertion(self) -> bool:
        return self.end < self.start


@dataclass(slots=True)
class TxEffect:
    """What one allele does to one transcript (the fields of ANN and CSQ)."""

    terms: list[str]
    exon: str = ""  # "3/10"
    intron: str = ""
    hgvs_c: str = ""
    hgvs_p: str = ""
    cdna_pos: str = ""  # VEP style: "123", "123-125", "?-125"
    cds_pos: str = ""
    aa_pos: str = ""
    amino_acids: str = ""
    codons: str = ""
    distance: int | None = None
    flags: list[str] = field(default_factory=list)
    shifted: bool = False

    @property
    def rank(self) -> int:
        return so.RANK[self.terms[0]]


def _overlap(a: int, b: int, c: int, d: int) -> bool:
    return b >= c and a <= d


def flank_effect(tx: TxModel, allele: Allele) -> TxEffect | None:
    """Up- or downstream (within 5 kb) of a transcript the allele does not overlap."""
    s, e = allele.start, allele.end
    if e < tx.start:
        before, distance = True, tx.start - e
    elif s > tx.end:
        before, distance = False, s - tx.end
    else:
        return None
    upstream = before if tx.strand > 0 else not before
    return TxEffect([so.UPSTREAM if upstream else so.DOWNSTREAM], distance=distance)


def transcript_effect(tx: TxModel, allele: Allele) -> TxEffect:
    """Consequences of an allele that overlaps the transcript."""
    s, e = allele.start, allele.end
    if s == e and len(allele.alt) == 1 and allele.kind != "sv":
        fast = _snv_fast(tx, allele)
        if fast is not None:
            return fast
    ins = e < s
    terms: set[str] = set()
    strand = tx.strand
    gs, ge = tx.gstarts, tx.gends
    n = len(gs)
    lo, hi = (e, s) if ins else (s, e)
    effect = TxEffect([])

    if allele.kind == "sv":
        return _sv_effect(tx, allele, effect)

    # -- introns and splice sites
    intronic = donor = acceptor = region = fifth = donor_region = ppt = False
    frameshift_intron = False
    intron_hit = -1
    for i in range(max(0, _first_exon_before(gs, lo) - 1), n - 1):
        i_s = ge[i] + 1
        i_e = gs[i + 1] - 1
        if i_s - 20 > hi:
            break
        if i_e + 20 < lo:
            continue
        if lo > i_s + 20 and hi < i_e - 20:  # deep in the intron: nothing else to check
            intronic = True
            intron_hit = i
            continue
        if i_e - i_s + 1 <= FRAMESHIFT_INTRON:
            if _overlap(s, e, i_s, i_e):
                frameshift_intron = True
            continue
        if s == e:  # one base: the same rules as below, by its distance from each end
            if i_s <= s <= i_e:
                k5, k3 = s - i_s + 1, i_e - s + 1  # 1-based from the genomic start / end
                d, a = (k5, k3) if strand > 0 else (k3, k5)  # from the donor / acceptor
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
            intron_hit = i if intron_hit < 0 else intron_hit
        if strand > 0:
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

    # -- exons
    k_end = bisect_right(gs, hi)
    exon_hits = [
        k for k in range(max(0, bisect_right(gs, lo) - 1), k_end) if _overlap(s, e, gs[k], ge[k])
    ]
    exonic = bool(exon_hits) or frameshift_intron
    if exon_hits:
        ranks = sorted(tx.exon_rank(k) for k in exon_hits)
        effect.exon = f"{ranks[0]}/{n}" if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}/{n}"
    if intron_hit >= 0:
        effect.intron = f"{tx.intron_rank(intron_hit)}/{n - 1}"

    simple_exon = -1  # the exon that holds the whole change, if one does
    if ins:
        k1, k2 = tx.exon_at(e), tx.exon_at(s)
        if k1 >= 0 and k1 == k2:
            simple_exon = k1
    elif exon_hits and len(exon_hits) == 1:
        k = exon_hits[0]
        if gs[k] <= s and e <= ge[k]:
            simple_exon = k

    # -- cDNA positions
    if exonic:
        effect.cdna_pos = _span_positions(tx, s, e, ins, tx.cdna_of)

    if not tx.coding:
        if exonic:
            terms.add(so.NC_EXON)
        else:
            terms.add(so.NC_TRANSCRIPT)
    else:
        cs, ce = tx.cds_start, tx.cds_end
        before = _overlap(s, e, tx.start, cs - 1) or (ins and s == cs)
        after = _overlap(s, e, ce + 1, tx.end) or (ins and e == ce)
        five, three = (before, after) if strand > 0 else (after, before)
        if exonic and five:
            terms.add(so.UTR5)
        if exonic and three:
            terms.add(so.UTR3)
        if s == e:
            in_cds = bool(exon_hits) and cs <= s <= ce
        else:
            in_cds = any(_overlap(s, e, max(gs[k], cs), min(ge[k], ce)) for k in exon_hits)
        if in_cds:
            if simple_exon >= 0 and cs <= lo and hi <= ce:
                _coding(tx, allele, effect, terms)
            else:
                _partial_coding(tx, allele, effect, terms)
        elif frameshift_intron and cs <= lo and hi <= ce:
            terms.add(so.CODING_SEQUENCE)

    if tx.biotype == "nonsense_mediated_decay":
        terms.add(so.NMD)
    if not terms:  # e.g. an insertion between an exon and a short intron
        if not tx.coding:
            terms.add(so.NC_EXON if exonic else so.NC_TRANSCRIPT)
        elif tx.cds_start <= lo <= tx.cds_end:
            terms.add(so.CODING_SEQUENCE)
        else:
            terms.add(so.CODING_TRANSCRIPT)

    # -- HGVS c./n.
    if allele.ref != allele.alt:
        effect.hgvs_c = _hgvs_c(
            tx, allele, simple_exon, intron_hit if not exon_hits else -1, effect
        )
    effect.terms = list(terms) if len(terms) == 1 else so.sort_terms(terms)
    return effect


def _snv_fast(tx: TxModel, allele: Allele) -> TxEffect | None:
    """The common single-base cases, quickly: deep in an intron, or in a UTR or non-coding
    exon away from splice regions. None for everything else (the general path decides)."""
    s = allele.start
    gs, ge = tx.gstarts, tx.gends
    k = bisect_right(gs, s) - 1
    n = len(gs)
    if k < 0:
        return None
    plus = tx.strand > 0
    if s <= ge[k]:  # exonic: only away from the splice regions, outside the CDS
        if (k > 0 and s - gs[k] < 3) or (k < n - 1 and ge[k] - s < 3):
            return None
        if tx.coding:
            if tx.cds_start <= s <= tx.cds_end:
                return _snv_cds(tx, allele, k)
            five = (s < tx.cds_start) == plus
            term_list = tx.utr5_terms if five else tx.utr3_terms
        else:
            term_list = tx.nc_exon_terms
        cdna = tx.ex_cdna[k] + (s - gs[k] if plus else ge[k] - s)
        effect = TxEffect(term_list)
        effect.exon = f"{tx.exon_rank(k)}/{n}"
        effect.cdna_pos = str(cdna)
        where = tx.c_pos(cdna)
    else:  # intronic: only deep inside (more than 20 bases from both ends)
        left = s - ge[k]
        right = gs[k + 1] - s
        if left <= 20 or right <= 20:
            return None
        effect = TxEffect(tx.intron_terms)
        effect.intron = f"{tx.intron_rank(k)}/{n - 1}"
        if plus:
            if left <= right:
                where = f"{tx.c_pos(tx.ex_cdna[k] + ge[k] - gs[k])}+{left}"
            else:
                where = f"{tx.c_pos(tx.ex_cdna[k + 1])}-{right}"
        elif right <= left:
            where = f"{tx.c_pos(tx.ex_cdna[k + 1] + ge[k + 1] - gs[k + 1])}+{right}"
        else:
            where = f"{tx.c_pos(tx.ex_cdna[k])}-{left}"
    if plus:
        change = f"{allele.ref}>{allele.alt}"
    else:
        change = f"{revcomp(allele.ref)}>{revcomp(allele.alt)}"
    effect.hgvs_c = f"{'c.' if tx.coding else 'n.'}{where}{change}"
    return effect


_COMPLEMENT_BASE = {"A": "T", "C": "G", "G": "C", "T": "A"}
_MISSENSE_TERMS = ([so.MISSENSE], so.sort_terms([so.MISSENSE, so.NMD]))
_SYNONYMOUS_TERMS = ([so.SYNONYMOUS], so.sort_terms([so.SYNONYMOUS, so.NMD]))
_STOP_GAINED_TERMS = ([so.STOP_GAINED], so.sort_terms([so.STOP_GAINED, so.NMD]))


def _snv_cds(tx: TxModel, allele: Allele, k: int) -> TxEffect | None:
    """A single-base substitution inside the CDS of exon ``k``, at least three bases from
    the exon's ends (so no splice term), in an ordinary codon: missense, synonymous or
    stop_gained, exactly as :func:`_coding` would say. None for the rest (start and stop
    codons, partial or ambiguous codons, non-ACGT alleles): the general path decides."""
    s = allele.start
    ref, alt = allele.ref, allele.alt
    plus = tx.strand > 0
    if plus:
        tref, talt = ref, alt
        cdna = tx.ex_cdna[k] + (s - tx.gstarts[k])
    else:
        tref = _COMPLEMENT_BASE.get(ref)
        talt = _COMPLEMENT_BASE.get(alt)
        if tref is None or talt is None:
            return None
        cdna = tx.ex_cdna[k] + (tx.gends[k] - s)
    if ref == alt or len(ref) != 1:
        return None
    c = cdna - tx.cds_cdna_start + 1  # CDS position (1-based)
    if c <= 3:
        return None
    cds = tx.cds
    px = c + tx.pad
    k1 = (px - 1) // 3
    end = 3 * k1 + 3
    if end > len(cds):
        return None
    ref_win = cds[end - 3 : end]
    lead = px - 1 - 3 * k1
    alt_win = ref_win[:lead] + talt + ref_win[lead + 1 :]
    table = tx.codon_table
    r = table.get(ref_win, "X")
    a = table.get(alt_win, "X")
    if r == "X" or a == "X" or r == "*":
        return None
    nmd = 1 if tx.biotype == "nonsense_mediated_decay" else 0
    aa_no = k1 + 1
    if a == "*":
        terms = _STOP_GAINED_TERMS[nmd]
        change = f"p.{aa3(r)}{aa_no}Ter"
    elif a == r:
        terms = _SYNONYMOUS_TERMS[nmd]
        change = f"p.{aa3(r)}{aa_no}="
    else:
        terms = _MISSENSE_TERMS[nmd]
        change = f"p.{aa3(r)}{aa_no}{aa3(a)}"
    effect = TxEffect(list(terms))
    n = len(tx.gstarts)
    effect.exon = f"{tx.exon_rank(k)}/{n}"
    effect.cdna_pos = str(cdna)
    effect.cds_pos = str(c)
    effect.aa_pos = str(aa_no)
    low = ref_win.lower()
    effect.codons = (
        f"{low[:lead]}{tref.upper()}{low[lead + 1 :]}/{low[:lead]}{talt.upper()}{low[lead + 1 :]}"
    )
    effect.amino_acids = r if r == a else f"{r}/{a}"
    effect.hgvs_p = change
    effect.hgvs_c = f"c.{c}{tref}>{talt}"
    return effect


def _first_exon_before(starts: list[int], pos: int) -> int:
    return bisect_right(starts, pos) - 1


def _span_positions(tx: TxModel, s: int, e: int, ins: bool, to_pos) -> str:  # type: ignore[no-untyped-def]
    """VEP-style ``a-b`` (or ``a``) in some transcript numbering; ``?`` for a non-exonic end."""
    if ins:
        a, b = e, s
    else:
        a, b = s, e
    pa = to_pos(a) if tx.exon_at(a) >= 0 else None
    pb = to_pos(b) if tx.exon_at(b) >= 0 else None
    if tx.strand < 0:
        pa, pb = pb, pa
    if pa is not None and pb is not None and pa == pb and not ins:
        return str(pa)
    return f"{'?' if pa is None else pa}-{'?' if pb is None else pb}"


def _sv_effect(tx: TxModel, allele: Allele, effect: TxEffect) -> TxEffect:
    s, e = allele.start, allele.end
    kind = allele.sv_type
    terms: set[str] = set()
    covers = s <= tx.start and e >= tx.end
    if kind in ("DEL", "CN0") and covers:
        terms.add(so.TRANSCRIPT_ABLATION)
    elif kind in ("DUP", "CNV", "CN2") and covers:
        terms.add(so.TRANSCRIPT_AMPLIFICATION)
    else:
        if kind == "DEL":
            terms.add(so.FEATURE_TRUNCATION)
        elif kind in ("DUP", "INS"):
            terms.add(so.FEATURE_ELONGATION)
        exonic = any(_overlap(s, e, a, b) for a, b in zip(tx.gstarts, tx.gends, strict=True))
        if tx.coding and exonic and _overlap(s, e, tx.cds_start, tx.cds_end):
            terms.add(so.CODING_SEQUENCE)
        elif exonic:
            terms.add(so.NC_EXON if not tx.coding else so.CODING_TRANSCRIPT)
        else:
            terms.add(so.INTRON)
    effect.terms = so.sort_terms(terms)
    return effect


def _partial_coding(tx: TxModel, allele: Allele, effect: TxEffect, terms: set[str]) -> None:
    """A change that is only partly in the CDS (it crosses an exon or CDS boundary)."""
    s, e = allele.start, allele.end
    cs, ce = tx.cds_start, tx.cds_end
    if tx.strand > 0:
        start_codon, stop_codon = (cs, cs + 2), (ce - 2, ce)
    else:
        start_codon, stop_codon = (ce - 2, ce), (cs, cs + 2)
    if tx.start_complete and _overlap(s, e, *start_codon):
        terms.add(so.START_LOST)
    if tx.end_complete and _overlap(s, e, *stop_codon) and tx.protein.endswith("*"):
        terms.add(so.STOP_LOST)
    terms.add(so.CODING_SEQUENCE)
    effect.cds_pos = _span_positions(tx, s, e, e < s, lambda g: _cds_of(tx, g))


def _cds_of(tx: TxModel, g: int) -> int | None:
    if not tx.cds_start <= g <= tx.cds_end:
        return None
    return tx.cdna_of(g) - tx.cds_cdna_start + 1


def _coding(tx: TxModel, allele: Allele, effect: TxEffect, terms: set[str]) -> None:
    """A change wholly inside the coding part of one exon: codons, peptides, terms."""
    s, e = allele.start, allele.end
    ins = e < s
    plus = tx.strand > 0
    tref = allele.ref if plus else revcomp(allele.ref)
    talt = allele.alt if plus else revcomp(allele.alt)
    if ins:
        # inserted before the cDNA position of the base 3' of the insertion
        x = tx.cdna_of(s) if plus else tx.cdna_of(e)
        y = x - 1
    else:
        a, b = tx.cdna_of(s), tx.cdna_of(e)
        x, y = (a, b) if a <= b else (b, a)
    cx = x - tx.cds_cdna_start + 1  # CDS positions (1-based)
    cy = y - tx.cds_cdna_start + 1
    pad = tx.pad
    cds = tx.cds
    px, py = cx + pad, cy + pad  # positions in the padded CDS
    if ins:
        effect.cds_pos = f"{cy}-{cx}"
    else:
        effect.cds_pos = str(cx) if cx == cy else f"{cx}-{cy}"
    if ins and (px - 1) % 3 == 0:
        k1 = (px - 1) // 3
        k2 = k1 - 1
    else:
        k1 = (px - 1) // 3
        k2 = (max(py, px) - 1) // 3
    ref_win = cds[3 * k1 : 3 * (k2 + 1)]
    alt_cds = cds[: px - 1] + talt + cds[py:]
    delta = len(talt) - len(tref)
    alt_win = alt_cds[3 * k1 : 3 * (k2 + 1) + delta] if k2 >= k1 or delta > 0 else ""
    table = tx.codon_table
    frameshift = delta % 3 != 0
    # codons: changed bases upper case
    lead = px - 1 - 3 * k1
    if ref_win or alt_win:
        r_show = ref_win.lower()
        a_show = alt_win.lower()
        r_show = r_show[:lead] + tref.upper() + r_show[lead + len(tref) :] if ref_win else "-"
        a_show = a_show[:lead] + talt.upper() + a_show[lead + len(talt) :] if alt_win else "-"
        effect.codons = f"{r_show}/{a_show}"
    partial = 3 * (k2 + 1) > len(cds) or (k2 < k1 and 3 * k1 >= len(cds))
    ref_pep = translate(ref_win, table)
    whole = len(alt_win) // 3 * 3
    alt_pep = translate(alt_win[:whole], table)
    if len(alt_win) > whole and "*" not in alt_pep:
        alt_pep += "X"
    if k2 >= k1:
        effect.aa_pos = str(k1 + 1) if k1 == k2 else f"{k1 + 1}-{k2 + 1}"
    else:
        effect.aa_pos = f"{k1}-{k1 + 1}"
    effect.flags = []
    if partial:
        terms.add(so.INCOMPLETE_TERMINAL_CODON)
        terms.add(so.CODING_SEQUENCE)
        return
    ambiguous = "X" in ref_pep or ("X" in alt_pep and not frameshift)
    effect.amino_acids = (
        ref_pep or "-" if ref_pep == alt_pep else f"{ref_pep or '-'}/{alt_pep or '-'}"
    )
    if ambiguous:
        terms.add(so.CODING_SEQUENCE)
        return

    start_overlap = tx.start_complete and _overlap(cx, cy, 1, 3)
    stop_len = len(cds) - pad
    stop_overlap = (
        tx.end_complete
        and tx.protein.endswith("*")
        and len(tx.protein) * 3 == len(cds)
        and _overlap(cx, cy, stop_len - 2, stop_len)
    )
    start_lost = start_retained = False
    if start_overlap:
        if delta:
            utr_and_cds = tx.cdna[: tx.cds_cdna_start - 1] + cds[pad:]
            edited = utr_and_cds[: x - 1] + talt + utr_and_cds[y:]
            at = tx.cds_cdna_start - 1
            if edited[at : at + 3] == utr_and_cds[at : at + 3]:
                start_retained = True
            else:
                start_lost = True
        else:
            # the first codon is an initiator: Met if it is one of the code's start codons
            # (ATT, ATA … in mitochondria), so ATT>ATC is start_retained, not synonymous,
            # and ATT>ATG is not start_lost
            starts = start_codons(table)
            if k1 == 0 and ref_win[:3] in starts:
                ref_pep = "M" + ref_pep[1:]
                if alt_win[:3] in starts:
                    alt_pep = "M" + alt_pep[1:]
                    start_retained = alt_win[:3] != ref_win[:3]
                effect.amino_acids = (
                    ref_pep if ref_pep == alt_pep else f"{ref_pep or '-'}/{alt_pep or '-'}"
                )
            start_lost = alt_pep[:1] != ref_pep[:1]
    if start_lost:
        terms.add(so.START_LOST)
    if start_retained:
        terms.add(so.START_RETAINED)

    stop_retained = False
    if ref_pep[:1] == "*" and alt_pep[:1] == "*":
        stop_retained = True
    elif stop_overlap and delta and "*" not in alt_pep and not frameshift:
        # an in-frame change overlapping the stop codon that keeps a stop in place
        stop_retained = alt_cds[len(cds) + delta - 3 : len(cds) + delta] in _stops(table)
    stop_gained = "*" in alt_pep and "*" not in ref_pep and not stop_retained
    stop_lost = "*" in ref_pep and "*" not in alt_pep and not stop_retained
    if stop_retained:
        terms.add(so.STOP_RETAINED)
    if stop_gained:
        terms.add(so.STOP_GAINED)
    if stop_lost:
        terms.add(so.STOP_LOST)
    if frameshift:
        terms.add(so.FRAMESHIFT)
    elif not start_lost:
        if delta == 0:
            if ref_pep == alt_pep:
                if not stop_retained and not start_retained:
                    terms.add(so.SYNONYMOUS)
            elif not (stop_gained or stop_lost or start_lost):
                terms.add(so.MISSENSE)
        elif delta > 0:
            trimmed = alt_pep[: alt_pep.index("*") + 1] if "*" in alt_pep else alt_pep
            if start_retained and alt_pep.endswith(ref_pep):
                pass
            elif trimmed.startswith(ref_pep) or trimmed.endswith(ref_pep):
                terms.add(so.INFRAME_INSERTION)
            elif not (ref_pep[:1] == "*" or alt_pep[:1] == "*"):
                terms.add(so.PROTEIN_ALTERING)
        else:
            if _inframe_deletion(ref_win, alt_win):
                terms.add(so.INFRAME_DELETION)
            elif not (ref_pep[:1] == "*" or alt_pep[:1] == "*"):
                terms.add(so.PROTEIN_ALTERING)
    if not terms & _CODING_TERMS:
        terms.add(so.CODING_SEQUENCE)

    # -- HGVS p.
    if start_lost:
        effect.hgvs_p = "p.Met1?"
        return
    alt_tail = ""
    if frameshift or "*" in ref_pep:  # the protein's new end is somewhere downstream
        alt_tail = translate(alt_cds[3 * k1 :] + tx.utr3, table, to_stop=True)
    change = protein_change(tx.protein, alt_tail, k1, ref_pep, alt_pep, frameshift, False)
    if change == "=" and start_retained and not delta:
        change = "Met1="  # one start codon for another: the protein is unchanged
    effect.hgvs_p = f"p.{change}" if change != "=" else ""


_CODING_TERMS = frozenset(
    {
        so.START_LOST,
        so.START_RETAINED,
        so.STOP_RETAINED,
        so.STOP_GAINED,
        so.STOP_LOST,
        so.FRAMESHIFT,
        so.SYNONYMOUS,
        so.MISSENSE,
        so.INFRAME_INSERTION,
        so.INFRAME_DELETION,
        so.PROTEIN_ALTERING,
    }
)


def _stops(table: dict[str, str]) -> frozenset[str]:
    return frozenset(c for c, aa in table.items() if aa == "*")


def _inframe_deletion(ref_codons: str, alt_codons: str) -> bool:
    if ref_codons.startswith(alt_codons) or ref_codons.endswith(alt_codons):
        return True
    n = min(len(ref_codons), len(alt_codons))
    p = 0
    while p < n and ref_codons[p] == alt_codons[p]:
        p += 1
    r, a = ref_codons[p:], alt_codons[p:]
    n = min(len(r), len(a))
    s = 0
    while s < n and r[-1 - s] == a[-1 - s]:
        s += 1
    a = a[: len(a) - s]
    r = r[: len(r) - s]
    return not a and len(r) % 3 == 0


# ---------------------------------------------------------------------------- HGVS c./n.


def _hgvs_c(tx: TxModel, allele: Allele, simple_exon: int, intron: int, effect: TxEffect) -> str:
    """``c.``/``n.`` notation, the change shifted 3' along the transcript as HGVS asks.

    The shift stays inside the exon (or intron) that holds the change; on the minus strand
    the left-aligned allele is already 3'-most.
    """
    s, e, ref, alt = allele.start, allele.end, allele.ref, allele.alt
    plus = tx.strand > 0
    prefix = "c." if tx.coding else "n."
    if (not ref or not alt) and plus:
        if simple_exon >= 0:
            limit = tx.gends[simple_exon]
        elif intron >= 0:
            limit = tx.gstarts[intron + 1] - 1
        else:
            limit = s - 1 if not ref else e  # no shifting across boundaries
        if limit > (e if ref else s - 1):
            genome = tx.bundle.genome
            new_s, new_ref, new_alt = right_align_limit(genome, tx.code, s, ref, alt, limit)
            if new_s != s:
                effect.shifted = True
            s, ref, alt = new_s, new_ref, new_alt
            e = s + len(ref) - 1
    pos = tx.hgvs_pos
    if not ref:  # insertion between e and s
        ins = alt if plus else revcomp(alt)
        n = len(alt)
        # a duplication of the bases just 5' of the insertion (in transcript orientation)
        genome = tx.bundle.genome
        if plus:
            before = genome.fetch(tx.code, s - n, s - 1)
            if before == alt:
                a, b = pos(s - n), pos(s - 1)
                return f"{prefix}{a}dup" if n == 1 else f"{prefix}{a}_{b}dup"
            return f"{prefix}{pos(e)}_{pos(s)}ins{ins}"
        after = genome.fetch(tx.code, s, s + n - 1)
        if after == alt:
            a, b = pos(s + n - 1), pos(s)
            return f"{prefix}{a}dup" if n == 1 else f"{prefix}{a}_{b}dup"
        return f"{prefix}{pos(s)}_{pos(e)}ins{ins}"
    first, last = (s, e) if plus else (e, s)
    where = pos(first) if s == e else f"{pos(first)}_{pos(last)}"
    if not alt:
        return f"{prefix}{where}del"
    tref = ref if plus else revcomp(ref)
    talt = alt if plus else revcomp(alt)
    if len(ref) == 1 and len(alt) == 1:
        return f"{prefix}{where}{tref}>{talt}"
    if len(ref) > 1 and talt == revcomp(tref):
        return f"{prefix}{where}inv"
    return f"{prefix}{where}delins{talt}"
