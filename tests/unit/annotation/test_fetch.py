"""`gas refdata fetch` against a local HTTP server serving files in the official layout."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from gas.annotation.reference import fetch as fetch_mod
from gas.entrypoints.cli import main

from . import refhelpers as rh


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus the ``Range: bytes=N-`` requests the official sites honour."""

    ranges: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def send_head(self):  # type: ignore[override]
        header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not header or not path.is_file():
            return super().send_head()
        RangeHandler.ranges.append(header)
        start = int(re.match(r"bytes=(\d+)-", header).group(1))
        data = path.read_bytes()
        if start >= len(data):
            self.send_error(416)
            return None
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        import io

        return io.BytesIO(data[start:])


@pytest.fixture
def mirror(handmade, tmp_path):
    root = tmp_path / "www"
    files = {}
    for item in fetch_mod.plan("GRCh38"):
        path = root / urlsplit(item.url).path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        files[item.role] = path
    files["genome"].write_bytes(gzip.compress((handmade.base / "ref.fa").read_bytes()))
    files["gene_models"].write_bytes(gzip.compress((handmade.base / "ref.gtf").read_bytes()))
    files["known_variants"].write_bytes(
        gzip.compress(
            (
                "##fileformat=VCFv4.1\n"
                '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="x">\n'
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                f"1\t450\t1234\t{handmade.ref(450)}\t{rh.other_base(handmade.ref(450))}\t.\t.\t"
                "CLNSIG=Pathogenic\n"
            ).encode()
        )
    )
    for role in ("genome", "gene_models"):
        path = files[role]
        checksum, blocks = fetch_mod.bsd_sum(path)
        (path.parent / "CHECKSUMS").write_text(f"{checksum} {blocks} {path.name}\n")
    md5 = hashlib.md5(files["known_variants"].read_bytes()).hexdigest()
    Path(str(files["known_variants"]) + ".md5").write_text(f"{md5}  clinvar.vcf.gz\n")

    class Handler(RangeHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RangeHandler.ranges = []
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()


def test_the_official_plan_names_ensembl_and_ncbi_files():
    urls = [d.url for d in fetch_mod.plan("GRCh38")]
    assert urls[0].startswith("https://ftp.ensembl.org/pub/release-")
    assert urls[0].endswith("Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz")
    assert urls[2] == "https://ftp.ncbi.nlm.nih.gov/pub/clinvar/vcf_GRCh38/clinvar.vcf.gz"
    assert "grch37" in fetch_mod.plan("GRCh37")[1].url


def test_bsd_sum_matches_the_sum_tool_definition(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"hello world\n" * 1000)
    checksum, blocks = fetch_mod.bsd_sum(path)
    # the pure-Python fallback computes the same
    expected = 0
    for byte in path.read_bytes():
        expected = (((expected >> 1) | ((expected & 1) << 15)) + byte) & 0xFFFF
    assert (checksum, blocks) == (expected, 12)


def test_fetch_downloads_resumes_verifies_and_builds(mirror, tmp_path):
    url, files = mirror
    out = tmp_path / "refdata"
    # a download interrupted half way: the part file holds the first half
    downloads = out / ".downloads" / "GRCh38"
    downloads.mkdir(parents=True)
    genome = files["genome"].read_bytes()
    (downloads / (files["genome"].name + ".part")).write_bytes(genome[: len(genome) // 2])
    result = CliRunner().invoke(
        main, ["refdata", "fetch", "GRCh38", "--mirror", url, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    bundle_dir = Path(result.stdout.strip().splitlines()[-1])
    assert bundle_dir == out / "grch38-ensembl-112"
    assert RangeHandler.ranges == [f"bytes={len(genome) // 2}-"]
    assert (downloads / files["genome"].name).read_bytes() == genome
    manifest = (bundle_dir / "manifest.json").read_text()
    assert '"known_variants"' in manifest and "ClinVar" in manifest
    # a second run reuses the verified files
    again = CliRunner().invoke(
        main, ["refdata", "fetch", "GRCh38", "--mirror", url, "-o", str(out)]
    )
    assert again.exit_code == 0 and "already downloaded and verified" in again.output


def test_a_corrupt_download_is_refused(mirror, tmp_path):
    url, files = mirror
    data = files["gene_models"].read_bytes()
    files["gene_models"].write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    result = CliRunner().invoke(
        main, ["refdata", "fetch", "GRCh38", "--mirror", url, "-o", str(tmp_path / "rd")]
    )
    assert result.exit_code != 0
    assert "does not match CHECKSUMS" in result.output


# --- network failures: one line naming the URL, a mirror suggested, nothing half-made -------


def free_port() -> int:
    """A local port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch_cli(*args: str, env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        main, ["refdata", "fetch", "GRCh38", *args], env={"GAS_REFDATA_MIRROR": None, **(env or {})}
    )


def assert_one_line_error(result, url: str) -> str:  # type: ignore[no-untyped-def]
    """Exit status 1, no traceback, and a single ``Error:`` line that names ``url`` and says
    how to use a mirror."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a crash
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert url in line
    assert "--mirror URL" in line and "GAS_REFDATA_MIRROR" in line
    return str(line)


def leftovers(out: Path) -> list[str]:
    """Every file and directory under ``out``, relative to it."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) if out.exists() else []


def test_a_mirror_that_refuses_connections_is_one_line_and_leaves_nothing(tmp_path):
    mirror = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "refdata"
    result = fetch_cli("--mirror", mirror, "-o", str(out))
    line = assert_one_line_error(result, mirror + "/pub/release-112/")
    assert "the connection was refused" in line
    assert f"the mirror {mirror}" in line
    assert not out.exists()  # no empty directories made by this run


def test_the_mirror_can_come_from_gas_refdata_mirror(tmp_path):
    mirror = f"http://127.0.0.1:{free_port()}"
    result = fetch_cli("-o", str(tmp_path / "rd"), env={"GAS_REFDATA_MIRROR": mirror})
    assert_one_line_error(result, mirror + "/pub/release-112/")
    assert not (tmp_path / "rd").exists()


def test_a_dns_failure_names_the_official_url_and_suggests_a_mirror(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    existing = tmp_path / "refdata"
    existing.mkdir()  # a directory that was there before is left alone
    result = fetch_cli("-o", str(existing))
    line = assert_one_line_error(result, "https://ftp.ensembl.org/pub/release-112/")
    assert "could not be resolved (DNS)" in line
    assert "Check the network connection" in line
    assert existing.is_dir() and leftovers(existing) == []


def test_a_404_names_the_missing_file_and_leaves_no_bundle(mirror, tmp_path):
    url, files = mirror
    files["gene_models"].unlink()
    out = tmp_path / "refdata"
    result = fetch_cli("--mirror", url, "-o", str(out))
    gtf_url = url + urlsplit(fetch_mod.plan("GRCh38")[1].url).path
    line = assert_one_line_error(result, gtf_url)
    assert "HTTP 404" in line
    # The genome, downloaded and verified, stays for the next run; nothing else does.
    assert leftovers(out) == [
        ".downloads",
        ".downloads/GRCh38",
        ".downloads/GRCh38/" + files["genome"].name,
    ]


def test_a_404_for_the_checksums_leaves_no_directories(mirror, tmp_path):
    url, files = mirror
    (files["genome"].parent / "CHECKSUMS").unlink()
    out = tmp_path / "refdata"
    result = fetch_cli("--mirror", url, "-o", str(out))
    line = assert_one_line_error(result, url + "/pub/release-112/fasta/homo_sapiens/dna/CHECKSUMS")
    assert "HTTP 404" in line
    assert not out.exists()


def test_a_server_that_does_not_answer_times_out(tmp_path):
    with socket.socket() as listener:  # accepts connections (the backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x.gz"
        with pytest.raises(fetch_mod.DownloadFailed) as failed:
            fetch_mod.download(url, tmp_path / "x.gz", timeout=0.3)
    assert failed.value.url == url
    assert "timed out after 0.3 s" in str(failed.value)
    assert "\n" not in str(failed.value)
    assert list(tmp_path.iterdir()) == []  # not even an empty .part file


class CutHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``DATA``; the first request is cut off half way, later ones honour Range."""

    DATA = bytes(range(256)) * 400
    requests: list[str | None] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self) -> None:
        header = self.headers.get("Range")
        CutHandler.requests.append(header)
        if len(CutHandler.requests) == 1:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.DATA)))
            self.end_headers()
            self.wfile.write(self.DATA[: len(self.DATA) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        start = int(re.match(r"bytes=(\d+)-", header).group(1)) if header else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(self.DATA) - start))
        self.end_headers()
        self.wfile.write(self.DATA[start:])


def test_an_interrupted_download_keeps_its_part_file_and_resumes(tmp_path):
    CutHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/genome.fa.gz"
        dest = tmp_path / "genome.fa.gz"
        half = len(CutHandler.DATA) // 2
        with pytest.raises(fetch_mod.DownloadFailed) as failed:
            fetch_mod.download(url, dest, timeout=5)
        message = str(failed.value)
        assert url in message and "run the command again to resume" in message
        assert f"{half:,} bytes received are kept" in message
        assert not dest.exists()
        assert (tmp_path / "genome.fa.gz.part").read_bytes() == CutHandler.DATA[:half]

        assert fetch_mod.download(url, dest, timeout=5) == dest
        assert dest.read_bytes() == CutHandler.DATA
        assert CutHandler.requests == [None, f"bytes={half}-"]
        assert not (tmp_path / "genome.fa.gz.part").exists()
    finally:
        server.shutdown()
        server.server_close()


def test_help_states_the_download_sizes_and_the_disk_needed():
    result = CliRunner().invoke(main, ["refdata", "fetch", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "about 0.9 GB" in text  # the FASTA
    assert "about 50-60 MB" in text  # the GTF
    assert "about 100-200 MB" in text  # ClinVar
    assert "about 3.7 GB" in text  # the bundle
    assert f"Have about {fetch_mod.disk_needed_gb()} GB free" in text
    assert fetch_mod.disk_needed_gb(clinvar=False) <= fetch_mod.disk_needed_gb()
    bundle = sum(fetch_mod.APPROX_BUNDLE_BYTES.values()) / 1e9
    assert f"about {bundle:.1f} GB" in text
    assert "--mirror URL" in text and "GAS_REFDATA_MIRROR" in text
    assert ".part" in text


def test_a_build_that_fails_leaves_no_bundle_directory(mirror, tmp_path):
    url, files = mirror
    genome = files["genome"]
    genome.write_bytes(gzip.compress(b"this is not a FASTA file\n"))
    checksum, blocks = fetch_mod.bsd_sum(genome)
    (genome.parent / "CHECKSUMS").write_text(f"{checksum} {blocks} {genome.name}\n")
    out = tmp_path / "refdata"
    result = fetch_cli("--mirror", url, "-o", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "does not start with a '>' line" in result.stderr
    # the verified downloads stay for the next run; no bundle, finished or half-built
    assert [p.name for p in out.iterdir()] == [".downloads"]
