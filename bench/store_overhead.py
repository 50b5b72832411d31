"""What the results store and liftover add to a job's annotation time.

Annotates the same synthetic input (bench/engine.py's generator) several times, alternating
the variants so that load on the machine hits both alike, and prints the median time of each
and their ratio:

- transcript level (a synthetic bundle): with and without the Parquet results store
  (issue 8's budget: at most +20 %);
- gene level (the built-in GRCh38 table): with and without the results store;
- gene level: as GRCh38 versus lifted from GRCh37 (the same records, read as GRCh37).

    python bench/store_overhead.py                    # 200,000 variants, 5 rounds
    python bench/store_overhead.py --variants 50000 --rounds 3

Two measures per variant: the CPU time of one process (workers=1; all its threads, so the
store's background writer counts), and the wall time of a run as the service makes it
(workers chosen by the engine: both cores for inputs over ~3 MB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support import synthetic  # noqa: E402

from gas.annotation import annotate_file  # noqa: E402
from gas.annotation.reference.bundle import build_bundle  # noqa: E402


def _cpu(**kwargs: object) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.process_time()
        annotate_file(output_dir=Path(out), workers=1, **kwargs)  # type: ignore[arg-type]
        return time.process_time() - started


def _wall(**kwargs: object) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        annotate_file(output_dir=Path(out), **kwargs)  # type: ignore[arg-type]
        return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "store_overhead.json")
    args = ap.parse_args()

    ref_dir = args.work / f"overhead-v{args.variants}"
    vcf = ref_dir / synthetic.vcf_name(0)
    if not vcf.exists():
        synthetic.main(["--out", str(ref_dir), "--variants", str(args.variants)])
    bundle_dir = ref_dir / "refdata" / "bench"
    if not (bundle_dir / "manifest.json").exists():
        build_bundle(
            name="bench",
            assembly="GRCh38",
            fasta=ref_dir / "genome.fa",
            gene_models=ref_dir / "genes.gtf",
            gene_model_format="gtf",
            out_dir=ref_dir / "refdata",
        )

    cases = {
        "transcript, no store": dict(refdata=bundle_dir, results_store=False),
        "transcript, store": dict(refdata=bundle_dir, results_store=True),
        "gene, no store": dict(results_store=False, assembly="GRCh38"),
        "gene, store": dict(results_store=True, assembly="GRCh38"),
        "gene, lifted from GRCh37, no store": dict(results_store=False, assembly="GRCh37"),
    }
    result: dict[str, object] = {"variants": args.variants, "rounds": args.rounds}
    for measure, run in (("cpu", _cpu), ("wall", _wall)):
        times: dict[str, list[float]] = {name: [] for name in cases}
        for r in range(args.rounds):
            for name, kwargs in cases.items():
                times[name].append(run(input_path=vcf, **kwargs))
            print(f"{measure}: round {r + 1}/{args.rounds} done", file=sys.stderr)
        median = {name: statistics.median(values) for name, values in times.items()}
        ratios = {
            "results store, transcript level": median["transcript, store"]
            / median["transcript, no store"],
            "results store, gene level": median["gene, store"] / median["gene, no store"],
            "liftover, gene level": median["gene, lifted from GRCh37, no store"]
            / median["gene, no store"],
        }
        what = "CPU seconds, one process" if measure == "cpu" else "wall seconds, default workers"
        print(f"{args.variants:,} variants, median {what}, {args.rounds} rounds:")
        for name, value in median.items():
            print(f"  {name:38s} {value:7.2f} s  ({args.variants / value:,.0f} variants/s)")
        for name, value in ratios.items():
            print(f"  {name:38s} ×{value:.3f}")
        result[measure] = {"median": median, "ratios": ratios}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
