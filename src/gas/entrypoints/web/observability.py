"""What the web records about each request, and ``GET /metrics``.

- A request id per request: the client's ``X-Request-ID`` when it is well formed (1–128
  letters, digits and ``._:-``), else a new one; sent back as ``X-Request-ID`` and on every log
  line written while the request is handled, with the logged-in user and the job of the URL.
- Requests counted and timed per route (the URL rule, e.g. ``/annotations/<job_id>``, or
  ``unmatched``: never the raw path), method and status class.
- ``/metrics`` in Prometheus's text format (see ``gas.entrypoints.metrics`` for what it holds
  and who may read it). It needs no session, no CSRF token (GET) and no rate limit.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from gas.entrypoints import logs, metrics, operator_access

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(header: str | None) -> str:
    """The client's request id when it is well formed, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _request_log_context() -> dict[str, str | None]:
    """The log context of the request being handled: its user and the job of its URL."""
    if not has_request_context():
        return {}
    user = g.get("user")
    job_id = (request.view_args or {}).get("job_id")
    return {
        "user_id": getattr(user, "id", None),
        "job_id": job_id if isinstance(job_id, str) else None,
    }


def register(app: Flask, container: Any) -> None:
    """Install the request hooks and the ``/metrics`` route on ``app``."""
    logs.add_context_provider(_request_log_context)
    registry = metrics.scrape_registry(metrics.state_collector(container))
    token = container.settings.metrics_token
    base_url = container.settings.base_url

    @app.before_request
    def start_request() -> None:
        g.request_started = time.perf_counter()
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = logs.set_context("request_id", g.request_id)

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        rule = request.url_rule
        try:
            metrics.observe_request(
                rule.rule if rule is not None else "unmatched",
                request.method,
                response.status_code,
                time.perf_counter() - started if started is not None else None,
            )
        except Exception:  # noqa: BLE001 - counting never breaks a response
            app.logger.warning("metrics: could not count a request", exc_info=True)
        return response

    @app.teardown_request
    def end_request(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                logs.reset_context("request_id", token)
            except ValueError:  # set in another context (not in practice)
                logs.set_context("request_id", None)

    published_service = operator_access.published(base_url)

    @app.get("/metrics")
    def prometheus_metrics() -> Any:
        status = metrics.access(
            request.remote_addr,
            request.headers.get("Authorization"),
            token,
            relayed=any(request.headers.get(name) for name in metrics.PROXY_HEADERS),
            published=published_service,
        )
        if status != 200:
            headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
            if status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return metrics.REFUSED[status], status, headers
        body, content_type = metrics.render(registry)
        return body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"}
