"""Browsing a job's results: the filters a user can ask for, checked, and the query port.

One definition of the filters serves the JSON API, the details page's table, the filtered
downloads and ``gas client variants`` (ARCHITECTURE.md, "the read side of the web").

Semantics (documented in the README and the OpenAPI document):
- by default one row per ALT allele: its most severe transcript (ties: MANE Select →
  canonical → coding); ``transcripts=all`` gives every transcript;
- the row filters (gene, consequence, impact, q) match an allele when *any* of its
  transcripts matches them all, and that transcript is the one shown (the best of those that
  match): "missense" finds an allele that is missense in one transcript and intronic in the
  canonical one, as VEP's filter on any transcript does;
- the record filters (chrom, start, end, known, clinvar, max_af, record) apply to the variant;
  ``start`` and ``end`` are inclusive bounds on POS (an ``end`` before ``start`` selects none);
  ``max_af`` keeps variants with no known frequency (a novel variant is rare);
- sort: ``pos`` (the file's order), ``impact`` (most severe first), ``gene``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gas.domain.errors import InvalidInput

IMPACTS = ("HIGH", "MODERATE", "LOW", "MODIFIER")
SORTS = ("pos", "impact", "gene")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
#: the query parameters that are filters (kept in shared URLs and applied to exports)
FILTER_PARAMS = (
    "gene",
    "consequence",
    "impact",
    "chrom",
    "start",
    "end",
    "known",
    "clinvar",
    "max_af",
    "q",
    "record",
)
#: the columns of a variant row in answers (``GET /variants``, TSV and JSON downloads), in order
ANSWER_COLUMNS = (
    "chrom",
    "pos",
    "id",
    "ref",
    "alt",
    "gene",
    "gene_id",
    "transcript",
    "biotype",
    "consequence",
    "most_severe",
    "impact",
    "hgvsc",
    "hgvsp",
    "exon",
    "intron",
    "protein_position",
    "distance",
    "nearest",
    "canonical",
    "mane",
    "known",
    "known_ids",
    "clinvar",
    "af",
    "filter",
    "variant_class",
    "grch38_chrom",
    "grch38_pos",
    "warnings",
    "record",
    "allele",
    "top",
)
_TERM = re.compile(r"^[A-Za-z0-9_]{1,80}$")
_TEXT_LIMIT = 200


@dataclass(frozen=True)
class VariantFilter:
    gene: str | None = None
    consequence: str | None = None
    impacts: tuple[str, ...] = ()
    chrom: str | None = None
    start: int | None = None
    end: int | None = None
    known: bool | None = None
    clinvar: str | None = None
    max_af: float | None = None
    q: str | None = None
    record: int | None = None
    sort: str = "pos"
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    all_transcripts: bool = False

    @property
    def row_filters(self) -> bool:
        """Whether a filter looks at transcripts (not only at the variant)."""
        return bool(self.gene or self.consequence or self.impacts or self.q)

    def query_args(self, *, paging: bool = False) -> list[tuple[str, str]]:
        """The filter as query parameters (for links and downloads)."""
        args: list[tuple[str, str]] = []
        for name in ("gene", "consequence", "chrom", "clinvar", "q"):
            value = getattr(self, name)
            if value:
                args.append((name, value))
        args += [("impact", i) for i in self.impacts]
        for name in ("start", "end", "record", "max_af"):
            value = getattr(self, name)
            if value is not None:
                args.append((name, str(value)))
        if self.known is not None:
            args.append(("known", "true" if self.known else "false"))
        if self.all_transcripts:
            args.append(("transcripts", "all"))
        if paging:
            args += [("sort", self.sort), ("limit", str(self.limit)), ("offset", str(self.offset))]
        return args


@dataclass
class VariantPage:
    total: int
    offset: int
    limit: int
    variants: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "variants": self.variants,
        }


class ResultsQuery(Protocol):
    """Reads a job's results store (a local Parquet file)."""

    def variants(self, store: Path, selection: VariantFilter) -> VariantPage: ...

    def records(self, store: Path, selection: VariantFilter) -> list[int]:
        """Ordinals of the records (0-based, file order) with at least one matching allele."""
        ...

    def iterate(self, store: Path, selection: VariantFilter) -> Iterator[dict[str, Any]]:
        """Every selected row (paging ignored), in the selection's order, as ``variants``
        gives them; read in batches (close the iterator to stop early)."""
        ...

    def facets(self, store: Path) -> dict[str, Any]:
        """What the filters can take: chromosomes, consequences, impacts (with counts)."""
        ...


def _one(args: Mapping[str, Any], name: str) -> str | None:
    values = _all(args, name)
    if len(values) > 1:
        raise InvalidInput(f"'{name}' may be given once.")
    value = values[0].strip() if values else ""
    if len(value) > _TEXT_LIMIT:
        raise InvalidInput(f"'{name}' is too long (at most {_TEXT_LIMIT} characters).")
    if "\x00" in value:
        raise InvalidInput(f"'{name}' contains a NUL character.")
    return value or None


def _all(args: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        return [str(v) for v in getlist(name)]
    value = args.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _int(args: Mapping[str, Any], name: str, minimum: int = 0) -> int | None:
    text = _one(args, name)
    if text is None:
        return None
    # ASCII digits only: str.isdigit() is also true of "²", which int() refuses
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise InvalidInput(f"'{name}' must be a whole number of at least {minimum}.")
    value = int(text)
    if value < minimum:
        raise InvalidInput(f"'{name}' must be a whole number of at least {minimum}.")
    return value


def parse_filter(args: Mapping[str, Any]) -> VariantFilter:
    """A VariantFilter from query parameters; InvalidInput (a message for the user) if wrong."""
    impacts: list[str] = []
    for raw in _all(args, "impact"):
        for value in raw.split(","):
            value = value.strip().upper()
            if not value:
                continue
            if value not in IMPACTS:
                raise InvalidInput(f"'impact' must be one of {', '.join(IMPACTS)}.")
            if value not in impacts:
                impacts.append(value)
    consequence = _one(args, "consequence")
    if consequence is not None and not _TERM.match(consequence):
        raise InvalidInput("'consequence' must be a Sequence Ontology term, e.g. missense_variant.")
    known_text = _one(args, "known")
    known = None
    if known_text is not None:
        if known_text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidInput("'known' must be true or false.")
        known = known_text.lower() in ("true", "1", "yes")
    max_af = None
    af_text = _one(args, "max_af")
    if af_text is not None:
        try:
            max_af = float(af_text)
        except ValueError:
            raise InvalidInput("'max_af' must be a number between 0 and 1.") from None
        if not 0.0 <= max_af <= 1.0:
            raise InvalidInput("'max_af' must be a number between 0 and 1.")
    # Two independent bounds: an ``end`` before ``start`` is an empty range (no variant), not
    # an error — each value is valid alone, as the OpenAPI document says of each.
    start = _int(args, "start", 1)
    end = _int(args, "end", 1)
    sort = (_one(args, "sort") or "pos").lower()
    if sort not in SORTS:
        raise InvalidInput(f"'sort' must be one of {', '.join(SORTS)}.")
    limit = _int(args, "limit", 1)
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise InvalidInput(f"'limit' may be at most {MAX_LIMIT}.")
    offset = _int(args, "offset") or 0
    transcripts = (_one(args, "transcripts") or "").lower()
    if transcripts not in ("", "all", "one"):
        raise InvalidInput("'transcripts' must be 'all' or 'one'.")
    return VariantFilter(
        gene=_one(args, "gene"),
        consequence=consequence,
        impacts=tuple(impacts),
        chrom=_one(args, "chrom"),
        start=start,
        end=end,
        known=known,
        clinvar=_one(args, "clinvar"),
        max_af=max_af,
        q=_one(args, "q"),
        record=_int(args, "record"),
        sort=sort,
        limit=limit,
        offset=offset,
        all_transcripts=transcripts == "all",
    )


def without_paging(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k not in ("limit", "offset")]
