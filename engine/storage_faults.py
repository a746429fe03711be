"""What a lesson run says about its database: writes that wait (a full disk, a lock held elsewhere),
writes that go through again, a database file removed or replaced, an ending the database would not
take — and, at the next start, how an earlier engine's lesson ended when it could not store that.

The rule for a lost file: the lesson ends. The recorder has copied the database to a recovery file
beside the path and writes the rest there (`storage.db_file`); the engine stops sampling, stores
the lesson there as `failed` ("database file removed"), says in one line where the samples are
(its `failed` event, which the dashboard shows, and stderr) and exits 1. Carrying on into a file no
dashboard reads would record a lesson nobody sees.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.protocol import (
    EventWriter,
    StorageResumed,
    StorageWaiting,
    read_events,
    untold_ending,
)
from storage.masking import mask_secrets

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from storage.db_file import RecorderEvent
    from storage.write_policy import LessonEnd

log = logging.getLogger(__name__)


class StorageReporter:
    """The recorder's handler (`Recorder(on_event=...)`): its pauses and resumptions become the
    engine's `storage_waiting` / `storage_resumed` events; a lost database file ends the lesson."""

    def __init__(self, events: EventWriter, stop: threading.Event) -> None:
        self.events = events
        self.stop = stop
        self.waiting: StorageWaiting | None = None  # the last wait, kept for the ending's words

    def __call__(self, event: RecorderEvent) -> None:
        from storage.db_file import FileLost
        from storage.write_policy import WritesPaused, WritesResumed

        if isinstance(event, WritesPaused):
            self.waiting = StorageWaiting(event.lesson_id, event.reason, event.samples_waiting, event.where)
            self.events.emit(self.waiting)
        elif isinstance(event, WritesResumed):
            self.events.emit(StorageResumed(event.lesson_id, event.reason, event.waited_s))
        elif isinstance(event, FileLost):
            self.stop.set()  # the lesson ends; the recorder writes what it holds to the recovery file


@dataclass(frozen=True)
class LessonFailure:
    """Why a lesson ended badly, in one line, with the cause stored (or to be stored) with it."""

    message: str
    cause: str | None
    recovery_path: str | None = None


def lesson_failure(
    lesson_id: int,
    ended: LessonEnd,
    *,
    samples_written: int,
    failure: BaseException | None,
    waiting: StorageWaiting | None,
    lost_words: Callable[[int], str] | None,
    recovery_path: str | None,
    describe: Callable[[BaseException], str],
) -> LessonFailure | None:
    """The one line for a lesson that did not end well; None when it did (all stored, closed)."""
    if lost_words is not None:  # the file was removed or replaced: where the samples are
        return LessonFailure(lost_words(samples_written), ended.cause, recovery_path)
    unrecorded = "" if ended.recorded else f"; its status could not be stored ({ended.not_recorded})"
    if ended.write_error is not None:
        free = (f"; free space on {waiting.where}"
                if waiting is not None and ended.cause == waiting.reason == "disk full" else "")  # fmt: skip
        return LessonFailure(f"lesson {lesson_id} failed: {ended.write_error}{free}{unrecorded}", ended.cause)
    if failure is not None:
        return LessonFailure(f"lesson {lesson_id} failed: {describe(failure)}{unrecorded}", ended.cause)
    if not ended.recorded:
        return LessonFailure(f"lesson {lesson_id} ended ({ended.status.value}) but could not be marked "
                             f"so: {ended.not_recorded}", ended.not_recorded)  # fmt: skip
    return None


def storage_words(exc: BaseException) -> str:
    """A database error in one line for a person: storage's own words, or the driver's first line
    with why it may pass ("disk full: database or disk is full")."""
    from storage.db import StorageError
    from storage.write_policy import first_line, transient_reason

    if isinstance(exc, StorageError):
        return mask_secrets(str(exc))
    reason = transient_reason(exc)
    line = mask_secrets(first_line(exc))
    return line if reason is None or reason in line else f"{reason}: {line}"


def settle_earlier_lesson(database: Engine, events_path: str | None, is_alive) -> int | None:
    """At start, before this run writes to the events file: the lesson an earlier engine that used
    the same file left unsettled (its ending not stored), stored with the cause it gave; its id."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import StorageError
    from storage.endings import record_cause

    if not events_path or not Path(events_path).exists():
        return None
    untold = untold_ending(read_events(events_path))
    if untold is None:
        return None
    try:
        settled = record_cause(database, untold.lesson_id, untold.cause, is_alive=is_alive,
                               title=untold.title)  # fmt: skip
    except (StorageError, SQLAlchemyError) as exc:
        log.warning("cannot settle lesson %d (%s): %s", untold.lesson_id, untold.cause,
                    mask_secrets(str(exc).splitlines()[0]))  # fmt: skip
        return None
    return untold.lesson_id if settled else None
