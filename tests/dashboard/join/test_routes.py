"""The join API over HTTP: a real uvicorn server, httpx as the page, a real database behind.

Every refusal is checked for its status, for nothing stored, and for no traceback in the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from dashboard.join.payload import MAX_BATCH_BYTES
from dashboard.join.routes import JoinServerSettings
from storage.db import open_database
from storage.join import close_join, open_join_lesson, remove_student
from storage.lessons import LessonSpec
from storage.schema import JoinStudent, ObservationRow, SampleRow
from tests.dashboard.join.server import ManualClock, ServedJoin, ShiftedClock, serving_join


def _now_ms() -> int:
    return int(time.time() * 1000)


def _face(t_ms: int, probabilities=None) -> dict:
    return {"t_ms": t_ms, "face": True, "yaw_deg": 3.0, "pitch_deg": -2.0, "roll_deg": 1.0,
            "eye_openness": 0.3, "gaze_offset": 0.1, "probabilities": probabilities}  # fmt: skip


def _lesson(engine, *, rate_hz=2.0, attention_only=True, ask_names=False) -> str:
    spec = LessonSpec(title="Biology", group_name="8A", started_at=datetime.now(UTC),
                      sample_rate_hz=rate_hz, attention_only=attention_only)  # fmt: skip
    return open_join_lesson(engine, spec, ask_names=ask_names).code


@pytest.fixture
def served(db_url) -> Iterator[tuple[ServedJoin, ManualClock]]:
    clock = ManualClock()
    with serving_join(JoinServerSettings(db_url=db_url, monotonic=clock)) as served:
        yield served, clock
    assert "Traceback" not in served.log.getvalue(), served.log.getvalue()


@pytest.fixture
def later(db_url) -> Iterator[tuple[ServedJoin, ManualClock, ShiftedClock]]:
    """A server whose wall clock a test moves on (to send what was measured since joining)."""
    clock, wall = ManualClock(), ShiftedClock()
    with serving_join(JoinServerSettings(db_url=db_url, monotonic=clock, clock=wall)) as served:
        yield served, clock, wall
    assert "Traceback" not in served.log.getvalue(), served.log.getvalue()
    assert "Traceback" not in served.log.getvalue(), served.log.getvalue()


def _join(served: ServedJoin, code: str, **body) -> dict:
    response = httpx.post(served.api(code, "students"), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _post(served: ServedJoin, code: str, token: str, samples: list[dict]) -> httpx.Response:
    return httpx.post(served.api(code, "samples"), json={"samples": samples},
                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def _stored(db_url: str) -> tuple[int, int]:
    engine = open_database(db_url)
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (SampleRow, ObservationRow))  # fmt: skip


def test_a_student_joins_posts_and_a_resent_batch_stores_nothing_twice(served, db_url):
    served, _ = served
    code = _lesson(open_database(db_url), attention_only=False, ask_names=True)
    lookup = httpx.get(served.api(code))
    assert lookup.status_code == 200
    assert lookup.json()["ask_names"] and not lookup.json()["attention_only"]
    assert lookup.json()["example_batch"]["samples"][0]["probabilities"] is not None
    joined = _join(served, code, name="Ana")
    assert (joined["track_id"], joined["label"], joined["rate_hz"]) == (1, "Ana", 2.0)
    assert joined["attention"]["yaw_limit_deg"] == 25.0 and joined["limits"]["min_gap_ms"] == 250
    assert abs(joined["server_time_ms"] - _now_ms()) < 5000
    assert _join(served, code)["label"] == "Student 2"
    start = _now_ms() - 4000
    batch = [_face(start + 500 * i, [0.1, 0.0, 0.0, 0.7, 0.1, 0.0, 0.1]) for i in range(6)]
    batch[2] = {
        **batch[2],
        "face": False,
        **dict.fromkeys(
            ("yaw_deg", "pitch_deg", "roll_deg", "eye_openness", "gaze_offset", "probabilities")
        ),
    }
    first = _post(served, code, joined["token"], batch)
    assert (first.status_code, first.json()) == (200, {"stored": 6, "skipped": 0})
    again = _post(served, code, joined["token"], batch)  # the reply was lost; the page resends
    assert again.json() == {"stored": 0, "skipped": 6}
    more = _post(served, code, joined["token"], batch[3:] + [_face(start + 3000)])
    assert more.json() == {"stored": 1, "skipped": 3}
    assert _stored(db_url) == (7, 7)
    with open_database(db_url).connect() as conn:
        states = (
            conn.execute(select(ObservationRow.state).order_by(ObservationRow.t_ms)).scalars().all()
        )
    assert states[2] == "absent" and states[0] == "attentive"


def test_leaving_and_coming_back_keeps_the_students_track(served, db_url):
    served, _ = served
    engine = open_database(db_url)
    code = _lesson(engine, rate_hz=5.0)
    joined = _join(served, code)
    start = _now_ms()
    assert _post(served, code, joined["token"], [_face(start)]).status_code == 200
    leave = httpx.post(
        served.api(code, "leave"), headers={"Authorization": f"Bearer {joined['token']}"}
    )
    assert leave.json() == {"left": True}
    with engine.connect() as conn:
        assert conn.execute(select(JoinStudent.left_at)).scalar_one() is not None
    time.sleep(1.2)
    offline = [_face(start + 200 * i) for i in range(1, 6)]  # measured while away, sent on return
    assert _post(served, code, joined["token"], offline).json() == {"stored": 5, "skipped": 0}
    with engine.connect() as conn:
        assert conn.execute(select(JoinStudent.left_at)).scalar_one() is None
        assert set(conn.execute(select(SampleRow.stream)).scalars()) == {1}
    assert _stored(db_url) == (6, 6)


def _send(served: ServedJoin, code: str, token: str | None, body: bytes,
          content_type: str = "application/json") -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(served.api(code, "samples"), content=body, headers=headers)


def _bad_batches(now_ms: int) -> list[tuple[str, bytes, int]]:
    face = _face(now_ms - 1000)
    text = json.dumps({"samples": [face]})
    return [
        ("NaN", text.replace("3.0", "NaN").encode(), 400),
        ("Infinity", text.replace("3.0", "Infinity").encode(), 400),
        ("out of range", json.dumps({"samples": [{**face, "yaw_deg": 270.0}]}).encode(), 422),
        ("probabilities in attention-only", json.dumps({"samples": [
            {**face, "probabilities": [0.1, 0.0, 0.0, 0.7, 0.1, 0.0, 0.1]}]}).encode(), 422),
        ("a bool for a number", json.dumps({"samples": [{**face, "eye_openness": True}]}).encode(), 422),
        ("too many samples", json.dumps({"samples": [_face(now_ms - 30_000 + 600 * i)
                                                     for i in range(21)]}).encode(), 413),
        ("body too large", text.encode() + b" " * MAX_BATCH_BYTES, 413),
        ("far ahead", json.dumps({"samples": [_face(now_ms + 60_000)]}).encode(), 422),
        ("far behind", json.dumps({"samples": [_face(now_ms - 3_600_000)]}).encode(), 422),
        ("faster than the rate", json.dumps({"samples": [_face(now_ms - 2000),
                                                         _face(now_ms - 1950)]}).encode(), 422),
        ("malformed JSON", b'{"samples": [', 400),
        ("not JSON at all", b"\x00\x01", 400),
        ("wrong content type", text.encode(), 415),
    ]  # fmt: skip


def test_bad_input_of_every_kind_is_refused_with_nothing_stored(served, db_url):
    served, _ = served
    engine = open_database(db_url)
    code = _lesson(engine)
    token = _join(served, code)["token"]
    for what, body, status in _bad_batches(_now_ms()):
        kind = "text/plain" if what == "wrong content type" else "application/json"
        response = _send(served, code, token, body, kind)
        assert response.status_code == status, (what, response.text)
        error = response.json()["error"]
        assert isinstance(error, str) and "\n" not in error and error, what
    assert _stored(db_url) == (0, 0)


def test_unknown_ended_and_removed_are_refused_and_tokens_stay_with_their_lesson(served, db_url):
    served, _ = served
    engine = open_database(db_url)
    code, other = _lesson(engine), _lesson(engine)
    token = _join(served, code)["token"]
    removed = _join(served, code)["token"]
    sample = [_face(_now_ms() - 1000)]
    assert httpx.get(served.api("ABCDEFGHJK")).status_code == 404
    assert httpx.get(served.api("..%2F..%2Fetc")).status_code == 404
    assert httpx.post(served.api("ABCDEFGHJK", "students"), json={}).status_code == 404
    assert _post(served, "ABCDEFGHJK", token, sample).status_code == 401
    assert _post(served, other, token, sample).status_code == 401  # a token of another lesson
    assert _post(served, code, token + "x", sample).status_code == 401
    missing = _send(served, code, None, json.dumps({"samples": sample}).encode())
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    with engine.connect() as conn:
        lesson_id = conn.execute(select(JoinStudent.lesson_id)).scalars().first()
    remove_student(engine, lesson_id, 2, datetime.now(UTC))
    assert _post(served, code, removed, sample).status_code == 403
    assert _post(served, code, token, sample).status_code == 200
    close_join(engine, lesson_id, datetime.now(UTC))
    assert httpx.get(served.api(code)).status_code == 410
    assert httpx.post(served.api(code, "students"), json={}).status_code == 410
    ended = _post(served, code, token, [_face(_now_ms())])
    assert (ended.status_code, ended.json()) == (410, {"error": "this lesson has ended"})
    assert _stored(db_url) == (1, 1)


def test_failed_attempts_from_one_address_are_limited_then_allowed_again(served, db_url):
    served, clock = served
    code = _lesson(open_database(db_url))
    for _ in range(10):
        assert httpx.get(served.api("ABCDEFGHJK")).status_code == 404
    blocked = httpx.get(served.api(code))  # even a right code: a guesser cannot tell
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == 6
    clock.advance(6.0)
    assert httpx.get(served.api(code)).status_code == 200
    assert httpx.get(served.api("ABCDEFGHJK")).status_code == 404
    assert httpx.get(served.api("ABCDEFGHJK")).status_code == 429


def test_a_guesser_behind_the_classs_address_does_not_stop_its_students_sending(served, db_url):
    served, _ = served
    code = _lesson(open_database(db_url))
    token = _join(served, code)["token"]
    assert _post(served, code, token, [_face(_now_ms() - 3000)]).status_code == 200
    for _ in range(10):  # someone on the school's network guesses codes
        assert httpx.get(served.api("ABCDEFGHJK")).status_code == 404
    assert httpx.get(served.api(code)).status_code == 429  # lookups and joins wait
    assert _post(served, code, token, [_face(_now_ms() - 1000)]).status_code == 200  # a student's don't
    assert _post(served, code, token + "x", [_face(_now_ms())]).status_code == 429  # a guess does
    assert _stored(db_url) == (2, 2)


def test_a_token_may_send_no_more_samples_than_the_lessons_rate_needs(later, db_url):
    served, clock, wall = later
    code = _lesson(open_database(db_url), rate_hz=0.2)  # a budget of 0.2 * 600 + 20 = 140 samples
    token = _join(served, code)["token"]
    wall.shift_s = 200.0  # the student has been measuring for 200 s
    batch = [_face(_now_ms() + 1000 + 5000 * i) for i in range(20)]
    answers = [_post(served, code, token, batch).status_code for _ in range(8)]
    assert answers == [200] * 7 + [429]
    clock.advance(50.0)  # refilled at twice the rate: 0.4 samples a second
    assert _post(served, code, token, batch).status_code == 200
    assert _stored(db_url) == (20, 20)


def test_join_requests_are_checked_too(served, db_url):
    served, _ = served
    code = _lesson(open_database(db_url))
    named = httpx.post(served.api(code, "students"), json={"name": "Ana"})
    assert (named.status_code, named.json()) == (422, {"error": "this lesson does not take names"})
    big = httpx.post(served.api(code, "students"), content=b"{" + b" " * 2000 + b"}",
                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    form = httpx.post(served.api(code, "students"), data={"name": "x"})
    assert form.status_code == 415
    with open_database(db_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(JoinStudent)).scalar_one() == 0


def test_a_burst_of_joins_uses_at_most_db_slots_connections_at_once(served, db_url):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    from dashboard.join.routes import DB_SLOTS

    server, _ = served
    code = _lesson(open_database(db_url))
    engine = server.join.engine
    held, most, lock = [0], [0], threading.Lock()

    def checkout(*_):
        with lock:
            held[0] += 1
            most[0] = max(most[0], held[0])

    def checkin(*_):
        with lock:
            held[0] -= 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda _: httpx.post(server.api(code, "students"), json={}),
                                    range(32)))  # fmt: skip
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine.pool, "checkin", checkin)
    assert [a.status_code for a in answers] == [201] * 32
    assert 1 < most[0] <= DB_SLOTS  # the joins overlapped, within the limit
