"""Who may use the dashboard: the loopback rule, local passwords (argon2id) and login throttling.

A server bound to a loopback address can only be reached from this machine, so it needs no login;
any other bind address (unset, 0.0.0.0, a LAN address, a host name) does. Everything here is pure
or takes its clock and its account store as arguments, so it is tested without Streamlit; the
login form that uses it is dashboard/login.py.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage import viewers
from storage.accounts import ROLES, USERNAME_MAX, Account

# NIST SP 800-63B-4, 3.1.1.2: a password used as the only factor SHALL be at least 15 characters,
# and verifiers SHOULD accept at least 64.
PASSWORD_MIN = 15
PASSWORD_MAX = 1024  # bounds the hashing work one login attempt can ask for
_USERNAME = re.compile(rf"^[a-z0-9][a-z0-9._@-]{{0,{USERNAME_MAX - 1}}}$")

# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()


class AuthError(Exception):
    """A user name or password that cannot be used; the message is one line for a person."""


def is_loopback_address(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable only from this machine.

    Unset or empty means every interface; a host name other than localhost may resolve to
    anything, so only loopback IP literals and "localhost" count.
    """
    if address is None:
        return False
    host = address.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 (Python 3.11 calls it not loopback)
    return ip.is_loopback


def normalise_username(raw: str) -> str:
    """The stored form of a user name (trimmed, lower case); AuthError when it cannot be one."""
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise AuthError(
            f"a user name is 1 to {USERNAME_MAX} characters: letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def check_new_password(password: str) -> None:
    """Raise AuthError when a new password is too short or too long (never says what it was)."""
    if len(password) < PASSWORD_MIN:
        raise AuthError(
            f"the password is too short: use at least {PASSWORD_MIN} characters "
            "(a few unrelated words make a good one)"
        )
    if len(password) > PASSWORD_MAX:
        raise AuthError(f"the password is too long: at most {PASSWORD_MAX} characters")


def check_role(role: str) -> str:
    """The role if it is one we know, else AuthError."""
    if role not in ROLES:
        raise AuthError(f"the role must be one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """An argon2id hash of the password in PHC string form (salt and parameters included)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (argon2's own constant-time comparison)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user name is unknown, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash("classpulse: no such account")


class LoginThrottle:
    """Failed logins per user name, kept in server memory and shared by every browser session.

    The first `free_attempts` failures cost nothing; after that each attempt must wait
    `base_delay_s` doubled for every further failure, up to `max_delay_s`. A success clears the
    name; a name left alone for `forget_after_s` starts over. At most `max_names` names are
    remembered (the quietest are dropped first), so guessing many names cannot fill memory.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        free_attempts: int = 5,
        base_delay_s: float = 30.0,
        max_delay_s: float = 900.0,
        forget_after_s: float = 86_400.0,
        max_names: int = 10_000,
    ) -> None:
        self._clock = clock
        self._free = free_attempts
        self._base_s = base_delay_s
        self._max_s = max_delay_s
        self._forget_s = forget_after_s
        self._max_names = max_names
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # name -> (n, last)
        self._lock = threading.Lock()

    def _current(self, username: str, now: float) -> tuple[int, float]:
        failures, last = self._failures.get(username, (0, now))
        if failures and now - last >= self._forget_s:
            del self._failures[username]
            return 0, now
        return failures, last

    def wait_s(self, username: str) -> float:
        """Seconds before `username` may try again (0 when it may try now)."""
        with self._lock:
            now = self._clock()
            failures, last = self._current(username, now)
            if failures < self._free:
                return 0.0
            delay = min(self._max_s, self._base_s * 2 ** (failures - self._free))
            return max(0.0, last + delay - now)

    def record_failure(self, username: str) -> None:
        """Count one failed attempt for `username`."""
        with self._lock:
            now = self._clock()
            failures, _ = self._current(username, now)
            self._failures[username] = (failures + 1, now)
            self._failures.move_to_end(username)
            while len(self._failures) > self._max_names:
                self._failures.popitem(last=False)

    def record_success(self, username: str) -> None:
        """Forget the failures of `username`."""
        with self._lock:
            self._failures.pop(username, None)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard and how they got in (loopback, password or oidc)."""

    username: str
    role: str
    method: str

    def lesson_viewer(self) -> viewers.Viewer:
        """Whose lessons this person sees: every lesson for an admin and for the loopback user
        (no login in force), otherwise the lessons their account name owns."""
        if self.method == "loopback":
            return viewers.Viewer.everyone()
        return viewers.Viewer(self.username, admin=self.role == "admin")


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: the viewer, or a one-line reason and how long to wait."""

    viewer: Viewer | None
    message: str = ""
    wait_s: float = 0.0
    password_hash: str = ""  # the hash that let the viewer in; a later change ends the session


def attempt_login(
    raw_username: str,
    password: str,
    find: Callable[[str], Account | None],
    throttle: LoginThrottle,
) -> LoginResult:
    """Check one user name and password against the stored accounts, under the throttle.

    A wrong name and a wrong password get the same answer and cost the same time; a throttled
    name is refused without checking the password at all.
    """
    try:
        username = normalise_username(raw_username)
    except AuthError:
        username = raw_username.strip().lower()[:USERNAME_MAX]
    wait = throttle.wait_s(username)
    if wait > 0:
        seconds = math.ceil(wait)
        return LoginResult(
            None, f"Too many failed attempts for this user name: try again in {seconds} s.", wait
        )
    account = find(username) if _USERNAME.fullmatch(username) else None
    stored = account.password_hash if account is not None else _dummy_hash()
    matches = len(password) <= PASSWORD_MAX and verify_password(stored, password)
    if account is not None and matches:
        throttle.record_success(username)
        return LoginResult(
            Viewer(account.username, account.role, "password"), password_hash=account.password_hash
        )
    throttle.record_failure(username)
    return LoginResult(None, "Wrong user name or password.", throttle.wait_s(username))
