"""The pipeline's logic with fake adapters: tracks, absences, expressions, attention-only, run control."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.attention import AttentionSettings
from engine.faces import FaceLandmarks
from engine.pipeline import EngineSettings, LessonPipeline, PaceCheck, RunStats, run_lesson
from engine.sources import Frame, LiveSource
from models.config import ModelConfig
from storage.records import EXPRESSIONS, AttentionState, LessonStatus
from tests.engine.synthetic_face import FRONTAL, euler_pose_matrix, face_landmarks

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEAT_A, SEAT_B = (100, 100, 80, 80), (400, 100, 80, 80)


def face_at(box, *, yaw_deg: float = 0.0, ear: float = 0.3) -> FaceLandmarks:
    matrix = FRONTAL if yaw_deg == 0 else euler_pose_matrix(yaw_deg, 0, 0)
    return FaceLandmarks(box=box, score=1.0, landmarks=face_landmarks(ear=ear), matrix=matrix)


class ScriptedFinder:
    """Faces as a function of time, like a camera pointed at a scripted class."""

    def __init__(self, script):
        self.script = script

    def find(self, rgb, t_s=None):
        return self.script(t_s)


class FixedClassifier:
    name = "fixed-test"
    labels = EXPRESSIONS
    cfg = ModelConfig(arch="fake", name="fixed-test", input_size=(1, 64, 64))

    def __init__(self):
        self.calls = []

    def predict(self, crops):
        self.calls.append(len(crops))
        out = np.full((len(crops), 7), 0.05)
        out[:, 3] = 0.7  # happy
        return out


def frames(seconds: float, rate_hz: float = 2.0, *, still: bool = False):
    """Frames with a live camera's sensor noise (or, `still`, the same picture every time)."""
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for i in range(int(seconds * rate_hz)):
        t = i / rate_hz
        image = picture if still else rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        yield Frame(image, START + timedelta(seconds=t), t, i)


class ListSource:
    description = "test frames"
    live = False

    def __init__(self, items):
        self.items = list(items)

    def frames(self):
        yield from self.items

    def close(self):
        pass


def two_students_b_leaves_between_3_and_12_s(t):
    faces = [face_at(SEAT_A)]
    if not 3.0 <= t < 12.0:
        faces.append(face_at(SEAT_B))
    return faces


def test_each_student_keeps_one_track_and_absence_is_recorded():
    classifier = FixedClassifier()
    pipe = LessonPipeline(ScriptedFinder(two_students_b_leaves_between_3_and_12_s), classifier,
                          EngineSettings())
    samples = [pipe.process(f).sample for f in frames(15)]
    by_time = {s.ts: {o.track_id: o for o in s.observations} for s in samples}
    assert {tid for obs in by_time.values() for tid in obs} == {1, 2}
    away = by_time[START + timedelta(seconds=5)][2]
    assert away.state is AttentionState.ABSENT
    assert away.box is None and away.probabilities is None
    back = by_time[START + timedelta(seconds=13)][2]
    assert back.state is AttentionState.ATTENTIVE and back.box == SEAT_B
    assert [s.faces_detected for s in samples[4:8]] == [2, 2, 1, 1]
    assert max(classifier.calls) == 2  # all faces of a frame in one batch


def test_probabilities_follow_the_classifier_and_name_the_top_expression():
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), FixedClassifier(), EngineSettings())
    obs = pipe.process(next(frames(1))).sample.observations[0]
    assert obs.expression == "happy"
    assert sum(obs.probabilities) == pytest.approx(1.0)
    assert obs.yaw_deg == pytest.approx(0.0, abs=1e-6)


def test_attention_only_stores_no_probabilities_and_refuses_a_classifier():
    settings = EngineSettings(attention_only=True)
    with pytest.raises(ValueError, match="attention-only"):
        LessonPipeline(ScriptedFinder(lambda t: []), FixedClassifier(), settings)
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), None, settings)
    sample = pipe.process(next(frames(1))).sample
    assert sample.observations[0].probabilities is None
    assert sample.observations[0].expression is None


def test_class_concentration_is_the_samples_stored_engagement_falling_while_a_student_is_away():
    pipe = LessonPipeline(ScriptedFinder(two_students_b_leaves_between_3_and_12_s), None,
                          EngineSettings(attention_only=True))
    results = {round(f.t_s, 1): pipe.process(f) for f in frames(12)}
    for result in results.values():  # storage.measures' rule over the sample it stores
        stored = [o.engagement for o in result.sample.observations]
        assert result.class_concentration == pytest.approx(sum(stored) / len(stored))
    conc = {t: r.class_concentration for t, r in results.items()}
    assert conc[2.5] == pytest.approx(100.0)
    assert conc[11.5] < conc[8.5] < conc[5.5] <= 100.0  # B away: their engagement falls toward 0


def test_a_turned_head_is_looking_away_with_lower_engagement():
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A, yaw_deg=40.0)]), None,
                          EngineSettings(attention_only=True))
    obs = [pipe.process(f).sample.observations[0] for f in frames(3)]
    assert all(o.state is AttentionState.LOOKING_AWAY for o in obs)
    assert obs[-1].engagement < 50.0
    assert obs[-1].yaw_deg == pytest.approx(40.0, abs=0.5)


def test_empty_frames_are_samples_too():
    pipe = LessonPipeline(ScriptedFinder(lambda t: []), FixedClassifier(), EngineSettings())
    result = pipe.process(next(frames(1)))
    assert result.sample.faces_detected == 0 and result.sample.observations == ()
    assert result.class_concentration is None


def test_run_lesson_stops_at_max_seconds_and_writes_every_sample():
    written = []
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), None, EngineSettings(attention_only=True))
    outcome = run_lesson(ListSource(frames(10)), pipe, written.append, max_seconds=4.0)
    assert (outcome.reason, outcome.status) == ("max_seconds", LessonStatus.FINISHED)
    assert len(written) == outcome.samples == 9  # t = 0, 0.5, ..., 4.0


def test_run_lesson_stops_when_asked():
    stop = threading.Event()
    written = []

    def on_sample(result, stats):
        if stats.samples == 3:
            stop.set()

    pipe = LessonPipeline(ScriptedFinder(lambda t: []), None, EngineSettings(attention_only=True))
    outcome = run_lesson(ListSource(frames(10)), pipe, written.append, stop=stop, on_sample=on_sample)
    assert outcome.reason == "stopped" and len(written) == 3
    assert outcome.status == LessonStatus.FINISHED  # the teacher stopped it


def _attention_only(script=lambda t: []) -> LessonPipeline:
    return LessonPipeline(ScriptedFinder(script), None, EngineSettings(attention_only=True))


def test_a_source_played_to_its_end_finishes_the_lesson():
    outcome = run_lesson(ListSource(frames(3)), _attention_only(), [].append)
    assert (outcome.reason, outcome.status, outcome.samples) == ("end_of_source", LessonStatus.FINISHED, 6)
    assert outcome.message == ""


def test_run_lesson_reports_its_last_samples_time_and_takes_frames_already_begun():
    source = ListSource(frames(3))
    begun = source.frames()
    first = next(begun)  # taken before the run, to fix the lesson's start
    written = []
    outcome = run_lesson(source, _attention_only(), written.append, frames=[first, *begun])
    assert [s.ts for s in written] == [START + timedelta(seconds=0.5 * i) for i in range(6)]
    assert outcome.last_ts == START + timedelta(seconds=2.5)


@pytest.mark.parametrize(("gaps_s", "expected_hz", "shown_hz"), [
    ([], None, 0.0),  # one sample: no rate yet
    ([0.5] * 39, None, 2.0),  # 19.5 s: shown, but not a whole window to judge by yet
    ([0.5] * 40, 2.0, 2.0),  # keeping up with 2 Hz
    ([0.5] * 100, 2.0, 2.0),
    ([5 / 3] * 30, 0.6, 0.6),  # a machine that manages one sample every 1.67 s
    ([0.5] * 60 + [2.0] * 10, 0.5, 0.5),  # only the last 20 s count
])
def test_the_achieved_rate_is_counted_over_the_last_20_s_of_samples(gaps_s, expected_hz, shown_hz):
    stats = RunStats()
    t = START
    stats.record(t)
    for gap in gaps_s:
        t += timedelta(seconds=gap)
        stats.record(t)
    assert stats.recent_rate_hz == (None if expected_hz is None else pytest.approx(expected_hz))
    assert stats.samples_per_s == pytest.approx(shown_hz)  # the status line: the dashboard's figure


@pytest.mark.parametrize(("achieved", "lines"), [
    ([None, 2.0, 1.9, 1.7], [None, None, None, None]),
    ([1.5, 1.2, 1.7, 1.85], ["This computer manages 1.5 samples/s of the 2 asked: lower the rate or the face limit.",
                             None, None, "Back to 1.9 samples/s of the 2 asked."]),  # once each way
    ([1.5, None, 1.5], ["This computer manages 1.5 samples/s of the 2 asked: lower the rate or the face limit.",
                        None, None]),
])
def test_falling_behind_the_asked_rate_is_said_once_and_so_is_catching_up(achieved, lines):
    check = PaceCheck(rate_hz=2.0)
    assert [check.update(a) for a in achieved] == lines


def test_a_truncated_file_ends_the_lesson_as_source_lost_at_its_last_good_frame():
    source = ListSource(frames(3))
    source.truncated = True  # what VideoFileSource says of a file that stops before its frame count
    outcome = run_lesson(source, _attention_only(), [].append)
    assert (outcome.reason, outcome.status, outcome.samples) == ("truncated", LessonStatus.SOURCE_LOST, 6)
    assert "truncated or corrupt" in outcome.message


class DarkAfter:
    """A device that gives `n` frames and then nothing, as a camera pulled out of its socket."""

    def __init__(self, n: int) -> None:
        self.left = n

    def grab(self):
        if self.left <= 0:
            return None
        self.left -= 1
        threading.Event().wait(0.002)
        return np.zeros((48, 64, 3), np.uint8)


def test_a_live_source_lost_past_its_retry_window_ends_the_lesson_as_source_lost():
    camera = DarkAfter(3)
    source = LiveSource(lambda: camera.grab, "fake camera", 5.0, stale_s=0.3, give_up_s=1.0)
    written = []
    outcome = run_lesson(source, _attention_only(), written.append)
    source.close()
    assert (outcome.reason, outcome.status) == ("source_lost", LessonStatus.SOURCE_LOST)
    assert outcome.message == "fake camera was lost and did not come back"
    assert len(written) == outcome.samples >= 1


def test_a_live_source_that_never_delivers_ends_the_lesson_as_source_lost():
    source = LiveSource(lambda: DarkAfter(0).grab, "fake camera", 5.0)
    outcome = run_lesson(source, _attention_only(), [].append)
    assert (outcome.status, outcome.samples) == (LessonStatus.SOURCE_LOST, 0)
    assert outcome.message == "fake camera delivered no frame within 5 s"


def test_an_error_in_the_pipeline_is_raised_for_the_caller_to_record():
    def broken_finder(t):
        raise RuntimeError("landmarker crashed")

    with pytest.raises(RuntimeError, match="landmarker crashed"):
        run_lesson(ListSource(frames(3)), _attention_only(broken_finder), [].append)


def test_settings_come_from_the_environment_then_options(monkeypatch):
    monkeypatch.setenv("CLASSPULSE_RATE_HZ", "5")
    monkeypatch.setenv("CLASSPULSE_ATTENTION_ONLY", "yes")
    settings = EngineSettings.from_env()
    assert settings.rate_hz == 5.0 and settings.attention_only
    assert EngineSettings.from_env(rate_hz=1.0).rate_hz == 1.0
    monkeypatch.setenv("CLASSPULSE_RATE_HZ", "100")
    with pytest.raises(Exception, match="outside"):
        EngineSettings.from_env()


def test_attention_thresholds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLASSPULSE_ATTENTION_YAW_LIMIT_DEG", "35")
    monkeypatch.setenv("CLASSPULSE_ATTENTION_ABSENT_GRACE_S", "0")
    attention = EngineSettings.from_env().attention
    assert attention.yaw_limit_deg == 35.0 and attention.absent_grace_s == 0.0
    assert attention.pitch_limit_deg == AttentionSettings().pitch_limit_deg  # the rest stay default
    monkeypatch.setenv("CLASSPULSE_ATTENTION_PITCH_LIMIT_DEG", "steep")
    with pytest.raises(ValueError, match="CLASSPULSE_ATTENTION_PITCH_LIMIT_DEG=.steep.: it must be a finite number"):
        EngineSettings.from_env()
    monkeypatch.setenv("CLASSPULSE_ATTENTION_PITCH_LIMIT_DEG", "nan")
    with pytest.raises(ValueError, match="must be a finite number"):
        EngineSettings.from_env()
    monkeypatch.setenv("CLASSPULSE_ATTENTION_PITCH_LIMIT_DEG", "-5")
    with pytest.raises(ValueError, match="pitch_limit_deg must be > 0"):
        EngineSettings.from_env()


class CountingClassifier:
    """Records the thread and crop of every call; call k answers with `happy` = k / 100."""

    name = "counting-test"
    labels = EXPRESSIONS
    cfg = ModelConfig(arch="fake", name="counting-test", input_size=(1, 64, 64))

    def __init__(self):
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def predict(self, crops):
        self.calls.append((threading.current_thread().name, crops[0].shape))
        out = np.zeros((len(crops), 7))
        out[:, 3] = len(self.calls) / 100
        out[:, 6] = 1 - out[:, 3]
        return out


def test_a_still_lone_face_is_classified_ahead_and_a_moved_one_again_on_its_new_crop():
    boxes = {0.0: SEAT_A, 0.5: SEAT_A, 1.0: (SEAT_A[0] + 20, *SEAT_A[1:]), 1.5: SEAT_A}
    classifier = CountingClassifier()
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(boxes[t])]), classifier, EngineSettings())
    try:
        results = [pipe.process(f) for f in frames(2.0)]
    finally:
        pipe.close()
    happy = [r.sample.observations[0].probabilities[3] for r in results]
    ahead = [r.timings_ms["classified_ahead"] for r in results]
    threads = [name for name, _ in classifier.calls]
    # 0 s: nothing to guess from; the exact crop, on the pipeline's thread.
    # 0.5 s: the face is where it was: the guess made on the classify thread stands (call 2).
    # 1.0 s: it moved 25 % of its size: the guess (call 3) is dropped, the new crop classified (call 4).
    # 1.5 s: moved back, so the guess from 1.0 s is off again (call 5), the new crop is call 6.
    assert ahead == [0.0, 1.0, 0.0, 0.0]
    assert happy == pytest.approx([0.01, 0.02, 0.04, 0.06])
    caller = threading.current_thread().name
    assert threads[0] == threads[3] == caller
    assert caller not in (threads[1], threads[2])  # the guesses ran beside the landmarking
    assert all(shape == (80, 80) for _, shape in classifier.calls)


def test_no_classify_ahead_for_several_faces_or_without_a_classifier():
    classifier = CountingClassifier()
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A), face_at(SEAT_B)]), classifier,
                          EngineSettings())
    results = [pipe.process(f) for f in frames(1.5)]
    pipe.close()
    assert [r.timings_ms["classified_ahead"] for r in results] == [0.0, 0.0, 0.0]
    assert len(classifier.calls) == 3  # one batch of two crops per frame, nothing ahead
    off_classifier = CountingClassifier()
    with LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), off_classifier,
                        EngineSettings(classify_ahead=False)) as off:
        assert [off.process(f).timings_ms["classified_ahead"] for f in frames(1.5)] == [0.0, 0.0, 0.0]
    # Switched off, every crop is classified once, on the caller's thread.
    assert [name for name, _ in off_classifier.calls] == [threading.current_thread().name] * 3
    with LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), None,
                        EngineSettings(attention_only=True)) as attention_only:
        results = [attention_only.process(f) for f in frames(1.5)]
    assert [r.timings_ms["classified_ahead"] for r in results] == [0.0, 0.0, 0.0]
    assert all(r.sample.observations[0].probabilities is None for r in results)


def test_a_failure_while_classifying_ahead_falls_back_to_the_exact_crop():
    caller = threading.current_thread().name

    class FailsAhead(CountingClassifier):
        def predict(self, crops):
            if threading.current_thread().name != caller:  # a guess, classified ahead
                self.calls.append(("failed", crops[0].shape))
                raise RuntimeError("out of memory, say")
            return super().predict(crops)

    classifier = FailsAhead()
    with LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), classifier, EngineSettings()) as pipe:
        results = [pipe.process(f) for f in frames(1.5)]
    assert [r.timings_ms["classified_ahead"] for r in results] == [0.0, 0.0, 0.0]
    assert [name for name, _ in classifier.calls] == [caller, "failed", caller, "failed", caller]
    assert all(r.sample.observations[0].expression is not None for r in results)


def test_crops_are_cut_with_the_classifiers_own_margin_ahead_and_exact():
    classifier = CountingClassifier()
    classifier.cfg = classifier.cfg.with_(crop_margin=1.5)
    with LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), classifier, EngineSettings()) as pipe:
        results = [pipe.process(f) for f in frames(1.5)]
    assert [r.timings_ms["classified_ahead"] for r in results] == [0.0, 1.0, 1.0]
    assert [shape for _, shape in classifier.calls] == [(120, 120)] * 3  # 1.5 x the 80 px box


def test_a_face_that_never_changes_is_a_picture_left_out_of_the_class():
    pipe = LessonPipeline(ScriptedFinder(lambda t: [face_at(SEAT_A)]), FixedClassifier(), EngineSettings())
    results = [pipe.process(f) for f in frames(8, still=True)]
    states = [r.sample.observations[0].state for r in results]
    settle = int(EngineSettings().stillness.still_after_s * 2) + 1  # samples at 2 Hz before it counts
    assert AttentionState.CAMERA_OFF not in states[:settle - 1]
    assert set(states[settle:]) == {AttentionState.CAMERA_OFF}
    last = results[-1]
    assert last.sample.observations[0].probabilities is None and last.class_concentration is None


def test_faces_beyond_the_limit_are_counted_not_dropped_silently():
    class CrowdFinder(ScriptedFinder):
        last_faces_found = 53

    pipe = LessonPipeline(CrowdFinder(lambda t: [face_at(SEAT_A), face_at(SEAT_B)]), FixedClassifier(),
                          EngineSettings())
    result = pipe.process(next(frames(1)))
    assert result.sample.faces_detected == 53 and result.faces_over_limit == 51
    assert len(result.sample.observations) == 2
