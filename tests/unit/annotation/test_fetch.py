"""`gas refdata fetch` against a local HTTP server serving files in the official layout."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from gas.annotation import fetch as fetch_mod
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
