"""Sign-up and log-in through the real forms: validation and failure messages."""

from __future__ import annotations


def test_sign_up_sends_the_user_to_log_in_then_to_annotate(client, auth) -> None:
    response = auth.signup_only()
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert "We have sent a message to ada@example.org" in page
    assert client.get("/annotations").status_code == 302  # not logged in by signing up
    response = auth.login()
    assert response.status_code == 302
    assert "Ada Lovelace" in client.get("/annotate").get_data(as_text=True)


def test_sign_up_answers_the_same_whether_or_not_the_email_is_taken(client, auth) -> None:
    first = auth.signup_only()
    again = auth.signup_only(email="ADA@example.org", password="another horse")
    for response in (first, again):
        assert response.status_code == 303 and response.headers["Location"] == "/login"
        assert "gas_session" in response.headers.get("Set-Cookie", "")  # the flash, no log-in
    page = client.get("/login").get_data(as_text=True)
    assert "We have sent a message to ADA@example.org" in page
    assert "already exists" not in page
    # The owner keeps their password; the second one opens nothing.
    assert auth.login("ada@example.org", "another horse").status_code == 401
    assert auth.login().status_code == 302


def test_sign_up_refuses_a_short_password(client, auth) -> None:
    response = auth.signup(password="short")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Passwords must have at least 10 characters." in html
    assert 'value="ada@example.org"' in html  # the form keeps what was typed


def test_sign_up_refuses_weak_passwords(client, auth) -> None:
    """The hostile test's list: all refused, each with a reason the user can act on."""
    weak = {
        "12345678": "at least 10 characters",
        "password": "at least 10 characters",
        " " * 8: "at least 10 characters",
        " " * 12: "only spaces",
        "password1234": "most commonly used",
        "qwertyuiop": "most commonly used",
        "aaaaaaaaaaaa": "repeated",
        "ada@example.org": "your email address or your name",
        "lovelace-1815!": "your email address or your name",
    }
    for password, reason in weak.items():
        response = auth.signup(password=password)
        assert response.status_code == 400, password
        assert reason in response.get_data(as_text=True), password
    response = auth.signup(password="\x00" * 12)  # not text at all: refused before anything
    assert response.status_code == 400
    assert "not text" in response.get_data(as_text=True)
    assert client.get("/annotations").status_code == 302  # no account, not logged in


def test_sign_up_refuses_mismatched_passwords(client, auth) -> None:
    data = {
        "csrf_token": auth.csrf_token("/signup"),
        "email": "ada@example.org",
        "password": "correct horse",
        "password_confirm": "correct horse battery",
    }
    response = client.post("/signup", data=data)
    assert response.status_code == 400
    assert "The two passwords do not match." in response.get_data(as_text=True)
    assert client.get("/annotations").status_code == 302  # not logged in


def test_sign_up_refuses_an_invalid_email(client, auth) -> None:
    response = auth.signup(email="not-an-email")
    assert response.status_code == 400
    assert "Please enter a valid email address." in response.get_data(as_text=True)


def test_log_in_failures_say_so_without_telling_which_part_was_wrong(client, auth) -> None:
    auth.signup()
    auth.logout()
    for email, password in (("ada@example.org", "wrong password"), ("eve@example.org", "x" * 9)):
        response = auth.login(email, password)
        assert response.status_code == 401
        assert "Wrong email address or password." in response.get_data(as_text=True)
    response = auth.login()
    assert response.status_code == 302
    assert client.get("/annotations").status_code == 200


def test_log_in_returns_to_the_page_asked_for(client, auth) -> None:
    auth.signup()
    auth.logout()
    data = {
        "csrf_token": auth.csrf_token("/login"),
        "email": "ada@example.org",
        "password": "correct horse",
    }
    response = client.post("/login?next=/profile", data=data)
    assert response.headers["Location"] == "/profile"


def test_log_out_ends_the_session(client, auth) -> None:
    auth.signup()
    response = auth.logout()
    assert response.status_code == 302
    assert client.get("/profile").status_code == 302
