"""The one line a lesson that ended badly ends with, from what the recorder stored (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.lesson import first_line
from engine.protocol import StorageWaiting
from engine.storage_faults import LessonFailure, lesson_failure, storage_words
from storage.db import StorageError
from storage.db_file import REMOVED, FileLost
from storage.records import LessonStatus
from storage.write_policy import LessonEnd

F = LessonStatus.FAILED
GAVE_UP = StorageError("could not store the last 8 samples within 60 s of closing: database or disk is full")
WAITING = StorageWaiting(3, "disk full", 2, "/srv/classpulse")
LOST = FileLost(3, Path("/srv/x.db"), REMOVED, Path("/srv/x.db.recovered-20261207T153000Z.db"))


def _failure(ended: LessonEnd, failure: BaseException | None = None, lost: FileLost | None = None):
    return lesson_failure(3, ended, samples_written=110, failure=failure, waiting=WAITING,
                          lost_words=None if lost is None else lost.words,
                          recovery_path=None if lost is None else str(lost.recovery), describe=first_line)  # fmt: skip


@pytest.mark.parametrize(
    ("ended", "failure", "lost", "expected"),
    [
        (LessonEnd(LessonStatus.FINISHED, None, None), None, None, None),
        (LessonEnd(F, "disk full", GAVE_UP), None, None,
         LessonFailure("lesson 3 failed: could not store the last 8 samples within 60 s of closing: database or "
                       "disk is full; free space on /srv/classpulse", "disk full")),
        (LessonEnd(F, "disk full", GAVE_UP, "disk full"), None, None,
         LessonFailure("lesson 3 failed: could not store the last 8 samples within 60 s of closing: database or "
                       "disk is full; free space on /srv/classpulse; its status could not be stored (disk full)",
                       "disk full")),
        (LessonEnd(F, "RuntimeError: boom", None), RuntimeError("boom"), None,
         LessonFailure("lesson 3 failed: RuntimeError: boom", "RuntimeError: boom")),
        (LessonEnd(LessonStatus.FINISHED, None, None, "disk full"), None, None,
         LessonFailure("lesson 3 ended (finished) but could not be marked so: disk full", "disk full")),
        (LessonEnd(F, "database file removed", None), None, LOST,
         LessonFailure("the database file /srv/x.db was removed during lesson 3; its 110 samples are kept in "
                       "/srv/x.db.recovered-20261207T153000Z.db (open it with "
                       "--db sqlite:////srv/x.db.recovered-20261207T153000Z.db)", "database file removed",
                       "/srv/x.db.recovered-20261207T153000Z.db")),
    ],
    ids=["ended-well", "gave-up-on-a-full-disk", "and-its-ending-not-stored", "engine-failed",
         "only-the-ending-not-stored", "file-removed"],
)  # fmt: skip
def test_the_line_says_what_went_wrong_and_what_to_do(ended, failure, lost, expected):
    assert _failure(ended, failure, lost) == expected


def test_a_database_error_is_one_line_with_why_it_may_pass():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    full = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
    assert storage_words(full) == "disk full: database or disk is full"
    locked = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
    assert storage_words(locked) == "database is locked"
    away = OperationalError("INSERT ...", {}, sqlite3.OperationalError("unable to open database file"))
    assert storage_words(away) == "unable to open database file"
    assert storage_words(StorageError("the database /x.db is read-only: ...")) == "the database /x.db is read-only: ..."
