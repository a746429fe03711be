"""A server bound to every interface asks Chromium for a login before it shows any page.

The account is made with the real `python -m dashboard set-password` (password on stdin); the
server is a real `streamlit run --server.address 0.0.0.0`, reached through 127.0.0.1: what counts
is the address it is bound to, read from its sockets. CLASSPULSE_REQUIRE_BROWSER=1 (CI) turns a
missing Chromium into a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboard.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.dashboard.oidc_provider import OidcProvider, serve
from tests.dashboard.streamlit_server import ROOT, free_port, listening_addresses, running_streamlit

pytestmark = pytest.mark.browser


def browser_unavailable(reason: str) -> None:
    if os.environ.get("CLASSPULSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (CLASSPULSE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class OpenServer:
    url: str
    password: str
    log: Path


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[OpenServer]:
    """`streamlit run` bound to 0.0.0.0 with one teacher account made through the CLI."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    password = secrets.token_urlsafe(24)
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")},
        CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'open.db'}",
        CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
        CLASSPULSE_TIMEZONE="UTC",
    )
    made = subprocess.run(
        [sys.executable, "-m", "dashboard", "set-password", "--user", "ms.lee"],
        input=password + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless", "true", "--server.address", "0.0.0.0",
               "--server.port", str(port), "--server.fileWatcherType", "none"]  # fmt: skip
    log = tmp_path / "streamlit.log"
    with running_streamlit(command, port, env, log) as server:
        assert listening_addresses(server.pid) == {("0.0.0.0", port)}
        yield OpenServer(f"http://127.0.0.1:{port}", password, log)
    assert password not in log.read_text(errors="replace")
    assert password not in made.stdout + made.stderr


def _playwright():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is not installed")
    return expect, sync_playwright


def test_open_server_shows_only_the_login_until_the_teacher_logs_in(open_server: OpenServer):
    expect, sync_playwright = _playwright()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            for path in ("", "/lessons", "/privacy"):
                page.goto(open_server.url + path)
                expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
                expect(page.get_by_role("textbox", name="Password", exact=True)).to_have_attribute("type", "password")
                for content in ("Live lesson", "Lessons", "Privacy & settings"):
                    expect(page.get_by_role("heading", name=content)).to_have_count(0)
                expect(page.get_by_role("button", name="Start a demo lesson")).to_have_count(0)
                expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)

            page.get_by_role("textbox", name="User name", exact=True).fill("ms.lee")
            page.get_by_role("textbox", name="Password", exact=True).fill("not the password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_text("Wrong user name or password.")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("textbox", name="Password", exact=True)).to_have_value("")
            expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)

            page.get_by_role("textbox", name="User name", exact=True).fill("ms.lee")
            page.get_by_role("textbox", name="Password", exact=True).fill(open_server.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Live lesson")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Logged in as ms.lee (teacher)")).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
            expect(page.get_by_role("button", name="Log in")).to_have_count(0, timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "logged-in.png"), full_page=True)

            page.get_by_role("button", name=re.compile("Log out")).click()
            expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)

            # A reload is a new browser session: it asks again.
            page.get_by_role("textbox", name="User name", exact=True).fill("ms.lee")
            page.get_by_role("textbox", name="Password", exact=True).fill(open_server.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Live lesson")).to_be_visible(timeout=60_000)
            page.reload()
            expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "login-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _clean_env(tmp_path: Path) -> dict[str, str]:
    return dict(
        {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")},
        CLASSPULSE_DB_URL=f"sqlite:///{tmp_path / 'oidc.db'}",
        CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
        CLASSPULSE_TIMEZONE="UTC",
        CLASSPULSE_OIDC_DOMAINS="school.example",
    )


@pytest.mark.parametrize(
    ("email", "let_in"), [("ms.lee@school.example", True), ("someone@gmail.example", False)]
)
def test_oidc_login_through_a_local_provider_lets_in_only_the_school_domain(
    tmp_path: Path, email: str, let_in: bool
) -> None:
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("authlib", reason="st.login() needs Authlib (requirements.txt)")
    expect, sync_playwright = _playwright()
    port, provider_port = free_port(), free_port()
    client_secret, cookie_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{cookie_secret}"\n'
        'client_id = "classpulse"\n'
        f'client_secret = "{client_secret}"\n'
        f'server_metadata_url = "http://127.0.0.1:{provider_port}/.well-known/openid-configuration"\n'
    )
    provider = OidcProvider(f"http://127.0.0.1:{provider_port}", "classpulse", client_secret,
                            {"email": email, "email_verified": True, "name": "Test Teacher"})  # fmt: skip
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless", "true", "--server.address", "0.0.0.0",
               "--server.port", str(port), "--server.fileWatcherType", "none",
               "--secrets.files", str(secrets_file)]  # fmt: skip
    log = tmp_path / "streamlit.log"
    url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with (serve(provider, provider_port), running_streamlit(command, port, _clean_env(tmp_path), log),
          sync_playwright() as pw):  # fmt: skip
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url)
            login = page.get_by_role("button", name="Log in with the school account")
            expect(login).to_be_visible(timeout=60_000)
            expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)
            login.click()
            if let_in:
                expect(page.get_by_role("heading", name="Live lesson")).to_be_visible(timeout=60_000)
                expect(page.get_by_text(f"Logged in as {email} (teacher)")).to_be_visible()
                page.screenshot(path=str(ARTIFACTS / "oidc-logged-in.png"), full_page=True)
                page.get_by_role("button", name=re.compile("Log out")).click()
                expect(login).to_be_visible(timeout=60_000)
            else:
                expect(page.get_by_text(f"{email} may not use this dashboard")).to_be_visible(
                    timeout=60_000
                )
                expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)
                expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            expect(page.get_by_role("heading", name="Live lesson")).to_have_count(0)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "oidc-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert provider.logins == 1
    text = log.read_text(errors="replace")
    assert client_secret not in text and cookie_secret not in text
