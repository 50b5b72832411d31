"""Which assembly a VCF is on, from every signal its header carries.

Signals, strongest first:

1. ``##contig`` lengths of the primary chromosomes (each differs between GRCh38, GRCh37 and
   NCBI36) and ``##contig`` MD5s;
2. ``##contig=<…,assembly=…>``, ``##reference=…`` and ``##assembly=…``;
3. the reference a tool was run with, inside its command-line header line
   (GATK's ``reference_sequence=…/human_g1k_v37.fasta``, ``--reference``, ``-R``, bcftools'
   ``-f``/``--fasta-ref`` …).

The mitochondrial sequence is called apart: GRCh38 and GRCh37 (b37) use the rCRS
(NC_012920, 16,569 bp), UCSC's hg19 and hg18 a different sequence (NC_001807, 16,571 bp).
Contig naming (``chr1`` or ``1``) is noted: it tells UCSC's builds from the others.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..reference.assemblies import (
    CONTIG_MD5,
    GRCH37,
    GRCH38,
    MT_LENGTHS,
    NCBI36,
    RCRS,
    T2T,
    YORUBA_MT,
    assembly_of_length,
)
from ..reference.contigs import is_mitochondrial, normalize_chrom

# Names of assemblies as they appear in ##reference, ##assembly, file names and URLs.
_ASSEMBLY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"grch38|hg38|hs38|(?<![a-z0-9])b38(?![0-9])|assembly38"
            r"|gc[af]_000001405\.(1[5-9]|2[0-9]|3\d)",
            re.I,
        ),
        GRCH38,
    ),
    (
        re.compile(
            r"grch37|hg19|hs37|human_g1k_v37|g1k_v37|(?<![a-z0-9])b37(?![0-9])|assembly19"
            r"|gc[af]_000001405\.([1-9]|1[0-4])(?![0-9])",
            re.I,
        ),
        GRCH37,
    ),
    (
        re.compile(
            r"ncbi[ _-]?(build[ _-]?)?36|hg18|(?<![a-z0-9])b36(?![0-9])|assembly18"
            r"|human_b36",
            re.I,
        ),
        NCBI36,
    ),
    (re.compile(r"t2t|chm13|(?<![a-z0-9])hs1(?![0-9])", re.I), T2T),
]
# UCSC's builds name their MT chrM and use the Yoruba sequence (NC_001807) in hg19/hg18.
_UCSC_FLAVOUR = re.compile(r"hg19|hg18|ucsc", re.I)

# The reference inside a tool's command-line header line: key=value or option value.
_CMDLINE_REFERENCE = re.compile(
    r"""(?:(?<![\w-])(?P<key>reference_sequence|reference|ref|fasta_ref|fasta-ref|genome)
            \s*[=:]\s*"?(?P<v1>[^\s",>;]+))
        |(?:(?<!\S)(?P<opt>-R|-r|-f|--reference|--ref|--fasta-ref|--genome|-fasta)
            \s+"?(?P<v2>[^\s",>;]+))""",
    re.X,
)
_META_PAIRS = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,>]*)')
_STRUCTURED = frozenset({"INFO", "FORMAT", "FILTER", "ALT", "SAMPLE", "PEDIGREE", "META"})

# strengths of the kinds of evidence
_BY_CONTIG = 3
_BY_NAME = 2
_BY_COMMAND = 1


def assembly_from_text(text: str) -> str | None:
    """The assembly a free-text name refers to (``hg19`` → ``GRCh37``), or None."""
    for pattern, name in _ASSEMBLY_PATTERNS:
        if pattern.search(text):
            return name
    return None


def normalize_assembly(name: str) -> str:
    """Canonical spelling of an assembly name given by a user; unknown names are kept."""
    return assembly_from_text(name) or name.strip()


@dataclass
class _Signal:
    assembly: str
    strength: int
    evidence: str


@dataclass
class AssemblyCall:
    """What the header says about the assembly."""

    assembly: str | None = None  # None: the header does not say
    evidence: str | None = None
    #: other signals that disagree with the one used, as sentences
    conflicts: list[str] = field(default_factory=list)
    #: the MT sequence the header implies (RCRS or YORUBA_MT), or None when it does not say
    mt: str | None = None
    mt_evidence: str | None = None
    #: contig names with ``chr`` (UCSC style): True, False, or None when there are none
    ucsc_names: bool | None = None
    #: the reference file or name seen (e.g. ``ucsc.hg19.fasta``), for the MT decision
    reference_name: str | None = None


class AssemblyDetector:
    """Fed every ``##`` line of a header, then asked :meth:`call`."""

    def __init__(self) -> None:
        self._signals: list[_Signal] = []
        self._length_votes: Counter[str] = Counter()
        self._length_examples: dict[str, str] = {}
        self._mt: tuple[str, str] | None = None
        self._chr_names = 0
        self._plain_names = 0
        self._reference_name: str | None = None

    def read_meta(self, line: str) -> None:
        key, _, value = line[2:].partition("=")
        key = key.strip()
        if key == "contig":
            self._contig(value)
        elif key in ("reference", "assembly"):
            found = assembly_from_text(value)
            if found:
                shown = value.strip()
                self._signals.append(_Signal(found, _BY_NAME, f"##{key}={_short(shown)}"))
                self._reference_name = self._reference_name or shown
        elif key not in _STRUCTURED and ("=" in value or " " in value):
            for m in _CMDLINE_REFERENCE.finditer(value):
                ref = m.group("v1") or m.group("v2")
                found = assembly_from_text(ref)
                if found:
                    how = f"{m.group('key')}=" if m.group("key") else f"{m.group('opt')} "
                    self._signals.append(
                        _Signal(
                            found,
                            _BY_COMMAND,
                            f"{how}{_short(ref)} in the ##{_short(key, 40)} line",
                        )
                    )
                    self._reference_name = self._reference_name or ref
                    break

    def _contig(self, value: str) -> None:
        pairs = {k: v.strip('"') for k, v in _META_PAIRS.findall(value)}
        name = pairs.get("ID", "")
        if not name:
            return
        if name[:3].lower() == "chr":
            self._chr_names += 1
        else:
            self._plain_names += 1
        chrom = normalize_chrom(name)
        length = pairs.get("length", "")
        md5 = pairs.get("md5", "").lower()
        if is_mitochondrial(name):
            mt = None
            if name.startswith("NC_012920"):
                mt = (RCRS, f"##contig {name}")
            elif name.startswith("NC_001807"):
                mt = (YORUBA_MT, f"##contig {name}")
            elif md5 in CONTIG_MD5 and CONTIG_MD5[md5][1] == "MT":
                mt = (CONTIG_MD5[md5][0], f"##contig {name} md5")
            elif length.isdigit() and int(length) in MT_LENGTHS:
                mt = (MT_LENGTHS[int(length)], f"##contig {name} length {int(length):,}")
            if mt is not None and self._mt is None:
                self._mt = mt
            return
        if md5 in CONTIG_MD5:
            assembly, _ = CONTIG_MD5[md5]
            self._signals.append(_Signal(assembly, _BY_CONTIG + 1, f"##contig {name} md5"))
        if length.isdigit():
            found = assembly_of_length().get((chrom, int(length)))
            if found:
                self._length_votes[found] += 1
                self._length_examples.setdefault(found, f"{name} {int(length):,} bp")
        if "assembly" in pairs:
            found = assembly_from_text(pairs["assembly"])
            if found:
                self._signals.append(
                    _Signal(found, _BY_NAME, f"##contig assembly={_short(pairs['assembly'])}")
                )

    def call(self) -> AssemblyCall:
        signals = list(self._signals)
        for assembly, n in self._length_votes.most_common():
            example = self._length_examples[assembly]
            what = f"{n} ##contig lengths" if n > 1 else "the ##contig length"
            signals.append(
                _Signal(assembly, _BY_CONTIG + (n > 1), f"{what} of {assembly} (e.g. {example})")
            )
        result = AssemblyCall(reference_name=self._reference_name)
        if self._chr_names or self._plain_names:
            result.ucsc_names = self._chr_names >= self._plain_names
        if signals:
            best = max(signals, key=lambda s: s.strength)
            result.assembly, result.evidence = best.assembly, best.evidence
            seen = set()
            for s in signals:
                if s.assembly != best.assembly and s.evidence not in seen:
                    seen.add(s.evidence)
                    result.conflicts.append(
                        f"{s.evidence} says {s.assembly}, but {best.evidence} says "
                        f"{best.assembly}; {best.assembly} was taken (the stronger evidence)"
                    )
        if self._mt is not None:
            result.mt, result.mt_evidence = self._mt
        return result


def mt_sequence(call: AssemblyCall, assembly: str, chrom: str) -> tuple[str, str]:
    """The MT sequence records named ``chrom`` are on, and why, for an input on ``assembly``.

    The header's ``##contig`` (length, MD5, RefSeq name) decides when present; else GRCh38 is
    the rCRS, NCBI36 the Yoruba sequence, and GRCh37 depends on the flavour: UCSC's hg19
    (``chrM``, or a reference named hg19/ucsc) is NC_001807, b37/GRCh37 (``MT``) the rCRS.
    """
    if chrom.startswith("NC_012920"):
        return RCRS, f"the contig name {chrom}"
    if chrom.startswith("NC_001807"):
        return YORUBA_MT, f"the contig name {chrom}"
    if call.mt is not None:
        return call.mt, call.mt_evidence or "the header"
    if assembly == NCBI36:
        return YORUBA_MT, "NCBI36/hg18's chrM is NC_001807"
    if assembly == GRCH37:
        if call.reference_name and _UCSC_FLAVOUR.search(call.reference_name):
            return YORUBA_MT, f"UCSC's hg19 ({_short(call.reference_name)}) has NC_001807 as chrM"
        if chrom[:3].lower() == "chr":
            return YORUBA_MT, f"the name {chrom} is UCSC hg19's, whose chrM is NC_001807"
        return RCRS, f"the name {chrom} is GRCh37/b37's, whose MT is the rCRS"
    return RCRS, "GRCh38's MT is the rCRS"


def _short(text: str, limit: int = 120) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
