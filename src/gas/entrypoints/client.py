"""``gas client``: the JSON API (``/api/v1``) from a terminal or a script.

``login`` keeps the server's address and an API token in the user's config directory
(``$XDG_CONFIG_HOME/gas/client.json``, else ``~/.config/gas/client.json``, mode 0600);
``GAS_CLIENT_URL`` and ``GAS_CLIENT_TOKEN`` override what is kept there. Every other command
talks to that server:

    gas client submit sample.vcf --wait       upload (with a progress bar), wait, exit status
    gas client status ID / list / wait ID     follow jobs
    gas client download ID [--format tsv] [filters] [-o FILE]
    gas client variants ID [filters] [--format table|tsv|json]

What a script needs goes to standard output (a job id, a table, a file's path); progress and
messages go to standard error. An error from the server (``{"error": …}``) or the network is
one line on standard error and exit status 1 — never a traceback. ``wait`` (and ``submit
--wait``) exit 0 when the job COMPLETED, 1 when it FAILED (the reason on standard error) and
124 when ``--timeout`` passes first.

The variant filters are those of ``gas.services.variants`` (one definition for the API, the
pages, the exports and this client).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import click

from gas.services.variants import VariantFilter

if TYPE_CHECKING:
    import requests

URL_ENV = "GAS_CLIENT_URL"
TOKEN_ENV = "GAS_CLIENT_TOKEN"  # noqa: S105 - a variable name, not a secret
ASSEMBLIES = ("auto", "GRCh38", "GRCh37", "NCBI36")
DOWNLOAD_FORMATS = ("vcf", "vcf.gz", "tbi", "tsv", "json")
VARIANT_SORTS = ("pos", "impact", "gene")
JOB_SORTS = ("newest", "oldest", "name", "status")
STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
IMPACTS = ("HIGH", "MODERATE", "LOW", "MODIFIER")
PAGE_MAX = 1000  # the most rows /variants gives at once
CHUNK = 256 * 1024
TIMEOUT_EXIT = 124  # as timeout(1)
TABLE_COLUMNS = (
    "chrom",
    "pos",
    "id",
    "ref",
    "alt",
    "gene",
    "consequence",
    "impact",
    "hgvsc",
    "hgvsp",
)


# --- settings ------------------------------------------------------------------------------


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/gas/client.json`` (``~/.config`` when it is unset or relative)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "gas" / "client.json"


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http:// or https:// address of a GAS server.")
    return url


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    """Write the settings readable by the user alone (0600, in a 0700 directory), atomically:
    the token never sits in a file anyone else can read, not even for a moment."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".client-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"url": config.url, "token": config.token}, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_config() -> ClientConfig:
    """The kept settings, each overridden by its environment variable when that is set."""
    kept: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read {path}: {exc}") from None
        if not isinstance(kept, dict):
            kept = {}
    url = os.environ.get(URL_ENV) or str(kept.get("url") or "")
    token = os.environ.get(TOKEN_ENV) or str(kept.get("token") or "")
    if not url or not token:
        raise click.ClickException(
            "not logged in: run `gas client login --url URL --token TOKEN` "
            f"(or set {URL_ENV} and {TOKEN_ENV})"
        )
    try:
        return ClientConfig(url=normalize_url(url), token=token)
    except click.BadParameter as exc:
        raise click.ClickException(str(exc.message)) from None


# --- talking to the server -----------------------------------------------------------------


class ApiError(click.ClickException):
    """An answer the user has to act on, in one line; ``status`` is the HTTP status (None
    when the server could not be reached)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth trying again: the network, or the server's own trouble (5xx)."""
        return self.status is None or self.status >= 500


class Api:
    """The server's JSON API with the kept token."""

    def __init__(self, config: ClientConfig, *, timeout: float = 60.0) -> None:
        import requests

        from gas import __version__

        self.base = config.url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.session.headers["User-Agent"] = f"gas-client/{__version__}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; ApiError for a network failure or an error status."""
        import requests

        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.base + path, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise ApiError(f"TLS error talking to {self.base}: {_reason(exc)}") from None
        except requests.exceptions.Timeout:
            raise ApiError(f"{self.base} did not answer within {self.timeout:.0f} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise ApiError(f"cannot reach {self.base}: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(f"request to {self.base} failed: {_reason(exc)}") from None
        if response.status_code >= 400:
            raise ApiError(error_message(response), response.status_code)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(
                f"{self.base}{path} did not answer with JSON (is {self.base} a GAS server?)",
                response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise ApiError(f"{self.base}{path} answered with unexpected JSON", response.status_code)
        return body


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception, on one line."""
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.rstrip(")'\"").strip()
    return " ".join(text.split())[:300] or exc.__class__.__name__


def error_message(response: requests.Response) -> str:
    """The server's ``{"error": …}`` (or the first line of whatever it sent) with its status."""
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"]
    except ValueError:
        pass
    if not message:
        first = response.text.strip().splitlines()[:1]
        message = first[0][:200] if first and not first[0].startswith("<") else response.reason
    hint = ""
    if response.status_code == 401:
        hint = " — log in again with `gas client login --url URL --token TOKEN`"
    return f"{response.status_code}: {' '.join(str(message).split())}{hint}"


# --- the upload ------------------------------------------------------------------------------


class MultipartUpload:
    """A ``multipart/form-data`` body streamed from a file: its length is known up front (so
    the server can refuse an upload over the plan's limit before reading it) and ``progress``
    is called with the bytes of the file sent so far."""

    def __init__(
        self,
        path: Path,
        fields: dict[str, str],
        progress: Callable[[int], None] = lambda _n: None,
    ) -> None:
        boundary = f"gas-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
            for name, value in fields.items()
        )
        filename = path.name.replace("\r", "").replace("\n", "").replace('"', "%22")
        head += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._size = path.stat().st_size
        self._parts: list[bytes | IO[bytes]] = [
            head,
            open(path, "rb"),  # noqa: SIM115 - closed by close() / when read to the end
            f"\r\n--{boundary}--\r\n".encode(),
        ]
        self._length = len(head) + self._size + len(self._parts[2])  # type: ignore[arg-type]
        self._progress = progress
        self._sent = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        out = b""
        while self._parts and len(out) < want:
            part = self._parts[0]
            if isinstance(part, bytes):
                take = part[: want - len(out)]
                out += take
                rest = part[len(take) :]
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
                continue
            data = part.read(want - len(out))
            if not data:
                part.close()
                self._parts.pop(0)
                continue
            out += data
            self._sent += len(data)
            self._progress(len(data))
        return out

    def close(self) -> None:
        for part in self._parts:
            if not isinstance(part, bytes):
                part.close()
        self._parts = []


# --- output helpers --------------------------------------------------------------------------


def err(message: str) -> None:
    click.echo(message, err=True)


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else "—"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return " ".join(str(value).split())


def print_table(rows: list[list[str]], headers: list[str], *, max_width: int = 40) -> None:
    """A plain aligned table on standard output (long cells cut with an ellipsis)."""

    def cut(text: str) -> str:
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cut(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [headers, *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _status_words(job: dict[str, Any]) -> str:
    status = str(job.get("status"))
    if status == "PENDING" and job.get("queue_position"):
        return f"PENDING (queue position {job['queue_position']})"
    if status == "RUNNING" and isinstance(job.get("progress"), int | float):
        return f"RUNNING {round(job['progress'] * 100)}%"
    if status == "FAILED" and job.get("error"):
        return f"FAILED: {job['error']}"
    return status


def _results_words(job: dict[str, Any]) -> str:
    state = (job.get("results") or {}).get("state")
    if state == "restoring" and (job.get("results") or {}).get("expected_at"):
        return f"restoring (expected by {job['results']['expected_at']})"
    if state == "archived":
        return "archived (upgrade to Premium to download)"
    return state or "—"


# --- commands --------------------------------------------------------------------------------


@click.group("client", context_settings={"help_option_names": ["-h", "--help"]})
def client() -> None:
    """Use a GAS server's API from the terminal: submit, follow, download, browse.

    \b
      gas client login --url https://gas.example.org --token gas_...
      gas client submit sample.vcf --wait
      gas client variants JOB_ID --impact HIGH --format tsv > high.tsv

    Settings: $XDG_CONFIG_HOME/gas/client.json (or ~/.config/gas/client.json), written by
    `login`; GAS_CLIENT_URL and GAS_CLIENT_TOKEN override them. Errors: one line on standard
    error, exit status 1.
    """


def _api() -> Api:
    return Api(load_config())


@client.command()
@click.option("--url", required=True, help="The GAS server, e.g. https://gas.example.org.")
@click.option(
    "--token",
    prompt="API token",
    hide_input=True,
    help="An API token (Profile page, or `gas tokens create EMAIL`); asked for if left out.",
)
@click.option("--no-check", is_flag=True, help="Save without asking the server.")
def login(url: str, token: str, no_check: bool) -> None:
    """Keep the server's address and your API token (checked with the server first)."""
    config = ClientConfig(url=normalize_url(url), token=token.strip())
    if not config.token:
        raise click.BadParameter("the token is empty", param_hint="--token")
    if not no_check:
        Api(config).json("GET", "/api/v1/jobs", params={"limit": 1})
    path = save_config(config)
    err(f"Logged in to {config.url}; settings kept in {path} (readable by you only).")


@client.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option(
    "--assembly",
    type=click.Choice(ASSEMBLIES, case_sensitive=False),
    default="auto",
    show_default=True,
    help="The input's genome assembly; auto detects it from the header.",
)
@click.option("--wait", "wait_for_it", is_flag=True, help="Then wait for the job to end.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between polls (--wait).")
@click.option("--timeout", type=float, default=None, help="Give up waiting after this many s.")
def submit(
    file: Path, assembly: str, wait_for_it: bool, interval: float, timeout: float | None
) -> None:
    """Upload FILE (a VCF, plain or gzipped) for annotation; prints the new job's id."""
    api = _api()
    chosen = {a.lower(): a for a in ASSEMBLIES}[assembly.lower()]
    size = file.stat().st_size
    with click.progressbar(
        length=size, label=f"Uploading {file.name}", file=sys.stderr, show_pos=False
    ) as bar:
        upload = MultipartUpload(file, {"assembly": chosen}, progress=bar.update)
        try:
            job = api.json(
                "POST",
                "/api/v1/jobs",
                data=upload,
                headers={"Content-Type": upload.content_type, "Content-Length": str(len(upload))},
                timeout=max(api.timeout, 600.0),
            )
        finally:
            upload.close()
    err(f"Submitted {file.name} ({_size(size)}) as job {job['id']}: {_status_words(job)}")
    click.echo(job["id"])
    if wait_for_it:
        sys.exit(wait_job(api, str(job["id"]), interval=interval, timeout=timeout))


@client.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The job's JSON, as the API gives it.")
def status(job_id: str, as_json: bool) -> None:
    """One job: status, file, assembly, times, variants, results."""
    job = _api().json("GET", f"/api/v1/jobs/{quote(job_id, safe='')}")
    if as_json:
        click.echo(json.dumps(job, indent=2, ensure_ascii=False))
        return
    assembly = job.get("assembly") or {}
    found = assembly.get("input")
    if found and assembly.get("lifted") and assembly.get("annotated_on"):
        found = f"{found}, lifted to {assembly['annotated_on']}"
    lines = [
        ("Job", job["id"]),
        ("File", f"{job.get('input_file_name')} ({_size(job.get('input_size'))})"),
        ("Status", _status_words(job)),
        ("Assembly", found or f"{assembly.get('requested', 'auto')} (not reported yet)"),
        ("Submitted", job.get("submitted_at") or "—"),
        ("Completed", job.get("completed_at") or "—"),
        ("Variants", _count(job.get("variant_count"))),
        ("Results", _results_words(job)),
    ]
    lines += [("Warning", w) for w in assembly.get("warnings") or []]
    for name, value in lines:
        click.echo(f"{name + ':':<11}{value}")


@client.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, False))
@click.option("--name", "name", default="", help="Only files whose name contains this.")
@click.option("--sort", type=click.Choice(JOB_SORTS), default="newest", show_default=True)
@click.option("--limit", type=click.IntRange(1, 500), default=25, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
def list_jobs(
    statuses: tuple[str, ...], name: str, sort: str, limit: int, offset: int, as_json: bool
) -> None:
    """Your jobs, newest first: id, status, request time, variants, results, file."""
    params: dict[str, Any] = {"limit": limit, "offset": offset, "sort": sort}
    if statuses:
        params["status"] = [s.upper() for s in statuses]
    if name:
        params["q"] = name
    body = _api().json("GET", "/api/v1/jobs", params=params)
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    found = body.get("jobs") or []
    rows = [
        [
            str(j["id"]),
            _status_words(j) if j.get("status") != "FAILED" else "FAILED",
            str(j.get("submitted_at") or ""),
            _count(j.get("variant_count")),
            (j.get("results") or {}).get("state") or "—",
            str(j.get("input_file_name") or ""),
        ]
        for j in found
    ]
    if rows:
        print_table(rows, ["ID", "STATUS", "SUBMITTED", "VARIANTS", "RESULTS", "FILE"])
    total = body.get("total", len(found))
    shown = f"{offset + 1}–{offset + len(found)}" if found else "none"
    err(f"{shown} of {total} job{'' if total == 1 else 's'}")


@client.command()
@click.argument("job_id")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
def wait(job_id: str, interval: float, timeout: float | None) -> None:
    """Follow a job until it ends. Exit 0: COMPLETED; 1: FAILED; 124: --timeout passed."""
    sys.exit(wait_job(_api(), job_id, interval=interval, timeout=timeout))


class _StatusLine:
    """A status line on standard error: rewritten in place on a terminal, else one line per
    change of status (so logs do not fill up with percentages)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.last_status = ""

    def show(self, text: str, status: str) -> None:
        if text == self.last:
            return
        if self.tty:
            click.echo("\r\x1b[2K" + text, err=True, nl=False)
        elif status != self.last_status:
            err(text)
        self.last, self.last_status = text, status

    def done(self) -> None:
        if self.tty and self.last:
            click.echo("", err=True)


def wait_job(api: Api, job_id: str, *, interval: float = 2.0, timeout: float | None = None) -> int:
    """Poll the job until it ends, showing its progress; the exit status (see ``wait``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    line = _StatusLine()
    delay = max(0.2, interval)
    path = f"/api/v1/jobs/{quote(job_id, safe='')}"
    try:
        while True:
            try:
                job = api.json("GET", path)
            except ApiError as exc:
                if not exc.transient:
                    raise
                line.show(f"{job_id}: {exc.message} (retrying)", "retry")  # transient
                delay = min(delay * 2, 30.0)
            else:
                delay = max(0.2, interval)
                state = str(job.get("status"))
                line.show(f"{job_id}: {_status_words(job)}", state)
                if state == "COMPLETED":
                    line.done()
                    count = job.get("variant_count")
                    err(
                        f"Job {job_id} COMPLETED"
                        + (f": {count:,} variants" if isinstance(count, int) else "")
                    )
                    return 0
                if state == "FAILED":
                    line.done()
                    err(f"Job {job_id} FAILED: {job.get('error') or 'no reason given'}")
                    return 1
            if deadline is not None and time.monotonic() + delay > deadline:
                line.done()
                err(f"Job {job_id} has not ended after {timeout:g} s; still waiting is up to you.")
                return TIMEOUT_EXIT
            time.sleep(delay)
    except KeyboardInterrupt:
        line.done()
        raise


def variant_filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The filters of /variants and filtered downloads (gas.services.variants)."""
    options = [
        click.option("--gene", help="Gene symbol or id."),
        click.option("--consequence", help="A Sequence Ontology term, e.g. missense_variant."),
        click.option(
            "--impact",
            "impacts",
            multiple=True,
            type=click.Choice(IMPACTS, case_sensitive=False),
            help="HIGH, MODERATE, LOW or MODIFIER (repeatable).",
        ),
        click.option("--chrom", help="Chromosome (1, chr1, X, MT …)."),
        click.option("--start", type=click.IntRange(1), help="From this position."),
        click.option("--end", type=click.IntRange(1), help="To this position."),
        click.option(
            "--known/--novel", "known", default=None, help="Known (with an id) or novel only."
        ),
        click.option("--clinvar", help="Part of the ClinVar significance, e.g. pathogenic."),
        click.option("--max-af", type=click.FloatRange(0, 1), help="Highest allele frequency."),
        click.option("--q", "q", help="Free text over gene, id and HGVS."),
        click.option(
            "--all-transcripts", is_flag=True, help="Every transcript, not one row per allele."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _selection(
    *,
    gene: str | None,
    consequence: str | None,
    impacts: tuple[str, ...],
    chrom: str | None,
    start: int | None,
    end: int | None,
    known: bool | None,
    clinvar: str | None,
    max_af: float | None,
    q: str | None,
    all_transcripts: bool,
    sort: str = "pos",
    limit: int = 100,
    offset: int = 0,
) -> VariantFilter:
    return VariantFilter(
        gene=gene,
        consequence=consequence,
        impacts=tuple(i.upper() for i in impacts),
        chrom=chrom,
        start=start,
        end=end,
        known=known,
        clinvar=clinvar,
        max_af=max_af,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
        all_transcripts=all_transcripts,
    )


@client.command()
@click.argument("job_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(DOWNLOAD_FORMATS),
    default="vcf",
    show_default=True,
    help="vcf, vcf.gz (bgzipped), tbi (its tabix index), tsv or json.",
)
@variant_filter_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write it ('-': standard output). Default: the server's file name, here.",
)
def download(job_id: str, fmt: str, output: str | None, **filters: Any) -> None:
    """Download a job's results; the filters (as in `variants`) select rows of tsv and vcf.gz
    exports. Prints the file's path."""
    import requests

    api = _api()
    params = _selection(**filters).query_args()
    if fmt != "vcf":
        params.append(("format", fmt))
    response = api.request(
        "GET", f"/api/v1/jobs/{quote(job_id, safe='')}/results", params=params, stream=True
    )
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if output == "-":
            for chunk in response.iter_content(CHUNK):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        target = Path(output) if output else Path(_download_name(response, job_id, fmt))
        try:
            written = _save(response.iter_content(CHUNK), target, total)
        except requests.exceptions.RequestException as exc:  # (an OSError too: first)
            raise ApiError(f"the download was interrupted: {_reason(exc)}") from None
        except OSError as exc:
            raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    err(f"Saved {_size(written)} to {target}")
    click.echo(str(target))


def _download_name(response: requests.Response, job_id: str, fmt: str) -> str:
    """The file name the server gave (Content-Disposition), without any directory."""
    from email.message import Message

    header = response.headers.get("Content-Disposition", "")
    name = ""
    if header:
        message = Message()
        message["Content-Disposition"] = header
        name = message.get_filename() or ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    return name or f"{job_id}.{fmt}"


def _save(chunks: Iterator[bytes], target: Path, total: int | None) -> int:
    """Write to a temporary file next to ``target`` and rename it when complete: an
    interrupted download leaves no half file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    written = 0
    try:
        with (
            os.fdopen(fd, "wb") as fh,
            click.progressbar(
                length=total or 0, label=f"Downloading {target.name}", file=sys.stderr
            ) as bar,
        ):
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
                if total:
                    bar.update(len(chunk))
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@client.command()
@click.argument("job_id")
@variant_filter_options
@click.option("--sort", type=click.Choice(VARIANT_SORTS), default="pos", show_default=True)
@click.option("--limit", type=click.IntRange(1, PAGE_MAX), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--all", "every", is_flag=True, help="Every matching row (page after page).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "tsv", "json")),
    default="table",
    show_default=True,
)
def variants(
    job_id: str, sort: str, limit: int, offset: int, every: bool, fmt: str, **filters: Any
) -> None:
    """A job's annotated variants, filtered: one row per ALT allele (its most severe
    transcript) unless --all-transcripts."""
    api = _api()
    path = f"/api/v1/jobs/{quote(job_id, safe='')}/variants"
    rows: list[dict[str, Any]] = []
    total = 0
    next_offset = offset
    while True:
        page_limit = PAGE_MAX if every else limit
        selection = _selection(**filters, sort=sort, limit=page_limit, offset=next_offset)
        body = api.json("GET", path, params=selection.query_args(paging=True))
        page = body.get("variants") or []
        rows += page
        total = int(body.get("total") or 0)
        next_offset += len(page)
        if not every or not page or next_offset >= total:
            break
    if fmt == "json":
        shown = {"total": total, "offset": offset, "limit": len(rows) if every else limit}
        click.echo(json.dumps({**shown, "variants": rows}, indent=2, ensure_ascii=False))
        return
    if fmt == "tsv":
        columns = list(TABLE_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(_cell(row.get(c)).replace("\t", " ") for c in columns))
    else:
        print_table([[_cell(r.get(c)) for c in TABLE_COLUMNS] for r in rows], list(TABLE_COLUMNS))
    shown_range = f"{offset + 1}–{offset + len(rows)}" if rows else "none"
    more = "" if every or offset + len(rows) >= total else " (more: --offset, --limit or --all)"
    err(f"{shown_range} of {total:,} row{'' if total == 1 else 's'}{more}")
