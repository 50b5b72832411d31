"""Runs the two Locust scenarios together against a running GAS (Locust as a library, no web UI)
and writes their statistics as JSON. ``run.py`` starts it in a process of its own (Locust
monkey-patches the standard library with gevent) after it has started the server and written the
fixtures.

Phases:
1. warm-up: the annotator users start submitting jobs, and the web users are spawned at
   ``--spawn-rate``; each logs in once. It ends ``--settle`` seconds after every web user has
   logged in (the requests queued behind the last log-ins are not part of the steady state).
2. measured: the web statistics are reset, and both scenarios run for ``--seconds`` more, at
   the full number of users. The web figures are those of this phase; the log-ins are reported
   separately (they are Argon2 password checks: ~0.2 s of CPU each, by design); the annotator
   figures cover both phases.

    python loadtest/drive.py --host URL --fixtures F --users 300 --annotators 3 --seconds 60 \\
        --out results.json
"""

from __future__ import annotations

# Locust first: it monkey-patches the standard library (gevent) when imported.
from locust.env import Environment  # isort: skip
from locust.stats import StatsEntry  # isort: skip

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gevent

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import annotator  # noqa: E402
import web  # noqa: E402
from common import FIXTURES_VARIABLE  # noqa: E402

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def summary(entries: Iterable[StatsEntry], seconds: float) -> dict[str, Any]:
    """Requests, failures, requests/s over ``seconds``, percentiles (ms) of ``entries``
    together."""
    entries = list(entries)
    if not entries:
        return {"requests": 0, "failures": 0, "rps": 0.0, "p50": 0, "p95": 0, "p99": 0, "max": 0}
    total = StatsEntry(entries[0].stats, "total", "", use_response_times_cache=False)
    for entry in entries:
        total.extend(entry)
    result: dict[str, Any] = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.num_requests / seconds, 2) if seconds > 0 else 0.0,
        "avg": round(total.avg_response_time, 1),
    }
    for label, fraction in PERCENTILES.items():
        result[label] = total.get_response_time_percentile(fraction) if total.num_requests else 0
    result["max"] = round(total.max_response_time)
    return result


def scenario(env: Environment, seconds: float) -> dict[str, Any]:
    """The scenario's figures: all its requests (custom events left out: those of request
    type ``JOB``), and each endpoint and event on its own."""
    entries = [e for e in env.stats.entries.values() if e.num_requests or e.num_failures]
    requests = [e for e in entries if e.method != annotator.JOB_EVENT[0]]
    result = summary(requests, seconds)
    result["seconds"] = round(seconds, 1)
    result["endpoints"] = {
        f"{e.method} {e.name}": summary([e], seconds)
        for e in sorted(entries, key=lambda e: (e.method == annotator.JOB_EVENT[0], e.name))
    }
    result["errors"] = [
        {"endpoint": f"{e.method} {e.name}", "error": str(e.error), "occurrences": e.occurrences}
        for e in env.stats.errors.values()
    ]
    runner = env.runner
    result["exceptions"] = [
        {"count": row["count"], "message": row["msg"]}
        for row in (runner.exceptions.values() if runner else [])
    ]
    return result


def server_cpu(pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by the server's processes (``gas serve`` and its children), by
    role: "web", "annotator", "other" (Linux /proc; empty elsewhere)."""
    if not pid:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            command = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(child) for child in children)
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        words = [w.decode(errors="replace") for w in command]
        role = "web" if "web" in words else "annotator" if "annotator" in words else "other"
        found[role] = found.get(role, 0.0) + seconds
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--fixtures", required=True, type=Path)
    parser.add_argument("--users", type=int, default=300, help="web users")
    parser.add_argument("--annotators", type=int, default=3, help="annotator users")
    parser.add_argument("--seconds", type=float, default=60, help="the measured phase")
    parser.add_argument("--spawn-rate", type=float, default=10, help="web users started per s")
    parser.add_argument("--warmup-timeout", type=float, default=300)
    parser.add_argument(
        "--settle", type=float, default=10, help="seconds between the last log-in and measuring"
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--server-pid", type=int, help="report the CPU used by its processes")
    parser.add_argument(
        "--trace", type=Path, help="also write every web request (time, name, ms) as CSV"
    )
    args = parser.parse_args(argv)
    os.environ[FIXTURES_VARIABLE] = str(args.fixtures.resolve())
    logging.basicConfig(level=logging.WARNING, format="locust: %(levelname)s %(message)s")

    web_env = Environment(user_classes=[web.WebUser], host=args.host)
    annotator_env = Environment(user_classes=[annotator.AnnotatorUser], host=args.host)
    web_runner = web_env.create_local_runner()
    annotator_runner = annotator_env.create_local_runner()
    cpu_peak = {"web": 0.0, "annotator": 0.0}

    def watch_cpu() -> None:  # the load generator's own CPU: near 100 % it is the bottleneck
        while True:
            gevent.sleep(1)
            cpu_peak["web"] = max(cpu_peak["web"], web_runner.current_cpu_usage)

    watcher = gevent.spawn(watch_cpu)

    started = time.monotonic()
    if args.annotators:
        annotator_runner.start(args.annotators, spawn_rate=args.annotators)
    web_runner.start(args.users, spawn_rate=args.spawn_rate)
    while web.logins["done"] + web.logins["failed"] < args.users:
        if time.monotonic() - started > args.warmup_timeout:
            print(
                f"warm-up: only {web.logins['done']} of {args.users} users logged in after "
                f"{args.warmup_timeout:.0f} s",
                file=sys.stderr,
            )
            break
        gevent.sleep(0.2)
    # Let the requests queued behind the last log-ins drain: the measured phase starts in the
    # steady state of --users users browsing.
    gevent.sleep(args.settle)
    warmup_seconds = time.monotonic() - started
    login_entries = {("GET", "/login"), ("POST", "/login")}
    warmup = scenario(web_env, warmup_seconds)
    warmup["logins"] = dict(web.logins)
    warmup["login"] = summary(
        [e for e in web_env.stats.entries.values() if (e.method, e.name) in login_entries],
        warmup_seconds,
    )
    warmup_failures = web_env.stats.total.num_failures

    web_env.stats.reset_all()
    trace: list[str] = []
    if args.trace:

        def record(request_type: str, name: str, response_time: float, **kw: Any) -> None:
            failed = "1" if kw.get("exception") else "0"
            trace.append(f"{time.time():.3f},{request_type} {name},{response_time:.1f},{failed}")

        web_env.events.request.add_listener(record)
    measure_start = time.monotonic()
    cpu_before = server_cpu(args.server_pid)
    gevent.sleep(args.seconds)
    measured = time.monotonic() - measure_start
    cpu_after = server_cpu(args.server_pid)
    web_result = scenario(web_env, measured)
    web_runner.quit()
    annotator_runner.quit()
    watcher.kill()
    annotator_result = scenario(annotator_env, time.monotonic() - started)
    job = annotator_env.stats.entries.get((annotator.JOB_EVENT[1], annotator.JOB_EVENT[0]))
    annotator_result["jobs_completed"] = (job.num_requests - job.num_failures) if job else 0
    annotator_result["jobs_failed"] = job.num_failures if job else 0

    result = {
        "host": args.host,
        "users": args.users,
        "annotators": args.annotators,
        "spawn_rate": args.spawn_rate,
        "warmup": warmup,
        "warmup_failures": warmup_failures,
        "web": web_result,
        "annotator": annotator_result,
        "generator_cpu_peak_percent": round(cpu_peak["web"], 1),
        # % of one CPU used by the server's processes during the measured phase
        "server_cpu_percent": {
            role: round(100 * (cpu_after[role] - cpu_before.get(role, 0.0)) / measured, 1)
            for role in cpu_after
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.trace:
        args.trace.write_text("time,request,ms,failed\n" + "\n".join(trace) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
