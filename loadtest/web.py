"""Locust scenario "web": people who log in and browse.

Each simulated user takes an account from the pool ``run.py`` created, logs in through the
form (the CSRF token read from the log-in page, as a browser does), then browses with 1–3 s
between requests: the home page, My Annotations, the details page of one of the account's
completed jobs, and that job's JSON status (what the details page polls).

A page counts as failed unless it is a 200 that shows the user logged in (a session that got
lost would otherwise pass as the log-in page); the status JSON must say COMPLETED.

Run it through ``loadtest/run.py`` (``make loadtest``), which starts the server and writes the
fixtures; alone: ``LOADTEST_FIXTURES=fixtures.json locust -f loadtest/web.py --headless -H URL``.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import next_account  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGGED_IN_MARK = b'data-testid="logout"'  # the navigation bar's Log out button

# Log-ins done (and failed) so far in this process: run.py's driver waits for every simulated
# user to be logged in before it measures.
logins = {"done": 0, "failed": 0}


class WebUser(FastHttpUser):
    wait_time = between(1, 3)
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self) -> None:
        account = next_account("web")
        self.jobs: list[str] = list(account["jobs"])
        self.logged_in = self._log_in(account["email"], account["password"])
        logins["done" if self.logged_in else "failed"] += 1

    def _check_logged_in(self) -> None:
        if not self.logged_in:  # (the failed log-in is in the statistics): this user stops
            raise StopUser()

    def _log_in(self, email: str, password: str) -> bool:
        with self.client.get("/login", name="/login", catch_response=True) as page:
            match = CSRF.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(f"no log-in form (HTTP {page.status_code})")
                return False
        with self.client.post(
            "/login",
            name="/login",
            data={"csrf_token": match.group(1), "email": email, "password": password},
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            location = answer.headers.get("Location", "") if answer.headers else ""
            if answer.status_code not in (302, 303) or "/login" in location:
                answer.failure(f"log-in refused (HTTP {answer.status_code})")
                return False
        return True

    def _page(self, path: str, name: str) -> None:
        self._check_logged_in()
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as page:
            if page.status_code != 200:
                page.failure(f"HTTP {page.status_code}")
            elif LOGGED_IN_MARK not in (page.content or b""):
                page.failure("the page does not show the user logged in")

    @task(2)
    def home(self) -> None:
        self._page("/", "/")

    @task(3)
    def my_annotations(self) -> None:
        self._page("/annotations", "/annotations")

    @task(3)
    def job_details(self) -> None:
        if self.jobs:
            self._page(f"/annotations/{random.choice(self.jobs)}", "/annotations/[id]")

    @task(2)
    def job_status(self) -> None:
        self._check_logged_in()
        if not self.jobs:
            return
        with self.client.get(
            f"/annotations/{random.choice(self.jobs)}/status.json",
            name="/annotations/[id]/status.json",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")
                return
            try:
                status = answer.json().get("status")
            except ValueError:
                answer.failure("not JSON")
                return
            if status != "COMPLETED":
                answer.failure(f"status {status!r}, expected COMPLETED")
