"""Every page renders, pages need a log-in, and nothing breaks the CSP (no inline JS/CSS)."""

from __future__ import annotations

import json
import re

from tests.conftest import AuthActions
from tests.integration.web.conftest import finish_job, submit

PROTECTED = [
    "/profile",
    "/annotate",
    "/annotations",
    "/subscribe",
    "/subscribe/cancel",
]


def assert_csp_clean(html: str) -> None:
    """The CSP forbids inline scripts and styles: every <script> has a src, no style=."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute"
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"


def test_home_page_says_what_gas_is_and_shows_both_plans(client, container) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Genomics Annotation Service" in html
    assert "VCF" in html and "email" in html
    assert 'data-testid="plan-free"' in html and 'data-testid="plan-premium"' in html
    assert '<strong data-testid="free-limit">150 KB</strong>' in html
    assert "archived" in html
    assert 'href="/signup"' in html  # the call to action for a visitor
    assert_csp_clean(html)


def test_pages_need_a_log_in(client) -> None:
    for path in PROTECTED:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/login?next={path}", path


def test_job_pages_need_a_log_in(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    logged_in.logout()
    for suffix in ("", "/received", "/input", "/results", "/log", "/status.json"):
        response = client.get(f"/annotations/{job_id}{suffix}")
        assert response.status_code == 302, suffix
        assert response.headers["Location"].startswith("/login?next=")


def test_every_page_renders_for_a_logged_in_user(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    done_id = submit(client, logged_in, name="done.vcf")
    finish_job(container, done_id)
    pages = [
        "/",
        *PROTECTED,
        f"/annotations/{job_id}/received",
        f"/annotations/{job_id}",
        f"/annotations/{done_id}",
        f"/annotations/{done_id}/log",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert "Ada Lovelace" in html, path  # the navigation shows who is logged in
        assert_csp_clean(html)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-cta"' in home and 'href="/annotate"' in home


def test_security_headers_on_pages(client, logged_in) -> None:
    for path in ("/", "/annotations", "/nowhere"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "style-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_static_scripts_are_served(client) -> None:
    for name in ("annotate.js", "status.js", "copy.js"):
        response = client.get(f"/static/js/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["Content-Type"]
        response.close()


def test_user_data_is_escaped(client, auth, container) -> None:
    assert (
        auth.signup(name="<script>alert(1)</script>", institution='"><img src=x>').status_code
        == 302
    )
    html = client.get("/profile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"><img src=x>' not in html
    log = b"Total: 1\n<script>alert('log')</script>\n"
    job_id = submit(client, auth)
    finish_job(container, job_id, log_text=log)
    page = client.get(f"/annotations/{job_id}/log").get_data(as_text=True)
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;" in page


# --- what a job gets from the reference data configured ---------------------------------------

BUILTIN_OFFER = (
    "gene names and nearest genes for nuclear chromosomes (GRCh38 gene table); full transcript "
    "consequences, HGVS and protein changes for mitochondrial variants (built-in rCRS "
    "reference); GRCh37/hg19 and NCBI36/hg18 inputs are lifted to GRCh38"
)


def offer_on(html: str) -> str:
    match = re.search(r'data-testid="reference-offer">(.*?)</p>', html, re.S)
    assert match, "the page does not say what a job gets"
    return " ".join(match.group(1).split())


def test_without_a_bundle_the_pages_promise_only_the_built_in_references(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    for path in ("/", "/annotate", f"/annotations/{job_id}"):
        offer = offer_on(client.get(path).get_data(as_text=True))
        assert offer == f"With this server's reference data, each job gets {BUILTIN_OFFER}.", path
    home = client.get("/").get_data(as_text=True)
    assert "its consequence for the protein" not in home  # not for nuclear genes by default


def _app_with_refdata(settings_env, refdata: str):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import create_app
    from tests.conftest import FAST_HASHER_PARAMS

    c = build(
        Settings.from_env({**settings_env, "GAS_REFDATA": refdata}),
        hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS)),
    )
    app = create_app(c)
    app.config.update(TESTING=True)
    return c, app


def test_with_a_bundle_the_pages_name_it_and_its_assembly(settings_env, tmp_path) -> None:
    bundle = tmp_path / "ensembl-113"
    bundle.mkdir()
    manifest = {"format": "gas-refdata", "name": "ensembl-113", "assembly": "GRCh38"}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    c, app = _app_with_refdata(settings_env, str(bundle))
    try:
        client = app.test_client()
        assert AuthActions(client).signup().status_code == 302
        job_id = submit(client, AuthActions(client))
        for path in ("/", "/annotate", f"/annotations/{job_id}"):
            offer = offer_on(client.get(path).get_data(as_text=True))
            assert offer == (
                "With this server's reference data, each job gets full consequences "
                "(bundle ensembl-113, GRCh38)."
            ), path
    finally:
        c.close()


def test_a_bundle_this_machine_does_not_have_is_named_only(settings_env) -> None:
    c, app = _app_with_refdata(settings_env, "elsewhere-GRCh38-bundle")
    try:
        offer = offer_on(app.test_client().get("/").get_data(as_text=True))
        assert offer.endswith("each job gets full consequences (bundle elsewhere-GRCh38-bundle).")
    finally:
        c.close()
