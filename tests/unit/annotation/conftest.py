"""Fixtures for the annotation engine's tests."""

from __future__ import annotations

import pytest

from gas.annotation.genes import default_gene_table


@pytest.fixture(scope="session", autouse=True)
def _gene_table_loaded() -> None:
    """Load the gene table once, up front, so timings and memory checks exclude it."""
    default_gene_table()
