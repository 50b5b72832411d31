"""Coding terms of a change inside the CDS, by kind of variant: substitutions (SNV, MNV),
in-frame insertions and deletions, frameshifts; the start and stop codon rules that apply
to all of them; and HGVS p. Codons the change touches are translated before and after
(the transcript's genetic code)."""

from __future__ import annotations

from dataclasses import dataclass

from ..reference.seq import revcomp, start_codons, translate
from ..reference.transcripts import TxModel
from ..vcf.alleles import trim
from . import so
from .effect import Allele, TxEffect, overlap, span_positions
from .hgvs import aa3, protein_change

_COMPLEMENT_BASE = {"A": "T", "C": "G", "G": "C", "T": "A"}
_MISSENSE_TERMS = (so.BIT[so.MISSENSE], so.flags_of([so.MISSENSE, so.NMD]))
_SYNONYMOUS_TERMS = (so.BIT[so.SYNONYMOUS], so.flags_of([so.SYNONYMOUS, so.NMD]))
_STOP_GAINED_TERMS = (so.BIT[so.STOP_GAINED], so.flags_of([so.STOP_GAINED, so.NMD]))

#: terms that say what a change does to the protein (else: coding_sequence_variant)
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


# ---------------------------------------------------------------------------- SNV fast path


def snv_cds(tx: TxModel, allele: Allele, k: int) -> TxEffect | None:
    """A single-base substitution inside the CDS of exon ``k``, at least three bases from
    the exon's ends (so no splice term), in an ordinary codon: missense, synonymous or
    stop_gained, exactly as :func:`coding_effect` would say. None for the rest (start and
    stop codons, partial or ambiguous codons, non-ACGT alleles): the general path decides."""
    s = allele.start
    ref, alt = allele.ref, allele.alt
    plus = tx.strand > 0
    if plus:
        tref, talt = ref, alt
        cdna = tx.ex_cdna[k] + (s - tx.gstarts[k])
    else:
        c_ref = _COMPLEMENT_BASE.get(ref)
        c_alt = _COMPLEMENT_BASE.get(alt)
        if c_ref is None or c_alt is None:
            return None
        tref, talt = c_ref, c_alt
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
    effect = TxEffect(terms)
    effect.exon = effect.exon_last = tx.exon_rank(k)
    effect.exons = len(tx.gstarts)
    effect.cdna_start = effect.cdna_end = cdna
    effect.cds_start = effect.cds_end = c
    effect.aa_start = effect.aa_end = aa_no
    low = ref_win.lower()
    effect.codons = (
        f"{low[:lead]}{tref.upper()}{low[lead + 1 :]}/{low[:lead]}{talt.upper()}{low[lead + 1 :]}"
    )
    effect.amino_acids = r if r == a else f"{r}/{a}"
    effect.hgvs_p = change
    effect.hgvs_c = f"c.{c}{tref}>{talt}"
    return effect


# ---------------------------------------------------------------------------- partly coding


def partial_coding(tx: TxModel, allele: Allele, effect: TxEffect, terms: set[str]) -> None:
    """A change that is only partly in the CDS (it crosses an exon or CDS boundary)."""
    s, e = allele.start, allele.end
    cs, ce = tx.cds_start, tx.cds_end
    if tx.strand > 0:
        start_codon, stop_codon = (cs, cs + 2), (ce - 2, ce)
    else:
        start_codon, stop_codon = (ce - 2, ce), (cs, cs + 2)
    if tx.start_complete and overlap(s, e, *start_codon):
        terms.add(so.START_LOST)
    if tx.end_complete and overlap(s, e, *stop_codon) and tx.protein.endswith("*"):
        terms.add(so.STOP_LOST)
    terms.add(so.CODING_SEQUENCE)
    effect.cds_start, effect.cds_end = span_positions(tx, s, e, e < s, lambda g: _cds_of(tx, g))


def _cds_of(tx: TxModel, g: int) -> int | None:
    if not tx.cds_start <= g <= tx.cds_end:
        return None
    return tx.cdna_of(g) - tx.cds_cdna_start + 1


# ---------------------------------------------------------------------------- wholly coding


@dataclass(slots=True)
class CodonChange:
    """The codons a change inside one exon's CDS touches, before and after it."""

    x: int  # cDNA span of the change (an insertion: y = x - 1)
    y: int
    cx: int  # the same in CDS positions (1-based)
    cy: int
    k1: int  # first and last codon touched (0-based; k2 < k1 for an insertion between)
    k2: int
    talt: str  # ALT in transcript orientation
    ref_win: str  # the codons before and after the change
    alt_win: str
    alt_cds: str  # the whole CDS after the change
    delta: int  # length change
    ref_pep: str
    alt_pep: str

    @property
    def frameshift(self) -> bool:
        return self.delta % 3 != 0


def coding_effect(tx: TxModel, allele: Allele, effect: TxEffect, terms: set[str]) -> None:
    """A change wholly inside the coding part of one exon: codons, peptides, terms, p."""
    c = _codon_change(tx, allele, effect)
    cds = tx.cds
    if 3 * (c.k2 + 1) > len(cds) or (c.k2 < c.k1 and 3 * c.k1 >= len(cds)):
        terms.add(so.INCOMPLETE_TERMINAL_CODON)
        terms.add(so.CODING_SEQUENCE)
        return
    frameshift = c.frameshift
    effect.amino_acids = _amino_acids(c)
    if "X" in c.ref_pep or ("X" in c.alt_pep and not frameshift):  # ambiguous
        terms.add(so.CODING_SEQUENCE)
        return
    start_lost, start_retained = _start_codon_rule(tx, c, effect)
    stop_retained, stop_gained, stop_lost = _stop_codon_rule(tx, c)
    if start_lost:
        terms.add(so.START_LOST)
    if start_retained:
        terms.add(so.START_RETAINED)
    if stop_retained:
        terms.add(so.STOP_RETAINED)
    if stop_gained:
        terms.add(so.STOP_GAINED)
    if stop_lost:
        terms.add(so.STOP_LOST)
    if frameshift:
        terms.add(so.FRAMESHIFT)
    elif not start_lost:
        if c.delta == 0:
            term = _substitution_term(c, start_retained, stop_retained, stop_gained, stop_lost)
        elif c.delta > 0:
            term = _inframe_insertion_term(c, start_retained)
        else:
            term = _inframe_deletion_term(c)
        if term:
            terms.add(term)
    if not terms & _CODING_TERMS:
        terms.add(so.CODING_SEQUENCE)
    effect.hgvs_p = _hgvs_p(tx, c, start_lost, start_retained)


def _codon_change(tx: TxModel, allele: Allele, effect: TxEffect) -> CodonChange:
    """Locate the change in the CDS; set the effect's CDS and protein positions and codons."""
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
    effect.cds_start, effect.cds_end = (cy, cx) if ins else (cx, cy)
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
    # codons: changed bases upper case
    lead = px - 1 - 3 * k1
    if ref_win or alt_win:
        r_show = ref_win.lower()
        a_show = alt_win.lower()
        r_show = r_show[:lead] + tref.upper() + r_show[lead + len(tref) :] if ref_win else "-"
        a_show = a_show[:lead] + talt.upper() + a_show[lead + len(talt) :] if alt_win else "-"
        effect.codons = f"{r_show}/{a_show}"
    table = tx.codon_table
    ref_pep = translate(ref_win, table)
    whole = len(alt_win) // 3 * 3
    alt_pep = translate(alt_win[:whole], table)
    if len(alt_win) > whole and "*" not in alt_pep:
        alt_pep += "X"
    # an insertion between two codons: the codons on either side
    effect.aa_start, effect.aa_end = (k1 + 1, k2 + 1) if k2 >= k1 else (k1, k1 + 1)
    effect.flags = []
    return CodonChange(
        x, y, cx, cy, k1, k2, talt, ref_win, alt_win, alt_cds, delta, ref_pep, alt_pep
    )


def _amino_acids(c: CodonChange) -> str:
    if c.ref_pep == c.alt_pep:
        return c.ref_pep or "-"
    return f"{c.ref_pep or '-'}/{c.alt_pep or '-'}"


def _start_codon_rule(tx: TxModel, c: CodonChange, effect: TxEffect) -> tuple[bool, bool]:
    """(start_lost, start_retained). The first codon of a complete CDS is an initiator:
    Met if it is one of the code's start codons (ATT, ATA … in mitochondria), so ATT>ATC is
    start_retained, not synonymous, and ATT>ATG is not start_lost."""
    if not (tx.start_complete and overlap(c.cx, c.cy, 1, 3)):
        return False, False
    if c.delta:
        cds = tx.cds
        utr_and_cds = tx.cdna[: tx.cds_cdna_start - 1] + cds[tx.pad :]
        edited = utr_and_cds[: c.x - 1] + c.talt + utr_and_cds[c.y :]
        at = tx.cds_cdna_start - 1
        if edited[at : at + 3] == utr_and_cds[at : at + 3]:
            return False, True
        return True, False
    start_retained = False
    starts = start_codons(tx.codon_table)
    if c.k1 == 0 and c.ref_win[:3] in starts:
        c.ref_pep = "M" + c.ref_pep[1:]
        if c.alt_win[:3] in starts:
            c.alt_pep = "M" + c.alt_pep[1:]
            start_retained = c.alt_win[:3] != c.ref_win[:3]
        effect.amino_acids = (
            c.ref_pep if c.ref_pep == c.alt_pep else f"{c.ref_pep or '-'}/{c.alt_pep or '-'}"
        )
    return c.alt_pep[:1] != c.ref_pep[:1], start_retained


def _stop_codon_rule(tx: TxModel, c: CodonChange) -> tuple[bool, bool, bool]:
    """(stop_retained, stop_gained, stop_lost)."""
    ref_pep, alt_pep = c.ref_pep, c.alt_pep
    cds = tx.cds
    stop_len = len(cds) - tx.pad
    stop_overlap = (
        tx.end_complete
        and tx.protein.endswith("*")
        and len(tx.protein) * 3 == len(cds)
        and overlap(c.cx, c.cy, stop_len - 2, stop_len)
    )
    stop_retained = False
    if ref_pep[:1] == "*" and alt_pep[:1] == "*":
        stop_retained = True
    elif stop_overlap and c.delta and "*" not in alt_pep and not c.frameshift:
        # an in-frame change overlapping the stop codon that keeps a stop in place
        d = c.delta
        stop_retained = c.alt_cds[len(cds) + d - 3 : len(cds) + d] in _stops(tx.codon_table)
    stop_gained = "*" in alt_pep and "*" not in ref_pep and not stop_retained
    stop_lost = "*" in ref_pep and "*" not in alt_pep and not stop_retained
    return stop_retained, stop_gained, stop_lost


def _substitution_term(
    c: CodonChange, start_retained: bool, stop_retained: bool, stop_gained: bool, stop_lost: bool
) -> str | None:
    """SNVs and MNVs: synonymous or missense (unless a start/stop rule said more)."""
    if c.ref_pep == c.alt_pep:
        if not stop_retained and not start_retained:
            return so.SYNONYMOUS
        return None
    if not (stop_gained or stop_lost):
        return so.MISSENSE
    return None


def _inframe_insertion_term(c: CodonChange, start_retained: bool) -> str | None:
    ref_pep, alt_pep = c.ref_pep, c.alt_pep
    trimmed = alt_pep[: alt_pep.index("*") + 1] if "*" in alt_pep else alt_pep
    if start_retained and alt_pep.endswith(ref_pep):
        return None
    if trimmed.startswith(ref_pep) or trimmed.endswith(ref_pep):
        return so.INFRAME_INSERTION
    if not (ref_pep[:1] == "*" or alt_pep[:1] == "*"):
        return so.PROTEIN_ALTERING
    return None


def _inframe_deletion_term(c: CodonChange) -> str | None:
    ref_codons, alt_codons = c.ref_win, c.alt_win
    if ref_codons.startswith(alt_codons) or ref_codons.endswith(alt_codons):
        return so.INFRAME_DELETION
    r, a, _ = trim(ref_codons, alt_codons)
    if not a and len(r) % 3 == 0:
        return so.INFRAME_DELETION
    if not (c.ref_pep[:1] == "*" or c.alt_pep[:1] == "*"):
        return so.PROTEIN_ALTERING
    return None


def _hgvs_p(tx: TxModel, c: CodonChange, start_lost: bool, start_retained: bool) -> str:
    if start_lost:
        return "p.Met1?"
    alt_tail = ""
    if c.frameshift or "*" in c.ref_pep:  # the protein's new end is somewhere downstream
        alt_tail = translate(c.alt_cds[3 * c.k1 :] + tx.utr3, tx.codon_table, to_stop=True)
    change = protein_change(tx.protein, alt_tail, c.k1, c.ref_pep, c.alt_pep, c.frameshift, False)
    if change == "=" and start_retained and not c.delta:
        change = "Met1="  # one start codon for another: the protein is unchanged
    return f"p.{change}" if change != "=" else ""


def _stops(table: dict[str, str]) -> frozenset[str]:
    return frozenset(c for c, aa in table.items() if aa == "*")
