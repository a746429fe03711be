"""The login gate on the real entry file (AppTest): off loopback no page without a login."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import login
from dashboard.auth import LoginThrottle, hash_password
from storage.accounts import save_account
from storage.db import open_database
from tests.dashboard.conftest import APP, PAGES

PASSWORD = "a long enough test passphrase"
PAGE_TITLES = {
    "live": "Live lesson",
    "lessons": "Lessons",
    "export": "Export",
    "photo": "Analyse a photo",
    "privacy": "Privacy & settings",
}
OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-cookie-secret-for-tests-only",
        "client_id": "classpulse",
        "client_secret": "not-a-real-client-secret",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
    }
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fresh server-wide throttle for this test, on a clock the test moves."""
    fake = FakeClock()
    monkeypatch.setattr(login, "THROTTLE", LoginThrottle(clock=fake))
    return fake


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty migrated database the app uses; accounts are added by the test."""
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    open_database(url)
    monkeypatch.setenv("CLASSPULSE_DB_URL", url)
    return url


def add_account(url: str, username: str = "ms.lee", role: str = "teacher",
                password: str = PASSWORD) -> None:  # fmt: skip
    save_account(open_database(url), username, hash_password(password), role, datetime.now(UTC))


def open_app(page: str = "live", **secrets: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets.update(secrets)
    at.switch_page(PAGES[page])
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="auth_username").input(username)
    at.text_input(key="auth_password").input(password)
    at.form_submit_button[0].click()
    return at.run()


def assert_refused(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert titles(at) == ["ClassPulse"]
    assert not set(titles(at)) & set(PAGE_TITLES.values())


@pytest.mark.parametrize("page", list(PAGES))
def test_loopback_bind_serves_every_page_without_login(app, seeded_db, page: str) -> None:
    at = app(seeded_db.url, page)
    assert PAGE_TITLES[page] in titles(at)
    assert not at.text_input.len or "auth_password" not in [w.key for w in at.text_input]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_is_refused_without_login_when_bound_to_every_interface(
    bind_address, db, clock, page: str
) -> None:
    add_account(db)
    bind_address("0.0.0.0")
    at = open_app(page)
    assert_refused(at)
    password = at.text_input(key="auth_password").proto
    assert password.type == password.PASSWORD
    assert at.form_submit_button[0].label == "Log in"
    assert not at.sidebar.button


@pytest.mark.parametrize("address", [None, "", "::", "192.168.1.20", "classpulse.school.lan"])
def test_non_loopback_addresses_ask_for_a_login(bind_address, db, clock, address) -> None:
    add_account(db)
    bind_address(address)
    assert_refused(open_app())


def test_right_password_opens_the_live_page_and_log_out_closes_it(bind_address, db, clock):
    add_account(db)
    bind_address("0.0.0.0")
    at = log_in(open_app(), "Ms.Lee ", PASSWORD)
    assert "Live lesson" in titles(at)
    assert "Logged in as `ms.lee` (teacher)" in [c.value for c in at.sidebar.caption]
    assert at.session_state.get("auth_password", "") == ""  # what was typed is not kept

    at.sidebar.button(key="auth_logout").click()
    assert_refused(at.run())


def test_wrong_password_is_refused_with_one_line(bind_address, db, clock) -> None:
    add_account(db)
    bind_address("0.0.0.0")
    at = log_in(open_app(), "ms.lee", "not the password at all")
    assert_refused(at)
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert at.session_state["auth_password"] == ""  # the form is cleared on submit


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(bind_address, db, clock) -> None:
    add_account(db)
    bind_address("0.0.0.0")
    at = log_in(open_app(), "nobody", PASSWORD)
    assert_refused(at)
    assert [e.value for e in at.error] == ["Wrong user name or password."]


def test_failures_throttle_the_user_name_across_browser_sessions(bind_address, db, clock) -> None:
    add_account(db)
    bind_address("0.0.0.0")
    first = open_app()
    for _ in range(5):
        first = log_in(first, "ms.lee", "a wrong guess, again")
    second = log_in(open_app(), "ms.lee", PASSWORD)  # a new session, the right password
    assert_refused(second)
    assert [e.value for e in second.error] == [
        "Too many failed attempts for this user name: try again in 30 s."
    ]
    clock.now += 30
    assert "Live lesson" in titles(log_in(second, "ms.lee", PASSWORD))


def test_changing_the_password_ends_sessions_that_used_the_old_one(bind_address, db, clock):
    add_account(db)
    bind_address("0.0.0.0")
    at = log_in(open_app(), "ms.lee", PASSWORD)
    assert "Live lesson" in titles(at)
    add_account(db, password="the new and different passphrase")
    assert_refused(at.run())


def test_role_comes_from_the_account(bind_address, db, clock) -> None:
    add_account(db, username="head", role="admin")
    bind_address("0.0.0.0")
    at = log_in(open_app(), "head", PASSWORD)
    assert "Logged in as `head` (admin)" in [c.value for c in at.sidebar.caption]


def test_without_accounts_or_oidc_one_line_says_how_to_set_a_login(bind_address, db, clock):
    bind_address("0.0.0.0")
    at = open_app()
    assert_refused(at)
    assert [e.value for e in at.error] == [login.SETUP_LINE]
    assert "python -m dashboard set-password" in login.SETUP_LINE
    assert not at.text_input


def test_oidc_configured_offers_the_identity_provider(bind_address, db, clock) -> None:
    bind_address("0.0.0.0")
    at = open_app(**OIDC_SECRETS)
    assert_refused(at)
    assert [b.label for b in at.button] == ["Log in with the school account"]


@pytest.mark.parametrize(
    ("claims", "allowed"),
    [
        ({"email": "ms.lee@school.example", "email_verified": True}, True),
        ({"email": "Ms.Lee@School.Example"}, True),
        ({"email": "ms.lee@school.example", "email_verified": False}, False),
        ({"email": "someone@gmail.com", "email_verified": True}, False),
        ({"sub": "12345"}, False),
    ],
)
def test_oidc_login_lets_in_only_the_allowed_email_domains(
    bind_address, db, clock, monkeypatch: pytest.MonkeyPatch, claims: dict, allowed: bool
) -> None:
    monkeypatch.setenv("CLASSPULSE_OIDC_DOMAINS", "school.example, @other.example")
    bind_address("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, **claims}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if allowed:
        assert "Live lesson" in titles(at)
        assert "Logged in as `ms.lee@school.example` (teacher)" in [
            c.value for c in at.sidebar.caption
        ]
    else:
        assert_refused(at)
        assert "may not use this dashboard" in at.error[0].value


def test_oidc_login_without_allowed_domains_lets_nobody_in(bind_address, db, clock) -> None:
    bind_address("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": "ms.lee@school.example", "email_verified": True}
    assert_refused(at.run())
