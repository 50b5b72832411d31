"""Numbers of an effect record as the text of ANN, CSQ and the TSV (VEP's notation)."""

from __future__ import annotations


def span(start: int, end: int) -> str:
    """A position or span: ``123``, ``123-125``, ``?-125`` (0: outside); "" for none (-1)."""
    if start < 0:
        return ""
    if start == end and start:
        return str(start)
    return f"{start or '?'}-{end or '?'}"


def first(start: int, end: int) -> str:
    """The first known position of a span (ANN's ``pos`` in ``pos/length``), or ""."""
    if start > 0:
        return str(start)
    return str(end) if end > 0 else ""


def rank(first: int, last: int, total: int) -> str:
    """An exon or intron rank: ``3/10``, ``3-4/10``; "" for none (0)."""
    if not first:
        return ""
    return f"{first}/{total}" if first == last else f"{first}-{last}/{total}"
