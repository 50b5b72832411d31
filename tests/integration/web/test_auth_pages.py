"""Sign-up and log-in through the real forms: validation and failure messages."""

from __future__ import annotations


def test_sign_up_logs_in_and_goes_to_annotate(client, auth) -> None:
    response = auth.signup()
    assert response.status_code == 302
    assert response.headers["Location"] == "/annotate"
    page = client.get("/annotate").get_data(as_text=True)
    assert "Welcome to GAS" in page
    assert "Ada Lovelace" in page


def test_sign_up_refuses_a_duplicate_email(client, auth) -> None:
    assert auth.signup().status_code == 302
    auth.logout()
    response = auth.signup(email="ADA@example.org")  # emails compare case-insensitively
    assert response.status_code == 400
    assert "An account with this email address already exists." in response.get_data(as_text=True)


def test_sign_up_refuses_a_short_password(client, auth) -> None:
    response = auth.signup(password="short")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Passwords must have at least 8 characters." in html
    assert 'value="ada@example.org"' in html  # the form keeps what was typed


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
