"""The genome sequence of a bundle: one byte per base, memory-mapped, any region a slice.

``genome.u8`` holds every contig of the FASTA one after the other, upper case; bases other
than IUPAC nucleotide codes become ``N``. 3.1 GB for GRCh38 on disk, but only the pages
around the variants are ever read, and every process that maps the file shares them.
"""

from __future__ import annotations

import gzip
import hashlib
import mmap
from dataclasses import dataclass
from pathlib import Path

GENOME_FILE = "genome.u8"

_KEEP = b"ACGTNRYSWKMBDHV"
_TABLE = bytearray(b"N" * 256)
for _b in _KEEP:
    _TABLE[_b] = _b
    _TABLE[ord(chr(_b).lower())] = _b
TO_UPPER_ACGTN = bytes(_TABLE)
_DROP = b" \t\r\n"


class FastaError(ValueError):
    """A FASTA file that cannot be read."""


@dataclass(frozen=True)
class Contig:
    name: str
    offset: int
    length: int


def write_genome(fasta: Path, out_dir: Path) -> tuple[list[Contig], str]:
    """Copy the FASTA's sequence into ``out_dir/genome.u8``; returns contigs and sha256.

    Reads plain, gzip and bgzip files (by content); the checksum is of the file as given.
    """
    contigs: list[Contig] = []
    digest = hashlib.sha256()
    with open(fasta, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    name: str | None = None
    start = 0
    written = 0
    seen: set[str] = set()
    with open(fasta, "rb") as raw_for_hash:
        for block in iter(lambda: raw_for_hash.read(1 << 20), b""):
            digest.update(block)
    with opener(fasta, "rb") as handle, open(out_dir / GENOME_FILE, "wb") as out:  # type: ignore[operator]
        pending: list[bytes] = []
        pending_len = 0
        for line in handle:
            if line[:1] == b">":
                if pending:
                    out.write(b"".join(pending))
                    pending, pending_len = [], 0
                if name is not None:
                    contigs.append(Contig(name, start, written - start))
                header = line[1:].decode("utf-8", "replace").split()
                if not header:
                    raise FastaError(f"{fasta.name}: a '>' line without a sequence name")
                name = header[0]
                if name in seen:
                    raise FastaError(f"{fasta.name}: sequence {name!r} appears twice")
                seen.add(name)
                start = written
                continue
            if name is None:
                if line.strip() and not line.startswith(b";"):
                    raise FastaError(f"{fasta.name}: the file does not start with a '>' line")
                continue
            seq = line.translate(TO_UPPER_ACGTN, _DROP)
            pending.append(seq)
            pending_len += len(seq)
            written += len(seq)
            if pending_len > 1 << 22:
                out.write(b"".join(pending))
                pending, pending_len = [], 0
        if pending:
            out.write(b"".join(pending))
    if name is not None:
        contigs.append(Contig(name, start, written - start))
    if not contigs:
        raise FastaError(f"{fasta.name}: no sequences (no '>' line)")
    return contigs, digest.hexdigest()


class Genome:
    """The memory-mapped sequence and its contigs (numbered in file order)."""

    def __init__(self, path: Path, contigs: list[Contig]):
        self.contigs = contigs
        self.offsets = [c.offset for c in contigs]
        self.lengths = [c.length for c in contigs]
        size = path.stat().st_size
        # through mmap: slicing it is ~10x cheaper than slicing a numpy memmap
        self._mm: mmap.mmap | bytes = b""
        if size:
            with open(path, "rb") as handle:
                self._mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def fetch(self, code: int, start: int, end: int) -> str:
        """Bases ``start..end`` (1-based, inclusive) of contig ``code``; clipped to it."""
        length = self.lengths[code]
        if start < 1:
            start = 1
        if end > length:
            end = length
        if end < start:
            return ""
        off = self.offsets[code]
        return self._mm[off + start - 1 : off + end].decode("ascii")
