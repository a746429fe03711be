"""The join payload: every field checked, times against the server clock and the lesson's rate."""

from __future__ import annotations

import json

import pytest

from dashboard.join.payload import (
    CLOCK_SLACK_MS,
    MAX_AGE_MS,
    MAX_BATCH_BYTES,
    MAX_SAMPLES_PER_BATCH,
    SAMPLE_FIELDS,
    JoinSample,
    Refusal,
    check_times,
    example_batch,
    min_gap_ms,
    parse_batch,
    parse_join,
)

NOW_MS = 1_767_254_400_000
FACE = {"t_ms": NOW_MS, "face": True, "yaw_deg": 4.0, "pitch_deg": -3.0, "roll_deg": 1.0,
        "eye_openness": 0.3, "gaze_offset": 0.1,
        "probabilities": [0.1, 0.0, 0.0, 0.6, 0.1, 0.0, 0.2]}  # fmt: skip
NO_FACE = {"t_ms": NOW_MS, "face": False, "yaw_deg": None, "pitch_deg": None, "roll_deg": None,
           "eye_openness": None, "gaze_offset": None, "probabilities": None}  # fmt: skip


def _body(*samples: dict, **document) -> bytes:
    return json.dumps(document or {"samples": list(samples)}).encode()


def _refusal(body: bytes, attention_only: bool = False) -> tuple[int, str]:
    with pytest.raises(Refusal) as caught:
        parse_batch(body, attention_only)
    return caught.value.status, caught.value.message


def test_a_face_and_an_empty_seat_parse_to_samples():
    samples = parse_batch(_body(FACE, {**NO_FACE, "t_ms": NOW_MS + 500}), attention_only=False)
    assert samples == [
        JoinSample(NOW_MS, True, 4.0, -3.0, 1.0, 0.3, 0.1, (0.1, 0.0, 0.0, 0.6, 0.1, 0.0, 0.2)),
        JoinSample(NOW_MS + 500, False),
    ]


def test_the_example_shown_on_the_consent_screen_is_accepted_as_it_is():
    for attention_only in (True, False):
        body = json.dumps(example_batch(attention_only)).encode()
        assert parse_batch(body, attention_only)[0].face
    assert [name for name, _, _ in SAMPLE_FIELDS] == list(FACE)


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"yaw_deg": float("nan")}, 400, "NaN"),
    ({"yaw_deg": float("inf")}, 400, "Infinity"),
    ({"yaw_deg": 181.0}, 422, "yaw_deg"),
    ({"pitch_deg": -180.5}, 422, "pitch_deg"),
    ({"eye_openness": 1.5}, 422, "eye_openness"),
    ({"gaze_offset": -0.1}, 422, "gaze_offset"),
    ({"gaze_offset": 5.5}, 422, "gaze_offset"),
    ({"roll_deg": True}, 422, "number"),
    ({"roll_deg": "3"}, 422, "number"),
    ({"roll_deg": None}, 422, "number"),
    ({"t_ms": 1.5e12}, 422, "integer"),
    ({"t_ms": "1767254400000"}, 422, "integer"),
    ({"face": 1}, 422, "true or false"),
    ({"probabilities": [0.5] * 7}, 422, "add up to 1"),
    ({"probabilities": [1.0] * 6}, 422, "7 numbers"),
    ({"probabilities": [1.2, -0.2, 0, 0, 0, 0, 0]}, 422, "probabilities[0]"),
    ({"probabilities": "happy"}, 422, "7 numbers"),
    ({"colour": "red"}, 422, "unknown field"),
])  # fmt: skip
def test_a_bad_field_is_refused_with_its_status(change, status, words):
    got_status, message = _refusal(_body({**FACE, **change}))
    assert got_status == status and words in message


def test_an_overflowing_number_is_refused():
    assert _refusal(_body(FACE).replace(b"4.0", b"1e400"))[0] == 422


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b"\xff\xfe{}", 400),
    (b"[" * 5000 + b"]" * 5000, 400),
    (b'{"samples": [' + b"1" * 5000 + b"]}", 400),
    (b"[]", 422),
    (b'{"samples": []}', 422),
    (b'{"samples": {}}', 422),
    (b'{"samples": [], "extra": 1}', 422),
    (b'{"samples": [7]}', 422),
])  # fmt: skip
def test_a_malformed_batch_is_refused(body, status):
    assert _refusal(body)[0] == status


def test_a_sample_without_a_face_must_carry_no_measures():
    status, message = _refusal(_body({**NO_FACE, "yaw_deg": 3.0}))
    assert status == 422 and "null" in message
    missing = {k: v for k, v in NO_FACE.items() if k != "gaze_offset"}
    assert _refusal(_body(missing)) == (422, "sample 0 lacks gaze_offset")


def test_an_attention_only_lesson_refuses_probabilities_and_takes_null():
    assert "attention-only" in _refusal(_body(FACE), attention_only=True)[1]
    assert parse_batch(_body({**FACE, "probabilities": None}), True)[0].probabilities is None


def test_batches_too_large_are_refused_with_413():
    many = [{**NO_FACE, "t_ms": NOW_MS + 500 * i} for i in range(MAX_SAMPLES_PER_BATCH + 1)]
    assert _refusal(_body(*many))[0] == 413
    padded = _body(FACE) + b" " * MAX_BATCH_BYTES
    assert _refusal(padded)[0] == 413


def test_times_must_increase_within_a_batch():
    status, message = _refusal(_body(FACE, FACE))
    assert status == 422 and "increase" in message


def _times(*t_ms: int) -> list[JoinSample]:
    return [JoinSample(t, False) for t in t_ms]


@pytest.mark.parametrize(("times", "last", "words"), [
    ((NOW_MS + CLOCK_SLACK_MS + 1,), None, "ahead"),
    ((NOW_MS - MAX_AGE_MS - 1,), None, "older"),
    ((NOW_MS - 3_600_000 + 1,), None, "older"),
    ((NOW_MS - 2000, NOW_MS - 1800), None, "apart"),
    ((NOW_MS - 1000,), NOW_MS - 1400, "apart"),
])  # fmt: skip
def test_times_off_the_clock_or_closer_than_the_rate_are_refused(times, last, words):
    with pytest.raises(Refusal, match=words) as caught:
        check_times(_times(*times), now_ms=NOW_MS, joined_ms=NOW_MS - MAX_AGE_MS * 2, rate_hz=1.0,
                    last_t_ms=last)  # fmt: skip
    assert caught.value.status == 422


def test_samples_from_before_joining_are_refused():
    with pytest.raises(Refusal, match="before the student joined"):
        check_times(_times(NOW_MS - 60_000), now_ms=NOW_MS, joined_ms=NOW_MS - 10_000,
                    rate_hz=1.0, last_t_ms=None)  # fmt: skip


def test_a_resend_overlapping_stored_samples_passes_the_time_checks():
    times = _times(NOW_MS - 3000, NOW_MS - 2000, NOW_MS - 1000)
    check_times(
        times, now_ms=NOW_MS, joined_ms=NOW_MS - 60_000, rate_hz=1.0, last_t_ms=NOW_MS - 2000
    )
    check_times(times, now_ms=NOW_MS + 4000, joined_ms=NOW_MS - 60_000, rate_hz=1.0,
                last_t_ms=NOW_MS - 1000)  # fmt: skip
    assert min_gap_ms(1.0) == 500 and min_gap_ms(2.0) == 250


@pytest.mark.parametrize(("body", "ask_names", "name"), [
    (b"", False, None), (b"{}", False, None), (b'{"name": null}', True, None),
    (b'{"name": "  Ana   Lee "}', True, "Ana Lee"), (b'{"name": "   "}', True, None),
])  # fmt: skip
def test_a_join_request_gives_the_typed_name(body, ask_names, name):
    assert parse_join(body, ask_names) == name


@pytest.mark.parametrize(("body", "ask_names", "words"), [
    (b'{"name": "Ana"}', False, "does not take names"),
    (b'{"name": "' + b"x" * 41 + b'"}', True, "at most 40"),
    (b'{"name": "Ana\\u0000"}', True, "control"),
    (b'{"name": "Ana\\u202e"}', True, "control"),
    (b'{"name": 7}', True, "text"),
    (b'{"nick": "Ana"}', True, "one field"),
])  # fmt: skip
def test_a_bad_join_request_is_refused(body, ask_names, words):
    with pytest.raises(Refusal, match=words) as caught:
        parse_join(body, ask_names)
    assert caught.value.status == 422


def test_docs_show_the_example_batch_and_every_field_as_defined_here():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "join.md").read_text(encoding="utf-8")
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block) == example_batch(attention_only=False)
    for name, kind, meaning in SAMPLE_FIELDS:
        assert f"| `{name}` | {kind} | {meaning} |" in text
