"""Property tests: normalization and HGVS on the hand-made reference.

- every placement of the same indel in a repeat normalizes to one form;
- every placement gives the same HGVS c. (the HGVS 3' rule);
- applying the HGVS c. change to the transcript's cDNA gives the cDNA of the changed genome.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gas.annotation.consequences.effect import Allele
from gas.annotation.consequences.normalize import normalize
from gas.annotation.consequences.transcript import transcript_effect
from gas.annotation.reference.bundle import load_bundle
from gas.annotation.reference.seq import revcomp
from gas.annotation.reference.transcripts import TxModel

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
EXONS = {
    "TXP.1": [(201, 300), (401, 500), (601, 700)],
    "TXM.1": [(1201, 1300), (1401, 1500), (1601, 1700)],
    "TXN.1": [(2201, 2300), (2401, 2500)],
}


@pytest.fixture(scope="module")
def ctx(handmade):
    bundle = load_bundle(handmade.gtf)
    models = {}
    for t in range(len(bundle.tx)):
        m = TxModel(bundle, t)
        models[m.tx_id] = m
    return bundle, models, "".join(handmade.genome)


def apply(genome: str, pos: int, ref: str, alt: str) -> str:
    assert genome[pos - 1 : pos - 1 + len(ref)] == ref
    return genome[: pos - 1] + alt + genome[pos - 1 + len(ref) :]


def equivalents(genome: str, pos: int, ref: str, alt: str, window: int = 40) -> list[tuple]:
    """Every VCF-style (pos, ref, alt) with a padding base that makes the same sequence."""
    target = apply(genome, pos, ref, alt)
    lo = max(2, pos - window)
    found = []
    d = len(alt) - len(ref)
    for q in range(lo, pos + window):
        if d < 0:
            r = genome[q - 2 : q - 1 + len(ref) - len(alt)]
            a = genome[q - 2]
        else:
            r = genome[q - 2]
            a = r + target[q - 1 : q - 1 + d]
        if apply(genome, q - 1, r, a) == target:
            found.append((q - 1, r, a))
    return found


indel = st.tuples(
    st.sampled_from(["del", "ins", "dup"]),
    st.integers(min_value=1, max_value=4),
    st.text(alphabet="ACGT", min_size=1, max_size=4),
)


def make_variant(genome: str, p: int, kind: str, n: int, seq: str) -> tuple[int, str, str]:
    if kind == "del":
        return p - 1, genome[p - 2 : p - 1 + n], genome[p - 2]
    if kind == "ins":
        return p - 1, genome[p - 2], genome[p - 2] + seq
    # duplicate the n bases ending at p-1
    unit = genome[p - 1 - n : p - 1]
    return p - 1, genome[p - 2], genome[p - 2] + unit


@SETTINGS
@given(p=st.integers(min_value=150, max_value=2900), change=indel)
def test_every_placement_of_an_indel_normalizes_to_one_form(ctx, p, change):
    bundle, _models, genome = ctx
    pos, ref, alt = make_variant(genome, p, *change)
    forms = {normalize(bundle.genome, 0, q, r, a) for q, r, a in equivalents(genome, pos, ref, alt)}
    assert len(forms) == 1
    start, r, a = forms.pop()
    # and it is the leftmost: nothing to its left gives the same sequence
    assert apply(genome, pos, ref, alt) == genome[: start - 1] + a + genome[start - 1 + len(r) :]


def hgvs(models, bundle, tid: str, pos: int, ref: str, alt: str) -> str:
    start, r, a = normalize(bundle.genome, 0, pos, ref, alt)
    allele = Allele(0, start, start + len(r) - 1, r, a)
    return transcript_effect(models[tid], allele).hgvs_c


def inside_one_exon(tid: str, lo: int, hi: int) -> tuple[int, int] | None:
    for s, e in EXONS[tid]:
        if s + 1 <= lo and hi <= e - 1:
            return s, e
    return None


@SETTINGS
@given(
    tid=st.sampled_from(sorted(EXONS)),
    exon=st.integers(min_value=0, max_value=2),
    offset=st.integers(min_value=3, max_value=97),
    change=st.one_of(
        indel,
        st.tuples(
            st.just("sub"), st.integers(1, 3), st.text(alphabet="ACGT", min_size=1, max_size=3)
        ),
    ),
)
def test_hgvs_is_the_same_for_every_placement_and_applies_back(ctx, tid, exon, offset, change):
    bundle, models, genome = ctx
    exons = EXONS[tid]
    assume(exon < len(exons))
    p = exons[exon][0] + offset
    kind, n, seq = change
    if kind == "sub":
        ref = genome[p - 1 : p - 1 + n]
        alt = seq
        assume(len(alt) == len(ref) or True)
        assume(ref != alt and ref[0] != alt[0] and ref[-1] != alt[-1])
        forms = [(p, ref, alt)]
    else:
        forms = equivalents(genome, *make_variant(genome, p, kind, n, seq))
    spans = [(q, q + len(r)) for q, r, _ in forms]
    lo = min(s for s, _ in spans)
    hi = max(e for _, e in spans)
    assume(inside_one_exon(tid, lo, hi) is not None)
    names = {hgvs(models, bundle, tid, q, r, a) for q, r, a in forms}
    assert len(names) == 1, names
    name = names.pop()
    pos, ref, alt = forms[0]
    tx = models[tid]
    assert apply_hgvs(tx, name) == changed_cdna(tx, genome, pos, ref, alt), name


def changed_cdna(tx: TxModel, genome: str, pos: int, ref: str, alt: str) -> str:
    new = apply(genome, pos, ref, alt)
    d = len(alt) - len(ref)
    parts = []
    for s, e in zip(tx.gstarts, tx.gends, strict=True):
        if e < pos:
            parts.append(new[s - 1 : e])
        elif s > pos + len(ref) - 1:
            parts.append(new[s - 1 + d : e + d])
        else:
            parts.append(new[s - 1 : e + d])
    seq = "".join(parts)
    return seq if tx.strand > 0 else revcomp(seq)


_HGVS = re.compile(
    r"^[cn]\.(?P<a>[-*]?\d+)(?:_(?P<b>[-*]?\d+))?"
    r"(?:(?P<sub>[ACGT])>(?P<to>[ACGT])|(?P<op>delins|del|dup|ins|inv)(?P<seq>[ACGT]*))$"
)


def apply_hgvs(tx: TxModel, name: str) -> str:
    m = _HGVS.match(name)
    assert m, name
    cdna = tx.cdna

    def index(text: str) -> int:
        if not tx.coding:
            return int(text)
        if text.startswith("-"):
            return tx.cds_cdna_start - int(text[1:])
        if text.startswith("*"):
            return tx.cds_cdna_end + int(text[1:])
        return tx.cds_cdna_start + int(text) - 1

    a = index(m["a"])
    b = index(m["b"]) if m["b"] else a
    if m["sub"]:
        assert cdna[a - 1] == m["sub"]
        return cdna[: a - 1] + m["to"] + cdna[a:]
    op, seq = m["op"], m["seq"]
    if op == "del":
        return cdna[: a - 1] + cdna[b:]
    if op == "dup":
        return cdna[:b] + cdna[a - 1 : b] + cdna[b:]
    if op == "ins":
        assert b == a + 1
        return cdna[:a] + seq + cdna[a:]
    if op == "inv":
        return cdna[: a - 1] + revcomp(cdna[a - 1 : b]) + cdna[b:]
    return cdna[: a - 1] + seq + cdna[b:]


@SETTINGS
@given(
    pos=st.integers(min_value=150, max_value=2850),
    tid=st.sampled_from(sorted(EXONS) + ["TXI.1", "TXD.1"]),
    shift=st.integers(min_value=1, max_value=3),
)
def test_the_single_base_shortcut_agrees_with_the_general_rules(ctx, pos, tid, shift, monkeypatch):
    from gas.annotation.consequences import transcript

    bundle, models, genome = ctx
    tx = models[tid]
    assume(tx.start <= pos <= tx.end)
    ref = genome[pos - 1]
    alt = "ACGT"[("ACGT".index(ref) + shift) % 4]  # every other base: missense, stop …
    allele = Allele(0, pos, pos, ref, alt)
    fast = transcript_effect(tx, allele)
    with monkeypatch.context() as m:
        m.setattr(transcript, "snv_fast", lambda _tx, _allele: None)
        slow = transcript_effect(tx, allele)
    assert fast == slow
