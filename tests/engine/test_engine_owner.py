"""`python -m engine run --teacher NAME` stores whose lesson it is (real engine, a 1-second clip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import queries
from storage.db import dispose_engines, open_database
from storage.viewers import Viewer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("flag", "env", "owner"),
    [
        (["--teacher", " Ms.Lee "], "mr.khan", "ms.lee"),  # the option wins, kept as accounts are
        ([], "Mr.Khan", "mr.khan"),  # CLASSPULSE_TEACHER when no option is given
        ([], None, None),  # neither: no owner, the single-teacher default
    ],
    ids=["option", "environment", "none"],
)
def test_engine_run_stores_the_lessons_owner(asset, tmp_path, flag, env, owner):
    url = f"sqlite:///{tmp_path / 'lesson.db'}"
    environ = {k: v for k, v in os.environ.items() if k != "CLASSPULSE_TEACHER"}
    if env is not None:
        environ["CLASSPULSE_TEACHER"] = env
    command = [sys.executable, "-m", "engine", "run", "--quiet", "--attention-only",
               "--source", str(asset("single_face.mp4")), "--max-seconds", "1",
               "--lesson", "Maths", "--group", "7B", "--db", url, *flag]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr
    engine = open_database(url)
    try:
        (lesson,) = queries.lessons_summary(engine, viewer=Viewer.everyone())["id"]
        assert queries.find_lesson(engine, int(lesson), viewer=Viewer.everyone())["owner"] == owner
        for teacher in ("ms.lee", "mr.khan"):
            seen = queries.find_lesson(engine, int(lesson), viewer=Viewer.teacher(teacher))
            assert (seen is not None) is (teacher == owner)
    finally:
        dispose_engines()
