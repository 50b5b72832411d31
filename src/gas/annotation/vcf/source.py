"""Reading the input: compression by magic bytes, safe decompression, text lines in batches.

Memory stays bounded whatever the input: the file is read in blocks of ``READ_SIZE`` bytes,
each decompression step produces at most ``READ_SIZE`` bytes, and a partial line may not grow
beyond the line limit. The limits of :class:`InputLimits` are enforced as bytes flow.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidInputError, invalid_line, snippet
from .limits import InputLimits

READ_SIZE = 256 * 1024

GZIP_MAGIC = b"\x1f\x8b"

BINARY_REASON = "the file is binary, not a text VCF"
TRUNCATED_REASON = "the compressed file is truncated or corrupt"

# Formats people upload by mistake, recognised by their first bytes.
_OTHER_FORMATS: list[tuple[bytes, str]] = [
    (
        b"PK\x03\x04",
        "the file is a ZIP archive (or an Excel/Word file), not a VCF: "
        "upload the .vcf or .vcf.gz inside it",
    ),
    (
        b"BZh",
        "the file is compressed with bzip2; GAS reads plain, gzip or bgzip VCF files: "
        "recompress it with gzip or bgzip",
    ),
    (
        b"\xfd7zXZ\x00",
        "the file is compressed with xz; GAS reads plain, gzip or bgzip VCF files: "
        "recompress it with gzip or bgzip",
    ),
    (
        b"\x28\xb5\x2f\xfd",
        "the file is compressed with zstd; GAS reads plain, gzip or bgzip VCF files: "
        "recompress it with gzip or bgzip",
    ),
]
_INNER_FORMATS: list[tuple[bytes, str]] = [
    (
        b"BCF\x02",
        "the file is BCF (binary VCF), not a text VCF: convert it with "
        "'bcftools view -Ov -o out.vcf in.bcf' and upload the result",
    ),
    (GZIP_MAGIC, "the file is compressed twice (gzip inside gzip): decompress it once"),
]


def detect_compression(head: bytes) -> str:
    """``"gzip"``, ``"bgzip"`` (BGZF: gzip members with a ``BC`` extra field) or ``"none"``."""
    if head[:2] != GZIP_MAGIC:
        return "none"
    # BGZF: FLG.FEXTRA set, XLEN at 10, first subfield id "BC" at 12.
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzip"
    return "gzip"


class InputSource:
    """Decompressed bytes of one input file, with its progress and limits."""

    def __init__(self, path: Path, limits: InputLimits):
        self.path = path
        self.limits = limits
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.size = os.fstat(self._file.fileno()).st_size
        head = self._file.read(64)
        self._file.seek(0)
        self.compression = detect_compression(head)
        if self.compression == "none":
            for magic, reason in _OTHER_FORMATS:
                if head.startswith(magic):
                    self._file.close()
                    raise InvalidInputError(reason, f"First bytes: {head[:16]!r}")
        self.raw_consumed = 0  # compressed bytes consumed (all bytes read, for plain files)
        self.text_bytes = 0  # decompressed bytes produced

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> InputSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fraction(self) -> float:
        """Fraction of the input file consumed so far, 0..1."""
        if self.size <= 0:
            return 1.0
        return min(1.0, self.raw_consumed / self.size)

    def blocks(self) -> Iterator[bytes]:
        """The file's text as byte blocks of at most ``READ_SIZE`` bytes."""
        if self.compression == "none":
            yield from self._plain_blocks()
        else:
            yield from self._gzip_blocks()

    def _account(self, n: int) -> None:
        self.text_bytes += n
        limits = self.limits
        if self.text_bytes > limits.max_decompressed_bytes:
            limit = _human_bytes(limits.max_decompressed_bytes)
            raise InvalidInputError(
                f"the file is larger than the limit of {limit} of uncompressed text",
                f"the file is larger than the limit of {limit} of uncompressed text "
                f"({self.text_bytes} bytes read so far, {self.raw_consumed} compressed bytes).",
            )
        if (
            self.compression != "none"
            and self.text_bytes > limits.ratio_check_after_bytes
            and self.text_bytes > limits.max_compression_ratio * max(self.raw_consumed, 1)
        ):
            ratio = self.text_bytes / max(self.raw_consumed, 1)
            raise InvalidInputError(
                "the compressed file expands more than "
                f"{limits.max_compression_ratio:g} times (a decompression bomb?); "
                "GAS refuses it",
                "decompression bomb protection: "
                f"{self.text_bytes} bytes of text came out of {self.raw_consumed} compressed "
                f"bytes (ratio {ratio:.0f}, limit {limits.max_compression_ratio:g}, checked "
                f"after {limits.ratio_check_after_bytes} bytes).",
            )

    def _plain_blocks(self) -> Iterator[bytes]:
        read = self._file.read
        while True:
            block = read(READ_SIZE)
            if not block:
                return
            self.raw_consumed += len(block)
            self._account(len(block))
            yield block

    def _gzip_blocks(self) -> Iterator[bytes]:
        """Inflate every gzip member in turn (bgzip is a series of members).

        zlib is driven directly, not through ``gzip.GzipFile``, so that each step's output is
        bounded (``max_length``) and the compressed bytes consumed are known exactly.
        """
        read = self._file.read
        inflater = zlib.decompressobj(wbits=31)
        in_member = False
        read_total = 0
        while True:
            raw = read(READ_SIZE)
            if not raw:
                break
            read_total += len(raw)
            data = raw
            while data:
                if not in_member:
                    # Between members: tolerate zero padding, as gzip(1) does.
                    data = data.lstrip(b"\0")
                    if not data:
                        break
                    in_member = True
                try:
                    out = inflater.decompress(data, READ_SIZE)
                except zlib.error as exc:
                    raise self._corrupt(str(exc)) from None
                if inflater.eof:
                    data = inflater.unused_data
                    in_member = False
                    inflater = zlib.decompressobj(wbits=31)
                else:
                    data = inflater.unconsumed_tail
                self.raw_consumed = read_total - len(data)
                if out:
                    self._account(len(out))
                    yield out
                # Output capped at READ_SIZE may leave more output pending inside zlib.
                while in_member and len(out) == READ_SIZE and not data:
                    try:
                        out = inflater.decompress(b"", READ_SIZE)
                    except zlib.error as exc:
                        raise self._corrupt(str(exc)) from None
                    if inflater.eof:
                        data = inflater.unused_data
                        in_member = False
                        inflater = zlib.decompressobj(wbits=31)
                    if out:
                        self._account(len(out))
                        yield out
        self.raw_consumed = read_total
        if in_member:
            raise self._corrupt("the file ends in the middle of a compressed block")

    def _corrupt(self, what: str) -> InvalidInputError:
        return InvalidInputError(
            TRUNCATED_REASON,
            f"{TRUNCATED_REASON}: {what}.\n"
            f"Read {self.raw_consumed} of {self.size} compressed bytes, "
            f"{self.text_bytes} bytes of text decompressed before the error.",
        )


def _human_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


class LineBatches:
    """Split decompressed blocks into decoded text lines, batch by batch.

    Yields ``(first_line_number, lines)``; lines have no line terminator (LF, CRLF and old
    Mac CR endings are all accepted). Raises InvalidInputError for binary content, invalid
    UTF-8 and lines longer than the limit.
    """

    def __init__(self, blocks: Iterator[bytes], max_line_bytes: int):
        self._blocks = blocks
        self._max = max_line_bytes
        self.crlf = False
        self.saw_bytes = False
        #: header lines that were not UTF-8 and were read as Latin-1
        self.latin1_lines = 0
        self.first_latin1_line = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        max_line = self._max
        pending = b""
        line_no = 1  # number of the next line to be yielded
        first = True
        cr_only = False
        for block in self._blocks:
            if first:
                first = False
                self.saw_bytes = True
                block = self._check_first_block(block)
                if b"\n" not in block and b"\r" in block:
                    cr_only = True
            if cr_only:
                block = block.replace(b"\r", b"\n")
            data = pending + block if pending else block
            if b"\0" in block:
                nul = data.index(b"\0")
                start = data.rfind(b"\n", 0, nul) + 1
                end = data.find(b"\n", nul)
                bad = data[start : end if end >= 0 else len(data)]
                raise self._binary(line_no + data.count(b"\n", 0, nul), bad, "a NUL byte")
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                if len(pending) > max_line:
                    raise self._too_long(line_no, pending)
                continue
            chunk = data[:cut]
            pending = data[cut + 1 :]
            if len(pending) > max_line:
                raise self._too_long(line_no + chunk.count(b"\n") + 1, pending)
            lines = self._decode(chunk, line_no)
            if len(chunk) > max_line:
                self._check_lengths(lines, line_no)
            yield line_no, lines
            line_no += len(lines)
        if pending:
            lines = self._decode(pending, line_no)
            yield line_no, lines

    def _check_first_block(self, block: bytes) -> bytes:
        if block.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark from a text editor
            block = block[3:]
        for magic, reason in _INNER_FORMATS:
            if block.startswith(magic):
                raise InvalidInputError(reason, f"First bytes: {block[:16]!r}")
        if b"\0" in block:
            raise InvalidInputError(
                BINARY_REASON, f"{BINARY_REASON}: it contains NUL bytes.\n{_head(block)}"
            )
        try:
            block[: 64 * 1024].decode("utf-8")
        except UnicodeDecodeError as exc:
            line_start = block.rfind(b"\n", 0, exc.start) + 1
            in_header = block[line_start : line_start + 1] == b"#"  # Latin-1 headers exist
            if not in_header and exc.end < min(len(block), 64 * 1024) - 4:
                raise InvalidInputError(
                    BINARY_REASON,
                    f"{BINARY_REASON}: byte {exc.start} is not valid UTF-8 text.\n{_head(block)}",
                ) from None
        return block

    def _decode(self, chunk: bytes, line_no: int) -> list[str]:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            text = self._decode_lines(chunk, line_no)
        if "\r" in text:
            self.crlf = True
            text = text.replace("\r\n", "\n")
            if text.endswith("\r"):
                text = text[:-1]
        return text.split("\n")

    def _decode_lines(self, chunk: bytes, line_no: int) -> str:
        """Line by line: a header line that is not UTF-8 is read as Latin-1 (and counted)."""
        out = []
        for i, raw in enumerate(chunk.split(b"\n")):
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                if raw[:1] != b"#":
                    raise self._binary(line_no + i, raw, "bytes that are not valid UTF-8") from None
                if not self.latin1_lines:
                    self.first_latin1_line = line_no + i
                self.latin1_lines += 1
                out.append(raw.decode("latin-1"))
        return "\n".join(out)

    def _check_lengths(self, lines: list[str], line_no: int) -> None:
        for i, line in enumerate(lines):
            if len(line) > self._max:
                raise self._too_long(line_no + i, line.encode())

    def _too_long(self, line_no: int, line: bytes) -> InvalidInputError:
        limit = _human_bytes(self._max)
        return invalid_line(
            f"the line is longer than {limit}; the file may be corrupt or not a VCF",
            line_no,
            line[:1000],
        )

    @staticmethod
    def _binary(line_no: int, line: bytes, what: str) -> InvalidInputError:
        return invalid_line(
            f"contains {what}; the file is binary or corrupt, not a text VCF", line_no, line
        )


def _head(block: bytes) -> str:
    return "First bytes: " + snippet(block[:64])
