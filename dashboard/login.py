"""The login gate the entry file runs first: off loopback, no page is served until someone logs in.

Two ways in: a local account (user name and password, `python -m dashboard set-password`) or the
school's identity provider through Streamlit's OIDC login (`[auth]` in .streamlit/secrets.toml).
The session keeps who logged in (`st.session_state`, on the server); the failure counts live in
one LoginThrottle per server process, so a new browser tab does not reset them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import streamlit as st
from sqlalchemy import Engine

from dashboard import loaders
from dashboard.auth import LoginThrottle, Viewer, attempt_login, is_loopback_address
from storage.accounts import count_accounts, find_account
from storage.db import StorageError

log = logging.getLogger(__name__)

# One per server process: every browser session's attempts count against the same user names.
THROTTLE = LoginThrottle(clock=time.monotonic)
LOCAL_VIEWER = Viewer(username="local", role="admin", method="loopback")
SETUP_LINE = (
    "This dashboard is open to the network and has no login yet: set a password with "
    "`python -m dashboard set-password --user NAME`, or configure OIDC in "
    "`.streamlit/secrets.toml` (`[auth]`, see docs/security.md), then reload this page."
)

_VIEWER = "auth_viewer"
_PASSWORD_HASH = "auth_password_hash"
_MESSAGE = "auth_message"
# Keys of [auth] shared by every provider; any other table inside [auth] is a named provider.
_SHARED_AUTH_KEYS = {"redirect_uri", "cookie_secret", "expose_tokens"}


def oidc_providers() -> list[str | None]:
    """The OIDC providers configured in secrets ([auth] itself is None; [auth.NAME] is NAME)."""
    if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
        return []
    section = st.secrets["auth"]
    named = [k for k, v in section.items() if isinstance(v, Mapping) and k not in _SHARED_AUTH_KEYS]
    return [None, *named] if "client_id" in section or not named else named


def email_allowed(claims: Mapping[str, object], domains: tuple[str, ...]) -> bool:
    """Whether an OIDC identity may come in: a verified (or unflagged) email of an allowed domain."""
    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email or claims.get("email_verified") is False:
        return False
    return email.rsplit("@", 1)[1] in domains


def require_viewer(
    server_address: str | None, db_url: str, oidc_domains: tuple[str, ...], throttle: LoginThrottle
) -> Viewer:
    """This session's viewer; off loopback without one, draw the login page and stop the run."""
    if is_loopback_address(server_address):
        return LOCAL_VIEWER
    engine = _database(db_url)
    providers = oidc_providers()
    viewer = _password_viewer(engine) or _oidc_viewer(providers, oidc_domains)
    if viewer is not None:
        return viewer
    _login_page(engine, providers, throttle)
    st.stop()


def account_box(viewer: Viewer) -> None:
    """In the sidebar: who is logged in, and the button to log out (nothing on loopback)."""
    if viewer.method == "loopback":
        return
    st.caption(f"Logged in as {_code(viewer.username)} ({viewer.role})")
    if st.button("Log out", key="auth_logout", icon=":material/logout:"):
        log.info("logout: %s", viewer.username)
        st.session_state.pop(_VIEWER, None)
        st.session_state.pop(_PASSWORD_HASH, None)
        if viewer.method == "oidc":
            st.logout()
        st.rerun()


def _code(text: str) -> str:
    """A name shown as itself in Markdown: a code span (an email is no link, `*` no emphasis)."""
    return "`" + text.replace("`", "'") + "`"


def _database(db_url: str) -> Engine:
    try:
        return loaders.database(db_url)
    except StorageError as exc:
        st.error(f"The database cannot be opened: {exc}", icon=":material/error:")
        st.stop()


def _password_viewer(engine: Engine) -> Viewer | None:
    """The session's password login, while its account still has the password it logged in with."""
    viewer = st.session_state.get(_VIEWER)
    if viewer is None or viewer.method != "password":
        return None
    account = find_account(engine, viewer.username)
    if account is None or account.password_hash != st.session_state.get(_PASSWORD_HASH):
        st.session_state.pop(_VIEWER, None)
        st.session_state.pop(_PASSWORD_HASH, None)
        return None
    return Viewer(account.username, account.role, "password")


def _oidc_viewer(providers: list[str | None], domains: tuple[str, ...]) -> Viewer | None:
    """The identity provider's user, when OIDC is configured and their email domain is allowed."""
    if not providers or not st.user.get("is_logged_in"):
        return None
    claims = st.user.to_dict()
    if email_allowed(claims, domains):
        return Viewer(str(claims["email"]).strip().lower(), "teacher", "oidc")
    email = claims.get("email")
    who = _code(str(email)) if email else "This account"
    st.error(
        f"{who} may not use this dashboard: CLASSPULSE_OIDC_DOMAINS lists the email domains "
        "allowed in.",
        icon=":material/block:",
    )
    st.button("Log out", key="auth_oidc_refused_logout", on_click=st.logout)
    return None


def _login_page(engine: Engine, providers: list[str | None], throttle: LoginThrottle) -> None:
    st.title("ClassPulse")
    has_accounts = count_accounts(engine) > 0
    if not has_accounts and not providers:
        st.error(SETUP_LINE, icon=":material/lock:")
        return
    st.caption("This dashboard is open to the network: log in to use it.")
    if has_accounts:
        _password_form(engine, throttle)
    for provider in providers:
        label = "Log in with the school account" if provider is None else f"Log in with {provider}"
        st.button(label, key=f"auth_oidc_{provider or 'default'}", on_click=st.login,
                  args=() if provider is None else (provider,))  # fmt: skip


def _password_form(engine: Engine, throttle: LoginThrottle) -> None:
    message = st.session_state.pop(_MESSAGE, None)
    if message:
        st.error(message, icon=":material/error:")
    with st.form("auth_login", clear_on_submit=True):
        st.text_input("User name", key="auth_username", autocomplete="username")
        st.text_input(
            "Password", type="password", key="auth_password", autocomplete="current-password"
        )
        st.form_submit_button("Log in", type="primary", on_click=_submit, args=(engine, throttle))


def _submit(engine: Engine, throttle: LoginThrottle) -> None:
    """The form's callback: check the attempt and blank the password before the page is drawn."""
    username = str(st.session_state.get("auth_username") or "")
    password = str(st.session_state.get("auth_password") or "")
    st.session_state["auth_password"] = ""
    result = attempt_login(username, password, lambda name: find_account(engine, name), throttle)
    if result.viewer is None:
        log.warning("failed login for user name %r", username.strip()[:64])
        st.session_state[_MESSAGE] = result.message
        return
    log.info("login: %s (%s)", result.viewer.username, result.viewer.role)
    st.session_state[_VIEWER] = result.viewer
    st.session_state[_PASSWORD_HASH] = result.password_hash
