"""What a student's page sends, defined once: the batch, the sample, their limits and checks.

The consent screen shows `example_batch()` verbatim and docs/join.md lists `SAMPLE_FIELDS`; the
ingest route accepts exactly this and nothing else. Pure functions: bytes and clock readings in,
typed samples out, or a `Refusal` with the HTTP status and one line for a person.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.records import EXPRESSIONS
from storage.schema import STUDENT_NAME_MAX

# A student's device runs MediaPipe (and the CNN) at the lesson's rate: at most this often.
MIN_RATE_HZ, MAX_RATE_HZ = 0.2, 5.0
# The model a join lesson with expressions names as its own (the lesson's model_name).
BROWSER_MODEL = "minixception (ONNX, in the student's browser)"
MAX_SAMPLES_PER_BATCH = 20
MAX_BATCH_BYTES = 16 * 1024
MAX_JOIN_BYTES = 1024
# The page stamps samples with the server's clock (its offset learnt at join); a little error
# either way is the network's, more is a wrong clock or a forged time.
CLOCK_SLACK_MS = 5_000
# The page keeps at most this much while offline; the server takes a minute more for the send.
OFFLINE_BUFFER_S = 600
MAX_AGE_MS = (OFFLINE_BUFFER_S + 60) * 1000
# Two samples of one student at least this share of the lesson's period apart.
MIN_GAP_SHARE = 0.5
ANGLE_LIMIT_DEG = 180.0
GAZE_OFFSET_MAX = 5.0
PROBABILITY_SUM_TOLERANCE = 0.01
MEASURES = ("yaw_deg", "pitch_deg", "roll_deg", "eye_openness", "gaze_offset")
FIELDS = ("t_ms", "face", *MEASURES, "probabilities")
_RANGES: dict[str, tuple[float, float]] = {
    "yaw_deg": (-ANGLE_LIMIT_DEG, ANGLE_LIMIT_DEG),
    "pitch_deg": (-ANGLE_LIMIT_DEG, ANGLE_LIMIT_DEG),
    "roll_deg": (-ANGLE_LIMIT_DEG, ANGLE_LIMIT_DEG),
    "eye_openness": (0.0, 1.0),
    "gaze_offset": (0.0, GAZE_OFFSET_MAX),
}

# (field, JSON type, meaning): the table docs/join.md and the consent screen show.
SAMPLE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("t_ms", "integer", "when it was measured: milliseconds since 1970 by the server's clock"),
    ("face", "true/false", "whether a face was in front of the camera"),
    ("yaw_deg", "number or null", "head turned left/right, degrees (null without a face)"),
    ("pitch_deg", "number or null", "head tilted up/down, degrees"),
    ("roll_deg", "number or null", "head tilted sideways, degrees"),
    ("eye_openness", "number or null", "how open the eyes are (eye aspect ratio, 0 to 1)"),
    ("gaze_offset", "number or null", "how far the eyes look sideways (0 centred, 1 at a corner)"),
    ("probabilities", "7 numbers or null",
     f"chance of each expression ({', '.join(EXPRESSIONS)}); null when the lesson is "
     "attention-only or without a face"),
)  # fmt: skip


class Refusal(Exception):
    """A request the join routes refuse: the HTTP status and one line for a person."""

    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class JoinSample:
    """One sample as a student's page measured it: numbers only, checked."""

    t_ms: int
    face: bool
    yaw_deg: float | None = None
    pitch_deg: float | None = None
    roll_deg: float | None = None
    eye_openness: float | None = None
    gaze_offset: float | None = None
    probabilities: tuple[float, ...] | None = None


def example_sample(attention_only: bool) -> dict[str, Any]:
    """One sample exactly as the page sends it (the consent screen shows it)."""
    probabilities = None if attention_only else [0.02, 0.0, 0.01, 0.61, 0.03, 0.05, 0.28]
    return {"t_ms": 1767254400000, "face": True, "yaw_deg": -4.2, "pitch_deg": 3.1,
            "roll_deg": 0.8, "eye_openness": 0.29, "gaze_offset": 0.12,
            "probabilities": probabilities}  # fmt: skip


def example_batch(attention_only: bool) -> dict[str, Any]:
    """A batch of one sample as the page posts it."""
    return {"samples": [example_sample(attention_only)]}


def min_gap_ms(rate_hz: float) -> int:
    """The closest two samples of one student may be, for a lesson sampled at `rate_hz`."""
    return int(MIN_GAP_SHARE * 1000.0 / rate_hz)


def _refuse_constant(name: str) -> Any:
    raise Refusal(400, f"{name} is not a number JSON allows; send only finite numbers")


def load_json(body: bytes) -> Any:
    """The JSON value of a request body; 400 for anything JSON does not allow (NaN included)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except Refusal:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, an over-long integer
        raise Refusal(400, "the body is not valid JSON") from None


def _number(value: Any, where: str, low: float, high: float) -> float:
    if type(value) not in (int, float):  # bool is an int to Python, not a number here
        raise Refusal(422, f"{where} must be a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise Refusal(422, f"{where} must be a finite number from {low:g} to {high:g}")
    return number


def _probabilities(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != len(EXPRESSIONS):
        raise Refusal(422, f"{where} must be a list of {len(EXPRESSIONS)} numbers or null")
    values = tuple(_number(v, f"{where}[{i}]", 0.0, 1.0) for i, v in enumerate(value))
    if abs(sum(values) - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise Refusal(422, f"{where} must add up to 1 (within {PROBABILITY_SUM_TOLERANCE:g})")
    return values


def parse_sample(item: Any, index: int, attention_only: bool) -> JoinSample:
    """One sample of a batch, checked field by field."""
    where = f"sample {index}"
    if not isinstance(item, dict):
        raise Refusal(422, f"{where} must be an object")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise Refusal(422, f"{where} has an unknown field {unknown[0][:40]!r}")
    missing = [name for name in FIELDS if name not in item]
    if missing:
        raise Refusal(422, f"{where} lacks {missing[0]}")
    t_ms, face = item["t_ms"], item["face"]
    if type(t_ms) is not int:
        raise Refusal(422, f"{where}: t_ms must be an integer (milliseconds)")
    if type(face) is not bool:
        raise Refusal(422, f"{where}: face must be true or false")
    probabilities = item["probabilities"]
    if not face:
        if any(item[name] is not None for name in (*MEASURES, "probabilities")):
            raise Refusal(422, f"{where}: without a face every measure must be null")
        return JoinSample(t_ms, False)
    measures = {name: _number(item[name], f"{where}: {name}", *_RANGES[name]) for name in MEASURES}
    if probabilities is not None and attention_only:
        raise Refusal(422, f"{where}: this lesson is attention-only; probabilities must be null")
    checked = (
        None if probabilities is None else _probabilities(probabilities, f"{where}: probabilities")
    )
    return JoinSample(t_ms, True, probabilities=checked, **measures)


def parse_batch(body: bytes, attention_only: bool) -> list[JoinSample]:
    """The samples of a posted batch, each checked; t_ms strictly increasing."""
    if len(body) > MAX_BATCH_BYTES:
        raise Refusal(413, f"a batch is at most {MAX_BATCH_BYTES} bytes")
    document = load_json(body)
    if not isinstance(document, dict) or set(document) != {"samples"}:
        raise Refusal(422, 'a batch is an object with one field, "samples"')
    items = document["samples"]
    if not isinstance(items, list) or not items:
        raise Refusal(422, "samples must be a non-empty list")
    if len(items) > MAX_SAMPLES_PER_BATCH:
        raise Refusal(413, f"a batch holds at most {MAX_SAMPLES_PER_BATCH} samples")
    samples = [parse_sample(item, i, attention_only) for i, item in enumerate(items)]
    for i in range(1, len(samples)):
        if samples[i].t_ms <= samples[i - 1].t_ms:
            raise Refusal(422, f"sample {i}: t_ms must increase within a batch")
    return samples


def check_times(
    samples: list[JoinSample], *, now_ms: int, joined_ms: int, rate_hz: float, last_t_ms: int | None
) -> None:
    """Refuse a batch whose times are off the server clock, before the student joined, older than
    the offline buffer, or closer together than the lesson's rate needs (after `last_t_ms`, the
    student's newest stored sample; samples at or before it are a resend and are skipped)."""
    first, last = samples[0].t_ms, samples[-1].t_ms
    if last > now_ms + CLOCK_SLACK_MS:
        raise Refusal(422, f"a sample is {(last - now_ms) / 1000:.0f} s ahead of the server clock")
    if first < now_ms - MAX_AGE_MS:
        raise Refusal(
            422, f"a sample is older than the {OFFLINE_BUFFER_S // 60}-minute offline buffer"
        )
    if first < joined_ms - CLOCK_SLACK_MS:
        raise Refusal(422, "a sample is from before the student joined")
    gap = min_gap_ms(rate_hz)
    times = [sample.t_ms for sample in samples]
    new = [t for t in times if last_t_ms is None or t > last_t_ms]
    pairs = list(zip(times, times[1:], strict=False))
    if last_t_ms is not None and new:
        pairs.append((last_t_ms, new[0]))
    for before, after in pairs:
        if after - before < gap:
            raise Refusal(422, f"two samples {after - before} ms apart; this lesson samples at "
                               f"{rate_hz:g} Hz (samples at least {gap} ms apart)")  # fmt: skip


def parse_join(body: bytes, ask_names: bool) -> str | None:
    """The name a student typed (None when none), from a join request `{"name": ...}`."""
    if len(body) > MAX_JOIN_BYTES:
        raise Refusal(413, f"a join request is at most {MAX_JOIN_BYTES} bytes")
    document = load_json(body) if body.strip() else {}
    if not isinstance(document, dict) or not set(document) <= {"name"}:
        raise Refusal(422, 'a join request is an object with at most one field, "name"')
    return clean_name(document.get("name"), ask_names)


def clean_name(raw: Any, ask_names: bool) -> str | None:
    """A typed name: spaces collapsed, no control characters, at most STUDENT_NAME_MAX characters."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise Refusal(422, "name must be text or null")
    if not ask_names:
        raise Refusal(422, "this lesson does not take names")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in raw):
        raise Refusal(422, "a name cannot hold control characters")
    name = " ".join(raw.split())
    if len(name) > STUDENT_NAME_MAX:
        raise Refusal(422, f"a name is at most {STUDENT_NAME_MAX} characters")
    return name or None


def settings_for_page(values: Mapping[str, Any]) -> dict[str, Any]:
    """Limits the page needs to send what is accepted, with the lesson's `values` merged in."""
    return {"max_samples": MAX_SAMPLES_PER_BATCH, "max_bytes": MAX_BATCH_BYTES,
            "offline_buffer_s": OFFLINE_BUFFER_S, **values}  # fmt: skip
