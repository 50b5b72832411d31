"""Gene models from GTF (GENCODE, Ensembl) and GFF3 (Ensembl, RefSeq) files.

Both readers produce the same thing: a list of :class:`TranscriptModel`, each with its exons
and the genomic span of its coding sequence *including the stop codon* (GTF lists the stop
codon apart from CDS; GFF3 includes it in CDS — the union of both is taken, so either
convention reads the same). Coordinates are 1-based and inclusive, as in the files.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

#: Tags kept from the files (others are dropped); names as GENCODE spells them.
KEPT_TAGS = frozenset(
    {
        "basic",
        "Ensembl_canonical",
        "MANE_Select",
        "MANE_Plus_Clinical",
        "CCDS",
        "cds_start_NF",
        "cds_end_NF",
        "mRNA_start_NF",
        "mRNA_end_NF",
        "RefSeq_Select",
    }
)

# RefSeq GFF3 feature types of transcripts and the biotype they imply.
_REFSEQ_TYPE_BIOTYPE = {
    "mRNA": "protein_coding",
    "lnc_RNA": "lncRNA",
    "lncRNA": "lncRNA",
    "ncRNA": "ncRNA",
    "miRNA": "miRNA",
    "primary_transcript": "primary_transcript",
    "snRNA": "snRNA",
    "snoRNA": "snoRNA",
    "rRNA": "rRNA",
    "tRNA": "tRNA",
    "scRNA": "scRNA",
    "antisense_RNA": "antisense_RNA",
    "guide_RNA": "guide_RNA",
    "telomerase_RNA": "telomerase_RNA",
    "vault_RNA": "vault_RNA",
    "Y_RNA": "Y_RNA",
    "RNase_MRP_RNA": "RNase_MRP_RNA",
    "RNase_P_RNA": "RNase_P_RNA",
    "transcript": "transcript",
    "pseudogenic_transcript": "pseudogene",
    "V_gene_segment": "IG_V_gene",
    "C_gene_segment": "IG_C_gene",
    "D_gene_segment": "IG_D_gene",
    "J_gene_segment": "IG_J_gene",
}
_EXON_TYPES = frozenset({"exon", "pseudogenic_exon"})
_CDS_TYPES = frozenset({"CDS"})
_STOP_TYPES = frozenset({"stop_codon"})
_START_TYPES = frozenset({"start_codon"})
_GENE_TYPES = frozenset({"gene", "ncRNA_gene", "pseudogene"})


class GeneModelError(ValueError):
    """A gene-model file that cannot be read."""


@dataclass
class TranscriptModel:
    transcript_id: str
    gene_id: str
    gene_name: str
    gene_biotype: str
    biotype: str
    chrom: str
    strand: int  # +1 or -1
    exons: list[tuple[int, int]] = field(default_factory=list)  # genomic order after finish()
    cds_start: int = 0  # genomic span of the coding sequence with its stop codon; 0: none
    cds_end: int = 0
    #: bases at the 5' end of the CDS before the first whole codon (an incomplete CDS start)
    cds_phase: int = 0
    protein_id: str = ""
    tags: set[str] = field(default_factory=set)
    _cds_parts: list[tuple[int, int, int]] = field(default_factory=list, repr=False)

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def coding(self) -> bool:
        return self.cds_start > 0

    def finish(self) -> bool:
        """Sort and check the parts; False if the transcript has nothing usable."""
        if not self.exons:
            if not self._cds_parts:
                return False
            self.exons = [(s, e) for s, e, _ in self._cds_parts]
        self.exons = _merge_overlapping(sorted(set(self.exons)))
        if self._cds_parts:
            parts = sorted(self._cds_parts)
            self.cds_start = min(s for s, _, _ in parts)
            self.cds_end = max(e for _, e, _ in parts)
            # The phase that counts is that of the CDS part at the transcript's 5' end.
            real = [p for p in parts if p[2] >= 0] or parts
            first = real[0] if self.strand > 0 else max(real, key=lambda p: p[1])
            self.cds_phase = first[2] if first[2] in (0, 1, 2) else 0
            if self.cds_phase:
                self.tags.add("cds_start_NF")
            # A CDS that sticks out of its exons (bad input): clip it to them.
            self.cds_start = max(self.cds_start, self.exons[0][0])
            self.cds_end = min(self.cds_end, self.exons[-1][1])
            if self.cds_start > self.cds_end:
                self.cds_start = self.cds_end = 0
        self._cds_parts = []
        return True


def _merge_overlapping(exons: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in exons:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def open_text(path: Path) -> io.TextIOBase:
    """A text stream of a plain, gzip or bgzip file (by its first bytes)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - caller closes


def _strand(value: str) -> int:
    return -1 if value == "-" else 1


# ---------------------------------------------------------------------------- GTF

_GTF_ATTR = re.compile(r'\s*([^\s;]+)\s+(?:"([^"]*)"|([^;]*?))\s*(?:;|$)')


def parse_gtf_attributes(text: str) -> tuple[dict[str, str], list[str]]:
    attrs: dict[str, str] = {}
    tags: list[str] = []
    for m in _GTF_ATTR.finditer(text):
        key = m.group(1)
        value = m.group(2) if m.group(2) is not None else m.group(3)
        if key == "tag":
            tags.append(value)
        elif key not in attrs:
            attrs[key] = value
    return attrs, tags


def _versioned(ident: str, version: str | None) -> str:
    if version and "." not in ident:
        return f"{ident}.{version}"
    return ident


def read_gtf(path: Path) -> tuple[list[TranscriptModel], dict[str, int]]:
    """Transcripts of a GTF file (GENCODE or Ensembl style), and counts for the manifest."""
    transcripts: dict[str, TranscriptModel] = {}
    genes: dict[str, tuple[str, str]] = {}  # gene_id -> (name, biotype) from gene lines
    lines = 0
    with open_text(path) as handle:
        for line in handle:
            if not line or line[0] == "#":
                continue
            parts = line.rstrip("\n\r").split("\t")
            if len(parts) < 9:
                if line.strip():
                    raise GeneModelError(
                        f"{path.name}: line {lines + 1} has {len(parts)} tab-separated "
                        "columns; a GTF line has 9"
                    )
                continue
            lines += 1
            chrom, _source, ftype, start, end, _score, strand, frame, attr_text = parts[:9]
            if ftype not in ("exon", "CDS", "stop_codon", "transcript", "gene", "start_codon"):
                continue
            attrs, tags = parse_gtf_attributes(attr_text)
            gene_id = _versioned(attrs.get("gene_id", ""), attrs.get("gene_version"))
            if ftype == "gene":
                genes[gene_id] = (
                    attrs.get("gene_name") or attrs.get("gene") or gene_id,
                    attrs.get("gene_type") or attrs.get("gene_biotype") or "",
                )
                continue
            tid = attrs.get("transcript_id")
            if not tid:
                continue
            tid = _versioned(tid, attrs.get("transcript_version"))
            tx = transcripts.get(tid)
            if tx is None:
                tx = TranscriptModel(
                    transcript_id=tid,
                    gene_id=gene_id,
                    gene_name=attrs.get("gene_name") or attrs.get("gene") or "",
                    gene_biotype=attrs.get("gene_type") or attrs.get("gene_biotype") or "",
                    biotype=attrs.get("transcript_type") or attrs.get("transcript_biotype") or "",
                    chrom=chrom,
                    strand=_strand(strand),
                )
                transcripts[tid] = tx
            for tag in tags:
                if tag in KEPT_TAGS:
                    tx.tags.add(tag)
            s, e = int(start), int(end)
            if ftype == "exon":
                tx.exons.append((s, e))
            elif ftype == "CDS":
                tx._cds_parts.append((s, e, int(frame) if frame.isdigit() else 0))
                if not tx.protein_id and attrs.get("protein_id"):
                    tx.protein_id = _versioned(attrs["protein_id"], attrs.get("protein_version"))
            elif ftype == "stop_codon":
                tx._cds_parts.append((s, e, -1))  # phase -1: not a CDS part's phase
    result = []
    for tx in transcripts.values():
        name, gbiotype = genes.get(tx.gene_id, ("", ""))
        tx.gene_name = tx.gene_name or name or tx.gene_id
        tx.gene_biotype = tx.gene_biotype or gbiotype
        if not tx.biotype:
            tx.biotype = "protein_coding" if tx._cds_parts else (tx.gene_biotype or "transcript")
        if tx.finish():
            result.append(tx)
    return result, {"lines": lines, "transcripts": len(result)}


# ---------------------------------------------------------------------------- GFF3


def _gff_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        attrs[key.strip()] = value
    return attrs


def _strip_prefix(ident: str) -> str:
    for prefix in ("transcript:", "gene:", "CDS:", "rna-", "gene-", "cds-", "exon-", "id-"):
        if ident.startswith(prefix):
            return ident[len(prefix) :]
    return ident


def _dbxref_gene(attrs: dict[str, str]) -> str:
    for ref in unquote(attrs.get("Dbxref", "")).split(","):
        if ref.startswith("GeneID:"):
            return ref[7:]
    return ""


@dataclass
class _Feature:
    ftype: str
    chrom: str
    start: int
    end: int
    strand: int
    attrs: dict[str, str]
    parents: list[str]


def read_gff3(path: Path) -> tuple[list[TranscriptModel], dict[str, int]]:
    """Transcripts of a GFF3 file (Ensembl or RefSeq style), and counts for the manifest."""
    features: dict[str, _Feature] = {}
    children: dict[str, list[tuple[str, int, int, int]]] = {}  # parent -> parts
    cds_protein: dict[str, str] = {}
    lines = 0
    anonymous = 0
    with open_text(path) as handle:
        for line in handle:
            if not line or line[0] == "#":
                if line.startswith("##FASTA"):
                    break
                continue
            parts = line.rstrip("\n\r").split("\t")
            if len(parts) < 9:
                if line.strip():
                    raise GeneModelError(
                        f"{path.name}: line {lines + 1} has {len(parts)} tab-separated "
                        "columns; a GFF3 line has 9"
                    )
                continue
            lines += 1
            chrom, _source, ftype, start, end, _score, strand, phase, attr_text = parts[:9]
            if ftype in ("chromosome", "region", "biological_region", "supercontig", "scaffold"):
                continue
            attrs = _gff_attrs(attr_text)
            parents = [unquote(p) for p in attrs.get("Parent", "").split(",") if p]
            s, e = int(start), int(end)
            if ftype in _EXON_TYPES or ftype in _CDS_TYPES or ftype in _STOP_TYPES:
                kind = 0 if ftype in _EXON_TYPES else (1 if ftype in _CDS_TYPES else 2)
                ph = int(phase) if phase.isdigit() else 0
                for parent in parents:
                    children.setdefault(parent, []).append((kind, s, e, ph))
                    if kind == 1 and parent not in cds_protein:
                        protein = attrs.get("protein_id") or _strip_prefix(
                            unquote(attrs.get("ID", ""))
                        )
                        if protein:
                            cds_protein[parent] = unquote(protein)
                continue
            if ftype in _START_TYPES or ftype.endswith("UTR") or ftype.endswith("utr"):
                continue
            ident = unquote(attrs.get("ID", ""))
            if not ident:
                anonymous += 1
                ident = f"_anonymous_{anonymous}"
            features[ident] = _Feature(ftype, chrom, s, e, _strand(strand), attrs, parents)

    result: list[TranscriptModel] = []
    for parent_id, parts in children.items():
        feat = features.get(parent_id)
        if feat is None:
            continue  # exons of an unknown parent
        # climb to the gene (a miRNA sits under a primary_transcript under its gene)
        gene = feat
        while gene.ftype not in _GENE_TYPES and gene.parents:
            up = features.get(gene.parents[0])
            if up is None:
                break
            gene = up
        tx = _gff_transcript(parent_id, feat, gene, cds_protein.get(parent_id, ""))
        for kind, s, e, ph in parts:
            if kind == 0:
                tx.exons.append((s, e))
            elif kind == 1:
                tx._cds_parts.append((s, e, ph))
            else:
                tx._cds_parts.append((s, e, -1))
        if not tx.biotype:
            tx.biotype = "protein_coding" if tx._cds_parts else "transcript"
        if tx._cds_parts and tx.biotype == "transcript":
            tx.biotype = "protein_coding"
        if tx.finish():
            result.append(tx)
    result.sort(key=lambda t: (t.chrom, t.start, t.transcript_id))
    return result, {"lines": lines, "transcripts": len(result)}


def _gff_transcript(ident: str, feat: _Feature, gene: _Feature, protein: str) -> TranscriptModel:
    a = feat.attrs
    g = gene.attrs
    tid = unquote(a.get("transcript_id", "")) or _strip_prefix(ident)
    tid = _versioned(tid, a.get("version"))
    gid = unquote(g.get("gene_id", ""))
    if gid:
        gid = _versioned(gid, g.get("version"))
    else:
        gid = _dbxref_gene(g) or _strip_prefix(unquote(g.get("ID", ident)))
    name = unquote(g.get("Name", "") or g.get("gene_name", "") or g.get("gene", "")) or gid
    gene_biotype = unquote(
        g.get("biotype", "") or g.get("gene_biotype", "") or g.get("gene_type", "")
    )
    biotype = unquote(
        a.get("biotype", "") or a.get("transcript_biotype", "") or a.get("transcript_type", "")
    )
    if not biotype and feat is not gene:
        biotype = _REFSEQ_TYPE_BIOTYPE.get(feat.ftype, "")
        if biotype == "transcript" and gene_biotype:
            biotype = gene_biotype
    elif not biotype:
        biotype = _REFSEQ_TYPE_BIOTYPE.get(feat.ftype, gene_biotype)
    tags = set()
    for tag in unquote(a.get("tag", "")).split(","):
        tag = tag.strip().replace(" ", "_")
        if tag in KEPT_TAGS:
            tags.add(tag)
    if a.get("Ensembl_canonical") or "Ensembl_canonical" in a.get("tag", ""):
        tags.add("Ensembl_canonical")
    return TranscriptModel(
        transcript_id=tid,
        gene_id=gid,
        gene_name=name,
        gene_biotype=gene_biotype,
        biotype=biotype,
        chrom=feat.chrom,
        strand=feat.strand,
        protein_id=protein,
        tags=tags,
    )


def read_gene_models(path: Path, fmt: str) -> tuple[list[TranscriptModel], dict[str, int]]:
    """``fmt`` is ``gtf`` or ``gff3``."""
    if fmt == "gtf":
        return read_gtf(path)
    if fmt == "gff3":
        return read_gff3(path)
    raise ValueError(f"unknown gene model format {fmt!r}")
