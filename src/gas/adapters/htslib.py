"""BGZF and tabix through htslib (pysam): what ``bgzip`` and ``tabix -p vcf`` make.

BGZF is gzip in independent blocks of at most 64 KB, readable by any gzip reader and seekable
by htslib; a tabix index maps genomic ranges to blocks. Both come from htslib itself (pysam
links it), so every htslib tool (bcftools, IGV, tabix) reads what GAS writes.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

_BUFFER = 256 * 1024


class BgzfWriter:
    """Writes a BGZF file (with its end-of-file block), buffering small writes."""

    def __init__(self, path: Path) -> None:
        from pysam.libcbgzf import BGZFile

        self._file = BGZFile(str(path), "wb", None)
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _BUFFER:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer, self._buffered = [], 0

    def close(self) -> None:
        self.flush()
        self._file.close()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Htslib:
    """The services' ``Bgzip`` port on pysam."""

    def bgzf_writer(self, path: Path) -> BgzfWriter:
        return BgzfWriter(path)

    def tabix_index(self, bgzf: Path, index: Path) -> None:
        """Write the tabix index (VCF preset) of the coordinate-sorted BGZF VCF ``bgzf`` to
        ``index``; ``bgzf`` itself is not changed. OSError if htslib cannot index it."""
        import pysam

        pysam.tabix_index(str(bgzf), preset="vcf", index=str(index), force=True)
