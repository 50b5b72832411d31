"""Test helpers for the annotation engine: fixture files, compression, reading outputs."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from gas.annotation import AnnotationOutputs, annotate_file

VCF_DIR = Path(__file__).resolve().parents[2] / "data" / "vcf"

ANN_HEADER = (
    "##INFO=<ID=ANN,Number=.,Type=String,Description=\"Functional annotations: 'Allele | "
    "Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | "
    "Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | CDS.pos / "
    "CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO'\">"
)

HEADER = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


def fixture_path(name: str) -> Path:
    return VCF_DIR / name


def gzip_members(data: bytes, member_size: int = 0) -> bytes:
    """gzip, as one member or as several concatenated members of ``member_size`` bytes."""
    if not member_size:
        return gzip.compress(data)
    return b"".join(
        gzip.compress(data[i : i + member_size]) for i in range(0, len(data), member_size)
    )


def bgzip(data: bytes, block_size: int = 65280) -> bytes:
    """BGZF as bgzip writes it: gzip members with a BC extra field, then an empty EOF block."""

    def block(payload: bytes) -> bytes:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflater.compress(payload) + deflater.flush()
        header = b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\0\xff" + struct.pack("<H", 6)
        extra = b"BC" + struct.pack("<HH", 2, len(body) + 25)
        trailer = struct.pack("<II", zlib.crc32(payload), len(payload))
        return header + extra + body + trailer

    blocks = [block(data[i : i + block_size]) for i in range(0, len(data), block_size)]
    return b"".join(blocks) + block(b"")


def write(tmp_path: Path, name: str, text: str | bytes, compression: str = "none") -> Path:
    data = text.encode() if isinstance(text, str) else text
    if compression == "gzip":
        data = gzip_members(data)
    elif compression == "multigzip":
        data = gzip_members(data, member_size=max(1, len(data) // 3))
    elif compression == "bgzip":
        data = bgzip(data, block_size=max(1, min(65280, len(data) // 3)))
    path = tmp_path / name
    path.write_bytes(data)
    return path


@dataclass
class Annotated:
    outputs: AnnotationOutputs
    header: list[str]
    records: list[list[str]]

    @property
    def summary(self) -> dict:
        return self.outputs.summary

    @property
    def log(self) -> str:
        return self.outputs.count_log.read_text()

    def info(self, i: int) -> dict[str, str]:
        return info_dict(self.records[i][7])

    def ann(self, i: int) -> list[list[str]]:
        return ann_entries(self.records[i][7])


def annotate(path: Path, out_dir: Path | None = None, **kwargs) -> Annotated:
    out_dir = out_dir or path.parent / "out"
    outputs = annotate_file(path, out_dir, **kwargs)
    header, records = read_vcf(outputs.annotated_vcf)
    return Annotated(outputs, header, records)


def read_vcf(path: Path) -> tuple[list[str], list[list[str]]]:
    header, records = [], []
    for line in path.read_text().split("\n"):
        if not line:
            continue
        if line.startswith("#"):
            header.append(line)
        else:
            records.append(line.split("\t"))
    return header, records


def info_dict(info: str) -> dict[str, str]:
    result = {}
    for item in info.split(";"):
        key, _, value = item.partition("=")
        result[key] = value
    return result


def ann_entries(info: str) -> list[list[str]]:
    ann = info_dict(info).get("ANN")
    return [entry.split("|") for entry in ann.split(",")] if ann else []


SAMPLE_TEXT = (VCF_DIR / "sample-v4.2.vcf").read_text()
