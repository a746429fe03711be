"""A SQLite database this user may not write: one line, the file unchanged, no lesson made.

Run as a user that is not root (root ignores file modes): `classpulse-test`, made when missing, when
the tests run as root (as CI does); whoever runs them otherwise. Storage's calls run in a child
process switched to that user; the command lines run as that user too (`tests.kit.faults`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from storage.db import StorageError, check_writable, dispose_engines, open_database
from storage.lessons import LessonSpec, create_lesson, finish_lesson, get_lesson
from tests.kit.faults import call_as, other_user, reachable_folder, run_module_as
from tests.storage.conftest import T0

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def user():
    return other_user()


@pytest.fixture
def tmp_path():
    """A temporary folder the other user can reach (pytest's own is root's alone)."""
    with reachable_folder() as folder:
        yield folder


@pytest.fixture
def database(tmp_path, user):
    """A migrated SQLite file with one finished lesson, closed (no -wal or -shm left), in its own
    folder."""
    folder = tmp_path / "school"
    folder.mkdir()
    path = folder / "classpulse.db"
    engine = open_database(f"sqlite:///{path}")
    finish_lesson(engine, create_lesson(engine, LessonSpec("Maths", "7B", T0)))
    dispose_engines()  # nothing open is carried into the child processes
    assert sorted(os.listdir(folder)) == ["classpulse.db"]
    yield path
    dispose_engines()
    folder.chmod(0o755)


def _make_read_only(path: Path, user, what: str) -> None:
    """`file`: the file is writable by no one (its folder is open to all, for the -wal and -shm);
    `folder`: the file is the user's and writable, its folder is writable by no one."""
    if what == "file":
        path.parent.chmod(0o777)
        path.chmod(0o444)
    else:
        user.own(path)
        path.chmod(0o644)
        path.parent.chmod(0o555)


def _open_and_create(url: str) -> tuple[str, object]:
    """As the user: the writability check's answer, then what creating a lesson gives."""
    engine = open_database(url)
    try:
        check_writable(engine)
        checked = "writable"
    except StorageError as exc:
        checked = str(exc)
    return checked, create_lesson(engine, LessonSpec("Physics", "8C", T0))


@pytest.mark.parametrize(
    ("what", "reason"),
    [("file", "the file is not writable by user {user}"),
     ("folder", "its folder {folder} is not writable by user {user} (SQLite writes its -wal and -shm "
                "files beside the database)")],
)  # fmt: skip
def test_a_database_the_user_may_not_write_is_one_line_and_the_file_is_unchanged(database, user, what, reason):
    _make_read_only(database, user, what)
    before = _digest(database)
    expected = f"the database {database} is read-only: " + reason.format(user=user.name, folder=database.parent)
    with pytest.raises(RuntimeError) as info:
        call_as(user, _open_and_create, f"sqlite:///{database}")
    assert str(info.value) == f"StorageError: {expected}"
    assert _digest(database) == before
    assert get_lesson(open_database(f"sqlite:///{database}"), 2) is None  # no lesson was made


def test_the_writability_check_names_the_reason_before_any_write(database, user):
    _make_read_only(database, user, "file")
    with pytest.raises(RuntimeError, match="is read-only: the file is not writable by user"):
        call_as(user, _open_and_create, f"sqlite:///{database}")

    def check(url: str) -> str:
        try:
            check_writable(open_database(url))
        except StorageError as exc:
            return str(exc)
        return "writable"

    assert call_as(user, check, f"sqlite:///{database}") == (
        f"the database {database} is read-only: the file is not writable by user {user.name}")  # fmt: skip


def test_a_new_database_in_a_folder_the_user_may_not_write_cannot_be_created(tmp_path, user):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    with pytest.raises(RuntimeError) as info:
        call_as(user, open_database, f"sqlite:///{folder / 'new.db'}")
    assert str(info.value) == (
        f"StorageError: the database {folder / 'new.db'} cannot be created: its folder {folder} is not "
        f"writable by user {user.name} (SQLite writes its -wal and -shm files beside the database)")  # fmt: skip
    assert os.listdir(folder) == []
    folder.chmod(0o755)


def _storage_cli():
    from storage.__main__ import cli

    return cli


def _dashboard_cli():
    from dashboard.__main__ import cli

    return cli


@pytest.mark.parametrize(
    ("module", "args", "stdin"),
    [("storage", ["seed", "--students", "2", "--hours", "0.01"], None),
     ("storage", ["delete", "--lesson", "1"], None),
     ("dashboard", ["set-password", "--user", "ms.lee"], "a long enough password\n")],
    ids=["storage-seed", "storage-delete", "dashboard-set-password"],
)  # fmt: skip
def test_the_command_lines_that_write_say_read_only_in_one_line(database, user, module, args, stdin):
    _make_read_only(database, user, "file")
    finish = _storage_cli if module == "storage" else _dashboard_cli
    before = _digest(database)
    ran = run_module_as(user, module, ["--db", f"sqlite:///{database}", *args], cwd=ROOT, cli=finish,
                        stdin=stdin)  # fmt: skip
    assert ran.returncode == 1, ran
    assert ran.stderr == (f"error: the database {database} is read-only: the file is not writable by "
                          f"user {user.name}\n"), ran  # fmt: skip
    assert "Traceback" not in ran.stdout + ran.stderr
    assert _digest(database) == before
    assert get_lesson(open_database(f"sqlite:///{database}"), 1)["status"] == "finished"
    assert get_lesson(open_database(f"sqlite:///{database}"), 2) is None
