"""Settings from ``GAS_*`` environment variables.

Every setting has a default that works on one machine with no set-up: everything lives under
``GAS_DATA_DIR``. Backends are chosen URL-style (``GAS_DATABASE_URL``, ``GAS_STORAGE_URL`` …).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class ConfigError(ValueError):
    """A setting has a value GAS cannot use; the message names the variable."""


def _oidc_issuer(env: Mapping[str, str]) -> str | None:
    """GAS_OIDC_ISSUER: https, or http only on a loopback address (a provider in a test)."""
    raw = (env.get("GAS_OIDC_ISSUER") or "").strip().rstrip("/")
    if not raw:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    if not parts.hostname or parts.scheme not in {"https", "http"}:
        raise ConfigError(f"GAS_OIDC_ISSUER must be an https:// URL, got {raw!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ConfigError(
            f"GAS_OIDC_ISSUER must be https:// (http:// only on a loopback address), got {raw!r}"
        )
    if not env.get("GAS_OIDC_CLIENT_ID"):
        raise ConfigError("GAS_OIDC_ISSUER needs GAS_OIDC_CLIENT_ID")
    return raw


def _log_format(env: Mapping[str, str]) -> str:
    raw = (env.get("GAS_LOG_FORMAT") or "text").strip().lower()
    if raw not in {"text", "json"}:
        raise ConfigError(f"GAS_LOG_FORMAT must be 'text' or 'json', got {raw!r}")
    return raw


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


# Abuse limits: scope -> (events allowed, per so many seconds); GAS_RATE_LIMIT_<SCOPE> sets one
# as "COUNT/SECONDS" ("off" turns it off). Log-ins count failures only; the rest every attempt.
RATE_LIMIT_DEFAULTS: dict[str, tuple[int, int]] = {
    "login_account": (10, 900),  # failed log-ins of one account
    "login_address": (50, 900),  # failed log-ins from one client address
    "signup": (10, 3600),  # sign-ups from one client address
    "password_reset": (5, 3600),  # password-reset requests from one client address
    "tokens": (20, 3600),  # API tokens created by one user
    "uploads": (120, 3600),  # jobs submitted by one user (uploads and re-runs)
    "oidc": (300, 900),  # GET /login/oidc and its callback from one client address (a campus
    # behind one NAT signs in through it: 150 log-ins per 15 minutes)
}


def _rate_limits(env: Mapping[str, str]) -> dict[str, tuple[int, int] | None]:
    rules: dict[str, tuple[int, int] | None] = {}
    for scope, default in RATE_LIMIT_DEFAULTS.items():
        name = f"GAS_RATE_LIMIT_{scope.upper()}"
        raw = (env.get(name) or "").strip().lower()
        if not raw:
            rules[scope] = default
            continue
        if raw in {"off", "0", "false", "no"}:
            rules[scope] = None
            continue
        count, _, seconds = raw.partition("/")
        try:
            rule = (int(count), int(seconds))
        except ValueError:
            rule = (0, 0)
        if rule[0] < 1 or rule[1] < 1:
            raise ConfigError(
                f"{name} must be COUNT/SECONDS (e.g. {default[0]}/{default[1]}) or off, got {raw!r}"
            )
        rules[scope] = rule
    return rules


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only (0700): the data
    directory holds the database, the secret key and everyone's files. An existing directory is
    left as it is."""
    path = Path(path)
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:  # another process made it meanwhile
                pass
    return path


def _secret_key(data_dir: Path) -> str:
    """Generate the session-signing key once and keep it (mode 0600) in the data directory."""
    path = data_dir / "secret_key"
    for _ in range(50):  # another process may have created the file and not yet written it
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            break
        if key:
            return key
        time.sleep(0.02)
    ensure_private_dir(data_dir)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return _secret_key(data_dir)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


SECRETS_MANAGER = "secretsmanager:"


def resolve_references(env: Mapping[str, str]) -> dict[str, str]:
    """Settings kept out of the environment, resolved once at start:

    - ``GAS_<NAME>_FILE=PATH``: ``GAS_<NAME>`` is the file's content (one trailing newline
      dropped), e.g. a secret a service manager wrote to a 0600 file in a tmpfs. Setting both
      ``GAS_<NAME>`` and ``GAS_<NAME>_FILE`` is an error.
    - ``GAS_<NAME>=secretsmanager:SECRET_ID[#KEY]``: the AWS Secrets Manager secret's string
      (SECRET_ID an ARN or a name), or the ``KEY`` field of it when it is a JSON object; read
      with the process's AWS credentials in ``GAS_AWS_REGION`` (``GAS_AWS_ENDPOINT_URL``).
    """
    out = dict(env)
    for name, path in env.items():
        if not (name.startswith("GAS_") and name.endswith("_FILE")) or len(name) < 10:
            continue
        target = name.removesuffix("_FILE")
        if env.get(target):
            raise ConfigError(f"set {target} or {name}, not both")
        try:
            file = Path(path).expanduser()
            text = file.read_text(encoding="utf-8")
            mode = file.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"{name}={path!r}: cannot read it ({exc.strerror})") from None
        if mode & 0o077:
            import logging

            logging.getLogger(__name__).warning(
                "%s=%s can be read by other users (mode %o): make it 0600", name, path, mode & 0o777
            )
        out[target] = text.removesuffix("\n").removesuffix("\r")
    for name, value in list(out.items()):
        if name.startswith("GAS_") and value.startswith(SECRETS_MANAGER):
            out[name] = _secrets_manager(name, value.removeprefix(SECRETS_MANAGER), out)
    return out


def _secrets_manager(name: str, reference: str, env: Mapping[str, str]) -> str:
    secret_id, _, key = reference.partition("#")
    if not secret_id:
        raise ConfigError(f"{name}: expected secretsmanager:SECRET_ID[#KEY]")
    from gas.adapters.secrets_manager import SecretNotAvailable, secret_value

    try:
        return secret_value(
            secret_id,
            key or None,
            region=env.get("GAS_AWS_REGION") or "us-east-1",
            endpoint_url=env.get("GAS_AWS_ENDPOINT_URL") or None,
        )
    except SecretNotAvailable as exc:
        raise ConfigError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    base_url: str
    secret_key: str = field(repr=False)
    storage_url: str
    coldstore_url: str
    queue_url: str
    mail_url: str
    mail_from: str
    billing: str
    aws_region: str
    aws_endpoint_url: str | None
    free_max_upload_bytes: int = 150 * KIB
    premium_max_upload_bytes: int = 1 * GIB
    free_retention_seconds: int = 300
    secure_cookies: bool = False
    # browser sessions: the longest a log-in lasts, and how long it survives without a request
    # (OWASP ASVS level 2: 12 hours, 30 minutes)
    session_lifetime_seconds: int = 12 * 3600
    session_idle_seconds: int = 30 * 60
    # how long a password-reset link works, and an email-verification link
    password_reset_seconds: int = 3600
    email_verification_seconds: int = 3 * 86400
    # whether accounts must verify their email address before submitting jobs
    require_verified_email: bool = False
    # OpenID Connect log-in (off without an issuer) and whether local accounts exist
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_label: str = "Log in with Globus"
    local_accounts: bool = True
    # abuse limits (see RATE_LIMIT_DEFAULTS; None: off) and the jobs one user may have
    # PENDING or RUNNING at once (0: no cap)
    rate_limits: Mapping[str, tuple[int, int] | None] = field(
        default_factory=lambda: dict(RATE_LIMIT_DEFAULTS)
    )
    max_jobs_in_flight: int = 50
    download_url_ttl_seconds: int = 300
    queue_max_attempts: int = 5
    queue_lease_seconds: float = 60.0
    queue_poll_seconds: float = 1.0
    annotator_processes: int = 1
    # `gas web` (waitress): request threads, open connections at most (idle ones included),
    # seconds an idle connection is kept, and the reverse proxy whose X-Forwarded-* it believes
    web_threads: int = 8
    # web server processes sharing the port (SO_REUSEPORT): `gas serve` starts this many, and
    # with more than 1 each `gas web` lets others listen on its port (one process uses one core)
    web_processes: int = 1
    web_connection_limit: int = 1000
    web_channel_timeout: int = 30
    web_trusted_proxy: str | None = None
    web_trusted_proxy_count: int = 1
    web_trusted_proxy_headers: str = "x-forwarded-for x-forwarded-proto"
    # the bearer token that shows /healthz's details (pids, last errors) to a client that is
    # not on a loopback address (None: loopback only)
    healthz_token: str | None = field(default=None, repr=False)
    # the reference bundle jobs are annotated with (name or directory); None: the built-in
    # GRCh38 gene table
    refdata: str | None = None
    # the local cold store's simulated retrieval delays (seconds) and refusals
    coldstore_expedited_seconds: float = 2.0
    coldstore_standard_seconds: float = 5.0
    coldstore_bulk_seconds: float = 10.0
    coldstore_refuse_expedited: bool = False
    # the web's local copies of results stores (and cached downloads): its size budget
    results_cache_bytes: int = 2 * GIB
    # annotators protect their EC2 instance from autoscaling scale-in while they run a job
    aws_scale_in_protection: bool = False
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_price_id: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    log_level: str = "INFO"
    # "text" (one line per event for people) or "json" (one JSON object per line)
    log_format: str = "text"
    # Prometheus: where every process of this machine keeps its counters (None: under
    # data_dir), the bearer token that lets a scraper in from anywhere (None: loopback only),
    # and where `gas worker` serves /metrics ("[HOST:]PORT"; None: it does not)
    metrics_dir: Path | None = None
    metrics_token: str | None = field(default=None, repr=False)
    metrics_listen: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = resolve_references(os.environ if env is None else env)
        data_dir = Path(env.get("GAS_DATA_DIR") or "./var").expanduser().resolve()
        base_url = (env.get("GAS_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        billing = (env.get("GAS_BILLING") or "off").strip().lower()
        if billing not in {"off", "stripe"}:
            raise ConfigError(f"GAS_BILLING must be 'off' or 'stripe', got {billing!r}")
        secret = env.get("GAS_SECRET_KEY") or _secret_key(data_dir)
        if not _bool(env, "GAS_LOCAL_ACCOUNTS", True) and not _oidc_issuer(env):
            raise ConfigError("GAS_LOCAL_ACCOUNTS=false needs GAS_OIDC_ISSUER: nobody could log in")
        if billing == "stripe":
            missing = [
                name
                for name in (
                    "GAS_STRIPE_SECRET_KEY",
                    "GAS_STRIPE_WEBHOOK_SECRET",
                    "GAS_STRIPE_PRICE_ID",
                )
                if not env.get(name)
            ]
            if missing:
                raise ConfigError(f"GAS_BILLING=stripe needs {', '.join(missing)}")
        return cls(
            data_dir=data_dir,
            database_url=env.get("GAS_DATABASE_URL") or f"sqlite:///{data_dir / 'gas.db'}",
            base_url=base_url,
            secret_key=secret,
            storage_url=env.get("GAS_STORAGE_URL") or f"file://{data_dir / 'objects'}",
            coldstore_url=env.get("GAS_COLDSTORE_URL") or f"file://{data_dir / 'cold'}",
            queue_url=env.get("GAS_QUEUE_URL") or "sql",
            mail_url=env.get("GAS_MAIL_URL") or f"outbox://{data_dir / 'outbox'}",
            mail_from=env.get("GAS_MAIL_FROM") or "GAS <gas@localhost>",
            billing=billing,
            aws_region=env.get("GAS_AWS_REGION") or "us-east-1",
            aws_endpoint_url=env.get("GAS_AWS_ENDPOINT_URL") or None,
            free_max_upload_bytes=_int(env, "GAS_FREE_MAX_UPLOAD_BYTES", 150 * KIB, 1),
            premium_max_upload_bytes=_int(env, "GAS_PREMIUM_MAX_UPLOAD_BYTES", 1 * GIB, 1),
            free_retention_seconds=_int(env, "GAS_FREE_RETENTION_SECONDS", 300, 0),
            secure_cookies=_bool(env, "GAS_SECURE_COOKIES", base_url.startswith("https://")),
            session_lifetime_seconds=_int(env, "GAS_SESSION_LIFETIME_SECONDS", 12 * 3600, 60),
            session_idle_seconds=_int(env, "GAS_SESSION_IDLE_SECONDS", 30 * 60, 60),
            password_reset_seconds=_int(env, "GAS_PASSWORD_RESET_SECONDS", 3600, 60),
            email_verification_seconds=_int(env, "GAS_EMAIL_VERIFICATION_SECONDS", 3 * 86400, 60),
            require_verified_email=_bool(env, "GAS_REQUIRE_VERIFIED_EMAIL", False),
            oidc_issuer=_oidc_issuer(env),
            oidc_client_id=env.get("GAS_OIDC_CLIENT_ID") or None,
            oidc_client_secret=env.get("GAS_OIDC_CLIENT_SECRET") or None,
            oidc_label=(env.get("GAS_OIDC_LABEL") or "Log in with Globus").strip()[:100],
            local_accounts=_bool(env, "GAS_LOCAL_ACCOUNTS", True),
            rate_limits=_rate_limits(env),
            max_jobs_in_flight=_int(env, "GAS_MAX_JOBS_IN_FLIGHT", 50, 0),
            download_url_ttl_seconds=_int(env, "GAS_DOWNLOAD_URL_TTL_SECONDS", 300, 1),
            queue_max_attempts=_int(env, "GAS_QUEUE_MAX_ATTEMPTS", 5, 1),
            queue_lease_seconds=_float(env, "GAS_QUEUE_LEASE_SECONDS", 60.0),
            queue_poll_seconds=_float(env, "GAS_QUEUE_POLL_SECONDS", 1.0),
            annotator_processes=_int(env, "GAS_ANNOTATOR_PROCESSES", 1, 1),
            web_threads=_int(env, "GAS_WEB_THREADS", 8, 1),
            web_processes=_int(env, "GAS_WEB_PROCESSES", 1, 1),
            web_connection_limit=_int(env, "GAS_WEB_CONNECTION_LIMIT", 1000, 1),
            web_channel_timeout=_int(env, "GAS_WEB_CHANNEL_TIMEOUT", 30, 1),
            web_trusted_proxy=(env.get("GAS_WEB_TRUSTED_PROXY") or "").strip() or None,
            web_trusted_proxy_count=_int(env, "GAS_WEB_TRUSTED_PROXY_COUNT", 1, 1),
            web_trusted_proxy_headers=(
                env.get("GAS_WEB_TRUSTED_PROXY_HEADERS") or "x-forwarded-for x-forwarded-proto"
            ),
            refdata=env.get("GAS_REFDATA") or None,
            coldstore_expedited_seconds=_float(env, "GAS_COLDSTORE_EXPEDITED_SECONDS", 2.0),
            coldstore_standard_seconds=_float(env, "GAS_COLDSTORE_STANDARD_SECONDS", 5.0),
            coldstore_bulk_seconds=_float(env, "GAS_COLDSTORE_BULK_SECONDS", 10.0),
            coldstore_refuse_expedited=_bool(env, "GAS_COLDSTORE_REFUSE_EXPEDITED", False),
            results_cache_bytes=_int(env, "GAS_RESULTS_CACHE_BYTES", 2 * GIB, 0),
            aws_scale_in_protection=_bool(env, "GAS_AWS_SCALE_IN_PROTECTION", False),
            stripe_secret_key=env.get("GAS_STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=env.get("GAS_STRIPE_WEBHOOK_SECRET") or None,
            stripe_price_id=env.get("GAS_STRIPE_PRICE_ID") or None,
            stripe_api_base=(env.get("GAS_STRIPE_API_BASE") or "https://api.stripe.com").rstrip(
                "/"
            ),
            healthz_token=(env.get("GAS_HEALTHZ_TOKEN") or "").strip() or None,
            log_level=(env.get("GAS_LOG_LEVEL") or "INFO").upper(),
            log_format=_log_format(env),
            metrics_dir=Path(env.get("GAS_METRICS_DIR") or data_dir / "metrics")
            .expanduser()
            .resolve(),
            metrics_token=(env.get("GAS_METRICS_TOKEN") or "").strip() or None,
            metrics_listen=(env.get("GAS_METRICS_LISTEN") or "").strip() or None,
            extra={k: v for k, v in env.items() if k.startswith("GAS_")},
        )
