"""OpenID Connect log-in (Globus Auth, or any provider): the authorization-code flow with PKCE,
state and nonce, and the ID token verified — signature against the provider's JWKS, ``iss``,
``aud``, ``exp``, ``nonce`` — with Authlib (its OAuth 2 client) and joserfc (its JOSE library).

``start`` makes the provider's authorization URL and what the browser must keep until it comes
back (``state``, ``nonce``, the PKCE ``code_verifier``: kept in the signed session cookie);
``finish`` checks the returned ``state``, exchanges the code (with the verifier), verifies the
ID token and returns the identity. What to do with the identity (log in, create the account,
link it to a local one) is the web's ``oidc`` blueprint, with gas.services.accounts.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger(__name__)

SCOPE = "openid email profile"
TIMEOUT = 10.0
LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat
METADATA_TTL_SECONDS = 3600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


class OidcError(Exception):
    """The log-in failed for a reason the user is told (a tampered or stale state, a token
    that does not verify, the provider's refusal)."""


class ProviderUnavailable(OidcError):
    """The provider could not be reached, or answered nonsense."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    label: str = "Log in with Globus"


@dataclass(frozen=True)
class Identity:
    subject: str  # "<issuer> <sub>": unique across providers
    email: str | None
    email_verified: bool
    name: str
    institution: str


class OidcClient:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    # --- the provider's documents --------------------------------------------------------

    def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=TIMEOUT, **kwargs)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("oidc: GET %s failed: %s", url, exc)
            raise ProviderUnavailable(f"{exc.__class__.__name__}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable("not a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour); its ``issuer`` must be
        the configured one."""
        with self._lock:
            if self._metadata and time.monotonic() - self._fetched_at < METADATA_TTL_SECONDS:
                return self._metadata
        url = self.config.issuer + "/.well-known/openid-configuration"
        found = self._get_json(url)
        if str(found.get("issuer", "")).rstrip("/") != self.config.issuer:
            raise ProviderUnavailable("the discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(name), str):
                raise ProviderUnavailable(f"the discovery document has no {name}")
        with self._lock:
            self._metadata, self._fetched_at = found, time.monotonic()
        return found

    def _session(self, state: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method=(
                "client_secret_basic" if self.config.client_secret else "none"
            ),
            scope=SCOPE,
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
            state=state,
        )

    # --- the flow --------------------------------------------------------------------------

    def start(self) -> tuple[str, dict[str, str]]:
        """The authorization URL, and what to keep until the callback."""
        metadata = self.metadata()
        pending = {
            "state": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(32),
            "verifier": secrets.token_urlsafe(64),
        }
        url, _ = self._session().create_authorization_url(
            metadata["authorization_endpoint"],
            state=pending["state"],
            code_verifier=pending["verifier"],
            nonce=pending["nonce"],
        )
        return url, pending

    def finish(
        self, pending: dict[str, str], *, state: str, code: str, now: float | None = None
    ) -> Identity:
        """Check ``state``, exchange ``code``, verify the ID token; the identity."""
        expected = str(pending.get("state", ""))
        if not expected or not hmac.compare_digest(expected.encode(), state.encode()):
            raise OidcError("The log-in answer does not match the log-in this browser started.")
        if not code:
            raise OidcError("The identity provider sent no authorization code.")
        metadata = self.metadata()
        client = self._session(state=expected)
        try:
            token = client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.get("verifier", ""),
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(exc.__class__.__name__) from exc
        except Exception as exc:  # Authlib's OAuth2Error: the provider refused the code
            log.warning("oidc: token request refused: %s", exc)
            raise OidcError("The identity provider refused to complete the log-in.") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("The identity provider sent no ID token.")
        claims = self.verify_id_token(id_token, nonce=str(pending.get("nonce", "")), now=now)
        info: dict[str, Any] = {}
        userinfo_url = metadata.get("userinfo_endpoint")
        access_token = token.get("access_token")
        if isinstance(userinfo_url, str) and isinstance(access_token, str):
            try:
                info = self._get_json(
                    userinfo_url, headers={"Authorization": f"Bearer {access_token}"}
                )
            except ProviderUnavailable:
                info = {}
            if info.get("sub") != claims["sub"]:
                info = {}  # never trust claims about someone else
        merged = {**info, **claims}
        email = merged.get("email")
        return Identity(
            subject=f"{self.config.issuer} {claims['sub']}",
            email=email if isinstance(email, str) and email else None,
            email_verified=merged.get("email_verified") is True,
            name=str(merged.get("name") or ""),
            institution=str(merged.get("organization") or merged.get("institution") or ""),
        )

    def verify_id_token(
        self, id_token: str, *, nonce: str, now: float | None = None
    ) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's JWKS), ``iss``, ``aud``,
        ``exp``, ``iat`` and ``nonce`` are right; OidcError otherwise."""
        jwks = self._get_json(self.metadata()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                now=int(time.time() if now is None else now),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("oidc: ID token refused: %s", exc)
            raise OidcError(
                "The identity provider's answer could not be verified (it may have expired)."
            ) from exc
        if not nonce:
            raise OidcError("The log-in answer does not match the log-in this browser started.")
        return dict(token.claims)
