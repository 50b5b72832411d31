"""My Annotations (results state, failure reason, variant count, queue position; search,
filter, sort and paging in the URL; the live status JSON) and deleting and re-running a job
from the pages, with their access checks."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from gas.adapters.sql.database import create_engine, upgrade
from gas.domain.jobs import JobStatus, ResultsState, job_prefix
from gas.domain.plans import Plan
from gas.entrypoints.web.pages import PAGE_SIZE
from gas.services import accounts
from tests.integration.web.conftest import (
    SMALL_VCF,
    finish_job,
    submit,
    upload,
    user_id,
    vcf_of_size,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Pages on one database (SQLite): their queries are tested on both in
    tests/integration/test_sql_job_listing.py."""
    url = f"sqlite:///{tmp_path / 'gas.db'}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


ROW = re.compile(r'<tr data-testid="job-row" data-job-id="([^"]+)".*?</tr>', re.S)


def rows(page: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in ROW.finditer(page)}


def row_ids(page: str) -> list[str]:
    return [m.group(1) for m in ROW.finditer(page)]


def listing(client, query: str = "") -> str:  # type: ignore[no-untyped-def]
    response = client.get("/annotations" + query, follow_redirects=True)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def set_variant_count(container, job_id: str, count: int) -> None:  # type: ignore[no-untyped-def]
    with container.uow() as uow:
        job = uow.jobs.get(job_id)
        job.variant_count = count
        uow.jobs.save(job)
        uow.commit()


def stored(container, container_user: str, job_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(container.storage.keys(job_prefix(container_user, job_id)))


# --- what each row says ----------------------------------------------------------------------


def test_each_row_says_its_results_state_failure_variants_and_queue_place(
    client, logged_in, container
) -> None:
    available = submit(client, logged_in, name="available.vcf")
    finish_job(container, available)
    set_variant_count(container, available, 1234567)
    archived = submit(client, logged_in, name="archived.vcf")
    finish_job(container, archived, results_state=ResultsState.ARCHIVED)
    restoring = submit(client, logged_in, name="restoring.vcf")
    finish_job(container, restoring, results_state=ResultsState.RESTORING)
    failed = submit(client, logged_in, name="failed.vcf")
    finish_job(container, failed, status=JobStatus.FAILED, error="Line 3 has 4 <columns>.")
    waiting = [submit(client, logged_in, name=f"wait{i}.vcf") for i in range(2)]

    found = rows(listing(client))
    assert 'data-state="available"' in found[available]
    assert f'href="/annotations/{available}/results">Download<' in found[available]
    assert 'data-testid="job-variants">1,234,567<' in found[available]
    assert 'Archived — <a href="/subscribe">upgrade to download</a>' in found[archived]
    assert "Being restored — expected soon" in found[restoring]  # no estimate given
    assert 'data-testid="job-error">Line 3 has 4 &lt;columns&gt;.<' in found[failed]
    assert "None: the annotation failed" in found[failed]
    assert 'data-testid="job-queue" data-position="1">Queue position 1 (next)' in found[waiting[0]]
    assert 'data-position="2">Queue position 2 (1 ahead)' in found[waiting[1]]
    assert "job-queue" not in found[available] and "job-error" not in found[available]
    for job_id in (archived, restoring, failed, *waiting):
        assert 'aria-label="not counted">—<' in found[job_id]
    # polled: the unfinished jobs and the results coming back; not the others
    assert 'data-watch="true"' in found[waiting[0]] and 'data-watch="true"' in found[restoring]
    assert 'data-watch="false"' in found[available] and 'data-watch="false"' in found[failed]


def test_a_premium_users_archived_results_are_on_their_way_back(
    client, logged_in, container
) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id, results_state=ResultsState.ARCHIVED)
    accounts.change_plan(container.uow(), container.clock, user_id(container), Plan.PREMIUM)
    row = rows(listing(client))[job_id]
    assert "Archived — being restored for Premium" in row and "/subscribe" not in row
    assert 'data-watch="true"' in row


def test_the_live_status_json_carries_what_the_rows_show(client, logged_in, container) -> None:
    first, second = submit(client, logged_in), submit(client, logged_in)
    finish_job(container, first, status=JobStatus.FAILED, error="Broken line 3.")
    data = client.get(f"/annotations/status.json?ids={first},{second}").json["jobs"]
    failed, pending = data
    assert failed["error"] == "Broken line 3." and failed["watch"] is False
    assert failed["results"] == {
        "state": "none",
        "text": "None: the annotation failed",
        "upgrade": False,
    }
    assert failed["queue_position"] is None and failed["deletable"] is True
    assert pending["queue_position"] == 1 and pending["watch"] is True
    assert pending["variant_count"] is None
    single = client.get(f"/annotations/{second}/status.json").json
    assert single["queue_position"] == 1


def test_the_list_has_an_aria_live_region_and_labelled_controls(client, logged_in) -> None:
    submit(client, logged_in)
    page = listing(client)
    assert 'role="status" aria-live="polite" id="jobs-announcer"' in page
    for control in ("jobs-q", "jobs-status", "jobs-sort"):
        assert f'<label class="form-label mb-1" for="{control}">' in page
        assert f'id="{control}"' in page
    assert 'role="search"' in page
    assert "<caption" in page


# --- search, filter, sort, pages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ("?q=alpha&status=&sort=newest", "/annotations?q=alpha"),
        (
            "?q=+alpha++beta+&status=failed&sort=NAME&page=1",
            "/annotations?q=alpha+beta&status=FAILED&sort=name",
        ),
        ("?status=EXPLODED&page=0", "/annotations"),
        ("?unknown=1", "/annotations"),
    ],
)
def test_each_view_has_one_shareable_url(client, logged_in, sent: str, canonical: str) -> None:
    response = client.get("/annotations" + sent)
    assert response.status_code == 302 and response.headers["Location"] == canonical
    assert client.get(canonical).status_code == 200


def test_search_filter_and_sort_live_in_the_url(client, logged_in, container) -> None:
    names = ["Alpha.vcf", "beta.vcf", "alphabet.vcf", "omega.vcf"]
    ids = {name: submit(client, logged_in, name=name) for name in names}
    finish_job(container, ids["alphabet.vcf"])
    finish_job(container, ids["omega.vcf"], status=JobStatus.FAILED)

    page = listing(client, "?q=alpha")
    assert row_ids(page) == [ids["alphabet.vcf"], ids["Alpha.vcf"]]
    assert 'value="alpha"' in page and "2 annotations match" in page
    assert row_ids(listing(client, "?status=failed")) == [ids["omega.vcf"]]
    assert row_ids(listing(client, "?q=alpha&status=PENDING")) == [ids["Alpha.vcf"]]
    assert row_ids(listing(client, "?sort=oldest"))[0] == ids["Alpha.vcf"]
    assert row_ids(listing(client, "?sort=name")) == [ids[n] for n in sorted(names, key=str.lower)]
    by_status = row_ids(listing(client, "?sort=status"))
    assert by_status[-2:] == [ids["omega.vcf"], ids["alphabet.vcf"]]  # failed, then completed
    selected = listing(client, "?status=FAILED&sort=name")
    assert '<option value="FAILED" selected>' in selected
    assert '<option value="name" selected>' in selected
    nothing = listing(client, "?q=zzz")
    assert "No annotations match" in nothing and "0 annotations match" in nothing


@pytest.mark.parametrize(
    "query", ["?status=EXPLODED", "?sort=random", "?page=-1", "?page=abc", "?q=" + "x" * 5000]
)
def test_unknown_list_parameters_fall_back_to_the_defaults(client, logged_in, query) -> None:
    job_id = submit(client, logged_in)
    page = listing(client, query)
    if "q=" in query:
        assert 'maxlength="200"' in page
    else:
        assert row_ids(page) == [job_id]


def test_pages_keep_the_search_and_sort_in_their_links(client, logged_in) -> None:
    ids = [submit(client, logged_in, name=f"run{i:02}.vcf") for i in range(PAGE_SIZE + 2)]
    first = listing(client, "?q=run&sort=oldest")
    assert row_ids(first) == ids[:PAGE_SIZE]
    assert f"{PAGE_SIZE + 2} annotations match · page 1 of 2" in first
    next_link = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    assert next_link == "/annotations?q=run&sort=oldest&page=2"
    second = listing(client, next_link.removeprefix("/annotations"))
    assert row_ids(second) == ids[PAGE_SIZE:]
    prev_link = html.unescape(re.search(r'href="([^"]+)" rel="prev"', second).group(1))
    assert prev_link == "/annotations?q=run&sort=oldest"
    beyond = listing(client, "?q=run&page=9")
    assert "There is no page 9" in beyond


# --- delete ----------------------------------------------------------------------------------


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_delete_asks_first_then_removes_the_job_and_its_files(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id)
    owner = user_id(container)
    assert len(stored(container, owner, job_id)) == 3  # input, results, log
    back = "/annotations?q=sample&sort=name"
    confirm = client.get(f"/annotations/{job_id}/delete?next={back.replace('&', '%26')}")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Delete this annotation?" in page and "This cannot be undone." in page
    assert 'data-testid="delete-file-name">sample.vcf<' in page
    assert f'value="{html.escape(back)}"' in page  # back to the same view afterwards
    assert job_id in row_ids(listing(client))  # asking deleted nothing

    done = client.post(
        f"/annotations/{job_id}/delete", data={"csrf_token": csrf(page), "next": back}
    )
    assert done.status_code == 303 and done.headers["Location"] == back
    flash = listing(client)
    assert f"Deleted sample.vcf (job {job_id}) and all its files." in flash
    assert job_id not in row_ids(flash)
    assert stored(container, owner, job_id) == []
    assert client.get(f"/annotations/{job_id}").status_code == 404
    again = client.post(f"/annotations/{job_id}/delete", data={"csrf_token": csrf(page)})
    assert again.status_code == 404


def test_delete_needs_the_forms_csrf_token(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    response = client.post(f"/annotations/{job_id}/delete")
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert job_id in row_ids(listing(client))


@pytest.mark.parametrize("nasty", ["https://evil.example/", "//evil.example/x", "/profile"])
def test_after_a_delete_only_my_annotations_is_a_destination(client, logged_in, nasty: str) -> None:
    job_id = submit(client, logged_in)
    token = csrf(client.get(f"/annotations/{job_id}/delete").get_data(as_text=True))
    done = client.post(f"/annotations/{job_id}/delete", data={"csrf_token": token, "next": nasty})
    assert done.headers["Location"] == "/annotations"


def test_a_running_job_cannot_be_deleted_from_the_pages(client, logged_in, container) -> None:
    job_id = submit(client, logged_in)
    with container.uow() as uow:
        job = uow.jobs.get(job_id)
        job.start(container.clock.now())
        uow.jobs.save(job)
        uow.commit()
    confirm = client.get(f"/annotations/{job_id}/delete")
    assert confirm.status_code == 409
    page = confirm.get_data(as_text=True)
    assert "being annotated right now" in page and "confirm-delete" not in page
    row = rows(listing(client))[job_id]
    assert 'btn-outline-danger disabled" data-testid="job-delete"' in row
    done = client.post(f"/annotations/{job_id}/delete", data={"csrf_token": csrf(page)})
    assert done.status_code == 303 and done.headers["Location"] == f"/annotations/{job_id}"
    assert "it can be deleted once it has ended" in client.get(done.headers["Location"]).get_data(
        as_text=True
    )
    assert client.get(f"/annotations/{job_id}").status_code == 200


def test_someone_elses_job_cannot_be_deleted_or_rerun(
    client, logged_in, other_client, container
) -> None:
    job_id = submit(client, logged_in)
    finish_job(container, job_id)
    bob, bob_auth = other_client
    token = bob_auth.csrf_token("/annotations")
    assert bob.get(f"/annotations/{job_id}/delete").status_code == 403
    assert bob.post(f"/annotations/{job_id}/delete", data={"csrf_token": token}).status_code == 403
    assert bob.post(f"/annotations/{job_id}/rerun", data={"csrf_token": token}).status_code == 403
    assert job_id in row_ids(listing(client))
    assert len(row_ids(listing(bob))) == 0


def test_unknown_jobs_are_404_for_delete_and_rerun(client, logged_in) -> None:
    token = logged_in.csrf_token("/annotations")
    for job_id in ("0b5e5a3e-0000-4000-8000-000000000000", "not-a-uuid"):
        assert client.get(f"/annotations/{job_id}/delete").status_code == 404
        for action in ("delete", "rerun"):
            response = client.post(f"/annotations/{job_id}/{action}", data={"csrf_token": token})
            assert response.status_code == 404, action


# --- re-run ----------------------------------------------------------------------------------


def test_the_details_page_offers_rerun_and_delete(client, logged_in, container) -> None:
    pending = submit(client, logged_in)
    page = client.get(f"/annotations/{pending}").get_data(as_text=True)
    assert 'data-testid="rerun-form"' not in page  # not ended yet
    assert f'href="/annotations/{pending}/delete"' in page
    finish_job(container, pending)
    page = client.get(f"/annotations/{pending}").get_data(as_text=True)
    assert f'action="/annotations/{pending}/rerun"' in page
    assert '<option value="auto" selected>' in page


def test_rerun_makes_a_new_job_from_the_stored_input(client, logged_in, container) -> None:
    first = submit(client, logged_in)
    finish_job(container, first)
    token = logged_in.csrf_token(f"/annotations/{first}")
    response = client.post(
        f"/annotations/{first}/rerun", data={"csrf_token": token, "assembly": "GRCh37"}
    )
    assert response.status_code == 303
    new_id = re.search(r"/annotations/([0-9a-f-]{36})/received", response.headers["Location"])[1]
    assert new_id != first
    received = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Re-running the input of job" in received
    with container.uow(readonly=True) as uow:
        new, old = uow.jobs.get(new_id), uow.jobs.get(first)
    assert new.status is JobStatus.PENDING and new.assembly == "GRCh37"
    with container.storage.open(new.input_key) as fh:
        assert fh.read() == SMALL_VCF
    assert old.status is JobStatus.COMPLETED
    assert row_ids(listing(client)) == [new_id, first]


def test_a_free_user_is_told_when_a_rerun_is_over_the_plans_limit(
    client, logged_in, container
) -> None:
    owner = user_id(container)
    accounts.change_plan(container.uow(), container.clock, owner, Plan.PREMIUM)
    big = upload(client, logged_in, vcf_of_size(200 * 1024), "big.vcf")
    job_id = re.search(r"/annotations/([0-9a-f-]{36})/received", big.headers["Location"])[1]
    finish_job(container, job_id)
    accounts.change_plan(container.uow(), container.clock, owner, Plan.FREE)
    token = logged_in.csrf_token(f"/annotations/{job_id}")
    response = client.post(f"/annotations/{job_id}/rerun", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == f"/annotations/{job_id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "cannot be re-run on your plan" in page and "Upgrade to Premium" in page
    assert row_ids(listing(client)) == [job_id]


def test_a_pending_job_is_not_rerun(client, logged_in) -> None:
    job_id = submit(client, logged_in)
    token = logged_in.csrf_token(f"/annotations/{job_id}")
    response = client.post(f"/annotations/{job_id}/rerun", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "it can be re-run once it has ended" in page
