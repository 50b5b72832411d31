"""The VCF header: version, columns, declared INFO keys and the genome assembly it implies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidInputError, invalid_line

KNOWN_VERSIONS = ("VCFv3.3", "VCFv4.0", "VCFv4.1", "VCFv4.2", "VCFv4.3", "VCFv4.4")
FIXED_COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")

NOT_A_VCF = "the file is not a VCF"

# Names of assemblies as they appear in ##reference, ##assembly and ##contig assembly=.
_ASSEMBLY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"grch38|hg38|hs38|(?<![a-z0-9])b38(?![0-9])|gca_000001405\.(1[5-9]|2\d)", re.I),
        "GRCh38",
    ),
    (
        re.compile(
            r"grch37|hg19|hs37d5|human_g1k_v37|(?<![a-z0-9])b37(?![0-9])"
            r"|gca_000001405\.([1-9]|1[0-4])(?![0-9])",
            re.I,
        ),
        "GRCh37",
    ),
    (re.compile(r"ncbi36|hg18|(?<![a-z0-9])b36(?![0-9])", re.I), "NCBI36"),
    (re.compile(r"t2t|chm13|hs1(?![0-9])", re.I), "T2T-CHM13"),
]

# Chromosome lengths that identify an assembly.
_CONTIG_LENGTHS: dict[tuple[str, int], str] = {
    ("1", 248956422): "GRCh38",
    ("1", 249250621): "GRCh37",
    ("1", 247249719): "NCBI36",
    ("1", 248387328): "T2T-CHM13",
    ("2", 242193529): "GRCh38",
    ("2", 243199373): "GRCh37",
    ("17", 83257441): "GRCh38",
    ("17", 81195210): "GRCh37",
    ("X", 156040895): "GRCh38",
    ("X", 155270560): "GRCh37",
}

_META_PAIRS = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,>]*)')


def assembly_from_text(text: str) -> str | None:
    """The assembly a free-text name refers to (``hg19`` → ``GRCh37``), or None."""
    for pattern, name in _ASSEMBLY_PATTERNS:
        if pattern.search(text):
            return name
    return None


def normalize_assembly(name: str) -> str:
    """Canonical spelling of an assembly name given by a user; unknown names are kept."""
    return assembly_from_text(name) or name.strip()


def _bare_chrom(name: str) -> str:
    if name[:3].lower() == "chr":
        name = name[3:]
    return name


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
    # Evidence by strength: contig length > contig assembly= > ##reference / ##assembly.
    _by_length: str | None = None
    _by_contig_attr: str | None = None
    _by_reference: str | None = None
    _reference_line: str | None = None

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
        elif key == "contig":
            pairs = dict(_META_PAIRS.findall(value))
            chrom = _bare_chrom(pairs.get("ID", ""))
            length = pairs.get("length", "")
            if self._by_length is None and length.isdigit():
                found = _CONTIG_LENGTHS.get((chrom, int(length)))
                if found:
                    self._by_length = found
            if self._by_contig_attr is None and "assembly" in pairs:
                self._by_contig_attr = assembly_from_text(pairs["assembly"].strip('"'))
        elif key in ("reference", "assembly") and self._by_reference is None:
            self._by_reference = assembly_from_text(value)
            self._reference_line = f"##{key}"

    def finish(self) -> None:
        """Settle the assembly once the header is complete."""
        if self._by_length:
            self.assembly, self.assembly_evidence = self._by_length, "##contig lengths"
        elif self._by_contig_attr:
            self.assembly, self.assembly_evidence = self._by_contig_attr, "##contig assembly="
        elif self._by_reference:
            self.assembly, self.assembly_evidence = self._by_reference, self._reference_line

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
