"""HGVS p. from reference and changed peptides (hgvs.protein_change), case by case."""

from __future__ import annotations

import pytest

from gas.annotation.consequences.hgvs import protein_change

#            0123456789
REF_PROT = "MAKKLGEEP*"


@pytest.mark.parametrize(
    "k1, ref_local, alt_local, expected",
    [
        (4, "L", "W", "Leu5Trp"),  # missense
        (4, "L", "L", "Leu5="),  # synonymous
        (4, "L", "*", "Leu5Ter"),  # nonsense
        (2, "K", "", "Lys4del"),  # the first K of KK deleted: shifted to the last
        (2, "KK", "", "Lys3_Lys4del"),
        (6, "E", "", "Glu8del"),
        (2, "KKL", "K", "Lys4_Leu5del"),  # a deletion across codons, trimmed then shifted
        (3, "", "K", "Lys4dup"),  # an inserted K after KK: a duplication of the last K
        (5, "", "W", "Leu5_Gly6insTrp"),
        (4, "LG", "LWG", "Leu5_Gly6insTrp"),  # an insertion inside codons
        (4, "L", "WR", "Leu5delinsTrpArg"),
        (4, "LG", "WR", "Leu5_Gly6delinsTrpArg"),
        (4, "LG", "W*", "Leu5_Gly6delinsTrpTer"),
    ],
)
def test_in_frame_changes(k1, ref_local, alt_local, expected):
    assert protein_change(REF_PROT, "", k1, ref_local, alt_local, False, False) == expected


def test_start_loss():
    assert protein_change(REF_PROT, "", 0, "M", "T", False, True) == "Met1?"


@pytest.mark.parametrize(
    "k1, alt_tail, expected",
    [
        (4, "LWRS*", "Gly6TrpfsTer4"),  # LG… becomes LWRS*: first change at 6, stop 4th
        (4, "LGEEQ", "Pro9GlnfsTer?"),  # no stop before the sequence ends
        (4, "L*", "Gly6Ter"),  # the first changed amino acid is a stop
    ],
)
def test_frameshifts(k1, alt_tail, expected):
    assert protein_change(REF_PROT, alt_tail, k1, "", "", True, False) == expected


def test_stop_loss_is_an_extension():
    # the stop (index 9) becomes Gln and the new stop comes 5 amino acids later
    assert protein_change(REF_PROT, "QRSTV*", 9, "*", "Q", False, False) == "Ter10GlnextTer5"
    assert protein_change(REF_PROT, "QRSTV", 9, "*", "Q", False, False) == "Ter10GlnextTer?"
    assert protein_change(REF_PROT, "*", 9, "*", "*", False, False) == "Ter10="
