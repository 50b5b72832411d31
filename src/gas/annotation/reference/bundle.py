"""Reference bundles: gene models, genome and known variants, built once, memory-mapped.

A bundle is a directory::

    NAME/
      manifest.json     format, name, assembly, sources with sha256, files with sha256, counts
      genome.u8         the genome, one byte per base (see genome.py)
      transcripts.npy   one row per transcript, sorted by contig and start
      exons.npy         exons of each transcript in genomic order (transcripts.exon0/nexon)
      genes.npy         gene spans, sorted by contig and start
      tx_id.npy tx_protein.npy gene_id.npy gene_name.npy   fixed-width byte strings
      known/            known variants (see knownvars.py), when built with some

Every array is a ``.npy`` file opened with ``mmap_mode="r"``: loading takes milliseconds and
every worker process shares the same pages. Bundles live under ``$GAS_REFDATA_DIR`` (default
``$GAS_DATA_DIR/refdata``, ``./var/refdata``). The GRCh38 gene-level table that ships with
GAS is the bundle ``grch38-genes``: genes only, no transcripts or genome.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from .contigs import ContigAliases, normalize_chrom
from .genemodels import TranscriptModel, read_gene_models
from .genome import GENOME_FILE, Contig, Genome, write_genome
from .intervals import CHROM_STRIDE, IntervalIndex

FORMAT = "gas-refdata"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BUILTIN_GENES = "grch38-genes"

#: How far from a transcript a variant is still up- or downstream of it (VEP's default).
FLANK = 5000

FLAG_BITS = {
    "Ensembl_canonical": 1,
    "MANE_Select": 2,
    "basic": 4,
    "cds_start_NF": 8,
    "cds_end_NF": 16,
    "mRNA_start_NF": 32,
    "mRNA_end_NF": 64,
    "MANE_Plus_Clinical": 128,
    "CCDS": 256,
    "RefSeq_Select": 512,
}

TX_DTYPE = np.dtype(
    [
        ("chrom", "<i4"),
        ("start", "<i8"),
        ("end", "<i8"),
        ("strand", "i1"),
        ("cds_phase", "i1"),
        ("biotype", "<i2"),
        ("cds_start", "<i8"),
        ("cds_end", "<i8"),
        ("exon0", "<i8"),
        ("nexon", "<i4"),
        ("gene", "<i4"),
        ("flags", "<i4"),
    ]
)
EXON_DTYPE = np.dtype([("start", "<i8"), ("end", "<i8")])
BAND_DTYPE = np.dtype([("chrom", "<i4"), ("start", "<i8"), ("end", "<i8")])
GENE_DTYPE = np.dtype(
    [("chrom", "<i4"), ("start", "<i8"), ("end", "<i8"), ("strand", "i1"), ("biotype", "<i2")]
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class BundleError(ValueError):
    """A bundle that cannot be built, found or read; the message is for the user."""


# ------------------------------------------------------------------------------ places


def refdata_dir() -> Path:
    """Where installed bundles live."""
    explicit = os.environ.get("GAS_REFDATA_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("GAS_DATA_DIR") or "./var") / "refdata"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------ building


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, object]


def _fixed_strings(values: Sequence[str]) -> np.ndarray:
    encoded = [v.encode("utf-8") for v in values]
    width = max((len(v) for v in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}")


def build_bundle(
    *,
    name: str,
    assembly: str,
    fasta: Path,
    gene_models: Path,
    gene_model_format: str,
    known_variants: Sequence[tuple[str, Path]] = (),
    known_info: Sequence[str] | None = None,
    cytobands: Path | None = None,
    out_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the bundle ``NAME`` into ``out_dir`` (default: :func:`refdata_dir`).

    The bundle is written to a temporary directory beside its final place and moved there
    when complete, replacing a previous bundle of the same name.
    """
    say = log or (lambda _msg: None)
    if not _NAME_RE.match(name) or name == BUILTIN_GENES:
        raise BundleError(
            f"invalid bundle name {name!r}: use letters, digits, '.', '_' and '-' "
            f"(and not {BUILTIN_GENES!r}, the built-in table)"
        )
    extra = [cytobands] if cytobands is not None else []
    for path in [fasta, gene_models, *[p for _, p in known_variants], *extra]:
        if not Path(path).is_file():
            raise BundleError(f"no such file: {path}")
    base = Path(out_dir) if out_dir is not None else refdata_dir()
    base.mkdir(parents=True, exist_ok=True)
    final = base / name
    work = base / f".{name}.building-{secrets.token_hex(4)}"
    work.mkdir()
    started = time.perf_counter()
    try:
        say(f"reading the genome from {fasta.name}")
        contigs, fasta_sha = write_genome(fasta, work)
        aliases = ContigAliases([c.name for c in contigs])
        say(f"  {len(contigs)} sequences, {sum(c.length for c in contigs):,} bases")
        say(f"reading gene models from {gene_models.name} ({gene_model_format.upper()})")
        transcripts, model_counts = read_gene_models(gene_models, gene_model_format)
        stats = _write_transcripts(work, transcripts, aliases, contigs)
        say(
            f"  {stats['transcripts']:,} transcripts ({stats['coding']:,} coding) in "
            f"{stats['genes']:,} genes"
        )
        if stats["dropped_no_contig"]:
            say(
                f"  {stats['dropped_no_contig']:,} transcripts on sequences missing from the "
                "FASTA were left out"
            )
        sources: list[dict[str, object]] = [
            {
                "role": "genome",
                "file": fasta.name,
                "size": fasta.stat().st_size,
                "sha256": fasta_sha,
            },
            {
                "role": "gene_models",
                "format": gene_model_format,
                "file": gene_models.name,
                "size": gene_models.stat().st_size,
                "sha256": sha256_file(gene_models),
                "lines": model_counts["lines"],
            },
        ]
        if cytobands is not None:
            n_bands = _write_cytobands(work, cytobands, aliases)
            say(f"  {n_bands:,} cytogenetic bands from {cytobands.name}")
            sources.append(
                {
                    "role": "cytobands",
                    "file": cytobands.name,
                    "size": cytobands.stat().st_size,
                    "sha256": sha256_file(cytobands),
                }
            )
        known_meta: list[dict[str, object]] = []
        if known_variants:
            from .knownvars import build_known

            genome = Genome(work / GENOME_FILE, contigs)
            known_meta = build_known(
                work, known_variants, genome, aliases, fields=known_info, log=say
            )
            for meta in known_meta:
                sources.append(
                    {
                        "role": "known_variants",
                        "label": meta["label"],
                        "file": meta["file"],
                        "size": meta["size"],
                        "sha256": meta["sha256"],
                    }
                )
            del genome
        files = {}
        for path in sorted(work.rglob("*")):
            if path.is_file():
                rel = path.relative_to(work).as_posix()
                files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
        manifest: dict[str, object] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "assembly": assembly,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 1),
            "level": "transcript",
            "contigs": [{"name": c.name, "length": c.length, "offset": c.offset} for c in contigs],
            "biotypes": stats.pop("biotypes"),
            "counts": stats,
            "sources": sources,
            "known_variants": known_meta,
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            old = base / f".{name}.old-{secrets.token_hex(4)}"
            os.replace(final, old)
            os.replace(work, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _loaded.pop(str(final.resolve()), None)
    return BuildResult(final, manifest)


def _write_transcripts(
    work: Path, transcripts: list[TranscriptModel], aliases: ContigAliases, contigs: list[Contig]
) -> dict[str, object]:
    kept = []
    dropped = 0
    for tx in transcripts:
        code = aliases.code(tx.chrom)
        if code < 0:
            dropped += 1
            continue
        kept.append((code, tx.start, tx.end, tx.transcript_id, tx))
    kept.sort(key=lambda k: k[:4])
    biotypes: dict[str, int] = {}

    def biotype_code(value: str) -> int:
        return biotypes.setdefault(value or "unknown", len(biotypes))

    # genes: one span per (gene id, contig, strand)
    gene_rows: dict[tuple[str, int, int], list] = {}  # type: ignore[type-arg]
    for code, start, end, _tid, tx in kept:
        key = (tx.gene_id, code, tx.strand)
        row = gene_rows.get(key)
        if row is None:
            gene_rows[key] = [code, start, end, tx.strand, tx.gene_biotype or tx.biotype, tx]
        else:
            row[1] = min(row[1], start)
            row[2] = max(row[2], end)
    gene_list = sorted(gene_rows.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[1][2], kv[0]))
    gene_index = {key: i for i, (key, _) in enumerate(gene_list)}
    genes = np.zeros(len(gene_list), dtype=GENE_DTYPE)
    for i, (_key, (code, start, end, strand, biotype, _tx)) in enumerate(gene_list):
        genes[i] = (code, start, end, strand, biotype_code(biotype))
    np.save(work / "genes.npy", genes)
    np.save(work / "gene_id.npy", _fixed_strings([k[0] for k, _ in gene_list]))
    np.save(work / "gene_name.npy", _fixed_strings([v[5].gene_name for _, v in gene_list]))

    rows = np.zeros(len(kept), dtype=TX_DTYPE)
    exon_total = sum(len(k[4].exons) for k in kept)
    exons = np.zeros(exon_total, dtype=EXON_DTYPE)
    e = 0
    coding = 0
    for i, (code, start, end, _tid, tx) in enumerate(kept):
        flags = 0
        for tag in tx.tags:
            flags |= FLAG_BITS.get(tag, 0)
        n = len(tx.exons)
        rows[i] = (
            code,
            start,
            end,
            tx.strand,
            tx.cds_phase,
            biotype_code(tx.biotype),
            tx.cds_start,
            tx.cds_end,
            e,
            n,
            gene_index[(tx.gene_id, code, tx.strand)],
            flags,
        )
        exons[e : e + n] = tx.exons
        e += n
        coding += tx.coding
    np.save(work / "transcripts.npy", rows)
    np.save(work / "exons.npy", exons)
    np.save(work / "tx_id.npy", _fixed_strings([k[4].transcript_id for k in kept]))
    np.save(work / "tx_protein.npy", _fixed_strings([k[4].protein_id for k in kept]))
    return {
        "transcripts": len(kept),
        "coding": coding,
        "exons": exon_total,
        "genes": len(gene_list),
        "dropped_no_contig": dropped,
        "biotypes": list(biotypes),
    }


def _write_cytobands(work: Path, path: Path, aliases: ContigAliases) -> int:
    """UCSC ``cytoBand.txt`` (chrom, 0-based start, end, band, stain) → ``cytobands.npy``."""
    from .genemodels import open_text

    rows = []
    with open_text(path) as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4 or line.startswith("#") or not parts[1].isdigit():
                continue
            code = aliases.code(parts[0])
            if code < 0:
                continue
            chrom = normalize_chrom(parts[0])
            rows.append((code, int(parts[1]) + 1, int(parts[2]), f"{chrom}{parts[3]}"))
    rows.sort()
    bands = np.zeros(len(rows), dtype=BAND_DTYPE)
    for i, (code, start, end, _name) in enumerate(rows):
        bands[i] = (code, start, end)
    np.save(work / "cytobands.npy", bands)
    np.save(work / "cytoband_name.npy", _fixed_strings([r[3] for r in rows]))
    return len(rows)


# ------------------------------------------------------------------------------ loading


class Bundle:
    """A loaded (memory-mapped) bundle."""

    def __init__(self, path: Path):
        self.path = path
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path} is not a reference bundle: {exc}") from None
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{path} is not a reference bundle (no '{FORMAT}' manifest)")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"the bundle {path} has format version {manifest.get('format_version')}; "
                f"this GAS reads version {FORMAT_VERSION}: rebuild it with 'gas refdata build'"
            )
        self.manifest = manifest
        self.name: str = manifest["name"]
        self.assembly: str = manifest["assembly"]
        contigs = [Contig(c["name"], c["offset"], c["length"]) for c in manifest["contigs"]]
        self.contigs = contigs
        self.aliases = ContigAliases([c.name for c in contigs])
        self.genome = Genome(path / GENOME_FILE, contigs)
        self.biotypes: list[str] = list(manifest["biotypes"])

        def load(name: str) -> np.ndarray:
            return np.load(path / name, mmap_mode="r", allow_pickle=False)

        self.tx = load("transcripts.npy")
        self.exons = load("exons.npy")
        self.genes = load("genes.npy")
        self.tx_id = load("tx_id.npy")
        self.tx_protein = load("tx_protein.npy")
        self.gene_id = load("gene_id.npy")
        self.gene_name = load("gene_name.npy")
        self.cytobands = None
        if (path / "cytobands.npy").is_file():
            bands = load("cytobands.npy")
            self.cytobands = (
                np.asarray(bands["chrom"], dtype=np.int64) * CHROM_STRIDE + bands["start"],
                np.asarray(bands["chrom"], dtype=np.int64) * CHROM_STRIDE + bands["end"],
                load("cytoband_name.npy"),
            )
        self.known = None
        if manifest.get("known_variants"):
            from .knownvars import KnownVariants

            self.known = KnownVariants(path / "known", manifest["known_variants"])

    @cached_property
    def tx_index(self) -> IntervalIndex:
        """Transcripts widened by the up/downstream flank (transcript order is kept)."""
        tx = self.tx
        return IntervalIndex(
            np.asarray(tx["chrom"]),
            np.asarray(tx["start"]) - FLANK,
            np.asarray(tx["end"]) + FLANK,
        )

    def bands_at(self, codes: np.ndarray, positions: np.ndarray) -> list[str]:
        """The cytogenetic band at each (contig, position); "" where none."""
        n = len(codes)
        if self.cytobands is None or not n or not len(self.cytobands[0]):
            return [""] * n
        starts, ends, names = self.cytobands
        codes = np.asarray(codes, dtype=np.int64)
        q = codes * CHROM_STRIDE + np.asarray(positions, dtype=np.int64)
        i = np.searchsorted(starts, q, side="right") - 1
        safe = np.maximum(i, 0)
        ok = (i >= 0) & (codes >= 0) & (ends[safe] >= q)
        return [
            names[j].decode() if good else ""
            for j, good in zip(safe.tolist(), ok.tolist(), strict=True)
        ]

    @cached_property
    def gene_index(self) -> IntervalIndex:
        g = self.genes
        return IntervalIndex(np.asarray(g["chrom"]), np.asarray(g["start"]), np.asarray(g["end"]))

    @property
    def description(self) -> str:
        sources = ", ".join(
            f"{s['file']}" for s in self.manifest.get("sources", []) if isinstance(s, dict)
        )
        return f"{self.name} ({self.assembly}; {sources}; built {self.manifest['built_at']})"

    @property
    def identity(self) -> str:
        """One line for the VCF header: name, assembly, build time and a manifest checksum."""
        digest = hashlib.sha256((self.path / MANIFEST).read_bytes()).hexdigest()[:16]
        return (
            f"<ID={self.name},Assembly={self.assembly},Format={FORMAT}/{FORMAT_VERSION},"
            f"Built={self.manifest['built_at']},Manifest_sha256={digest}>"
        )


_loaded: dict[str, tuple[float, Bundle]] = {}
_load_lock = threading.Lock()


def load_bundle(path: Path) -> Bundle:
    """Load a bundle directory, once per process (reloaded if its manifest changes)."""
    key = str(Path(path).resolve())
    try:
        mtime = (Path(path) / MANIFEST).stat().st_mtime
    except OSError:
        raise BundleError(f"{path} is not a reference bundle (no {MANIFEST})") from None
    with _load_lock:
        hit = _loaded.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        bundle = Bundle(Path(path))
        _loaded[key] = (mtime, bundle)
        return bundle


def resolve(refdata: str | os.PathLike[str] | None) -> Path | None:
    """The directory of the bundle named or pointed to; None for the built-in gene table."""
    if refdata is None:
        return None
    text = os.fspath(refdata)
    if text in ("", BUILTIN_GENES):
        return None
    candidate = Path(text)
    if (candidate / MANIFEST).is_file():
        return candidate
    if _NAME_RE.match(text):
        installed = refdata_dir() / text
        if (installed / MANIFEST).is_file():
            return installed
    known = ", ".join([BUILTIN_GENES, *[b["name"] for b in list_bundles()]])
    raise BundleError(
        f"no reference bundle {text!r} (installed: {known}); build one with 'gas refdata build'"
    )


def list_bundles(base: Path | None = None) -> list[dict[str, object]]:
    """Installed bundles (not the built-in one), by name."""
    base = base or refdata_dir()
    found = []
    if base.is_dir():
        for path in sorted(base.iterdir()):
            if path.name.startswith(".") or not (path / MANIFEST).is_file():
                continue
            with contextlib.suppress(OSError, ValueError):
                manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
                if manifest.get("format") == FORMAT:
                    found.append(
                        {
                            "name": manifest.get("name", path.name),
                            "assembly": manifest.get("assembly"),
                            "path": str(path),
                            "built_at": manifest.get("built_at"),
                            "level": manifest.get("level", "transcript"),
                            "counts": manifest.get("counts", {}),
                            "format_version": manifest.get("format_version"),
                        }
                    )
    return found
