"""``gas refdata fetch``: download the standard public files of an assembly, then build.

Sources (official sites): Ensembl's primary-assembly FASTA and GTF of a release, and
NCBI's ClinVar VCF. Downloads resume (HTTP ``Range``) from a ``.part`` file, and every file
is checked against the checksum its site publishes: Ensembl's ``CHECKSUMS`` (the BSD
``sum`` of each file) and ClinVar's ``.md5``. A mirror with the same layout can stand in for
the official hosts (``mirror``), which is how the tests run against a local HTTP server.

A network failure (DNS, refused connection, timeout, HTTP error) is a :class:`DownloadFailed`
whose one-line message names the URL and suggests a mirror. Files that finished downloading
stay under ``.downloads/ASSEMBLY`` to be re-used, an interrupted one as its ``.part`` file to
be resumed; no bundle directory is left behind (the build works in a temporary directory) and
no directory this run created is left empty.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import shutil
import socket
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

# What a fetch takes, approximately (Ensembl 112, ClinVar of 2025; GRCh37 is much the same),
# for ``gas refdata fetch --help``. Downloads, gzipped, kept under .downloads/ASSEMBLY:
APPROX_DOWNLOAD_BYTES = {
    "genome": 900_000_000,  # Homo_sapiens.*.dna.primary_assembly.fa.gz: about 0.9 GB
    "gene_models": 55_000_000,  # the GTF: 50-60 MB
    "known_variants": 200_000_000,  # clinvar.vcf.gz: 100-200 MB, growing every week
}
# What the builder writes: the genome at one byte per base (GRCh38's primary assembly,
# unplaced scaffolds included, is 3.1 Gbases); transcripts (about 250,000 rows of 60 bytes,
# 1.7 M exons of 16, ids: about 60 MB); ClinVar (about 3.5 M alleles at about 150 bytes each:
# key, hash, id and CLNSIG/CLNREVSTAT/CLNDN with their offsets: about 0.5 GB).
APPROX_BUNDLE_BYTES = {
    "genome": 3_100_000_000,
    "gene_models": 60_000_000,
    "known_variants": 500_000_000,
}


def disk_needed_gb(clinvar: bool = True) -> int:
    """The free space a fetch needs, in whole GB (10^9 bytes), rounded up: the downloads
    (which are kept) plus the bundle."""
    roles = [r for r in APPROX_DOWNLOAD_BYTES if clinvar or r != "known_variants"]
    total = sum(APPROX_DOWNLOAD_BYTES[r] + APPROX_BUNDLE_BYTES[r] for r in roles)
    return math.ceil(total / 1e9)


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


MIRROR_HINT = "--mirror URL (or GAS_REFDATA_MIRROR=URL)"


class DownloadFailed(FetchError):
    """The network failed us: ``url`` could not be read, for ``reason``.

    The message is one line that names the URL and suggests a mirror (``mirror`` is the one in
    use, if any, set by :func:`fetch`); ``kept`` is how many bytes of an interrupted download
    are kept in its ``.part`` file for the next run to resume from.
    """

    def __init__(self, url: str, reason: str, *, kept: int = 0) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason
        self.kept = kept
        self.mirror: str | None = None

    def __str__(self) -> str:
        message = f"could not download {self.url}: {self.reason}"
        if self.kept:
            message += f" ({self.kept:,} bytes received are kept; run the command again to resume)"
        if self.mirror:
            return (
                f"{message}. Check that the mirror {self.mirror} is up and has the official "
                f"layout, or download from another server with {MIRROR_HINT}."
            )
        return (
            f"{message}. Check the network connection, or download from a mirror with the "
            f"official layout: {MIRROR_HINT}."
        )


def _reason(exc: BaseException, timeout: float | None = None) -> str:
    """Why a request failed, in a few words for people."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason or ''}".strip()
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, BaseException):
            return _reason(exc.reason, timeout)
        return " ".join(str(exc.reason).split())
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved (DNS)"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, TimeoutError):
        return "timed out" + (f" after {timeout:g} s" if timeout else "")
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# What reading from the network can raise (HTTPError and URLError are OSErrors).
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


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
        raise DownloadFailed(url, _reason(exc), kept=have) from None
    except _NETWORK_ERRORS as exc:
        raise DownloadFailed(url, _reason(exc, timeout), kept=have) from None
    failure: BaseException | None = None
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
                try:
                    block = response.read(CHUNK)
                except _NETWORK_ERRORS as exc:  # what arrived stays in the part file
                    failure = exc
                    break
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress:
                    progress(dest.name, done, total)
    if failure is None and total is not None and done != total:
        failure = http.client.IncompleteRead(b"", total - done)
    if failure is not None:
        if done == 0:
            part.unlink(missing_ok=True)  # nothing to resume from
        raise DownloadFailed(url, _reason(failure, timeout), kept=done)
    os.replace(part, dest)
    return dest


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"only http and https downloads are supported: {url}")


def _fetch_text(url: str, timeout: float = 60) -> str:
    _check_scheme(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            text: str = response.read().decode("utf-8", "replace")
            return text
    except _NETWORK_ERRORS as exc:
        raise DownloadFailed(url, _reason(exc, timeout)) from None


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
            published = (int(parts[0]), int(parts[1]))
            got = bsd_sum(path)
            if got != published:
                raise FetchError(f"{name}: checksum {got} does not match CHECKSUMS {published}")
            return f"sum {published[0]} {published[1]}"
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
    """Download (or resume, or reuse verified files) and build the bundle.

    On failure nothing half-made is left: no bundle directory, and no directory this run
    created that is still empty; finished downloads and ``.part`` files stay for the next run.
    """
    items = plan(assembly, clinvar=clinvar)
    base = Path(out_dir) if out_dir else refdata_dir()
    where = download_dir or base / ".downloads" / assembly
    created = [_make_dirs(where), _make_dirs(base)]
    try:
        return _fetch(assembly, items, where, name, mirror, out_dir, progress, log)
    except BaseException as exc:
        if isinstance(exc, DownloadFailed):
            exc.mirror = mirror
        for chain in created:
            _remove_if_empty(chain)
        raise


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the directories it created, deepest first."""
    created = []
    missing = path
    while not missing.exists() and missing != missing.parent:
        created.append(missing)
        missing = missing.parent
    path.mkdir(parents=True, exist_ok=True)
    return created


def _remove_if_empty(created: list[Path]) -> None:
    for directory in created:  # deepest first; stops at the first one that holds something
        try:
            directory.rmdir()
        except OSError:
            return


def _fetch(
    assembly: str,
    items: list[Download],
    where: Path,
    name: str | None,
    mirror: str | None,
    out_dir: Path | None,
    progress: Progress | None,
    log: Callable[[str], None] | None,
) -> BuildResult:
    say = log or (lambda _m: None)
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
