"""annotate_file: one VCF in; an annotated VCF, a count log and a summary JSON out.

Choose the reference (the built-in gene table, a bundle, or one of the input's own assembly)
→ read (vcf/) → annotate (pipeline/) → write (output/); every output is written to a
temporary file and renamed into place at the end, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from . import kernel
from .errors import InvalidInputError
from .output.report import RunInfo, count_log, summary
from .output.results_store import FILE_SUFFIX as STORE_SUFFIX
from .output.results_store import ResultsStoreWriter
from .output.vcf_writer import engine_version
from .pipeline.gene_level import GeneAnnotator
from .pipeline.pool import fewer_collections
from .pipeline.protocol import Annotator
from .pipeline.stream import Stream
from .reference.assemblies import GRCH38
from .reference.genes import ASSEMBLY, default_gene_table
from .vcf.assembly import AssemblyCall
from .vcf.header import VcfHeader, normalize_assembly
from .vcf.limits import InputLimits
from .vcf.source import InputSource, LineBatches

#: Inputs with more text than this are annotated by several processes (one per core): about
#: 100,000 sites-only records, ~5 s of work for one core against a bundle, while starting the
#: workers (fork) costs ~0.1 s.
PARALLEL_TEXT_BYTES = 3 * 1024 * 1024

_COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")


@dataclass(frozen=True)
class AnnotationOutputs:
    """The files a run wrote, with the summary and warnings already read back."""

    annotated_vcf: Path
    count_log: Path
    summary_json: Path
    summary: dict[str, object] = field(compare=False)
    warnings: list[str] = field(compare=False)
    tsv: Path | None = None
    #: the results store (Parquet, one row per allele and transcript), when written
    results_store: Path | None = None


def output_stem(input_name: str) -> str:
    """The base of output file names: ``sample.vcf.gz`` → ``sample``, ``data.txt`` → itself.

    Directories are dropped (``a/b.vcf`` → ``b``), then one compression suffix
    (.gz/.bgz/.bgzf) and then ``.vcf``, case-insensitively.
    """
    name = PurePosixPath(input_name.replace("\\", "/")).name
    stem = name
    lower = stem.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            stem, lower = stem[: -len(suffix)], lower[: -len(suffix)]
            break
    if lower.endswith(".vcf"):
        stem = stem[:-4]
    return stem if stem.strip(".") else (name if name.strip(".") else "input")


def annotate_file(
    input_path: Path,
    output_dir: Path,
    *,
    output_name: str | None = None,
    assembly: str | None = None,
    limits: InputLimits = InputLimits(),  # noqa: B008 - frozen, shared safely
    progress: Callable[[float], None] | None = None,
    refdata: str | os.PathLike[str] | None = None,
    csq: bool = False,
    tsv: bool = False,
    per_transcript: bool = False,
    workers: int | None = None,
    results_store: bool = True,
) -> AnnotationOutputs:
    """Annotate one VCF (plain, gzip or bgzip; VCF 3.3–4.4).

    ``refdata`` is a reference bundle's name or directory (see reference/bundle.py); by
    default the built-in GRCh38 gene table (``grch38-genes``): gene names only. A bundle with
    transcripts gives full consequences (``ANN``; also VEP's ``CSQ`` if ``csq``).

    Writes ``<stem>.annot.vcf``, ``<stem>.count.log`` and ``<stem>.summary.json`` into
    ``output_dir`` (stem from :func:`output_stem` of ``output_name`` or the input's name),
    and ``<stem>.annot.tsv`` if ``tsv`` (one row per ALT allele with its most severe
    consequence, or per allele and transcript if ``per_transcript``).
    ``assembly`` is what the user says the input's assembly is (the header is used when
    None). ``progress`` is called with the fraction of the input file read, ending at 1.0.
    ``workers``: processes that annotate chunks of a large input against a bundle (default:
    every core, for inputs of more than about 3 MB of text; 1: this process only).

    Raises InvalidInputError (with a one-line ``reason`` and log ``details``) when the input
    cannot be read as a VCF; no output file is left behind then. Raises BundleError when
    ``refdata`` names no bundle.
    """
    from .reference.bundle import load_bundle, resolve

    input_path = Path(input_path)
    output_dir = Path(output_dir)
    display_name = PurePosixPath((output_name or input_path.name).replace("\\", "/")).name
    stem = output_stem(display_name)
    bundle_dir = resolve(refdata)
    bundle = load_bundle(bundle_dir) if bundle_dir is not None else None
    # An input on another assembly is annotated natively when a bundle of its assembly is
    # installed; otherwise it is lifted to GRCh38 (see reference/choice.py).
    chosen = normalize_assembly(assembly) if assembly and assembly != "auto" else None
    wanted = chosen or peek_assembly(input_path, limits).assembly
    reference_assembly = normalize_assembly(bundle.assembly) if bundle is not None else ASSEMBLY
    if wanted is not None and wanted != reference_assembly and wanted != GRCH38:
        native = native_bundle(wanted)
        if native is not None:
            bundle = load_bundle(native)
    output_dir.mkdir(parents=True, exist_ok=True)
    finals = {
        "vcf": output_dir / f"{stem}.annot.vcf",
        "log": output_dir / f"{stem}.count.log",
        "json": output_dir / f"{stem}.summary.json",
    }
    if results_store:
        finals["store"] = output_dir / f"{stem}{STORE_SUFFIX}"
    tsv_unavailable = tsv and bundle is None
    if tsv and bundle is not None:
        finals["tsv"] = output_dir / f"{stem}.annot.tsv"
    token = secrets.token_hex(4)
    temps = {k: output_dir / f".{p.name}.{token}.part" for k, p in finals.items()}
    try:
        started_wall = datetime.now(UTC)
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(InputSource(input_path, limits))
            out = stack.enter_context(open(temps["vcf"], "w", encoding="utf-8", newline="\n"))
            annotator: Annotator
            tsv_out = None
            n_workers = 1
            if bundle is None:
                annotator = GeneAnnotator(default_gene_table())
            else:
                from .pipeline.transcript_level import TranscriptAnnotator, TxOptions

                tx_annotator = TranscriptAnnotator(
                    bundle, TxOptions(csq=csq, tsv=tsv, per_transcript=per_transcript)
                )
                if tsv:
                    tsv_out = stack.enter_context(
                        open(temps["tsv"], "w", encoding="utf-8", newline="\n")
                    )
                    tsv_out.write(tx_annotator.tsv_header())
                if workers is None:
                    text_guess = source.size * (1 if source.compression == "none" else 8)
                    workers = (os.cpu_count() or 1) if text_guess > PARALLEL_TEXT_BYTES else 1
                n_workers = workers
                annotator = tx_annotator
            run = Stream(
                annotator,
                limits,
                chosen,
                out,
                tsv=tsv_out,
                workers=n_workers,
                # a gene-level run gets full consequences on MT from the built-in rCRS
                route_mt=bundle is None,
            )
            if tsv_unavailable:
                run.warnings.add(
                    "no TSV was written: it needs a reference bundle with transcripts (--refdata)"
                )
            if csq and bundle is None:
                run.warnings.add(
                    "no CSQ field was written: it needs a reference bundle with transcripts "
                    "(--refdata)"
                )
            store = None
            if results_store:
                store = stack.enter_context(contextlib.closing(ResultsStoreWriter(temps["store"])))
                run.rows_sink = store.add
            stack.enter_context(fewer_collections())
            run.read(source, progress)
            assembly_report = run.assembly_report()
            finished_wall = datetime.now(UTC)
            info = RunInfo(
                input_name=display_name,
                format_version=run.header.file_format,
                compression=source.compression,
                reference=run.reference_name,
                reference_short=run.reference_short,
                engine={
                    "name": "gas.annotation",
                    "version": engine_version(),
                    "level": run.level,
                    "path": kernel.describe(),
                },
                assembly_declared=run.assembly_declared,
                assembly_evidence=run.assembly_evidence,
                assembly_used=run.assembly_used,
                started=started_wall.isoformat(timespec="seconds"),
                finished=finished_wall.isoformat(timespec="seconds"),
                elapsed=time.perf_counter() - started,
                counts=run.counts,
                warnings=run.warnings.render(),
                detail=run.detail(),
                assembly=assembly_report,
                mitochondrial=run.mt_detail(),
            )
        summary_data = summary(info)
        if store is not None:
            summary_data["results_store"] = {"rows": store.rows, "file": finals["store"].name}
            summary_data["top_genes"] = store.top_genes()
        temps["json"].write_text(json.dumps(summary_data, indent=2) + "\n", encoding="utf-8")
        temps["log"].write_text(count_log(info), encoding="utf-8")
        for key in finals:
            os.replace(temps[key], finals[key])
    except BaseException:
        for path in temps.values():
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    if progress is not None:
        progress(1.0)
    return AnnotationOutputs(
        annotated_vcf=finals["vcf"],
        count_log=finals["log"],
        summary_json=finals["json"],
        summary=summary_data,
        warnings=list(info.warnings),
        tsv=finals.get("tsv"),
        results_store=finals.get("store"),
    )


def peek_assembly(input_path: Path, limits: InputLimits) -> AssemblyCall:
    """What the input's header says about its assembly, read before the run chooses its
    reference (errors are left for the run itself to report)."""
    header = VcfHeader()
    try:
        with InputSource(input_path, limits) as source:
            for _, lines in LineBatches(source.blocks(), limits.max_line_bytes):
                for line in lines:
                    if line.startswith("##"):
                        header.read_meta(line)
                    elif line.strip():
                        header.finish()
                        return header.assembly_call
    except (InvalidInputError, OSError, EOFError, ValueError):
        pass
    header.finish()
    return header.assembly_call


def native_bundle(assembly: str) -> Path | None:
    """An installed bundle of ``assembly`` (the newest), to annotate such inputs natively."""
    from .reference.bundle import list_bundles

    found = [
        b
        for b in list_bundles()
        if normalize_assembly(str(b.get("assembly") or "")) == assembly
        and b.get("level", "transcript") == "transcript"
    ]
    if not found:
        return None
    found.sort(key=lambda b: str(b.get("built_at") or ""))
    return Path(str(found[-1]["path"]))
