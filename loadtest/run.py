"""``make loadtest``: load-test a GAS of its own with the two Locust scenarios, and say how it went.

1. Starts ``gas serve`` on a free loopback port over a new temporary data directory (SQLite in
   it, unless ``GAS_DATABASE_URL`` names another database: PostgreSQL), with the abuse limits
   raised for this loopback server only (every simulated user comes from 127.0.0.1, which the
   per-address limits would otherwise treat as one client), and waits for ``/healthz``.
2. Creates the accounts (a pool for the web users, one per annotator user) and their API
   tokens, and seeds completed jobs for the web accounts through the API.
3. Runs both scenarios together, headless, in a Locust process of its own (``drive.py``):
   ``web.py`` with ``--users`` users and ``annotator.py`` with ``--annotators`` users. Every web
   user logs in first (the warm-up); then both run for ``--seconds`` seconds, measured.
4. Prints requests/s, failures and p50/p95/p99 per scenario (and per endpoint), stops the server
   with SIGTERM, and exits 1 if any request failed, no request was made, a job failed, or the
   server died or did not stop cleanly.

    .venv/bin/python loadtest/run.py --users 300 --seconds 60   # make loadtest USERS=… SECONDS=…

``--json PATH`` also writes the figures as JSON. The data directory is removed afterwards
unless ``--keep``. With ``GAS_DATABASE_URL``, use a database of the run's own: the accounts and
jobs it creates stay there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# The caller's GAS_* settings that reach the test server (the rest of its environment's GAS_*
# are left out: a shell set up for production must not point the test at real buckets).
PASSED_THROUGH = (
    "GAS_DATABASE_URL",
    "GAS_WEB_THREADS",
    "GAS_WEB_PROCESSES",
    "GAS_WEB_CONNECTION_LIMIT",
    "GAS_WEB_CHANNEL_TIMEOUT",
    "GAS_ANNOTATOR_PROCESSES",
    "GAS_QUEUE_POLL_SECONDS",
    "GAS_LOG_LEVEL",
    "GAS_LOG_FORMAT",
)

# The load-test server's own settings: the documented limits, raised for this loopback server,
# whose thousands of log-ins and jobs all come from one address and a few accounts.
LOADTEST_SETTINGS = {
    "GAS_RATE_LIMIT_LOGIN_ADDRESS": "100000/900",
    "GAS_RATE_LIMIT_LOGIN_ACCOUNT": "100000/900",
    "GAS_RATE_LIMIT_UPLOADS": "100000/3600",
    "GAS_RATE_LIMIT_TOKENS": "100000/3600",
    "GAS_MAX_JOBS_IN_FLIGHT": "0",  # no cap
    "GAS_SHUTDOWN_GRACE_SECONDS": "20",
}

# test.vcf: the kind of small file the annotator scenario submits (GRCh38, ~100 variants in and
# around well-known genes, a few KB), generated with a fixed seed.
GENE_REGIONS = [  # (chromosome, start, end), GRCh38
    ("1", 11_785_000, 11_810_000),  # MTHFR
    ("7", 117_480_000, 117_670_000),  # CFTR
    ("13", 32_315_000, 32_400_000),  # BRCA2
    ("17", 7_668_000, 7_688_000),  # TP53
    ("17", 43_044_000, 43_126_000),  # BRCA1
    ("19", 44_905_000, 44_910_000),  # APOE
    ("X", 31_097_000, 33_340_000),  # DMD
]


def test_vcf(variants: int = 100, seed: int = 9) -> str:
    rng = random.Random(seed)
    lines = [
        "##fileformat=VCFv4.2",
        "##reference=GRCh38",
        "##source=GAS loadtest",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    sites: set[tuple[str, int]] = set()
    while len(sites) < variants:
        chrom, start, end = rng.choice(GENE_REGIONS)
        sites.add((chrom, rng.randrange(start, end)))
    order = {c: i for i, c in enumerate(dict.fromkeys(c for c, _, _ in GENE_REGIONS))}
    for chrom, pos in sorted(sites, key=lambda s: (order[s[0]], s[1])):
        ref = rng.choice("ACGT")
        kind = rng.random()
        if kind < 0.8:
            alt = rng.choice([b for b in "ACGT" if b != ref])
        elif kind < 0.9:
            alt = ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3)))
        else:
            alt, ref = ref, ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3)))
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\tDP={rng.randint(10, 99)}")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RunError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class RunError(Exception):
    """The load test could not run (the server did not start, seeding failed …)."""


@dataclass
class Server:
    """A ``gas serve`` of the load test's own."""

    data_dir: Path
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gas", "serve", "--host", "127.0.0.1"]
                + ["--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.healthy, 90, "gas serve to answer /healthz")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> dict[str, Any] | None:
        import requests

        try:
            answer = requests.get(self.url + "/healthz", timeout=5)
        except requests.RequestException:
            return None
        try:
            return answer.json() if answer.status_code == 200 else None  # type: ignore[no-any-return]
        except ValueError:
            return None

    def healthy(self) -> bool:
        if not self.alive():
            raise RunError(f"gas serve exited early:\n{self.log_tail()}")
        health = self.health()
        return bool(health and health.get("status") == "ok")

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, and the exit status (None: it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAS_")}
    # as the README advises an operator: one web process per core, unless the caller says
    env["GAS_WEB_PROCESSES"] = str(os.cpu_count() or 1)
    env.update({k: os.environ[k] for k in PASSED_THROUGH if os.environ.get(k)})
    env.update(LOADTEST_SETTINGS)
    env.update(
        {
            "GAS_DATA_DIR": str(data_dir),
            "GAS_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class OnceHasher:
    """Argon2 for the seeded accounts, which all share one password: hashed once rather than
    for each of hundreds of accounts (~0.2 s of CPU each)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._hashes: dict[str, str] = {}

    def hash(self, password: str) -> str:
        if password not in self._hashes:
            self._hashes[password] = self._inner.hash(password)
        return self._hashes[password]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def create_accounts(env: dict[str, str], web: int, annotators: int) -> dict[str, list[dict]]:
    """The accounts (with an API token each), made directly through GAS's services."""
    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.services import accounts

    run = secrets.token_hex(3)  # fresh addresses: a PostgreSQL database may hold older runs
    password = "pw-" + secrets.token_urlsafe(12)
    c = build(Settings.from_env(env), hasher=OnceHasher(Argon2Hasher()))
    made: dict[str, list[dict]] = {"web": [], "annotator": []}
    try:
        for kind, count in (("web", web), ("annotator", annotators)):
            for i in range(count):
                email = f"{kind}-{i + 1:04d}-{run}@loadtest.example.org"
                user = accounts.register(
                    c.uow(),
                    c.hasher,
                    c.clock,
                    email=email,
                    password=password,
                    name=f"Simulated {kind} user {i + 1}",
                    email_verified=True,
                )
                token = accounts.create_api_token(c.uow(), c.clock, user.id, label="loadtest")
                made[kind].append({"email": email, "password": password, "token": token})
    finally:
        c.close()
    return made


def seed_jobs(url: str, accounts: list[dict], per_account: int, vcf: bytes) -> None:
    """``per_account`` completed jobs for each account, submitted through the API; fills in
    each account's ``jobs``."""
    import requests

    session = requests.Session()
    pending: dict[str, dict] = {}
    for account in accounts:
        account["jobs"] = []
        for _ in range(per_account):
            answer = session.post(
                url + "/api/v1/jobs",
                headers={"Authorization": f"Bearer {account['token']}"},
                files={"file": ("test.vcf", vcf, "text/plain")},
                timeout=60,
            )
            if answer.status_code != 201:
                raise RunError(f"seeding: POST /api/v1/jobs → {answer.status_code} {answer.text}")
            job_id = answer.json()["id"]
            account["jobs"].append(job_id)
            pending[job_id] = account

    def all_done() -> bool:
        for job_id, account in list(pending.items()):
            answer = session.get(
                f"{url}/api/v1/jobs/{job_id}",
                headers={"Authorization": f"Bearer {account['token']}"},
                timeout=60,
            )
            status = answer.json().get("status") if answer.status_code == 200 else None
            if status == "FAILED":
                raise RunError(f"seeding: job {job_id} FAILED: {answer.json().get('error')}")
            if status != "COMPLETED":
                return False
            del pending[job_id]
        return True

    wait_for(all_done, 60 + 5 * len(pending), f"{len(pending)} seeded jobs to complete", 0.5)


def database_kind(env: dict[str, str]) -> str:
    url = env.get("GAS_DATABASE_URL") or "sqlite"
    return "PostgreSQL" if url.startswith("postgres") else "SQLite"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def load_average() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# --- the report ----------------------------------------------------------------------------


def _row(label: str, s: dict[str, Any]) -> str:
    return (
        f"  {label:<42} {s['requests']:>8} {s['failures']:>6} {s['rps']:>8.1f} "
        f"{s['p50']:>6} {s['p95']:>6} {s['p99']:>6} {s['max']:>7}"
    )


def report(result: dict[str, Any], info: dict[str, Any]) -> str:
    header = (
        f"  {'':<42} {'requests':>8} {'fails':>6} {'req/s':>8} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max ms':>7}"
    )
    warmup = result["warmup"]
    out = [
        "",
        f"GAS load test — {info['database']}, {info['machine']}, "
        f"{info['web_processes']} web process(es) (GAS_WEB_PROCESSES)",
        f"  server {result['host']}; load average before {info['load_before']}, "
        f"after {info['load_after']}; load generator CPU peak "
        f"{result['generator_cpu_peak_percent']:.0f} %",
        "  server CPU while measured (% of one core): "
        + ", ".join(f"{role} {pct:.0f} %" for role, pct in result["server_cpu_percent"].items()),
        f"  warm-up: {warmup['logins']['done']} of {result['users']} web users logged in "
        f"in {warmup['seconds']:.1f} s (spawn rate {result['spawn_rate']:g}/s)",
        header,
        _row("log-ins (GET + POST /login)", warmup["login"]),
        _row("all web requests during the warm-up", warmup),
        "",
        f"web: {result['users']} users, {result['web']['seconds']:.0f} s measured "
        "(after the warm-up), 1–3 s between requests",
        header,
        _row("all", result["web"]),
        *(_row(name, s) for name, s in result["web"]["endpoints"].items()),
        "",
        f"annotator: {result['annotators']} users, {result['annotator']['seconds']:.0f} s "
        f"(warm-up + measured), a job every 2–5 s after the last completed; "
        f"{result['annotator']['jobs_completed']} jobs completed, "
        f"{result['annotator']['jobs_failed']} failed",
        header,
        _row("all (API requests)", result["annotator"]),
        *(_row(name, s) for name, s in result["annotator"]["endpoints"].items()),
    ]
    errors = [*result["web"]["errors"], *result["annotator"]["errors"], *warmup["errors"]]
    if errors:
        out += ["", "failures:"]
        out += [f"  {e['occurrences']} × {e['endpoint']}: {e['error']}" for e in errors]
    exceptions = [*result["web"]["exceptions"], *result["annotator"]["exceptions"]]
    if exceptions:
        out += ["", "errors in the scenarios' code:"]
        out += [f"  {e['count']} × {e['message']}" for e in exceptions]
    return "\n".join(out)


def problems(result: dict[str, Any]) -> list[str]:
    """What makes the run a failure."""
    found = []
    for phase in ("warmup", "web", "annotator"):
        if result[phase]["failures"]:
            found.append(f"{result[phase]['failures']} failed requests ({phase})")
    if result["annotator"]["jobs_failed"]:
        found.append(f"{result['annotator']['jobs_failed']} jobs failed or timed out")
    if not result["web"]["requests"]:
        found.append("the web scenario made no requests")
    if result["annotators"] and not result["annotator"]["requests"]:
        found.append("the annotator scenario made no requests")
    if result["warmup"]["logins"]["done"] < result["users"]:
        found.append(f"only {result['warmup']['logins']['done']} of {result['users']} log-ins")
    if result["web"]["exceptions"] or result["annotator"]["exceptions"]:
        found.append("errors in the scenarios' code")
    return found


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Load-test a GAS of its own with Locust (web and annotator scenarios)."
    )
    parser.add_argument("--users", type=int, default=300, help="web users [300]")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds [60]")
    parser.add_argument("--annotators", type=int, default=3, help="annotator users [3]")
    parser.add_argument(
        "--spawn-rate",
        type=float,
        default=None,
        help="web users started (and logged in) per second [3; fewer for fewer users]",
    )
    parser.add_argument(
        "--accounts", type=int, default=None, help="web accounts, shared round robin [≤ 50]"
    )
    parser.add_argument("--jobs-per-account", type=int, default=2, help="seeded jobs [2]")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--settle", type=float, default=10, help="seconds after the last log-in, unmeasured [10]"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--trace", type=Path, help="write every measured web request (time, name, ms) as CSV"
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.annotators < 0:
        parser.error("--users must be ≥ 1, --seconds > 0, --annotators ≥ 0")
    accounts = args.accounts or min(args.users, 50)
    # Each log-in is an Argon2 check, ~0.2 s of CPU by design: 3 a second take ~0.6 of a core.
    spawn_rate = args.spawn_rate or max(1.0, min(args.users / 10, 3.0))

    workdir = Path(tempfile.mkdtemp(prefix="gas-loadtest-"))
    data_dir = workdir / "var"
    port = free_port()
    server = Server(data_dir, server_env(data_dir, port), workdir / "serve.log", port)
    info = {
        "database": database_kind(server.env),
        "machine": machine(),
        "web_processes": server.env["GAS_WEB_PROCESSES"],
    }
    failures: list[str] = []
    result: dict[str, Any] | None = None
    try:
        print(
            f"loadtest: starting gas serve at {server.url} ({info['database']}, data in {workdir})"
        )
        server.start()
        print(f"loadtest: creating {accounts} web and {args.annotators} annotator accounts")
        made = create_accounts(server.env, accounts, args.annotators)
        vcf = test_vcf().encode()
        vcf_path = workdir / "test.vcf"
        vcf_path.write_bytes(vcf)
        total_seeded = accounts * args.jobs_per_account
        print(f"loadtest: seeding {total_seeded} completed jobs ({len(vcf)} bytes of VCF each)")
        started = time.monotonic()
        seed_jobs(server.url, made["web"], args.jobs_per_account, vcf)
        print(f"loadtest: seeded in {time.monotonic() - started:.1f} s")
        fixtures = workdir / "fixtures.json"
        fixtures.write_text(json.dumps({**made, "vcf": str(vcf_path)}))
        out = workdir / "results.json"
        info["load_before"] = load_average()
        print(
            f"loadtest: {args.users} web users (spawn rate {spawn_rate:g}/s) and "
            f"{args.annotators} annotator users; warm-up until all are logged in, then "
            f"{args.seconds:g} s measured"
        )
        drive = subprocess.run(
            [
                sys.executable,
                str(HERE / "drive.py"),
                "--host",
                server.url,
                "--fixtures",
                str(fixtures),
                "--users",
                str(args.users),
                "--annotators",
                str(args.annotators),
                "--seconds",
                str(args.seconds),
                "--spawn-rate",
                str(spawn_rate),
                "--warmup-timeout",
                str(args.users / spawn_rate + 120),
                "--out",
                str(out),
                *(["--trace", str(args.trace.resolve())] if args.trace else []),
                "--settle",
                str(args.settle),
                "--server-pid",
                str(server.process.pid if server.process else 0),
            ],
            env={k: v for k, v in os.environ.items() if not k.startswith("GAS_")},
            timeout=args.seconds + args.users / spawn_rate + 300,
        )
        info["load_after"] = load_average()
        if drive.returncode != 0 or not out.exists():
            raise RunError(f"the Locust driver failed (exit status {drive.returncode})")
        result = json.loads(out.read_text())
        if not server.alive():
            failures.append(f"gas serve died during the run:\n{server.log_tail()}")
        else:
            health = server.health()
            if not health or health.get("status") != "ok":
                failures.append(f"gas serve is not healthy after the run: {health}")
    except (RunError, subprocess.TimeoutExpired) as exc:
        failures.append(str(exc))
    finally:
        status = server.stop()
        if status != 0:
            failures.append(
                "gas serve did not stop cleanly on SIGTERM "
                f"({'killed' if status is None else f'exit status {status}'}):\n{server.log_tail()}"
            )
    if result is not None:
        print(report(result, info))
        failures = problems(result) + failures
        if args.json:
            args.json.write_text(
                json.dumps({**result, **info, "problems": failures}, indent=2) + "\n"
            )
    if args.keep:
        print(f"loadtest: data directory and server log kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("\nloadtest: FAILED — " + "; ".join(failures), file=sys.stderr)
        return 1
    print("\nloadtest: passed (no failed request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
