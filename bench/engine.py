"""Speed, side by side (issue 3, item 6): GAS vs bcftools csq, SnpEff and vcfanno.

Generates a synthetic reference and N random variants (sites-only, and with 1 and 100
samples by default), runs every tool on the very same files in one run, and prints
variants/s, peak RSS and the ratio of each to ours. Results go to ``bench/out/`` as JSON.

    python bench/engine.py                       # 200,000 variants, 6 Mb, samples 0 1 100
    python bench/engine.py --variants 20000 --samples 0 --tools gas,bcftools

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.peers import peers  # noqa: E402
from tests.support import synthetic  # noqa: E402

TOOLS = ("gas", "gas-python", "bcftools", "snpeff", "vcfanno")
#: GAS's two paths (GAS_ENGINE_KERNEL): the compiled kernel, the Python reference
GAS_PATHS = {"gas": "required", "gas-python": "off"}
KNOWN_FLAGS = ("--known-variants", "--known-vcf", "--known", "--dbsnp")


@dataclass
class Row:
    step: str  # "consequences" or "known variants"
    input: str
    tool: str
    variants: int
    seconds: float | None = None
    max_rss_mb: float | None = None
    note: str = ""
    error: str = ""
    cpu_seconds: float | None = None  # user + system, the tool and its child processes
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # 1-min load at start

    @property
    def rate(self) -> float | None:
        if self.seconds is None or self.error:
            return None
        return self.variants / self.seconds if self.seconds > 0 else None


@dataclass
class Setup:
    """One-off preparation: database and bundle builds (not counted in the rows)."""

    name: str
    seconds: float | None
    max_rss_mb: float | None
    note: str = ""


@dataclass
class Report:
    params: dict[str, object]
    machine: dict[str, object]
    versions: dict[str, str]
    setup: list[Setup] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def tool_versions(tools: list[str]) -> dict[str, str]:
    out: dict[str, str] = {"gas": _first_line([*peers.gas_cli(), "--version"])}
    if "bcftools" in tools and peers.have("bcftools"):
        out["bcftools"] = _first_line(["bcftools", "--version"])
    if "snpeff" in tools and peers.have("snpeff"):
        out["snpeff"] = _first_line([str(a) for a in peers.snpeff_argv("-version", heap="256m")])
    if "vcfanno" in tools and peers.have("vcfanno"):
        text = subprocess.run(["vcfanno"], capture_output=True, text=True).stderr
        out["vcfanno"] = next((ln.strip() for ln in text.splitlines() if "version" in ln), "?")
    return out


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc.__class__.__name__})"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine() -> dict[str, object]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def prepare_inputs(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Reference + VCFs, reused when the same parameters made them before."""
    key = f"g{args.genome_mb}-n{args.genes}-v{args.variants}-s{args.seed}"
    ref_dir = work / key
    stamp = ref_dir / "manifest.json"
    vcfs = {s: ref_dir / synthetic.vcf_name(s) for s in args.samples}
    if not (stamp.exists() and all(p.exists() for p in vcfs.values())):
        t = time.perf_counter()
        print(f"generating {key} ...", file=sys.stderr)
        synthetic.main(
            [
                "--out",
                str(ref_dir),
                "--genome-mb",
                str(args.genome_mb),
                "--genes",
                str(args.genes),
                "--seed",
                str(args.seed),
                "--variants",
                str(args.variants),
                "--samples",
                *[str(s) for s in args.samples],
            ]
        )
        print(f"generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    manifest = json.loads(stamp.read_text())
    return {
        "dir": ref_dir,
        "fasta": ref_dir / "genome.fa",
        "gtf": ref_dir / "genes.gtf",
        "gff3": ref_dir / "genes.gff3",
        "vcfs": vcfs,
        "records": int(manifest["variants"]),
        "manifest": manifest,
    }


def known_variants(vcf: Path, out: Path, every: int = 2) -> Path:
    """A dbSNP-like VCF (bgzip + tabix) holding every ``every``-th input site with an rsID
    and an allele frequency — what vcfanno (and our known-variant step) match on."""
    plain = out.with_suffix("")
    with open(vcf, encoding="ascii") as src, open(plain, "w", encoding="ascii") as dst:
        n = 0
        for line in src:
            if line.startswith("##"):
                if line.startswith(("##fileformat", "##contig")):
                    dst.write(line)
                continue
            if line.startswith("#"):
                dst.write('##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n')
                dst.write("\t".join(line.split("\t")[:8]).rstrip("\n") + "\n")
                continue
            n += 1
            if n % every:
                continue
            f = line.split("\t", 8)
            af = ",".join(f"{((n * 7919) % 997) / 1000:.3f}" for _ in f[4].split(","))
            dst.write(f"{f[0]}\t{f[1]}\trs{n}\t{f[3]}\t{f[4]}\t.\t.\tAF={af}\n")
    with open(out, "wb") as fh:
        subprocess.run(["bgzip", "-c", str(plain)], stdout=fh, check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)
    return out


def run_benchmark(args: argparse.Namespace) -> Report:
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))} (known: {TOOLS})")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    inputs = prepare_inputs(args, work)
    ref_dir: Path = inputs["dir"]  # type: ignore[assignment]
    runs = ref_dir / f"runs-{os.getpid()}"
    runs.mkdir(exist_ok=True)
    report = Report(
        params={
            "variants_requested": args.variants,
            "records": inputs["records"],
            "genome_mb": args.genome_mb,
            "genes": args.genes,
            "samples": args.samples,
            "seed": args.seed,
            "tools": tools,
        },
        machine=machine(),
        versions=tool_versions(tools),
    )
    n = int(inputs["records"])  # type: ignore[call-overload]
    vcfs: dict[int, Path] = inputs["vcfs"]  # type: ignore[assignment]

    # --- GAS: a bundle when `gas refdata build` exists, else the built-in gene table
    bundle: Path | None = None
    bundle_known: Path | None = None
    gas_note = ""
    if "gas" in tools or "gas-python" in tools:
        problem = peers.refdata_build_problem()
        if problem is None:
            try:
                bundle, r = peers.build_bundle(
                    inputs["fasta"],
                    inputs["gff3"],
                    runs / "bundle",
                    name="bench",  # type: ignore[arg-type]
                )
                report.setup.append(Setup("gas refdata build (GFF3)", r.seconds, r.max_rss_mb))
                gas_note = "bundle from GFF3"
            except RuntimeError as exc:
                gas_note = (
                    f"bundle build failed, built-in table used: {' '.join(str(exc).split())[-300:]}"
                )
            help_text = peers.refdata_build_help()
            flag = next((f for f in KNOWN_FLAGS if re.search(rf"{f}(?![\w-])", help_text)), None)
            if bundle is not None and flag and "vcfanno" in tools and shutil.which("bgzip"):
                known = known_variants(vcfs[min(vcfs)], runs / "known.vcf.gz")
                try:
                    bundle_known, r = peers.build_bundle(
                        inputs["fasta"],  # type: ignore[arg-type]
                        inputs["gff3"],  # type: ignore[arg-type]
                        runs / "bundle-known",
                        name="bench-known",
                        extra=[flag, str(known)],
                    )
                    report.setup.append(
                        Setup(f"gas refdata build (GFF3 + {flag})", r.seconds, r.max_rss_mb)
                    )
                except RuntimeError as exc:
                    report.setup.append(
                        Setup(
                            f"gas refdata build (GFF3 + {flag})",
                            None,
                            None,
                            " ".join(str(exc).split())[-300:],
                        )
                    )
        else:
            gas_note = f"gene-level, built-in GRCh38 table ({problem})"

    snpeff_db = None
    if "snpeff" in tools and peers.have("snpeff"):
        try:
            snpeff_db = peers.build_snpeff_db(
                inputs["fasta"],
                inputs["gtf"],
                runs / "snpeff",
                name="bench",  # type: ignore[arg-type]
            )
            b = snpeff_db.build
            report.setup.append(Setup("snpEff build -gtf22", b.seconds, b.max_rss_mb))
        except RuntimeError as exc:
            report.setup.append(Setup("snpEff build -gtf22", None, None, f"failed: {exc}"[:300]))
    bcf_gff3 = None
    if "bcftools" in tools and peers.have("bcftools"):
        bcf_gff3 = peers.bcftools_gff3(inputs["gff3"], runs / "genes.bcftools.gff3")  # type: ignore[arg-type]

    for samples, vcf in sorted(vcfs.items()):
        label = "sites-only" if samples == 0 else f"{samples} sample{'s' * (samples > 1)}"
        for tool in tools:
            row = Row("consequences", label, tool, n)
            try:
                if tool in GAS_PATHS:
                    out = runs / f"{tool}-{samples}"
                    env = {**os.environ, "GAS_ENGINE_KERNEL": GAS_PATHS[tool]}
                    _, r = peers.run_gas(vcf, out, bundle, env=env)
                    row.note = f"{gas_note}; GAS_ENGINE_KERNEL={GAS_PATHS[tool]}"
                elif tool == "bcftools":
                    if bcf_gff3 is None:
                        raise _Missing(peers.missing_reason("bcftools"))
                    r = peers.run_bcftools_csq(
                        inputs["fasta"],
                        bcf_gff3,
                        vcf,
                        runs / f"bcftools-{samples}.vcf",  # type: ignore[arg-type]
                    )
                    row.note = "csq -l (per record)"
                elif tool == "snpeff":
                    if snpeff_db is None:
                        raise _Missing(peers.missing_reason("snpeff"))
                    r = peers.run_snpeff(snpeff_db, vcf, runs / f"snpeff-{samples}.vcf")
                    row.note = "ann -noStats (JVM start included)"
                else:
                    continue  # vcfanno: the known-variant step below
                row.seconds, row.max_rss_mb = r.seconds, r.max_rss_mb
                row.cpu_seconds = r.cpu_seconds
            except _Missing as exc:
                row.error = str(exc)
            except RuntimeError as exc:
                row.error = str(exc).splitlines()[0][:300]
            report.rows.append(row)
            _progress(row)

        if "vcfanno" in tools:
            if not (peers.have("vcfanno") and shutil.which("bgzip") and shutil.which("tabix")):
                row = Row(
                    "known variants", label, "vcfanno", n, error=peers.missing_reason("vcfanno")
                )
                report.rows.append(row)
                continue
            known = runs / "known.vcf.gz"
            if not known.exists():
                known_variants(vcfs[min(vcfs)], known)
            conf = runs / "vcfanno.toml"
            conf.write_text(
                "[[annotation]]\n"
                f'file="{known}"\n'
                'fields=["ID", "AF"]\n'
                'names=["known_id", "known_AF"]\n'
                'ops=["first", "first"]\n'
            )
            row = Row("known variants", label, "vcfanno", n, note="ID + AF from a dbSNP-like VCF")
            try:
                r = peers.run_vcfanno(conf, vcf, runs / f"vcfanno-{samples}.vcf")
                row.seconds, row.max_rss_mb = r.seconds, r.max_rss_mb
            except RuntimeError as exc:
                row.error = str(exc).splitlines()[0][:300]
            report.rows.append(row)
            _progress(row)
            gas_row = Row("known variants", label, "gas", n)
            if bundle_known is not None:
                try:
                    _, r = peers.run_gas(vcf, runs / f"gas-known-{samples}", bundle_known)
                    gas_row.seconds, gas_row.max_rss_mb = r.seconds, r.max_rss_mb
                    gas_row.note = "full annotation + known variants"
                except RuntimeError as exc:
                    gas_row.error = str(exc).splitlines()[0][:300]
            else:
                gas_row.error = "no known-variant option in `gas refdata build` yet"
            report.rows.append(gas_row)
            _progress(gas_row)
    if not args.keep:
        shutil.rmtree(runs, ignore_errors=True)
    return report


class _Missing(Exception):
    pass


def _progress(row: Row) -> None:
    if row.error:
        print(f"  {row.input:<12} {row.tool:<9} -- {row.error}", file=sys.stderr)
    else:
        print(
            f"  {row.input:<12} {row.tool:<10} {row.seconds:8.2f} s wall  "
            f"{row.cpu_seconds or 0:8.2f} s CPU  {row.max_rss_mb:8.1f} MB  (load {row.load:.1f})",
            file=sys.stderr,
        )


def table(report: Report) -> str:
    lines = []
    head = (
        f"{'step':<15} {'input':<12} {'tool':<10} {'wall s':>8} {'CPU s':>8} {'variants/s':>12} "
        f"{'peak RSS MB':>12} {'speed/ours':>10} {'RSS/ours':>9}  note"
    )
    lines += [head, "-" * len(head)]
    ours = {(r.step, r.input): r for r in report.rows if r.tool == "gas" and r.rate is not None}
    for r in report.rows:
        base = ours.get((r.step, r.input))
        if r.rate is None:
            lines.append(f"{r.step:<15} {r.input:<12} {r.tool:<10} {'—':>8} {'—':>8} {'—':>12} "
                         f"{'—':>12} {'':>10} {'':>9}  {r.error or r.note}")  # fmt: skip
            continue
        speed = f"{r.rate / base.rate:.2f}" if base and base.rate else "—"
        rss = f"{r.max_rss_mb / base.max_rss_mb:.2f}" if base and base.max_rss_mb else "—"
        cpu = f"{r.cpu_seconds:.2f}" if r.cpu_seconds is not None else "—"
        lines.append(
            f"{r.step:<15} {r.input:<12} {r.tool:<10} {r.seconds:>8.2f} {cpu:>8} {r.rate:>12,.0f} "
            f"{r.max_rss_mb:>12.1f} {speed:>10} {rss:>9}  {r.note} (load {r.load:.1f})"
        )
    if report.setup:
        lines.append("")
        lines.append("one-off setup (not in the rates above):")
        for s in report.setup:
            t = f"{s.seconds:.2f} s" if s.seconds is not None else "—"
            m = f"{s.max_rss_mb:.0f} MB" if s.max_rss_mb is not None else "—"
            lines.append(f"  {s.name:<40} {t:>10} {m:>10}  {s.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", type=int, default=200_000)
    ap.add_argument("--genome-mb", type=float, default=6.0)
    ap.add_argument("--genes", type=int, default=300)
    ap.add_argument("--samples", type=int, nargs="+", default=[0, 1, 100])
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated: {','.join(TOOLS)}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "work"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--keep", action="store_true", help="keep the tools' outputs in --workdir")
    args = ap.parse_args(argv)

    report = run_benchmark(args)
    text = table(report)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"engine-{stamp}.json"
    data = asdict(report)
    for row, obj in zip(data["rows"], report.rows, strict=True):
        row["variants_per_s"] = obj.rate
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
