"""Uploading on the Annotate page straight to S3 (a presigned POST), on moto's server.

The page (Flask's test client) renders a form whose action is S3's URL and whose hidden fields
are a signed policy; the test posts the file to moto as a browser would (``requests``, the
redirect not followed), then follows S3's 303 back to ``/annotate/uploaded`` with the same
logged-in test client, which creates the job.

What moto (5.x) does with a POST upload: it stores the object under the form's ``key`` with
``${filename}`` replaced by the file's name and answers 303 to ``success_action_redirect`` with
``key`` and ``bucket`` added (not ``etag``, which S3 adds too). It does NOT check the policy:
neither its signature, nor the key prefix, nor ``content-length-range``, nor the expiry, nor
that every form field is named in it; nor does it apply the ``x-amz-server-side-encryption``
field. So the policy's contents are checked here by decoding it, and a file over the limit that
S3 would refuse at the door is accepted by moto: the app's own check when S3 sends the browser
back (size read from S3, deleted when over the plan's limit) is what the tests exercise.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa

from gas.adapters.s3 import S3ObjectStore
from gas.domain.jobs import JobStatus
from gas.domain.plans import Plan
from gas.services import accounts
from tests.aws.moto_server import assert_loopback
from tests.conftest import FAST_HASHER_PARAMS
from tests.integration.web.conftest import SMALL_VCF, user_id, vcf_of_size

# Messages about jobs (sign-up queues a welcome email: account.notice)
JOB_TOPICS = "SELECT topic FROM queue_messages WHERE topic <> 'account.notice'"

FREE_LIMIT = 150 * 1024  # GAS_FREE_MAX_UPLOAD_BYTES of settings_env
BASE_URL = "http://gas.test"  # GAS_BASE_URL of settings_env
PREFIX = "objects"  # the store's key prefix in the bucket


@pytest.fixture
def database_url(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: what is tested here is the web side and S3, not the database."""
    from gas.adapters.sql.database import create_engine, upgrade

    url = f"sqlite:///{tmp_path / 'gas.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def container(settings_env, s3_client, s3_bucket):  # type: ignore[no-untyped-def]
    """The app's container with the S3 object store on moto (a fresh bucket, under a prefix)."""
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings

    c = build(
        Settings.from_env(settings_env),
        hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS)),
        storage=S3ObjectStore(s3_bucket, PREFIX, client=s3_client),
    )
    yield c
    c.close()


# --- reading the page's form ---------------------------------------------------------------


class FormParser(HTMLParser):
    """The Annotate form: its action, hidden fields, and the assembly <select>'s options."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.select_name = ""
        self.options: dict[str, str] = {}  # label -> value
        self.order: list[str] = []  # names of the submitted fields, in document order
        self._in_form = False
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "annotate-form":
            self._in_form = True
            self.action = a["action"]
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            self.order.append(a["name"])
            if a.get("type") == "hidden":
                self.hidden[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select_name = a["name"]
            self.order.append(a["name"])
        elif tag == "option":
            self._option = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._option is not None and data.strip():
            self.options[data.strip()] = self._option
            self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def annotate_form(client) -> FormParser:  # type: ignore[no-untyped-def]
    response = client.get("/annotate")
    assert response.status_code == 200
    form = FormParser()
    form.feed(response.get_data(as_text=True))
    return form


def policy_of(form: FormParser) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(form.hidden["policy"]))
    return document


def job_prefix(form: FormParser) -> str:
    """``<user_id>/<job_id>~`` (the key's part before ``${filename}``, without the store
    prefix)."""
    key = form.hidden["key"]
    assert key.startswith(PREFIX + "/") and key.endswith("~${filename}"), key
    return key[len(PREFIX) + 1 : -len("${filename}")]


def post_to_s3(
    form: FormParser, content: bytes, name: str = "sample.vcf", assembly: str = "GRCh38"
) -> requests.Response:
    """What the browser does with the form: the fields, the chosen assembly's redirect, the
    file last; S3's redirect is not followed (it goes to the app, tested with Flask's client)."""
    assert_loopback(form.action)
    data = {**form.hidden, form.select_name: form.options[assembly]}
    response = requests.post(
        form.action,
        data=data,
        files={"file": (name, content, "application/octet-stream")},
        allow_redirects=False,
        timeout=30,
    )
    return response


def local_path(url: str) -> str:
    """``/path?query`` of an absolute URL on GAS_BASE_URL (the test client's own host)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
    return f"{parts.path}?{parts.query}"


def uploaded_url(form: FormParser, bucket: str, s3_key: str, assembly: str = "GRCh38") -> str:
    """The redirect S3 would send after storing ``s3_key`` through ``form``."""
    return local_path(form.options[assembly] + "&" + urlencode({"bucket": bucket, "key": s3_key}))


def count(container, table: str) -> int:  # type: ignore[no-untyped-def]
    """Rows of ``table``; of queue_messages, those about jobs (not the sign-up's email)."""
    where = " WHERE topic <> 'account.notice'" if table == "queue_messages" else ""
    with container.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}{where}")).scalar_one())


def s3_keys(s3_client, bucket: str) -> list[str]:  # type: ignore[no-untyped-def]
    answer = s3_client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


# --- the page ------------------------------------------------------------------------------


def test_the_page_posts_to_s3_with_the_plans_limit_the_key_prefix_and_encryption(
    app, client, logged_in, container, s3_bucket, moto_endpoint
) -> None:
    response = client.get("/annotate")
    html = response.get_data(as_text=True)
    form = FormParser()
    form.feed(html)
    uid = user_id(container)

    assert form.action == f"{moto_endpoint}/{s3_bucket}"
    assert 'enctype="multipart/form-data"' in html
    assert "csrf_token" not in form.hidden  # S3 refuses fields its policy does not name
    assert form.order[-1] == "file"  # S3 ignores whatever follows the file
    prefix = job_prefix(form)
    assert re.fullmatch(rf"{uid}/[0-9a-f-]{{36}}~", prefix)
    assert form.hidden["x-amz-server-side-encryption"] == "AES256"
    assert "success_action_redirect" not in form.hidden  # the <select> sends it

    conditions = policy_of(form)["conditions"]
    assert ["content-length-range", 1, FREE_LIMIT] in conditions
    assert ["starts-with", "$key", f"{PREFIX}/{prefix}"] in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert {"bucket": s3_bucket} in conditions
    back = f"{BASE_URL}/annotate/uploaded?token="
    assert ["starts-with", "$success_action_redirect", back] in conditions

    # One signed redirect per assembly, "Detect from file" chosen by default.
    assert form.select_name == "success_action_redirect"
    assert set(form.options) == {"Detect from file", "GRCh38", "GRCh37 / hg19", "NCBI36 / hg18"}
    assert all(url.startswith(back) for url in form.options.values())
    assert len(set(form.options.values())) == 4
    assert re.search(r'<option value="[^"]+" selected>Detect from file</option>', html)
    # The browser-side size check still reads the limit from the form.
    assert f'data-max-bytes="{FREE_LIMIT}"' in html and 'data-plan="free"' in html

    # The form may post to S3's origin (this page only); S3's 303 then comes back here.
    csp = response.headers["Content-Security-Policy"]
    assert f"form-action 'self' {moto_endpoint};" in csp + ";"
    assert "form-action 'self'" in client.get("/profile").headers["Content-Security-Policy"]
    assert moto_endpoint not in client.get("/profile").headers["Content-Security-Policy"]

    # Each visit is a new request: another job id.
    assert job_prefix(annotate_form(client)) != prefix


def test_the_limit_in_the_policy_is_the_plan_in_force_when_the_page_is_shown(
    client, logged_in, container
) -> None:
    assert ["content-length-range", 1, FREE_LIMIT] in policy_of(annotate_form(client))["conditions"]
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    premium = container.settings.premium_max_upload_bytes
    assert ["content-length-range", 1, premium] in policy_of(annotate_form(client))["conditions"]


# --- the journey ---------------------------------------------------------------------------


def test_a_file_posted_to_s3_comes_back_as_a_job_once(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)
    prefix = job_prefix(form)
    job_id = prefix.split("/")[1].rstrip("~")

    answer = post_to_s3(form, SMALL_VCF, "my sample.vcf", assembly="GRCh37 / hg19")

    assert answer.status_code == 303, answer.text
    location = answer.headers["Location"]
    assert location.startswith(f"{BASE_URL}/annotate/uploaded?token=")
    query = parse_qs(urlsplit(location).query)
    assert query["bucket"] == [s3_bucket]
    assert query["key"] == [f"{PREFIX}/{prefix}my sample.vcf"]  # S3 filled in ${filename}

    received = client.get(local_path(location))
    assert received.status_code == 303, received.get_data(as_text=True)
    assert received.headers["Location"] == f"/annotations/{job_id}/received"
    page = client.get(received.headers["Location"]).get_data(as_text=True)
    assert f'<code data-testid="job-id">{job_id}</code>' in page

    with container.uow() as uow:
        job = uow.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.PENDING
    assert job.user_id == user_id(container)
    assert job.input_key == f"{prefix}my sample.vcf"  # the key S3 stored it under
    assert job.input_file_name == "my_sample.vcf"  # the name the annotator works with
    assert job.input_size == len(SMALL_VCF)
    assert job.assembly == "GRCh37"  # the one chosen in the form
    with container.storage.open(job.input_key) as fh:
        assert fh.read() == SMALL_VCF
    with container.engine.connect() as conn:
        topics = conn.execute(sa.text(JOB_TOPICS)).scalars().all()
    assert topics == ["job.requested"]

    # Replaying S3's redirect (reload, back button) finds the same job: nothing new.
    again = client.get(local_path(location))
    assert again.status_code == 303
    assert again.headers["Location"] == f"/annotations/{job_id}/received"
    assert count(container, "jobs") == 1 and count(container, "queue_messages") == 1
    assert s3_keys(s3_client, s3_bucket) == [f"{PREFIX}/{job.input_key}"]

    # A second file sent with the same (still valid) form makes no second job: it is deleted.
    second = post_to_s3(form, SMALL_VCF, "other.vcf")
    assert client.get(local_path(second.headers["Location"])).status_code == 303
    assert count(container, "jobs") == 1
    assert s3_keys(s3_client, s3_bucket) == [f"{PREFIX}/{job.input_key}"]


def test_a_too_large_post_is_refused_when_s3_sends_the_browser_back(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)
    big = vcf_of_size(FREE_LIMIT + 1)

    answer = post_to_s3(form, big, "big.vcf")
    # S3 refuses this POST itself (content-length-range: 400 EntityTooLarge); moto does not
    # check the policy and stores it, so the app's check on the way back is what refuses it.
    assert answer.status_code == 303
    page = client.get(local_path(answer.headers["Location"]))

    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert "Free accounts can annotate files of up to 150 KB" in html
    assert 'data-testid="upload-upgrade-link"' in html
    assert count(container, "jobs") == 0 and count(container, "queue_messages") == 0
    assert s3_keys(s3_client, s3_bucket) == []  # deleted


def test_an_object_over_the_limit_put_directly_under_the_key_is_refused_and_deleted(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    """A client that ignored the policy and wrote the object itself (as a PutObject would)."""
    form = annotate_form(client)
    s3_key = f"{PREFIX}/{job_prefix(form)}big.vcf"
    s3_client.put_object(Bucket=s3_bucket, Key=s3_key, Body=vcf_of_size(FREE_LIMIT + 1))

    page = client.get(uploaded_url(form, s3_bucket, s3_key))

    assert page.status_code == 413
    assert 'data-testid="upload-upgrade-link"' in page.get_data(as_text=True)
    assert count(container, "jobs") == 0 and count(container, "queue_messages") == 0
    assert s3_keys(s3_client, s3_bucket) == []


def test_a_small_gzip_over_the_limit_decompressed_is_refused_and_deleted_premium_accepted(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    """S3 checks the bytes sent (content-length-range); the app measures what they inflate to
    by streaming the object back from S3."""
    text = vcf_of_size(FREE_LIMIT + 20 * 1024)
    blocks = [gzip.compress(text[i : i + 65280]) for i in range(0, len(text), 65280)]
    bgzipped = b"".join(blocks) + gzip.compress(b"")  # bgzip: several members
    assert len(bgzipped) < FREE_LIMIT // 10

    answer = post_to_s3(annotate_form(client), bgzipped, "sample.vcf.gz")
    assert answer.status_code == 303
    page = client.get(local_path(answer.headers["Location"]))

    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert "Free accounts can annotate files of up to 150 KB" in html
    assert 'data-testid="upload-upgrade-link"' in html
    assert count(container, "jobs") == 0 and count(container, "queue_messages") == 0
    assert s3_keys(s3_client, s3_bucket) == []  # deleted

    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    answer = post_to_s3(annotate_form(client), bgzipped, "sample.vcf.gz")
    assert client.get(local_path(answer.headers["Location"])).status_code == 303
    assert count(container, "jobs") == 1
    assert len(s3_keys(s3_client, s3_bucket)) == 1


def test_exactly_the_limit_is_accepted(client, logged_in, container, s3_bucket) -> None:
    form = annotate_form(client)
    answer = post_to_s3(form, vcf_of_size(FREE_LIMIT), "edge.vcf")
    assert client.get(local_path(answer.headers["Location"])).status_code == 303
    assert count(container, "jobs") == 1


def test_a_file_that_is_not_a_vcf_is_refused_and_deleted(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)
    answer = post_to_s3(form, b"%PDF-1.7 not a VCF\n", "paper.pdf")
    page = client.get(local_path(answer.headers["Location"]))

    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "paper.pdf: The file does not start with a VCF header" in html
    assert count(container, "jobs") == 0 and count(container, "queue_messages") == 0
    assert s3_keys(s3_client, s3_bucket) == []
    assert 'data-upload="s3"' in html  # a fresh S3 form to try again


# --- redirects that are not ours -----------------------------------------------------------


def tampered(url: str) -> str:
    """``url`` with one character of its token's signature changed (not the last one, whose
    low bits are base64 padding)."""
    token = parse_qs(urlsplit(url).query)["token"][0]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    return url.replace(token, flipped)


def test_a_forged_token_is_refused_and_nothing_is_created(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)
    answer = post_to_s3(form, SMALL_VCF)
    location = local_path(answer.headers["Location"])

    for forged in (
        tampered(location),
        location.replace("token=", "token=x"),
        "/annotate/uploaded?" + urlencode({"bucket": s3_bucket, "key": "x"}),
    ):
        page = client.get(forged)
        assert page.status_code == 400, forged
        assert "could not be matched" in page.get_data(as_text=True)
    assert count(container, "jobs") == 0
    # Nothing is known about whose object that is: it is left alone (the genuine redirect
    # still works).
    assert client.get(location).status_code == 303
    assert count(container, "jobs") == 1


def test_a_token_made_with_another_secret_is_refused(
    app, client, logged_in, container, s3_bucket
) -> None:
    from itsdangerous import URLSafeSerializer

    from gas.entrypoints.web.pages import UPLOAD_TOKEN_SALT

    form = annotate_form(client)
    prefix = job_prefix(form)
    job_id = prefix.split("/")[1].rstrip("~")
    claims = {"u": user_id(container), "j": job_id, "a": "GRCh38", "e": 2**40}
    token = URLSafeSerializer("another secret", salt=UPLOAD_TOKEN_SALT).dumps(claims)
    page = client.get(
        "/annotate/uploaded?"
        + urlencode({"token": token, "bucket": s3_bucket, "key": f"{PREFIX}/{prefix}a.vcf"})
    )
    assert page.status_code == 400
    assert count(container, "jobs") == 0


def test_another_users_redirect_is_refused_and_their_upload_left_alone(
    client, logged_in, other_client, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)  # Ada's form
    answer = post_to_s3(form, SMALL_VCF)
    location = local_path(answer.headers["Location"])
    bob, _ = other_client

    page = bob.get(location)

    assert page.status_code == 403
    assert count(container, "jobs") == 0
    assert len(s3_keys(s3_client, s3_bucket)) == 1  # still Ada's to register
    assert client.get(location).status_code == 303  # as Ada does next
    assert bob.get(location).status_code == 403  # and after that, still not Bob's
    assert count(container, "jobs") == 1


def test_a_key_outside_the_forms_job_is_refused(
    client, logged_in, container, s3_bucket, s3_client
) -> None:
    form = annotate_form(client)
    other = annotate_form(client)  # another job id, same user
    s3_key = f"{PREFIX}/{job_prefix(other)}sample.vcf"
    s3_client.put_object(Bucket=s3_bucket, Key=s3_key, Body=SMALL_VCF)

    for bucket, key in (
        (s3_bucket, s3_key),  # the form of job A naming job B's object
        (s3_bucket, f"{job_prefix(form)}sample.vcf"),  # outside the store's prefix
        ("another-bucket", f"{PREFIX}/{job_prefix(form)}sample.vcf"),
    ):
        page = client.get(uploaded_url(form, bucket, key))
        assert page.status_code == 400, (bucket, key)
    assert count(container, "jobs") == 0
    assert s3_keys(s3_client, s3_bucket) == [s3_key]


def test_an_expired_redirect_is_refused_and_its_upload_deleted(
    app, client, logged_in, container, s3_bucket, s3_client
) -> None:
    from gas.entrypoints.web.pages import upload_token

    form = annotate_form(client)
    prefix = job_prefix(form)
    job_id = prefix.split("/")[1].rstrip("~")
    answer = post_to_s3(form, SMALL_VCF)
    s3_key = parse_qs(urlsplit(answer.headers["Location"]).query)["key"][0]
    past = int(container.clock.now().timestamp()) - 1
    with app.test_request_context():
        token = upload_token(user_id(container), job_id, "GRCh38", past)

    page = client.get(
        "/annotate/uploaded?" + urlencode({"token": token, "bucket": s3_bucket, "key": s3_key})
    )

    assert page.status_code == 400
    assert "took too long" in page.get_data(as_text=True)
    assert count(container, "jobs") == 0
    assert s3_keys(s3_client, s3_bucket) == []


def test_an_expired_redirect_of_a_registered_upload_still_shows_its_job(
    app, client, logged_in, container, s3_bucket
) -> None:
    from gas.entrypoints.web.pages import upload_token

    form = annotate_form(client)
    job_id = job_prefix(form).split("/")[1].rstrip("~")
    answer = post_to_s3(form, SMALL_VCF)
    assert client.get(local_path(answer.headers["Location"])).status_code == 303
    s3_key = parse_qs(urlsplit(answer.headers["Location"]).query)["key"][0]
    past = int(container.clock.now().timestamp()) - 1
    with app.test_request_context():
        token = upload_token(user_id(container), job_id, "GRCh38", past)

    page = client.get(
        "/annotate/uploaded?" + urlencode({"token": token, "bucket": s3_bucket, "key": s3_key})
    )

    assert page.status_code == 303
    assert page.headers["Location"] == f"/annotations/{job_id}/received"
    assert count(container, "jobs") == 1
    assert container.storage.exists(f"{job_prefix(form)}sample.vcf")


def test_the_redirect_needs_a_logged_in_user(client, logged_in, container) -> None:
    form = annotate_form(client)
    answer = post_to_s3(form, SMALL_VCF)
    location = local_path(answer.headers["Location"])
    logged_in.logout()

    page = client.get(location)

    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    assert count(container, "jobs") == 0
    logged_in.login()
    assert client.get(location).status_code == 303  # after logging in again
    assert count(container, "jobs") == 1


def test_with_the_local_store_the_form_posts_to_the_app_as_before(settings_env) -> None:
    from argon2 import PasswordHasher

    from gas.adapters.passwords import Argon2Hasher
    from gas.bootstrap import build
    from gas.config import Settings
    from gas.entrypoints.web import CONTENT_SECURITY_POLICY, create_app
    from tests.conftest import AuthActions

    c = build(
        Settings.from_env(settings_env), hasher=Argon2Hasher(PasswordHasher(**FAST_HASHER_PARAMS))
    )
    try:
        app = create_app(c)
        app.config.update(TESTING=True)
        local = app.test_client()
        assert AuthActions(local).signup().status_code == 302
        page = local.get("/annotate")
        form = FormParser()
        form.feed(page.get_data(as_text=True))
        assert form.action == "/annotate"
        assert set(form.hidden) == {"csrf_token"}
        assert form.select_name == "assembly" and form.options["GRCh37 / hg19"] == "GRCh37"
        assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert local.get("/annotate/uploaded?token=x&key=y&bucket=z").status_code == 404
    finally:
        c.close()
