"""The typed messages between dashboard and engine: each round-trips through its JSON line, anything
else is refused in one line that names the field and never its value, and the events file is read
as far as it has been written."""

from __future__ import annotations

import json

import pytest

from engine.protocol import (
    EventWriter,
    Failed,
    Finished,
    RateRecovered,
    RateShortfall,
    SourceLost,
    Started,
    StartRequest,
    StorageResumed,
    StorageWaiting,
    UntoldEnding,
    event_line,
    parse_event,
    read_events,
    storage_waiting_now,
    untold_ending,
)

FULL_REQUEST = StartRequest(
    title="Maths 7A", source="rtsp://teacher:s3cret@cam/live", group_name="7A", rate_hz=1.5,
    attention_only=True, max_faces=60, realtime=True, loop=False, max_seconds=90.0, owner="ms.lee",
    quiet=False, events_path="/d/e.events.jsonl", stop_path="/d/e.stop",
    env={"CLASSPULSE_DB_URL": "sqlite:///x.db", "B": "x y"}, cwd="/srv/classpulse",
)  # fmt: skip


@pytest.mark.parametrize("request_", [FULL_REQUEST, StartRequest("Maths", "demo")], ids=["full", "least"])
def test_a_start_request_round_trips_through_its_one_line(request_):
    line = request_.to_line()
    assert line.endswith("\n") and line.count("\n") == 1
    assert StartRequest.from_line(line) == request_


def test_a_request_shown_by_mistake_holds_neither_its_source_nor_its_environment():
    shown = repr(FULL_REQUEST)
    assert "s3cret" not in shown and "sqlite" not in shown and "Maths 7A" in shown


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a start request: JSONDecodeError"),
        ("[1, 2]", "not a start request: list"),
        ('{"title": "t", "source": "demo"}', 'not a start request: no "message": "start"'),
        ('{"message": "start", "source": "demo"}', "not a start request: title is missing"),
        ('{"message": "start", "title": "t", "source": "demo", "rate_hz": "2"}',
         "not a start request: rate_hz must be float or null"),
        ('{"message": "start", "title": "t", "source": "demo", "max_faces": true}',
         "not a start request: max_faces must be int or null"),
        ('{"message": "start", "title": "t", "source": "demo", "env": {"A": 1}}',
         "not a start request: env must be a map of strings to strings or null"),
        ('{"message": "start", "title": "t", "source": "demo", "args": ["run"]}',
         "not a start request: unknown field 'args'"),  # the argv of before: nothing to re-parse
        ('{"message": "start", "title": "t", "source": 7}', "not a start request: source must be str"),
    ],
)  # fmt: skip
def test_anything_but_a_start_request_is_refused_in_one_line(line, message):
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        StartRequest.from_line(line)


def test_a_refusal_never_repeats_the_value_it_refused():
    line = json.dumps({"message": "start", "title": "t", "source": ["rtsp://me:s3cret@cam"]})
    with pytest.raises(ValueError) as refused:
        StartRequest.from_line(line)
    assert "s3cret" not in str(refused.value)


EVENTS = [
    Started(3, "Maths", "demo gallery clip"),
    RateShortfall(1.2, 2.0),
    RateRecovered(1.9, 2.0),
    SourceLost(3, "camera 0 was lost"),
    Finished(3, "source_lost", 80, "source_lost", dropped=2),
    Finished(None, "finished", 0, "stopped"),
    Failed("cannot open camera 0"),
    Failed("lesson 3 failed: StorageError: disk full", 3),
    StorageWaiting(3, "disk full", 44, "/srv/classpulse"),
    StorageResumed(3, "disk full", 35.5),
    Failed("lesson 3 failed: could not store the last 8 samples ...", 3, "disk full"),
    Failed("the database file /x.db was removed during lesson 3; ...", 3, "database file removed",
           "/x.db.recovered-20261207T153000Z.db"),
]


@pytest.mark.parametrize("event", EVENTS, ids=[f"{type(e).__name__}-{i}" for i, e in enumerate(EVENTS)])
def test_every_event_round_trips_through_its_line(event):
    line = event_line(event)
    assert line.endswith("\n") and json.loads(line)["event"] == event.KIND
    assert parse_event(line) == event


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (Started(3, "Maths", "demo"), "lesson 3 started: Maths from demo"),
        (Finished(3, "finished", 80, "end_of_source"), "lesson 3 finished: 80 samples (end_of_source)"),
        (Finished(3, "source_lost", 9, "truncated", 12),
         "lesson 3 ended early (source_lost): 9 samples (truncated); 12 samples could not be stored"),
        (Failed("camera 0 cannot be opened"), "camera 0 cannot be opened"),
        (StorageWaiting(3, "disk full", 44, "/srv/classpulse"),
         "disk full: 44 samples waiting — free space on /srv/classpulse"),
        (StorageWaiting(3, "database is locked", 12, "/srv/classpulse"), "database is locked: 12 samples waiting"),
        (StorageResumed(3, "disk full", 35.4), "writing again after 35 s (disk full): the waiting samples are stored"),
    ],
)  # fmt: skip
def test_the_words_of_the_events_a_person_reads(event, text):
    assert event.text == text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"event": "exploded"}', 'not an event: unknown or missing "event"'),
        ('{"lesson_id": 3}', 'not an event: unknown or missing "event"'),
        ('{"event": "started", "lesson_id": 3, "title": "t"}', "not an event: source is missing"),
        ('{"event": "finished", "lesson_id": "3", "status": "finished", "samples": 1, "reason": "x"}',
         "not an event: lesson_id must be int or null"),
    ],
)  # fmt: skip
def test_anything_but_an_event_is_refused_in_one_line(line, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_event(line)


def test_the_events_file_is_read_up_to_its_last_whole_line(tmp_path, caplog):
    path = tmp_path / "engine.events.jsonl"
    writer = EventWriter(path)
    writer.emit(Started(1, "Maths", "demo"))
    with path.open("a") as out:
        out.write("garbage\n")  # not an event: skipped, said in the log
        out.write(event_line(Finished(1, "finished", 4, "stopped"))[:20])  # still being written
    assert read_events(path) == [Started(1, "Maths", "demo")]
    assert "skipped a line" in caplog.text
    with path.open("a") as out:
        out.write(event_line(Finished(1, "finished", 4, "stopped"))[20:])
    assert read_events(path)[-1] == Finished(1, "finished", 4, "stopped")


def test_no_events_file_is_no_events_and_no_writer_file_writes_nothing(tmp_path):
    assert read_events(None) == read_events("") == read_events(tmp_path / "none.jsonl") == []
    EventWriter(None).emit(Started(1, "t", "demo"))  # an engine run by hand without --events
    assert list(tmp_path.iterdir()) == []


# --- how an ended engine's lesson ended, from its events ------------------------------------------

STARTED = Started(3, "Maths", "demo")
WAITING = StorageWaiting(3, "disk full", 44, "/srv")


@pytest.mark.parametrize(
    ("events", "untold"),
    [
        ([], None),
        ([STARTED], None),  # killed with nothing said: truly unexpected
        ([STARTED, WAITING], UntoldEnding(3, "disk full", "Maths")),  # killed while its writes waited
        ([STARTED, WAITING, StorageResumed(3, "disk full", 9.0)], None),
        ([STARTED, WAITING, Failed("lesson 3 failed: ...", 3, "disk full")], UntoldEnding(3, "disk full", "Maths")),
        ([STARTED, Failed("lesson 3 failed: ...", 3)], None),  # an engine of before causes
        ([STARTED, Failed("the database file ...", 3, "database file removed", "/x.db.recovered-1.db")], None),
        ([STARTED, WAITING, Finished(3, "finished", 80, "stopped")], None),
        ([Failed("cannot open camera 0")], None),
        ([WAITING], UntoldEnding(3, "disk full", None)),  # stopped before it was announced
    ],
    ids=["nothing", "started-only", "waiting", "resumed", "failed-with-cause", "failed-without-cause",
         "recovery-file", "finished", "no-lesson", "not-announced"],
)  # fmt: skip
def test_the_untold_ending_is_the_cause_the_last_events_give(events, untold):
    assert untold_ending(events) == untold


@pytest.mark.parametrize(
    ("events", "now"),
    [
        ([STARTED], None),
        ([STARTED, WAITING], WAITING),
        ([STARTED, WAITING, StorageResumed(3, "disk full", 9.0)], None),
        ([STARTED, WAITING, StorageResumed(3, "disk full", 9.0), StorageWaiting(3, "disk full", 7, "/srv")],
         StorageWaiting(3, "disk full", 7, "/srv")),
        ([STARTED, WAITING, Failed("lesson 3 failed: ...", 3, "disk full")], None),  # the ending says it
        ([WAITING, Finished(3, "finished", 80, "stopped")], None),
    ],
    ids=["none", "waiting", "resumed", "waiting-again", "failed", "finished"],
)  # fmt: skip
def test_the_wait_the_live_page_shows_is_the_last_one_not_yet_over(events, now):
    assert storage_waiting_now(events) == now
