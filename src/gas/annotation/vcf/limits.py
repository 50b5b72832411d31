"""Limits that protect the engine (and the machine) from hostile or broken inputs."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class InputLimits:
    """What the engine refuses to read.

    - ``max_decompressed_bytes``: the input's text (after decompression) may not exceed this.
    - ``max_compression_ratio``: once ``ratio_check_after_bytes`` of text have been
      decompressed, text bytes / compressed bytes read may not exceed this (a decompression
      bomb). Real VCFs compress 5–50 times, genotype-heavy ones up to about 100.
    - ``max_line_bytes``: the longest line accepted.
    - ``max_alleles_per_record``: the most ALT alleles one record may list.
    """

    max_decompressed_bytes: int = 2 * GIB
    max_compression_ratio: float = 200.0
    max_line_bytes: int = 1 * MIB
    max_alleles_per_record: int = 1000
    ratio_check_after_bytes: int = 10 * 1000 * 1000
