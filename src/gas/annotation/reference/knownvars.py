"""Known variants (dbSNP, ClinVar, gnomAD …) in a bundle, matched on normalized alleles.

At build time every ALT allele of each known-variant VCF is normalized against the bundle's
genome (trimmed and left-aligned, see normalize.py) and keyed by ``contig << 32 | start``
plus a 64-bit hash of ``REF>ALT``. Each source is stored under ``known/<label>/``::

    key.npy       int64, sorted
    hash.npy      uint64, sorted within each key
    id.bin + id.off.npy                 the record's ID column (rs numbers), as text
    <FIELD>.bin + <FIELD>.off.npy       one INFO value per allele, as text

A lookup for a batch of alleles is two ``searchsorted`` calls on the memory-mapped keys;
only the hits are looked at one by one. The INFO fields carried are configurable
(``--known-info``); Number=A and Number=R fields keep the value of the matching allele.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..consequences.normalize import normalize
from .genemodels import open_text
from .genome import Genome

#: INFO fields carried by default (those a source lacks are skipped).
DEFAULT_FIELDS = ("CLNSIG", "CLNREVSTAT", "CLNDN", "AF", "AF_popmax", "AF_grpmax")

_LABEL_RE = re.compile(r"[^A-Za-z0-9_]+")
_INFO_NUMBER = re.compile(r"##INFO=<ID=([^,>]+),Number=([^,>]+)")
_VALUE_ESCAPES = str.maketrans({",": "%2C", ";": "%3B", "=": "%3D", " ": "_", "|": "%7C"})
_ACGTN = frozenset("ACGTN")


def allele_hash(ref: str, alt: str) -> int:
    digest = hashlib.blake2b(f"{ref}>{alt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def default_label(path: Path) -> str:
    lower = path.name.lower()
    if "clinvar" in lower:
        return "ClinVar"
    if "gnomad" in lower:
        return "gnomAD"
    if "dbsnp" in lower or lower.startswith(("all_", "00-all", "gcf_000001405")):
        return "dbSNP"
    if "exac" in lower:
        return "ExAC"
    if "1000g" in lower or "1kg" in lower:
        return "1000G"
    stem = lower.split(".")[0]
    return _LABEL_RE.sub("_", stem).strip("_") or "known"


def parse_source(spec: str) -> tuple[str, Path]:
    """``LABEL=PATH`` or ``PATH`` (label from the file name)."""
    if "=" in spec:
        label, _, path = spec.partition("=")
        if label and not Path(spec).exists():
            return _LABEL_RE.sub("_", label).strip("_") or "known", Path(path)
    return default_label(Path(spec)), Path(spec)


def _escape_value(value: str) -> str:
    return value.translate(_VALUE_ESCAPES)


def _pack(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    blob = np.frombuffer(b"".join(values), dtype=np.uint8) if values else np.empty(0, np.uint8)
    return blob, offsets


def build_known(
    work: Path,
    sources: Sequence[tuple[str, Path]],
    genome: Genome,
    aliases: object,
    *,
    fields: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, object]]:
    """Write ``work/known/<label>/`` for each source; returns their manifest entries."""
    from .bundle import sha256_file

    say = log or (lambda _m: None)
    wanted = list(fields) if fields else list(DEFAULT_FIELDS)
    code_of = aliases.code  # type: ignore[attr-defined]
    metas: list[dict[str, object]] = []
    used_labels: set[str] = set()
    for label, path in sources:
        base_label = label
        n = 2
        while label in used_labels:
            label = f"{base_label}{n}"
            n += 1
        used_labels.add(label)
        say(f"reading known variants from {path.name} as {label}")
        numbers: dict[str, str] = {}
        keys: list[int] = []
        hashes: list[int] = []
        ids: list[bytes] = []
        values: dict[str, list[bytes]] = {}
        records = skipped = 0
        with open_text(path) as handle:
            for line in handle:
                if line[0] == "#":
                    m = _INFO_NUMBER.match(line)
                    if m:
                        numbers[m.group(1)] = m.group(2)
                    continue
                parts = line.rstrip("\n").split("\t", 8)
                if len(parts) < 8:
                    continue
                records += 1
                chrom, pos_text, ident, ref, alt_text, _q, _f, info = parts[:8]
                code = code_of(chrom)
                if code < 0 or not pos_text.isdigit():
                    skipped += 1
                    continue
                ref = ref.upper()
                if not set(ref) <= _ACGTN:
                    skipped += 1
                    continue
                info_map: dict[str, str] | None = None
                alts = alt_text.split(",")
                for a_index, alt in enumerate(alts):
                    alt = alt.upper()
                    if not alt or alt == "." or not set(alt) <= _ACGTN or alt == ref:
                        continue
                    start, r, a = normalize(genome, code, int(pos_text), ref, alt)
                    keys.append((code << 32) | start)
                    hashes.append(allele_hash(r, a))
                    ids.append(ident.encode() if ident != "." else b"")
                    if info_map is None:
                        info_map = {}
                        for item in info.split(";"):
                            k, _, v = item.partition("=")
                            if k in wanted:
                                info_map[k] = v
                    for field in wanted:
                        raw = info_map.get(field)
                        if raw is None:
                            values.setdefault(field, []).append(b"")
                            continue
                        number = numbers.get(field, ".")
                        items = raw.split(",")
                        if number == "A" and len(items) == len(alts):
                            raw = items[a_index]
                        elif number == "R" and len(items) == len(alts) + 1:
                            raw = items[a_index + 1]
                        values.setdefault(field, []).append(_escape_value(raw).encode())
        order = np.lexsort((np.array(hashes, dtype=np.uint64), np.array(keys, dtype=np.int64)))
        out = work / "known" / label
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "key.npy", np.array(keys, dtype=np.int64)[order])
        np.save(out / "hash.npy", np.array(hashes, dtype=np.uint64)[order])
        order_list = order.tolist()
        blob, offsets = _pack([ids[i] for i in order_list])
        blob.tofile(out / "id.bin")
        np.save(out / "id.off.npy", offsets)
        carried = []
        for field in wanted:
            column = values.get(field)
            if column is None or not any(column):
                continue
            blob, offsets = _pack([column[i] for i in order_list])
            blob.tofile(out / f"{field}.bin")
            np.save(out / f"{field}.off.npy", offsets)
            carried.append(field)
        say(f"  {len(keys):,} alleles from {records:,} records; INFO carried: {carried or 'none'}")
        metas.append(
            {
                "label": label,
                "file": path.name,
                "size": path.stat().st_size,
                "sha256": sha256_file(path),
                "records": records,
                "alleles": len(keys),
                "skipped_records": skipped,
                "fields": carried,
                "numbers": {f: numbers.get(f, ".") for f in carried},
            }
        )
    return metas


class _Strings:
    def __init__(self, base: Path, name: str):
        self.offsets = np.load(base / f"{name}.off.npy", mmap_mode="r")
        path = base / f"{name}.bin"
        self.blob = (
            np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.empty(0)
        )

    def get(self, i: int) -> str:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.blob[lo:hi].tobytes().decode("utf-8", "replace") if hi > lo else ""


class KnownSource:
    def __init__(self, base: Path, meta: dict[str, object]):
        self.label = str(meta["label"])
        self.fields: list[str] = list(meta.get("fields", []))  # type: ignore[call-overload]
        self.key = np.load(base / "key.npy", mmap_mode="r")
        self.hash = np.load(base / "hash.npy", mmap_mode="r")
        self.ids = _Strings(base, "id")
        self.values = {f: _Strings(base, f) for f in self.fields}


class KnownVariants:
    """Every known-variant source of a bundle."""

    def __init__(self, base: Path, metas: Sequence[dict[str, object]]):
        self.sources = [KnownSource(base / str(m["label"]), m) for m in metas]

    @property
    def info_keys(self) -> list[tuple[str, str, str]]:
        """(INFO key, source label, field) for each carried field."""
        return [(f"{s.label}_{f}", s.label, f) for s in self.sources for f in s.fields]

    def lookup(self, keys: np.ndarray, hashes: list[int]) -> list[list[tuple[KnownSource, int]]]:
        """For each query: the (source, row) pairs that match it exactly."""
        found: list[list[tuple[KnownSource, int]]] = [[] for _ in range(len(keys))]
        if not len(keys):
            return found
        for source in self.sources:
            if not len(source.key):
                continue
            lo = np.searchsorted(source.key, keys, side="left")
            hi = np.searchsorted(source.key, keys, side="right")
            hits = np.nonzero(hi > lo)[0]
            for q in hits.tolist():
                h = hashes[q]
                for row in range(int(lo[q]), int(hi[q])):
                    if int(source.hash[row]) == h:
                        found[q].append((source, row))
        return found
