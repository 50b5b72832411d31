"""What every annotator offers the pipeline: the gene-level and the transcript-level
annotators are siblings behind this one protocol (see stream.py for the caller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..output.results_store import Rows
from ..vcf.records import Chunk, Tally


@dataclass
class ChunkOutput:
    """What annotating one chunk produced: text for the outputs, rows for the results
    store, and what it counted (merged into the run's totals, in input order)."""

    tally: Tally = field(default_factory=Tally)
    vcf: list[str] = field(default_factory=list)  # record lines, without newlines
    tsv: list[str] = field(default_factory=list)
    rows: Rows | None = None
    #: the annotator's own counters for this chunk (see :meth:`Annotator.merge_stats`)
    stats: Any = None


class Annotator(Protocol):
    """Annotates chunks of parsed records against one reference."""

    #: "gene" or "transcript"
    level: str
    #: what the header and the log call the reference, and the assembly it is of
    reference_name: str
    reference_short: str
    assembly_used: str
    #: INFO keys it writes (an input value under one of them is replaced), and their headers
    info_keys: tuple[str, ...]
    info_headers: list[str]
    #: the code of a chromosome the reference does not have
    no_contig_code: int

    def contig_code(self, chrom: str) -> int:
        """The reference's number for an input chromosome name."""
        ...

    def header_lines(self) -> list[str]:
        """More ``##`` lines for the output, after ``##GAS_reference``."""
        ...

    def annotate(self, chunk: Chunk, out: ChunkOutput) -> None:
        """Annotate a chunk's records into ``out`` (record lines, TSV rows, store rows,
        counts, warnings and the annotator's own counters)."""
        ...

    def merge_stats(self, stats: Any) -> None:
        """Add a chunk's own counters (``ChunkOutput.stats``) to the run's."""
        ...

    def detail(self) -> dict[str, object] | None:
        """Counts beyond the gene level's, for the summary and the log."""
        ...
