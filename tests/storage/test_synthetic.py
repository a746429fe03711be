"""The generated lesson: deterministic, realistic mix, written through the bulk path."""

from __future__ import annotations

from collections import Counter

from storage import queries
from storage.lessons import get_lesson
from storage.synthetic import DEFAULT_STARTED_AT, generate_samples, seed_lesson
from storage.viewers import Viewer

EVERYONE = Viewer.everyone()


def _samples(seed: int):
    return list(
        generate_samples(
            students=6, hours=0.05, rate_hz=2.0, seed=seed, started_at=DEFAULT_STARTED_AT
        )
    )


def test_same_seed_gives_the_same_samples_and_other_seeds_differ():
    assert _samples(3) == _samples(3)
    assert _samples(3) != _samples(4)


def test_generated_samples_have_one_row_per_student_and_a_mix_of_states_and_expressions():
    samples = _samples(0)
    assert len(samples) == 360
    assert all(len(s.observations) == 6 for s in samples)
    states = Counter(o.state.value for s in samples for o in s.observations)
    expressions = Counter(o.expression for s in samples for o in s.observations if o.expression)
    assert states["attentive"] > 0 and states["looking_away"] > 0
    assert len(expressions) >= 3


def test_seed_lesson_writes_a_finished_lesson_readable_by_queries(engine):
    lesson_id = seed_lesson(
        engine, students=4, hours=0.02, seed=1, title="Demo", group_name="Demo 1"
    )
    lesson = get_lesson(engine, lesson_id)
    assert lesson["status"] == "finished" and lesson["title"] == "Demo"
    summary = queries.student_summary(engine, lesson_id, viewer=EVERYONE)
    assert list(summary["track_id"]) == [1, 2, 3, 4]
    timeline = queries.lesson_timeline(engine, lesson_id, 60, viewer=EVERYONE)
    assert int(timeline["observations"].sum()) == 4 * 144


def test_attention_only_lesson_has_no_expressions(engine):
    lesson_id = seed_lesson(engine, students=2, hours=0.01, attention_only=True)
    frame = queries.student_summary(engine, lesson_id, viewer=EVERYONE)
    assert frame["dominant_expression"].isna().all()
    assert get_lesson(engine, lesson_id)["attention_only"] is True
