"""The built-in mitochondrial reference: the rCRS and NCBI RefSeq's 37 MT genes.

GRCh38's MT (and GRCh37/b37's) *is* the revised Cambridge Reference Sequence (NC_012920.1),
so mitochondrial variants get full transcript consequences — vertebrate mitochondrial code,
HGVS ``n.`` for the tRNAs and rRNAs and ``c.``/``p.`` for the 13 protein-coding genes —
with no bundle installed. The sequence and the gene models ship in ``data/mt`` (provenance
in ``data/README.md``); the genes get their HGNC symbols (``ND1`` → ``MT-ND1``,
``TRNL1`` → ``MT-TL1``).

The bundle is built from those files the first time a process needs it (≈ 0.1 s) into a
private temporary directory that is removed when the process ends; directories left by
processes that died are swept the next time one is built.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from .assemblies import data_file
from .bundle import Bundle, build_bundle, load_bundle

NAME = "gas-builtin-mt"
FASTA = "rCRS-NC_012920.1.fa"
GFF3 = "refseq-GRCh38.p14-NC_012920.1.gff3"

#: NCBI's names of the MT genes whose HGNC symbol is not simply MT-<name>
_HGNC_SPECIAL = {"COX1": "MT-CO1", "COX2": "MT-CO2", "COX3": "MT-CO3", "CYTB": "MT-CYB"}
_TRANSCRIPT_TYPES = frozenset({"mRNA", "tRNA", "rRNA", "transcript", "ncRNA"})
_DIR_PREFIX = "gas-mt-"
_DIR_RE = re.compile(rf"^{_DIR_PREFIX}(\d+)-")

_lock = threading.Lock()
_bundle: Bundle | None = None


def hgnc_symbol(ncbi_name: str) -> str:
    """HGNC symbol of an MT gene from NCBI's name: ``TRNL1`` → ``MT-TL1``, ``ND1`` → ``MT-ND1``."""
    if ncbi_name in _HGNC_SPECIAL:
        return _HGNC_SPECIAL[ncbi_name]
    if ncbi_name.startswith("TRN"):
        return "MT-T" + ncbi_name[3:]
    return "MT-" + ncbi_name


def hgnc_gff3(text: str) -> str:
    """NCBI's MT GFF3 with HGNC symbols as gene names and transcript ids."""
    out = []
    for line in text.splitlines():
        cols = line.split("\t")
        if line.startswith("#") or len(cols) != 9:
            out.append(line)
            continue
        attrs = cols[8].split(";")
        gene = next((a[5:] for a in attrs if a.startswith("gene=")), None)
        if gene is not None:
            symbol = hgnc_symbol(gene)
            kept = []
            for a in attrs:
                if a.startswith("gene="):
                    a = f"gene={symbol}"
                elif a.startswith("Name=") and cols[2] == "gene":
                    a = f"Name={symbol}"
                kept.append(a)
            if cols[2] in _TRANSCRIPT_TYPES:
                kept.append(f"transcript_id={symbol}")
            cols[8] = ";".join(kept)
        out.append("\t".join(cols))
    return "\n".join(out) + "\n"


def builtin_mt_bundle() -> Bundle:
    """The built-in MT reference bundle, built once per process."""
    global _bundle
    with _lock:
        if _bundle is not None:
            return _bundle
        base = Path(tempfile.gettempdir())
        sweep_stale(base)
        owner = os.getpid()
        work = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{owner}-", dir=base))
        atexit.register(_remove, work, owner)
        try:
            gff = work / "mt-hgnc.gff3"
            gff.write_text(hgnc_gff3(data_file("mt", GFF3).read_text(encoding="utf-8")))
            fasta = work / FASTA
            fasta.write_bytes(data_file("mt", FASTA).read_bytes())
            built = build_bundle(
                name=NAME,
                assembly="GRCh38",
                fasta=fasta,
                gene_models=gff,
                gene_model_format="gff3",
                out_dir=work,
            )
            _bundle = load_bundle(built.path)
        except BaseException:
            _remove(work, owner)
            raise
        return _bundle


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # not from a forked child that exits: the parent still uses it
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale(base: Path) -> None:
    """Remove the built-in MT directories of processes that no longer run."""
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            m = _DIR_RE.match(entry.name)
            if m and entry.is_dir() and not _alive(int(m.group(1))):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
