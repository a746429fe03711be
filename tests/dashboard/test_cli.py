"""`python -m dashboard set-password` as a real process: password from stdin or a hidden tty prompt."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.auth import verify_password
from storage.accounts import find_account
from storage.db import dispose_engines, open_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a passphrase only the test knows"


def set_password(db_url: str, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboard", "--db", db_url, "set-password", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    yield f"sqlite:///{tmp_path / 'accounts.db'}"
    dispose_engines()


def test_password_from_stdin_is_stored_as_an_argon2_hash(db_url: str) -> None:
    done = set_password(db_url, "--user", " Ms.Lee", "--role", "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("created account ms.lee (admin) in sqlite:///")
    account = find_account(open_database(db_url), "ms.lee")
    assert account.role == "admin"
    assert account.password_hash.startswith("$argon2id$")
    assert verify_password(account.password_hash, PASSWORD)
    assert PASSWORD not in done.stdout + done.stderr


def test_the_sqlite_file_holding_the_hashes_is_readable_by_its_owner_only(
    db_url: str, tmp_path: Path
) -> None:
    assert set_password(db_url, stdin=PASSWORD + "\n").returncode == 0
    for name in ("accounts.db", "accounts.db-wal", "accounts.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name
    assert (tmp_path / "accounts.db").exists()


def test_setting_it_again_changes_the_password_and_keeps_the_role(db_url: str) -> None:
    set_password(db_url, "--user", "head", "--role", "admin", stdin=PASSWORD + "\n")
    done = set_password(db_url, "--user", "head", stdin="a different long passphrase\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("changed the password of head (admin)")
    account = find_account(open_database(db_url), "head")
    assert verify_password(account.password_hash, "a different long passphrase")
    assert not verify_password(account.password_hash, PASSWORD)


def test_default_account_is_a_teacher_named_teacher(db_url: str) -> None:
    assert set_password(db_url, stdin=PASSWORD + "\n").returncode == 0
    assert find_account(open_database(db_url), "teacher").role == "teacher"


def test_a_short_password_is_one_line_on_stderr_and_nothing_is_stored(db_url: str) -> None:
    done = set_password(db_url, "--user", "ms.lee", stdin="short pass\n")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the password is too short: use at least 15 characters "
        "(a few unrelated words make a good one)"
    ]
    assert "short pass" not in done.stdout + done.stderr
    assert find_account(open_database(db_url), "ms.lee") is None


def test_a_bad_user_name_is_refused_before_reading_a_password(db_url: str) -> None:
    done = set_password(db_url, "--user", "ms lee", stdin=PASSWORD + "\n")
    assert done.returncode == 1
    assert done.stderr.startswith("error: a user name is 1 to 64 characters")


def test_the_password_cannot_be_given_on_the_command_line(db_url: str) -> None:
    done = set_password(db_url, "--password", PASSWORD, stdin="")
    assert done.returncode == 2
    assert "No such option '--password'" in done.stderr


class Terminal:
    """The parent's end of a pseudo-terminal: wait for text, then type."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = bytearray()
        self._from = 0

    def wait_for(self, text: str) -> None:
        """Read until `text` appears after the last match (the deadline only stops a hung child)."""
        deadline = time.monotonic() + 120
        while (found := self.seen.find(text.encode(), self._from)) < 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r} in {self.transcript()!r}")
            if select.select([self.fd], [], [], 1)[0]:
                try:
                    chunk = os.read(self.fd, 1024)
                except OSError:  # the child closed its end
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {text!r}: {self.transcript()!r}")
                self.seen.extend(chunk)
        self._from = found + len(text)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def transcript(self) -> str:
        return self.seen.decode(errors="replace")


def test_on_a_terminal_the_password_is_asked_twice_and_never_echoed(db_url: str) -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--db", db_url, "set-password", "--user", "ms.lee"],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    terminal = Terminal(master)
    try:
        terminal.wait_for("New password:")
        terminal.type("first try that will not match")
        terminal.wait_for("Repeat for confirmation:")
        terminal.type("something else entirely")
        terminal.wait_for("do not match")
        terminal.wait_for("New password:")
        terminal.type(PASSWORD)
        terminal.wait_for("Repeat for confirmation:")
        terminal.type(PASSWORD)
        terminal.wait_for("created account ms.lee (teacher)")
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    for typed in (PASSWORD, "first try that will not match", "something else entirely"):
        assert typed not in terminal.transcript()
    assert verify_password(find_account(open_database(db_url), "ms.lee").password_hash, PASSWORD)
