"""A join lesson written through the real ingest (dashboard.join.ingest, as the join routes call it):
a student in front of their camera, one whose page sends `"face": false` (absent), one who went
silent (their tab closed), and one the teacher removed. Every view of its figures must agree
(tests/dashboard/test_one_definition_join.py); the rows to check them against are read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from dashboard.join.ingest import AttentionBook, ingest
from dashboard.join.payload import JoinSample
from storage.join import find_student, join_student, open_join_lesson, remove_student
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, from_epoch_ms, to_epoch_ms

RATE_HZ = 1.0
SECONDS = 30  # three 10-second buckets; samples half a second into each second
FACE, NO_FACE, SILENT, REMOVED = 1, 2, 3, 4
NAMES = {FACE: "Ada", NO_FACE: "*Bo* <b>", SILENT: "Cy", REMOVED: "Dee"}  # the second is markdown bait
SILENT_AFTER = 15  # the third student's page sends its last sample at 14.5 s
REMOVED_AT = 20  # the teacher removes the fourth at 20 s (their samples end at 19.5 s)
BATCH = 5  # samples per post, as a page batches them
PROBABILITIES = (0.05, 0.0, 0.05, 0.6, 0.1, 0.1, 0.1)


def _sample(track_id: int, t_ms: int, i: int) -> JoinSample:
    """What a student's page measures at second i (numbers only)."""
    if track_id == NO_FACE:
        return JoinSample(t_ms, False)
    yaw = 40.0 if track_id == REMOVED and i % 4 == 3 else 4.0 + track_id  # looks away now and then
    return JoinSample(t_ms, True, yaw, -3.0, 1.0, 0.3, 0.08, PROBABILITIES)


def _last_second(track_id: int) -> int:
    return {SILENT: SILENT_AFTER, REMOVED: REMOVED_AT}.get(track_id, SECONDS)


@dataclass(frozen=True)
class JoinedLesson:
    """The stored join lesson: its id, code, start and the stored observations' figures."""

    lesson_id: int
    code: str
    started_at: datetime
    engine: Engine

    def rows(self, since: datetime, until: datetime) -> list[tuple[int, str, float]]:
        """(track_id, state, engagement) of the stored observations in [since, until)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(ObservationRow.track_id, ObservationRow.state, ObservationRow.engagement)
                .where(ObservationRow.lesson_id == self.lesson_id,
                       ObservationRow.t_ms >= to_epoch_ms(since), ObservationRow.t_ms < to_epoch_ms(until))
            ).all()  # fmt: skip
        return [(int(t), str(s), float(e)) for t, s, e in found]


def write_joined_lesson(engine: Engine, started_at: datetime, *, owner: str | None = None,
                        attention_only: bool = False) -> JoinedLesson:  # fmt: skip
    """Open the lesson, join four students (names asked) and post their batches through ingest,
    interleaved in time as four pages would; remove the fourth at REMOVED_AT."""
    spec = LessonSpec(title="Joined biology", group_name="8A", started_at=started_at, source="join",
                      sample_rate_hz=RATE_HZ, attention_only=attention_only, owner=owner)  # fmt: skip
    info = open_join_lesson(engine, spec, ask_names=True)
    tokens = {t: join_student(engine, info.code, NAMES[t], started_at)[1] for t in NAMES}
    book, t0_ms = AttentionBook(), to_epoch_ms(started_at)
    for first in range(0, SECONDS, BATCH):
        if first == REMOVED_AT:
            remove_student(engine, info.lesson_id, REMOVED, started_at + timedelta(seconds=REMOVED_AT))
        for track_id, token in tokens.items():
            seconds = [i for i in range(first, first + BATCH) if i < _last_second(track_id)]
            if not seconds:
                continue
            batch = [_sample(track_id, t0_ms + 1000 * i + 500, i) for i in seconds]
            with engine.connect() as conn:
                found = find_student(conn, info.code, token)
            assert found is not None and found.student.track_id == track_id
            ingest(engine, book, found, batch, from_epoch_ms(batch[-1].t_ms + 200))
    return JoinedLesson(info.lesson_id, info.code, started_at, engine)
