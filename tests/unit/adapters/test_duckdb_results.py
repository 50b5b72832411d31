"""The DuckDB query adapter's pieces that the API tests (tests/integration/results) do not
single out."""

from __future__ import annotations

import pytest

from gas.adapters.duckdb_results import chrom_names
from gas.annotation.reference.contigs import normalize_chrom


@pytest.mark.parametrize(
    "name, expected",
    [
        ("1", {"1", "chr1", "Chr1", "CHR1"}),
        ("chr1", {"1", "chr1", "Chr1", "CHR1"}),
        ("X", {"X", "x", "chrX", "chrx", "ChrX", "Chrx", "CHRX", "CHRx"}),
        ("chrM", {"M", "m", "MT", "mt", "Mt", "chrM", "chrMT", "chrm", "chrmt", "chrMt"}),
    ],
)
def test_the_spellings_of_a_chromosome(name: str, expected: set[str]) -> None:
    names = set(chrom_names(name))
    assert expected <= names
    assert all(normalize_chrom(n) == normalize_chrom(name) for n in names)
