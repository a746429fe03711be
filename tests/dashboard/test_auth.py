"""Pure auth logic: the loopback rule, user names, argon2 hashes, the throttle and one login attempt."""

from __future__ import annotations

import pytest

from dashboard.auth import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    AuthError,
    LoginThrottle,
    Viewer,
    attempt_login,
    check_new_password,
    check_role,
    hash_password,
    is_loopback_address,
    normalise_username,
    verify_password,
)
from storage.accounts import Account

PASSWORD = "correct horse battery staple"


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        (" LocalHost ", True),
        (None, False),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("[::]", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("fe80::1", False),
        ("::ffff:192.168.1.20", False),
        ("classpulse.school.lan", False),
        ("localhost.evil.example", False),
        ("128.0.0.1", False),
    ],
)
def test_only_loopback_bind_addresses_count_as_local(address: str | None, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("ms.lee", "ms.lee"), ("  Ms.Lee ", "ms.lee"), ("j_smith-2", "j_smith-2"),
     ("t@school.example", "t@school.example"), ("a" * 64, "a" * 64)],
)  # fmt: skip
def test_user_names_are_stored_trimmed_and_lower_case(raw: str, stored: str) -> None:
    assert normalise_username(raw) == stored


@pytest.mark.parametrize("raw", ["", "   ", ".lee", "ms lee", "ms;lee", "a" * 65, "lée"])
def test_unusable_user_names_are_refused(raw: str) -> None:
    with pytest.raises(AuthError, match="a user name is 1 to 64 characters"):
        normalise_username(raw)


def test_a_short_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(AuthError, match=f"at least {PASSWORD_MIN} characters") as info:
        check_new_password("tooshort")
    assert "tooshort" not in str(info.value)


def test_an_overlong_password_is_refused() -> None:
    with pytest.raises(AuthError, match=f"at most {PASSWORD_MAX} characters"):
        check_new_password("x" * (PASSWORD_MAX + 1))


def test_a_password_of_the_minimum_length_is_accepted() -> None:
    assert check_new_password("x" * PASSWORD_MIN) is None


def test_unknown_roles_are_refused() -> None:
    assert check_role("admin") == "admin"
    with pytest.raises(AuthError, match="teacher, admin"):
        check_role("owner")


def test_hash_is_argon2id_salted_and_never_holds_the_password() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert PASSWORD not in first


@pytest.mark.parametrize(
    ("candidate", "matches"),
    [(PASSWORD, True), (PASSWORD + " ", False), (PASSWORD.upper(), False), ("", False)],
)
def test_verify_accepts_only_the_exact_password(candidate: str, matches: bool) -> None:
    assert verify_password(hash_password(PASSWORD), candidate) is matches


@pytest.mark.parametrize("stored", ["", "plain text", "$argon2id$v=19$garbage"])
def test_verify_against_a_broken_hash_is_a_mismatch_not_an_error(stored: str) -> None:
    assert verify_password(stored, PASSWORD) is False


def test_throttle_lets_five_failures_through_then_doubles_the_wait() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, free_attempts=5, base_delay_s=30, max_delay_s=900)
    waits = []
    for _ in range(10):
        waits.append(throttle.wait_s("ms.lee"))
        throttle.record_failure("ms.lee")
    assert waits == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480]
    for _ in range(3):
        throttle.record_failure("ms.lee")
    assert throttle.wait_s("ms.lee") == 900  # capped


def test_throttle_wait_runs_down_with_the_clock() -> None:
    clock = FakeClock(100.0)
    throttle = LoginThrottle(clock, free_attempts=1, base_delay_s=30)
    throttle.record_failure("ms.lee")
    clock.now += 12
    assert throttle.wait_s("ms.lee") == 18
    clock.now += 18
    assert throttle.wait_s("ms.lee") == 0


def test_throttle_counts_each_user_name_apart_and_success_clears_it() -> None:
    throttle = LoginThrottle(FakeClock(), free_attempts=1, base_delay_s=30)
    throttle.record_failure("ms.lee")
    assert throttle.wait_s("ms.lee") == 30
    assert throttle.wait_s("mr.khan") == 0
    throttle.record_success("ms.lee")
    assert throttle.wait_s("ms.lee") == 0


def test_throttle_forgets_a_name_left_alone_long_enough() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, free_attempts=1, base_delay_s=30, forget_after_s=3600)
    for _ in range(4):
        throttle.record_failure("ms.lee")
    clock.now += 3600
    assert throttle.wait_s("ms.lee") == 0
    throttle.record_failure("ms.lee")
    assert throttle.wait_s("ms.lee") == 30  # counting starts over


def test_throttle_remembers_a_bounded_number_of_names_dropping_the_quietest() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, free_attempts=1, base_delay_s=30, max_names=2)
    for name in ("first", "second", "third"):
        throttle.record_failure(name)
        clock.now += 1
    assert throttle.wait_s("first") == 0
    assert throttle.wait_s("second") == 28
    assert throttle.wait_s("third") == 29


def _store(*accounts: Account):
    by_name = {a.username: a for a in accounts}
    looked_up: list[str] = []

    def find(name: str) -> Account | None:
        looked_up.append(name)
        return by_name.get(name)

    return find, looked_up


def test_attempt_with_the_right_password_returns_the_viewer_and_its_hash() -> None:
    stored = hash_password(PASSWORD)
    find, _ = _store(Account("ms.lee", stored, "admin"))
    result = attempt_login(" Ms.Lee", PASSWORD, find, LoginThrottle(FakeClock()))
    assert result.viewer == Viewer("ms.lee", "admin", "password")
    assert result.password_hash == stored
    assert result.message == ""


@pytest.mark.parametrize(("username", "password"), [("ms.lee", "wrong"), ("nobody", PASSWORD),
                                                    ("bad name!", PASSWORD)])  # fmt: skip
def test_wrong_name_or_password_get_one_answer(username: str, password: str) -> None:
    find, _ = _store(Account("ms.lee", hash_password(PASSWORD), "teacher"))
    result = attempt_login(username, password, find, LoginThrottle(FakeClock()))
    assert result.viewer is None
    assert result.message == "Wrong user name or password."


def test_a_throttled_name_is_refused_without_looking_the_account_up() -> None:
    find, looked_up = _store(Account("ms.lee", hash_password(PASSWORD), "teacher"))
    throttle = LoginThrottle(FakeClock(), free_attempts=2, base_delay_s=30)
    for _ in range(2):
        attempt_login("ms.lee", "wrong", find, throttle)
    result = attempt_login("ms.lee", PASSWORD, find, throttle)
    assert result.viewer is None
    assert result.message == "Too many failed attempts for this user name: try again in 30 s."
    assert result.wait_s == 30
    assert looked_up == ["ms.lee", "ms.lee"]


def test_a_success_clears_earlier_failures() -> None:
    find, _ = _store(Account("ms.lee", hash_password(PASSWORD), "teacher"))
    throttle = LoginThrottle(FakeClock(), free_attempts=2, base_delay_s=30)
    attempt_login("ms.lee", "wrong", find, throttle)
    assert attempt_login("ms.lee", PASSWORD, find, throttle).viewer is not None
    attempt_login("ms.lee", "wrong", find, throttle)
    assert attempt_login("ms.lee", PASSWORD, find, throttle).viewer is not None
