"""The VCF header: version, columns, declared INFO keys and the genome assembly it implies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import InvalidInputError, invalid_line
from .assembly import AssemblyCall, AssemblyDetector, assembly_from_text, normalize_assembly

__all__ = ["VcfHeader", "assembly_from_text", "is_column_line", "normalize_assembly", "not_a_vcf"]

KNOWN_VERSIONS = ("VCFv3.3", "VCFv4.0", "VCFv4.1", "VCFv4.2", "VCFv4.3", "VCFv4.4")
FIXED_COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")

NOT_A_VCF = "the file is not a VCF"

_META_PAIRS = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,>]*)')


@dataclass
class VcfHeader:
    """What the engine learned from the header lines."""

    file_format: str | None = None
    columns: list[str] = field(default_factory=list)
    info_ids: set[str] = field(default_factory=set)
    assembly: str | None = None
    assembly_evidence: str | None = None
    space_separated_header: bool = False
    format_column_added: bool = False
    meta_lines: int = 0
    #: everything the header says about the assembly (set by :meth:`finish`)
    assembly_call: AssemblyCall = field(default_factory=AssemblyCall)
    _detector: AssemblyDetector = field(default_factory=AssemblyDetector)

    @property
    def version_known(self) -> bool:
        return self.file_format in KNOWN_VERSIONS

    @property
    def is_v3(self) -> bool:
        return (self.file_format or "").startswith("VCFv3")

    @property
    def n_samples(self) -> int:
        return max(0, len(self.columns) - 9)

    def read_meta(self, line: str) -> None:
        """Take note of one ``##`` line."""
        self.meta_lines += 1
        key, _, value = line[2:].partition("=")
        key = key.strip()
        if key == "fileformat":
            if self.file_format is None:
                self.file_format = value.strip()
        elif key == "INFO":
            pairs = dict(_META_PAIRS.findall(value))
            if "ID" in pairs:
                self.info_ids.add(pairs["ID"])
        if key not in ("fileformat", "INFO"):
            self._detector.read_meta(line)

    def finish(self) -> None:
        """Settle the assembly once the header is complete."""
        self.assembly_call = self._detector.call()
        self.assembly = self.assembly_call.assembly
        self.assembly_evidence = self.assembly_call.evidence

    def read_column_line(self, line: str, line_no: int) -> None:
        """Parse the ``#CHROM`` line (tab-separated; space-separated if unambiguous)."""
        columns = line[1:].split("\t")
        if len(columns) < 8:
            spaced = line[1:].split()
            if len(spaced) >= 8 and [c.upper() for c in spaced[:8]] == list(FIXED_COLUMNS):
                columns = spaced
                self.space_separated_header = True
                if len(columns) > 8 and columns[8].upper() != "FORMAT":
                    # sample names without the FORMAT column's (vcfanno's data-number.vcf:
                    # the data lines have FORMAT): name it, as the data lines will need it
                    columns.insert(8, "FORMAT")
                    self.format_column_added = True
            else:
                raise invalid_line(
                    f"the #CHROM header line has {len(columns)} tab-separated column(s); "
                    "a VCF needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO)",
                    line_no,
                    line,
                )
        if columns and columns[-1] == "" and len(columns) > 8:
            columns.pop()  # a trailing tab
        self.columns = columns


def is_column_line(line: str) -> bool:
    return line[:6].upper() == "#CHROM" and (len(line) == 6 or line[6] in "\t ")


def not_a_vcf(line_no: int, line: str, why: str) -> InvalidInputError:
    reason = f"{NOT_A_VCF}: {why}"
    err = invalid_line(reason, None, line)
    err.details = err.details.replace("The line", f"Line {line_no}")
    err.line = line_no
    return err
