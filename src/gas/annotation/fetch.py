"""``gas refdata fetch``: download the standard public files of an assembly, then build.

Sources (official sites): Ensembl's primary-assembly FASTA and GTF of a release, and
NCBI's ClinVar VCF. Downloads resume (HTTP ``Range``) from a ``.part`` file, and every file
is checked against the checksum its site publishes: Ensembl's ``CHECKSUMS`` (the BSD
``sum`` of each file) and ClinVar's ``.md5``. A mirror with the same layout can stand in for
the official hosts (``mirror``), which is how the tests run against a local HTTP server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .bundle import BuildResult, BundleError, build_bundle, refdata_dir

ENSEMBL = "https://ftp.ensembl.org"
NCBI = "https://ftp.ncbi.nlm.nih.gov"
ENSEMBL_RELEASE = 112

CHUNK = 1 << 20


@dataclass(frozen=True)
class Download:
    role: str  # genome, gene_models, known_variants
    url: str
    checksum_url: str
    checksum_kind: str  # "ensembl-sum" or "md5"

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[1]


def plan(assembly: str, *, clinvar: bool = True) -> list[Download]:
    """The files ``gas refdata fetch ASSEMBLY`` downloads."""
    r = ENSEMBL_RELEASE
    if assembly == "GRCh38":
        base = f"{ENSEMBL}/pub/release-{r}"
        fasta = f"{base}/fasta/homo_sapiens/dna/Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz"
        gtf = f"{base}/gtf/homo_sapiens/Homo_sapiens.GRCh38.{r}.gtf.gz"
        clinvar_url = f"{NCBI}/pub/clinvar/vcf_GRCh38/clinvar.vcf.gz"
    elif assembly == "GRCh37":
        base = f"{ENSEMBL}/pub/grch37/release-{r}"
        fasta = f"{base}/fasta/homo_sapiens/dna/Homo_sapiens.GRCh37.dna.primary_assembly.fa.gz"
        gtf = f"{base}/gtf/homo_sapiens/Homo_sapiens.GRCh37.87.gtf.gz"
        clinvar_url = f"{NCBI}/pub/clinvar/vcf_GRCh37/clinvar.vcf.gz"
    else:
        raise BundleError(f"unknown assembly {assembly!r}: GRCh38 or GRCh37")
    files = [
        Download("genome", fasta, fasta.rsplit("/", 1)[0] + "/CHECKSUMS", "ensembl-sum"),
        Download("gene_models", gtf, gtf.rsplit("/", 1)[0] + "/CHECKSUMS", "ensembl-sum"),
    ]
    if clinvar:
        files.append(Download("known_variants", clinvar_url, clinvar_url + ".md5", "md5"))
    return files


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` with its scheme and host replaced by the mirror's (same path)."""
    if not mirror:
        return url
    return mirror.rstrip("/") + urlsplit(url).path


def bsd_sum(path: Path) -> tuple[int, int]:
    """The BSD checksum and 1 KiB block count of a file, as ``sum`` prints them."""
    tool = shutil.which("sum")
    if tool:
        out = subprocess.run([tool, "-r", str(path)], capture_output=True, text=True, check=False)
        parts = out.stdout.split()
        if out.returncode == 0 and len(parts) >= 2 and parts[0].isdigit():
            return int(parts[0]), int(parts[1])
    checksum = 0
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            size += len(block)
            for byte in block:
                checksum = ((checksum >> 1) | ((checksum & 1) << 15)) + byte
                checksum &= 0xFFFF
    return checksum, (size + 1023) // 1024


class FetchError(BundleError):
    """A download that failed or did not match its published checksum."""


Progress = Callable[[str, int, int | None], None]


def download(url: str, dest: Path, progress: Progress | None = None, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part`` when the server allows it."""
    _check_scheme(url)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gas-refdata"})  # noqa: S310
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            os.replace(part, dest)
            return dest
        raise FetchError(f"download of {url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"download of {url} failed: {exc}") from None
    with response:
        if response.status == 206:
            mode = "ab"
        else:
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        if progress:
            progress(dest.name, done, total)
        with open(part, mode) as out:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress:
                    progress(dest.name, done, total)
    if total is not None and done != total:
        raise FetchError(f"download of {url} stopped at {done} of {total} bytes; run again")
    os.replace(part, dest)
    return dest


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"only http and https downloads are supported: {url}")


def _fetch_text(url: str, timeout: float = 60) -> str:
    _check_scheme(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"could not read the checksums at {url}: {exc}") from None


def verify(item: Download, path: Path, checksum_text: str) -> str:
    """Check ``path`` against the published checksum; returns a description of the check."""
    name = item.file_name
    if item.checksum_kind == "md5":
        expected = checksum_text.split()[0].lower() if checksum_text.split() else ""
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise FetchError(f"{name}: md5 {digest.hexdigest()} does not match {expected}")
        return f"md5 {expected}"
    for line in checksum_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == name:
            expected = (int(parts[0]), int(parts[1]))
            got = bsd_sum(path)
            if got != expected:
                raise FetchError(f"{name}: checksum {got} does not match CHECKSUMS {expected}")
            return f"sum {expected[0]} {expected[1]}"
    raise FetchError(f"{name} is not listed in its CHECKSUMS file")


def fetch(
    assembly: str,
    *,
    name: str | None = None,
    mirror: str | None = None,
    clinvar: bool = True,
    download_dir: Path | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> BuildResult:
    """Download (or resume, or reuse verified files) and build the bundle."""
    say = log or (lambda _m: None)
    items = plan(assembly, clinvar=clinvar)
    where = download_dir or (Path(out_dir) if out_dir else refdata_dir()) / ".downloads" / assembly
    where.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for item in items:
        dest = where / item.file_name
        url = mirrored(item.url, mirror)
        checksums = _fetch_text(mirrored(item.checksum_url, mirror))
        if dest.exists():
            try:
                verify(item, dest, checksums)
                say(f"{item.file_name}: already downloaded and verified")
                paths[item.role] = dest
                continue
            except FetchError:
                dest.unlink()
        say(f"downloading {url}")
        download(url, dest, progress)
        try:
            check = verify(item, dest, checksums)
        except FetchError:
            dest.unlink(missing_ok=True)
            raise
        say(f"{item.file_name}: {check} verified")
        paths[item.role] = dest
    bundle_name = name or f"{assembly.lower()}-ensembl-{ENSEMBL_RELEASE}"
    return build_bundle(
        name=bundle_name,
        assembly=assembly,
        fasta=paths["genome"],
        gene_models=paths["gene_models"],
        gene_model_format="gtf",
        known_variants=[("ClinVar", paths["known_variants"])] if "known_variants" in paths else [],
        out_dir=out_dir,
        log=say,
    )
