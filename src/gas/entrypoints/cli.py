"""The ``gas`` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from gas.config import ConfigError, Settings
from gas.entrypoints.client import client

KINDS = ("annotator", "notifier", "archiver", "restorer")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _container(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from gas.bootstrap import build

    try:
        return build(settings or _settings())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``gas --version``: the package's version and which path the annotation engine runs
    (its compiled kernel or the Python reference; ``GAS_ENGINE_KERNEL``)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib import metadata

    from gas.annotation.kernel import describe

    try:
        version = metadata.version("gas")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    click.echo(f"gas, version {version}")
    click.echo(f"annotation engine: {describe()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version (and the annotation engine's path) and exit.",
)
def main() -> None:
    """GAS, the Genomics Annotation Service.

    \b
    Quick start on one machine:
      gas serve                      web server + workers at http://127.0.0.1:8000
      gas users create you@lab.org   make an account (or sign up in the browser)
      gas annotate sample.vcf        annotate a file locally, no server needed

    Settings come from GAS_* environment variables (see the README); by default all
    state lives under ./var (GAS_DATA_DIR).
    """


# --- processes ------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the whole service on this machine: web server and every worker, supervised.

    Stop with Ctrl-C (or SIGTERM): jobs in progress finish, or are handed back to the
    queue for redelivery if they take longer than the grace period.
    """
    from gas.entrypoints import logs
    from gas.entrypoints.supervisor import STATUS_FILE, Supervisor, serve_children

    settings = _settings()
    logs.configure("serve", settings.log_level, settings.log_format)
    _metrics_dir(settings)  # prepared once here; the children inherit it
    os.environ.pop("GAS_METRICS_LISTEN", None)  # the web serves /metrics for every child
    c = _container(settings)  # applies migrations once, before the children start
    c.close()
    click.echo(
        f"GAS is starting at http://{host}:{port}  (data in {settings.data_dir})",
        err=settings.log_format == "json",  # standard output: log lines only
    )
    children = serve_children(host, port, settings.annotator_processes, web=settings.web_processes)
    grace = float(os.environ.get("GAS_SHUTDOWN_GRACE_SECONDS", "30"))
    max_delay = float(os.environ.get("GAS_RESTART_MAX_DELAY_SECONDS") or "60")
    supervisor = Supervisor(
        children,
        grace_seconds=grace,
        status_path=settings.data_dir / STATUS_FILE,  # shown by the web's /healthz
        max_restart_delay=max_delay,
    )
    sys.exit(supervisor.run())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--threads", default=None, type=int, help="Request threads [default: GAS_WEB_THREADS, 8]."
)
def web(host: str, port: int, threads: int | None) -> None:
    """Run only the web server (waitress), for a machine of the web tier.

    Connection limits and the trusted reverse proxy come from GAS_WEB_* settings (README)."""
    from gas.entrypoints import logs, web_server
    from gas.entrypoints.web import create_app

    settings = _settings()
    logs.configure("web", settings.log_level, settings.log_format)
    _metrics_dir(settings)
    c = _container(settings)
    app = create_app(c)
    c.start_background("web")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        web_server.serve(app, settings, host=host, port=port, threads=threads)
    except KeyboardInterrupt:
        pass
    finally:
        c.close()


@main.command()
@click.argument("kind", type=click.Choice([*KINDS, "all"]))
def worker(kind: str) -> None:
    """Run one worker: annotator, notifier, archiver, restorer, or all of them (supervised).

    Workers take messages from the queue in the database; run as many as you like,
    on as many machines as share the database and the storage.
    """
    from gas.entrypoints import logs

    settings = _settings()
    if kind == "all":
        from gas.entrypoints.supervisor import Child, Supervisor

        logs.configure("workers", settings.log_level, settings.log_format)
        _metrics_dir(settings)
        c = _container(settings)
        _serve_metrics(settings, c)  # this machine's workers' metrics, from this process
        os.environ.pop("GAS_METRICS_LISTEN", None)  # (not from each child)
        gas = [sys.executable, "-m", "gas", "worker"]
        children = [Child(k, [*gas, k]) for k in KINDS]
        try:
            code = Supervisor(children).run()
        finally:
            c.close()
        sys.exit(code)

    from gas.entrypoints import metrics
    from gas.entrypoints.workers import build_worker, install_signal_handlers

    logs.configure(kind, settings.log_level, settings.log_format)
    _metrics_dir(settings)
    c = _container(settings)
    w = build_worker(kind, c)
    install_signal_handlers(w)
    metrics.worker_running(kind)
    _serve_metrics(settings, c)
    c.start_background(kind)
    try:
        w.run_forever()
    finally:
        c.close()


def _metrics_dir(settings: Settings) -> None:
    """Count this process's metrics into the machine's metrics directory (see
    gas.entrypoints.metrics); children started later inherit it."""
    from gas.entrypoints import metrics

    if settings.metrics_dir is None:
        return
    try:
        metrics.enable_multiprocess(settings.metrics_dir)
    except OSError as exc:
        raise click.ClickException(
            f"GAS_METRICS_DIR {settings.metrics_dir}: {exc.strerror or exc}"
        ) from None


def _serve_metrics(settings: Settings, c: Any) -> None:
    """With GAS_METRICS_LISTEN: serve /metrics (a machine running only workers)."""
    if not settings.metrics_listen:
        return
    from gas.entrypoints import metrics

    try:
        metrics.serve_in_thread(
            settings.metrics_listen,
            metrics.scrape_registry(metrics.state_collector(c)),
            settings.metrics_token,
        )
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"GAS_METRICS_LISTEN: {exc}") from None


# --- users and tokens -------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Manage user accounts."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise click.ClickException("no terminal to ask for a password: use --password-stdin")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--premium", is_flag=True, help="Start on the Premium plan.")
@click.option("--name", default="", help="Full name.")
@click.option("--institution", default="", help="Institution.")
def users_create(
    email: str, password_stdin: bool, premium: bool, name: str, institution: str
) -> None:
    """Create an account for EMAIL (asks for the password unless --password-stdin)."""
    from gas.domain.errors import DomainError
    from gas.domain.plans import Plan
    from gas.services import accounts

    password = _read_password(password_stdin)
    c = _container()
    try:
        user = accounts.register(
            c.uow(),
            c.hasher,
            c.clock,
            email=email,
            password=password,
            name=name,
            institution=institution,
            plan=Plan.PREMIUM if premium else Plan.FREE,
            email_verified=True,  # an administrator made it
        )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        c.close()
    click.echo(f"created {user.email} ({user.plan.value}), id {user.id}")


@users.command("set-plan")
@click.argument("email")
@click.argument("plan", type=click.Choice(["free", "premium"]))
def users_set_plan(email: str, plan: str) -> None:
    """Move EMAIL to the free or premium plan (as the web's Subscribe / Cancel do)."""
    from gas.domain.errors import DomainError
    from gas.domain.plans import Plan
    from gas.services import accounts

    c = _container()
    try:
        user = accounts.get_user_by_email(c.uow(), email)
        changed = accounts.change_plan(c.uow(), c.clock, user.id, Plan(plan))
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        c.close()
    click.echo(f"{user.email} is now {plan}" if changed else f"{user.email} was already {plan}")


@users.command("list")
def users_list() -> None:
    """List accounts."""
    import sqlalchemy as sa

    from gas.adapters.sql.tables import users as users_table

    c = _container()
    try:
        with c.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    users_table.c.email, users_table.c.plan, users_table.c.created_at
                ).order_by(users_table.c.created_at)
            ).all()
    finally:
        c.close()
    for email, plan, created in rows:
        click.echo(f"{email}\t{plan}\t{created:%Y-%m-%d %H:%M}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--label", default="cli", show_default=True, help="A name to recognise it by.")
def tokens_create(email: str, label: str) -> None:
    """Create an API token for EMAIL and print it (the last line of output).

    Use it as `Authorization: Bearer <token>` with the JSON API. Only a hash is stored:
    this is the one time the token is shown.
    """
    from gas.domain.errors import DomainError
    from gas.services import accounts

    c = _container()
    try:
        user = accounts.get_user_by_email(c.uow(), email)
        token = accounts.create_api_token(c.uow(), c.clock, user.id, label=label)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        c.close()
    click.echo(f"API token for {user.email} (shown once):", err=True)
    click.echo(token)


# --- the engine alone ---------------------------------------------------------------------------


@main.command()
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output-dir",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write the outputs.",
)
@click.option(
    "--refdata",
    default=None,
    help="Reference bundle name or path (default: the built-in GRCh38 gene table).",
)
@click.option(
    "--assembly",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "GRCh38", "GRCh37", "NCBI36"]),
    help="Assembly of the input. auto: detect it from the header (##reference, ##contig "
    "lengths, the reference in tool command lines …). GRCh37 and NCBI36 inputs are lifted to "
    "GRCh38 unless a bundle of their own assembly is installed.",
)
@click.option("--csq", is_flag=True, help="Also write VEP's CSQ field (needs --refdata).")
@click.option("--tsv", is_flag=True, help="Also write OUTDIR/<name>.annot.tsv (needs --refdata).")
@click.option(
    "--per-transcript",
    is_flag=True,
    help="TSV: one row per allele and transcript (default: the most severe per allele).",
)
def annotate(
    input_path: Path,
    outdir: Path,
    refdata: str | None,
    assembly: str | None,
    csq: bool,
    tsv: bool,
    per_transcript: bool,
) -> None:
    """Annotate INPUT (VCF 3.3–4.4, plain, gzip or bgzip) without the service.

    Writes OUTDIR/<name>.annot.vcf, OUTDIR/<name>.count.log and OUTDIR/<name>.summary.json.
    """
    from gas import annotation
    from gas.annotation.reference.bundle import BundleError

    kwargs: dict[str, Any] = {"assembly": None if assembly == "auto" else assembly}
    if refdata is not None:
        kwargs["refdata"] = refdata
    if csq:
        kwargs["csq"] = True
    if tsv:
        kwargs["tsv"] = True
        kwargs["per_transcript"] = per_transcript
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        outputs = annotation.annotate_file(input_path, outdir, **kwargs)
    except annotation.InvalidInputError as exc:
        click.echo(exc.details.rstrip() if exc.details else "", err=True)
        raise click.ClickException(exc.reason) from None
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in outputs.warnings:
        click.echo(f"warning: {warning}", err=True)
    for path in (outputs.annotated_vcf, outputs.count_log, outputs.summary_json, outputs.tsv):
        if path is not None:
            click.echo(str(path))


# --- reference data -------------------------------------------------------------------------


@main.group()
def refdata() -> None:
    """Reference bundles: gene models, genome and known variants for the engine."""


@refdata.command("build")
@click.option("--name", required=True, help="Bundle name, e.g. grch38-ensembl-112.")
@click.option("--assembly", required=True, help="Assembly of the files, e.g. GRCh38.")
@click.option(
    "--fasta",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Genome FASTA (plain, gzip or bgzip).",
)
@click.option(
    "--gtf", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Gene models."
)
@click.option(
    "--gff3", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Gene models."
)
@click.option(
    "--known-variants",
    "known",
    multiple=True,
    metavar="[LABEL=]VCF",
    help="Known-variant VCF (dbSNP, ClinVar, gnomAD …); repeat for several.",
)
@click.option(
    "--known-info",
    default=None,
    metavar="FIELD,...",
    help="INFO fields to carry from the known-variant VCFs "
    "(default: CLNSIG,CLNREVSTAT,CLNDN,AF,AF_popmax,AF_grpmax).",
)
@click.option(
    "--cytobands",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="UCSC cytoBand.txt(.gz) for the CYTOBAND field.",
)
@click.option(
    "-o",
    "--output-dir",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the bundle (default: $GAS_REFDATA_DIR or $GAS_DATA_DIR/refdata).",
)
def refdata_build(
    name: str,
    assembly: str,
    fasta: Path,
    gtf: Path | None,
    gff3: Path | None,
    known: tuple[str, ...],
    known_info: str | None,
    cytobands: Path | None,
    outdir: Path | None,
) -> None:
    """Build a reference bundle; prints its directory as the last line."""
    from gas.annotation.reference.bundle import BundleError, build_bundle
    from gas.annotation.reference.genemodels import GeneModelError
    from gas.annotation.reference.genome import FastaError
    from gas.annotation.reference.knownvars import parse_source

    if (gtf is None) == (gff3 is None):
        raise click.UsageError("give exactly one of --gtf and --gff3")
    models, fmt = (gtf, "gtf") if gtf is not None else (gff3, "gff3")
    fields = [f for f in (known_info or "").split(",") if f] or None
    try:
        result = build_bundle(
            name=name,
            assembly=assembly,
            fasta=fasta,
            gene_models=models,  # type: ignore[arg-type]
            gene_model_format=fmt,
            known_variants=[parse_source(k) for k in known],
            known_info=fields,
            cytobands=cytobands,
            out_dir=outdir,
            log=lambda msg: click.echo(msg, err=True),
        )
    except (BundleError, GeneModelError, FastaError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(result.path))


@refdata.command("fetch")
@click.argument("assembly", type=click.Choice(["GRCh38", "GRCh37"]))
@click.option("--name", default=None, help="Bundle name (default: grch38-ensembl-RELEASE).")
@click.option("--no-clinvar", is_flag=True, help="Do not download ClinVar.")
@click.option(
    "--mirror",
    default=None,
    envvar="GAS_REFDATA_MIRROR",
    help="Base URL of a mirror with the official layout (default: the official sites; "
    "or set GAS_REFDATA_MIRROR).",
)
@click.option(
    "-o",
    "--output-dir",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the bundle (default: $GAS_REFDATA_DIR or $GAS_DATA_DIR/refdata).",
)
def refdata_fetch(
    assembly: str, name: str | None, no_clinvar: bool, mirror: str | None, outdir: Path | None
) -> None:
    """Download ASSEMBLY's Ensembl FASTA and GTF (and ClinVar), check them, build a bundle.

    \b
    Downloads (gzipped; Ensembl 112 GRCh38 shown, GRCh37 is much the same):
      primary-assembly genome FASTA   about 0.9 GB
      GTF gene models                 about 50-60 MB
      ClinVar VCF                     about 100-200 MB (it grows every week)
    The bundle built from them takes about 3.7 GB: the genome at one byte per
    base (3.1 GB), transcripts (about 60 MB) and ClinVar (about 0.5 GB).
    Have about 5 GB free in the output directory (the bundle plus the downloads,
    which are kept), and 3.7 GB more to rebuild over a bundle of the same name
    (the old one stays until the new one is complete).

    Downloads are kept in OUTDIR/.downloads/ASSEMBLY: verified files are re-used,
    and an interrupted download resumes from its .part file when the command is
    run again. If a download fails (no network, DNS, refused, timeout, HTTP
    error) the command names the URL and stops with exit status 1, leaving no
    half-built bundle; download from another server with the official layout
    with --mirror URL or GAS_REFDATA_MIRROR=URL. Prints the bundle directory last.
    """
    from gas.annotation.reference.bundle import BundleError
    from gas.annotation.reference.fetch import fetch
    from gas.annotation.reference.genemodels import GeneModelError
    from gas.annotation.reference.genome import FastaError

    bars: dict[str, Any] = {}  # the progress bars still on screen

    def progress(file_name: str, done: int, total: int | None) -> None:
        bar = bars.get(file_name)
        if bar is None:
            bar = click.progressbar(length=total or 0, label=file_name, file=sys.stderr)
            bar.__enter__()
            bar.update(done)
            bars[file_name] = bar
            return
        bar.update(done - bar.pos)
        if total is not None and done >= total:
            bars.pop(file_name).__exit__(None, None, None)

    try:
        result = fetch(
            assembly,
            name=name,
            mirror=mirror,
            clinvar=not no_clinvar,
            out_dir=outdir,
            progress=progress,
            log=lambda msg: click.echo(msg, err=True),
        )
    except (BundleError, GeneModelError, FastaError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the local disk: full, read-only, no permission …
        where = f": {exc.filename}" if exc.filename else ""
        raise click.ClickException(f"{exc.strerror or exc}{where}") from None
    finally:
        for bar in bars.values():  # end an interrupted bar's line before the error
            bar.__exit__(None, None, None)
    click.echo(str(result.path))


@refdata.command("list")
def refdata_list() -> None:
    """Show the installed bundles (and the built-in gene table)."""
    from gas.annotation.reference.bundle import BUILTIN_GENES, list_bundles, refdata_dir

    click.echo(f"{BUILTIN_GENES}\tGRCh38\tgenes\t(built in: NCBI Gene table, gene names only)")
    for b in list_bundles():
        counts = b.get("counts") or {}
        click.echo(
            f"{b['name']}\t{b['assembly']}\t{counts.get('transcripts', 0)} transcripts\t"  # type: ignore[union-attr]
            f"{b['path']} (built {b['built_at']})"
        )
    click.echo(f"(bundles directory: {refdata_dir()})", err=True)


# --- operations -------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations (also done automatically at start)."""
    from gas.adapters.sql.database import create_engine, current_revision, upgrade

    settings = _settings()
    engine = create_engine(settings.database_url)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@main.group()
def queue() -> None:
    """Inspect the work queue: backlog, dead letters."""


def _worker_counts(settings: Settings, given: tuple[str, ...]) -> tuple[dict[str, int], str]:
    """The workers per kind to divide the backlog by, and where the figures come from."""
    counts: dict[str, int] = {}
    for item in given:
        kind, sep, number = item.partition("=")
        if not sep or kind not in KINDS or not number.isdigit():
            raise click.BadParameter(
                f"{item!r}: give KIND=N, KIND one of {', '.join(KINDS)}", param_hint="--workers"
            )
        counts[kind] = int(number)
    if counts:
        return counts, "--workers"
    from gas.entrypoints.metrics import live_workers

    if settings.metrics_dir is not None:
        live = live_workers(settings.metrics_dir)
        if live:
            return live, "live worker processes on this machine"
    configured = {kind: 1 for kind in KINDS}
    configured["annotator"] = settings.annotator_processes
    return configured, "as `gas serve` starts them: GAS_ANNOTATOR_PROCESSES, one of each other"


@queue.command("stats")
@click.option(
    "--workers",
    "given",
    multiple=True,
    metavar="KIND=N",
    help="Workers of KIND there are (repeat per kind) [default: the live worker processes on "
    "this machine, else as `gas serve` starts them].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
def queue_stats(given: tuple[str, ...], as_json: bool) -> None:
    """Messages per worker queue and state, and the backlog per worker.

    \b
    ready    may be claimed now (new, retried, or its lease expired)
    leased   in a worker's hands
    delayed  waiting for a retry's backoff or a timer (archive windows)
    dead     dead-lettered (gas queue dead, gas queue retry)

    The backlog per worker is ready ÷ workers of that kind — the figure to scale workers on
    (as AWS's backlog per instance: ApproximateNumberOfMessagesVisible ÷ in-service
    instances). Workers are counted as --workers says, else as the live worker processes of
    this machine (from GAS_METRICS_DIR), else as `gas serve` starts them; never fewer than the
    messages they hold (leased).
    """
    settings = _settings()
    c = _container(settings)
    try:
        stats = c.queue.stats()
    finally:
        c.close()
    workers, source = _worker_counts(settings, given)
    per_worker: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        s = stats.get(kind, {})
        count = max(workers.get(kind, 0), s.get("leased", 0))
        backlog = s.get("ready", 0)
        per_worker[kind] = {
            "backlog": backlog,
            "workers": count,
            "backlog_per_worker": round(backlog / count, 2) if count else None,
        }
    if as_json:
        document = {"queues": stats, "backlog": per_worker, "workers_from": source}
        click.echo(json.dumps(document, indent=1, sort_keys=True))
        return
    click.echo(f"{'queue':<12}{'ready':>8}{'leased':>8}{'delayed':>9}{'dead':>7}")
    for name in sorted(stats):
        s = stats[name]
        click.echo(f"{name:<12}{s['ready']:>8}{s['leased']:>8}{s['delayed']:>9}{s['dead']:>7}")
    click.echo("")
    click.echo(f"backlog per worker (ready ÷ workers; workers: {source})")
    click.echo(f"{'worker':<12}{'backlog':>8}{'workers':>8}{'per worker':>12}")
    for kind, row in per_worker.items():
        ratio = "-" if row["backlog_per_worker"] is None else f"{row['backlog_per_worker']:.2f}"
        click.echo(f"{kind:<12}{row['backlog']:>8}{row['workers']:>8}{ratio:>12}")


@queue.command("dead")
@click.option("--queue", "queue_name", default=None, help="Only this worker queue.")
def queue_dead(queue_name: str | None) -> None:
    """List dead-lettered messages with their last error."""
    c = _container()
    try:
        for m in c.queue.dead_letters(queue_name):
            error = (m["last_error"] or "").strip().splitlines()
            click.echo(
                json.dumps(
                    {
                        "id": m["id"],
                        "queue": m["queue"],
                        "topic": m["topic"],
                        "payload": json.loads(m["payload"]),
                        "attempts": m["attempts"],
                        "last_error": error[-1] if error else "",
                    }
                )
            )
    finally:
        c.close()


@queue.command("retry")
@click.argument("message_id")
def queue_retry(message_id: str) -> None:
    """Give a dead-lettered message a fresh set of attempts."""
    c = _container()
    try:
        if not c.queue.retry_dead(int(message_id) if message_id.isdigit() else message_id):
            raise click.ClickException(f"no dead-lettered message with id {message_id}")
    finally:
        c.close()
    click.echo(f"message {message_id} queued again")


# --- the API's client -------------------------------------------------------------------------

main.add_command(client)


# --- AWS ----------------------------------------------------------------------------------


@main.group("aws")
def aws_group() -> None:
    """Amazon Web Services: set up what the aws configuration needs."""


@aws_group.command("bootstrap")
def aws_bootstrap() -> None:
    """Create the buckets, topics, queues, dead-letter queues, subscriptions and event
    notifications named by the GAS_* settings, idempotently (run it again: nothing changes).

    Prints one line per resource: created, updated (corrected) or found.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from gas.entrypoints.aws_bootstrap import run

    try:
        run(_settings(), echo=click.echo)
    except (ValueError, RuntimeError, ClientError, BotoCoreError) as exc:
        raise click.ClickException(str(exc)) from None
