"""`python -m dashboard join` as a real process: opens a join lesson, prints its link, ends it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import dispose_engines, open_database
from storage.join import find_join_lesson
from storage.lessons import get_lesson

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(tmp_path: Path) -> str:
    yield f"sqlite:///{tmp_path / 'join.db'}"
    dispose_engines()


def _dashboard(db: str, *args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dashboard", "--db", db, "join", *args],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # fmt: skip


def _open(db: str, *args: str) -> tuple[subprocess.Popen[str], str, int]:
    process = _dashboard(db, "--lesson", "Chemistry", "--group", "10C", "--rate", "2",
                         "--url", "https://classpulse.school.lan:8501/", "--check-every", "0.2", *args)  # fmt: skip
    first = process.stdout.readline()
    link = process.stdout.readline()
    code = process.stdout.readline()
    assert first.startswith("join lesson ") and " open: Chemistry" in first, process.stderr.read()
    lesson_id = int(first.split()[2])
    code = code.removeprefix("code: ").strip()
    assert link.strip() == f"link: https://classpulse.school.lan:8501/join/{code}"
    return process, code, lesson_id


def test_a_join_lesson_stays_open_until_closed_by_code_from_another_shell(db):
    process, code, lesson_id = _open(db, "--ask-names", "--expressions", "--teacher", "Ms.Lee")
    try:
        engine = open_database(db)
        with engine.connect() as conn:
            info = find_join_lesson(conn, code)
        assert info.is_open and info.ask_names and not info.attention_only
        assert info.sample_rate_hz == 2.0 and info.settings["attention"]["yaw_limit_deg"] == 25.0
        lesson = get_lesson(engine, lesson_id)
        assert (lesson["source"], lesson["group_name"]) == ("join", "10C")
        closing = subprocess.run([sys.executable, "-m", "dashboard", "--db", db, "join", "--close",
                                  code.lower()], cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert closing.returncode == 0 and closing.stdout == f"join lesson {lesson_id} ended\n"
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out == f"join lesson {lesson_id} was ended elsewhere\n"
    assert get_lesson(open_database(db), lesson_id)["status"] == "finished"


def test_ctrl_c_ends_the_join_lesson(db):
    process, code, lesson_id = _open(db)
    try:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)  # a loaded CI machine: closing is a DB write
    finally:
        process.kill()
    assert process.returncode == 0 and out == f"join lesson {lesson_id} ended\n", err
    with open_database(db).connect() as conn:
        assert not find_join_lesson(conn, code).is_open


@pytest.mark.parametrize(("args", "words"), [
    (("--close", "ABCDEFGHJK"), "error: no lesson has the join code 'ABCDEFGHJK'"),
    (("--lesson", "x"), "give --lesson TITLE and --url ADDRESS"),
    (("--lesson", "x", "--url", "ftp://server"), "is not an http(s) address"),
    (("--lesson", "x", "--url", "https://s", "--rate", "nan"), "is not a finite number"),
    (("--lesson", "x", "--url", "https://s", "--rate", "30"), "from 0.2 to 5"),
])  # fmt: skip
def test_bad_input_is_one_line_without_a_traceback(db, args, words):
    process = _dashboard(db, *args)
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and words in err and "Traceback" not in err, err
