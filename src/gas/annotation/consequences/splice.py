"""Intron and splice-site terms of an allele on a transcript (VEP's predicates).

Per intron ``[is, ie]`` of a transcript (``+`` strand shown; the minus strand mirrors them):
splice_donor_variant ``is..is+1``; splice_acceptor_variant ``ie-1..ie``;
splice_donor_5th_base_variant ``is+4``; splice_donor_region_variant ``is+2..is+5``;
splice_polypyrimidine_tract_variant ``ie-16..ie-2``; splice_region_variant ``is+2..is+7``,
``ie-7..ie-2`` and the 3 exon bases on either side (not reported with the donor sites,
donor 5th base or donor region, as VEP); intron_variant the intron less its two splice-site
bases at each end. Introns of 12 bases or fewer are gaps in the alignment of a transcript
to the genome, not real introns: no intron or splice terms.
"""

from __future__ import annotations

from bisect import bisect_right

from ..reference.transcripts import TxModel
from . import so
from .effect import overlap

#: introns this short are alignment gaps (frameshift introns), not introns
FRAMESHIFT_INTRON = 12


def splice_terms(tx: TxModel, s: int, e: int, terms: set[str]) -> tuple[int, bool]:
    """Add the intron and splice terms of the span ``s..e`` (``e < s``: an insertion) to
    ``terms``; return the index of the intron it is in (or -1) and whether it touches a
    frameshift intron."""
    ins = e < s
    lo, hi = (e, s) if ins else (s, e)
    strand = tx.strand
    gs, ge = tx.gstarts, tx.gends
    n = len(gs)
    intronic = donor = acceptor = region = fifth = donor_region = ppt = False
    frameshift_intron = False
    intron_hit = -1
    for i in range(max(0, bisect_right(gs, lo) - 2), n - 1):
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
            if overlap(s, e, i_s, i_e):
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
        if overlap(s, e, i_s + 2, i_e - 2) or (ins and (s == i_s + 2 or e == i_e - 2)):
            intronic = True
            intron_hit = i
        start_ss = overlap(s, e, i_s, i_s + 1)
        end_ss = overlap(s, e, i_e - 1, i_e)
        if start_ss or end_ss:
            intron_hit = i if intron_hit < 0 else intron_hit
        if strand > 0:
            donor |= start_ss
            acceptor |= end_ss
            fifth |= overlap(s, e, i_s + 4, i_s + 4)
            donor_region |= overlap(s, e, i_s + 2, i_s + 5)
            ppt |= overlap(s, e, i_e - 16, i_e - 2)
        else:
            donor |= end_ss
            acceptor |= start_ss
            fifth |= overlap(s, e, i_e - 4, i_e - 4)
            donor_region |= overlap(s, e, i_e - 5, i_e - 2)
            ppt |= overlap(s, e, i_s + 2, i_s + 16)
        if not (start_ss or end_ss) and (
            overlap(s, e, i_s + 2, i_s + 7)
            or overlap(s, e, i_e - 7, i_e - 2)
            or overlap(s, e, i_s - 3, i_s - 1)
            or overlap(s, e, i_e + 1, i_e + 3)
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
