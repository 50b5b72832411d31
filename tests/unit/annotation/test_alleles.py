"""Allele trimming, variant classes and transitions/transversions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gas.annotation.vcf import alleles as al

from .vcfhelpers import HEADER, annotate, write


@pytest.mark.parametrize(
    "ref, alt, expected",
    [
        ("A", "G", "SNV"),
        ("ACG", "ATG", "SNV"),  # shared prefix and suffix trimmed
        ("AC", "GT", "MNV"),
        ("ACGT", "ATGA", "MNV"),  # after trimming A: CGT>TGA
        ("A", "AT", "insertion"),
        ("AT", "ATCT", "insertion"),
        ("AT", "A", "deletion"),
        ("CTT", "C", "deletion"),
        ("ACG", "TTAC", "indel"),
        ("AC", "T", "indel"),
        ("A", "*", "star"),
        ("A", ".", "ref"),
        ("A", "A", "ref"),
        ("N", "<DEL>", "symbolic"),
        ("N", "<DUP:TANDEM>", "symbolic"),
        ("N", "<INS:ME:ALU>", "symbolic"),
        ("N", "<CNV>", "symbolic"),
        ("N", "<INV>", "symbolic"),
        ("G", "G]17:198982]", "symbolic"),
        ("T", "]13:123456]T", "symbolic"),
        ("A", "A[1:123[", "symbolic"),
        ("G", ".G", "symbolic"),
        ("G", "G.", "symbolic"),
        ("A", "<*>", "symbolic"),
        ("a", "g", "SNV"),
        ("A", "R", "SNV"),  # IUPAC code
        ("A", "X", "unknown"),
        ("A", "D2", "unknown"),  # VCF 3.3 notation is only read in VCF 3.3 files
    ],
)
def test_variant_class(ref, alt, expected):
    classifier = al.AlleleClassifier()
    result = classifier.classify(ref.upper(), alt)
    assert (result[0] if result else al.SYMBOLIC) == expected


def test_vcf_3_3_indel_notation():
    classifier = al.AlleleClassifier(vcf_v3=True)
    assert classifier.classify("A", "D2")[:1] == ("deletion",)
    assert classifier.classify("A", "IACG")[:1] == ("insertion",)


@pytest.mark.parametrize(
    "ref, alt, expected",
    [
        ("A", "G", "ts"),
        ("G", "A", "ts"),
        ("C", "T", "ts"),
        ("T", "C", "ts"),
        ("A", "C", "tv"),
        ("A", "T", "tv"),
        ("G", "C", "tv"),
        ("G", "T", "tv"),
        ("C", "A", "tv"),
        ("C", "G", "tv"),
        ("T", "A", "tv"),
        ("T", "G", "tv"),
        ("A", "N", "."),
        ("ACG", "ATG", "ts"),
        ("AC", "GT", "."),
    ],
)
def test_transitions_and_transversions(ref, alt, expected):
    assert al.AlleleClassifier().classify(ref, alt)[1] == expected


def test_spans_of_each_class():
    c = al.AlleleClassifier()
    assert c.classify("A", "G")[2:] == (0, 0)
    assert c.classify("ACG", "ATG")[2:] == (1, 1)
    assert c.classify("AT", "A")[2:] == (1, 1)  # the T after the anchor base
    assert c.classify("A", "AT")[2:] == (0, 1)  # between POS and POS+1
    assert c.classify("ACGT", "A")[2:] == (1, 3)
    assert al.symbolic_span(100, 1, "<DEL>", 500, None) == (100, 500)
    assert al.symbolic_span(100, 1, "<DEL>", None, -50) == (100, 150)
    assert al.symbolic_span(100, 1, "<INS>", None, 300) == (100, 101)
    assert al.symbolic_span(100, 1, "N[1:5[", None, None) == (100, 100)
    assert al.symbolic_span(100, 3, "<NON_REF>", None, None) == (100, 102)


bases = st.text(alphabet="ACGT", min_size=0, max_size=8)


@settings(deadline=None)
@given(prefix=bases, core_ref=bases, core_alt=bases, suffix=bases)
def test_trimming_removes_only_shared_bases(prefix, core_ref, core_alt, suffix):
    ref, alt = prefix + core_ref + suffix, prefix + core_alt + suffix
    r, a, offset = al.trim(ref, alt)
    # what is left is a part of each allele at the same offset, surrounded by shared bases
    assert ref[offset : offset + len(r)] == r
    assert alt[offset : offset + len(a)] == a
    assert ref[:offset] == alt[:offset]
    assert ref[offset + len(r) :] == alt[offset + len(a) :]
    # nothing more can be trimmed
    if r and a:
        assert r[0] != a[0] and r[-1] != a[-1]
    # the same number of bases go from each allele, at least the padding we added
    trimmed = len(ref) - len(r)
    assert trimmed == len(alt) - len(a)
    assert trimmed >= min(len(prefix) + len(suffix), len(ref), len(alt))


@settings(deadline=None)
@given(
    ref=st.text(alphabet="ACGT", min_size=1, max_size=8),
    alt=st.text(alphabet="ACGT", min_size=1, max_size=8),
)
def test_class_follows_the_trimmed_lengths_and_is_symmetric(ref, alt):
    c = al.AlleleClassifier()
    vc, tt, start, end = c.classify(ref, alt)
    back = c.classify(alt, ref)[0]
    r, a, _ = al.trim(ref, alt)
    swapped = {"insertion": "deletion", "deletion": "insertion"}
    assert back == swapped.get(vc, vc)
    if vc == "SNV":
        assert len(r) == len(a) == 1 and tt in ("ts", "tv")
    else:
        assert tt == "."
    if vc == "MNV":
        assert len(r) == len(a) > 1
    if vc == "indel":
        assert r and a and len(r) != len(a)
    if vc == "ref":
        assert ref == alt
    assert 0 <= end - start + (1 if vc != "insertion" else 0) <= len(ref)
    # padding both alleles with the same bases never changes the class
    assert c.classify("G" + ref + "T", "G" + alt + "T")[0] == vc


def test_every_class_is_written_and_counted(tmp_path):
    records = [
        ("A", "G"),
        ("AC", "GT"),
        ("A", "AT"),
        ("AT", "A"),
        ("ACG", "TTAC"),
        ("N", "<DEL>"),
        ("A", "*"),
        ("A", "."),
        ("A", "X"),
    ]
    text = HEADER + "".join(
        f"1\t{1_000_000 + i * 100}\t.\t{r}\t{a}\t.\t.\t.\n" for i, (r, a) in enumerate(records)
    )
    result = annotate(write(tmp_path, "c.vcf", text))
    vcs = [result.info(i)["VC"] for i in range(len(records))]
    assert vcs == [
        "SNV",
        "MNV",
        "insertion",
        "deletion",
        "indel",
        "symbolic",
        "star",
        "ref",
        "unknown",
    ]
    assert result.summary["counts"]["by_class"] == {
        "SNV": 1,
        "MNV": 1,
        "insertion": 1,
        "deletion": 1,
        "indel": 1,
        "symbolic": 1,
        "star": 1,
        "ref": 1,
        "unknown": 1,
    }
    # star, ref and unreadable alleles get no ANN entry
    assert [len(result.ann(i)) > 0 for i in range(len(records))] == [True] * 6 + [False] * 3
    assert any("could not be read" in w for w in result.outputs.warnings)


def test_titv_per_allele_and_in_the_summary(tmp_path):
    text = HEADER + "1\t1000000\t.\tA\tG,C,AT\t.\t.\t.\n1\t1000100\t.\tC\tT\t.\t.\t.\n"
    result = annotate(write(tmp_path, "t.vcf", text))
    assert result.info(0)["TITV"] == "ts,tv,."
    assert result.info(0)["VC"] == "SNV,SNV,insertion"
    assert result.summary["titv"] == {"transitions": 2, "transversions": 1, "ratio": 2.0}
    assert "Transitions/Transversions: 2/1 (Ti/Tv 2.00)" in result.log
