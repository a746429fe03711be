"""The real engine on composed call galleries, checked through the rows it stores.

A gallery video of real photos and video frames of different people, written through the mp4v
codec, is played by `python -m engine run --source FILE` (as the dashboard starts a file lesson)
into a temporary SQLite file. The composition knows which tile every student occupies at every
frame, so each stored box centre names its student: one track ID per student, no ID shared by two,
the still profile photo stored as `camera_off` and out of the class concentration, the camera-off
(name only) tile never observed, a track marked "not a student" out of every aggregate, and a full
7x7 gallery at 1920x1080 analysed whole.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from engine.call_gallery import CallGallery, Layout, Shows, Student, multi_face_people
from engine.gallery import still
from engine.stillness import StillnessSettings
from storage.db import open_database
from storage.exclusions import exclude_track, include_track
from storage.queries import lesson_timeline, lessons_summary, student_summary
from storage.schema import Lesson, ObservationRow, SampleRow
from storage.viewers import Viewer
from tests.kit.galleries import large_gallery, sample_cameras, tile_at, varied

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EVERYONE = Viewer.everyone()

FPS = 5.0  # the clip's frame rate: enough for a 1 Hz lesson, and quick to compose
RATE_HZ = 1.0
SECONDS = 32.0
REORDER_1_S, RESIZE_S, REORDER_2_S = 8.0, 16.0, 24.0
LIVE = ("talker", "nodder", "single_face", "0-f1-su-ph", "0-f15-hao-ph", "15-f13-anc-ph",
        "45-m7-di-ph", "group-1", "group-2", "group-3")
PHOTO, NAME = 7, 8  # the still profile photo's and the camera-off student's index
# A still tile's count restarts where its tile moves (docs/engagement.md): still after
# `still_after_s` there, one sample later at most when the move cost the face a sample.
WARM_UP_S = StillnessSettings().still_after_s + 1.0 / RATE_HZ


def lesson_gallery() -> CallGallery:
    """3x3 (seven live cameras, a profile photo, a name tile); reorder; 4x3 as three join; reorder."""
    cameras = sample_cameras(FPS)
    students = [Student(name, cameras[name]) for name in LIVE[:7]]
    students.append(Student("profile photo", still(multi_face_people()[4]), still_photo=True))
    students.append(Student("Camera Off", lambda k: None, camera_off=((0.0, SECONDS + 1),)))
    students += [Student(name, cameras[name]) for name in LIVE[7:]]  # join at the resize
    layouts = [
        Layout(0.0, (3, 3), tuple(range(9))),
        Layout(REORDER_1_S, (3, 3), (4, 0, 7, 2, 8, 6, 1, 5, 3)),  # the photo moves too
        Layout(RESIZE_S, (3, 4), (4, 0, 7, 2, 8, 6, 1, 5, 3, 9, 10, 11)),  # every tile moves
        Layout(REORDER_2_S, (3, 4), (10, 2, 0, 11, 7, 4, 9, 1, 5, 3, 8, 6)),
    ]
    return CallGallery(students, layouts, (1280, 720), FPS)


def run_engine(clip: Path, db: Path, *options: str) -> None:
    """`python -m engine run` on the clip into the SQLite file named by CLASSPULSE_DB_URL."""
    env = {**os.environ, "CLASSPULSE_DB_URL": f"sqlite:///{db}"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--quiet", "--source", str(clip), "--lesson", "Gallery",
         "--rate", f"{RATE_HZ:g}", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def stored(db: Path) -> tuple[datetime, pd.DataFrame, pd.DataFrame]:
    """The lesson's start, its samples and its observations (t_s: seconds of media time)."""
    engine = open_database(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            (started,) = conn.execute(select(Lesson.started_at)).one()
            samples = pd.DataFrame(conn.execute(select(SampleRow).order_by(SampleRow.ts)).mappings().all())
            obs = pd.DataFrame(conn.execute(
                select(ObservationRow).order_by(ObservationRow.ts, ObservationRow.track_id)).mappings().all())
    finally:
        engine.dispose()
    for frame in (samples, obs):
        frame["t_s"] = [(ts - started).total_seconds() for ts in frame["ts"]]
    return started, samples, obs


def place(gallery: CallGallery, obs: pd.DataFrame) -> pd.DataFrame:
    """Each observation with a box, with the student and what their tile shows (None: a gap)."""
    seen = obs[obs["box_x"].notna()].copy()
    student, shows = [], []
    for row in seen.itertuples():
        tile = tile_at(gallery.truth(int(round(row.t_s * gallery.fps))),
                       (row.box_x, row.box_y, row.box_w, row.box_h))
        student.append(None if tile is None else tile.student)
        shows.append(None if tile is None else tile.shows)
    seen["student"], seen["shows"] = student, shows
    return seen


def copy_db(source: Path, target: Path) -> Engine:
    """A copy of a finished lesson's SQLite file (through SQLite's backup, WAL included), opened."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return open_database(f"sqlite:///{target}")


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """The gallery, the lesson's database file and its stored rows (observations placed)."""
    folder = tmp_path_factory.mktemp("gallery_lesson")
    gallery = lesson_gallery()
    clip = folder / "gallery.mp4"
    gallery.write(clip, SECONDS)
    db = folder / "lesson.db"
    run_engine(clip, db)
    started, samples, obs = stored(db)
    return gallery, db, started, samples, obs, place(gallery, obs)


def test_each_student_keeps_one_track_through_two_reorders_and_a_resize(lesson):
    gallery, _, _, samples, _, seen = lesson
    assert len(samples) == int(SECONDS * RATE_HZ)
    assert seen["student"].notna().all(), "a stored box lies between tiles"
    ids_of = seen.groupby("student")["track_id"].unique()
    assert sorted(ids_of.index) == sorted(set(range(len(gallery.students))) - {NAME})
    assert {gallery.students[s].name: list(ids) for s, ids in ids_of.items() if len(ids) > 1} == {}
    students_of = seen.groupby("track_id")["student"].unique()
    assert {t: list(s) for t, s in students_of.items() if len(s) > 1} == {}
    # Each student is seen in (nearly) every sample their tile is on screen: the IDs were kept
    # on faces that were there, not on a few lucky sightings.
    for s in ids_of.index:
        shown = sum(1 for t in samples["t_s"] if any(
            tile.student == s for tile in gallery.truth(int(round(t * FPS)))))
        assert (seen["student"] == s).sum() >= shown - 2, gallery.students[s].name


def test_the_camera_off_tile_gives_no_observation(lesson):
    gallery, _, _, samples, _, seen = lesson
    assert not (seen["shows"] == Shows.NAME).any()
    assert not (seen["student"] == NAME).any()
    on_screen = [t for t in samples["t_s"]
                 if any(tile.student == NAME for tile in gallery.truth(int(round(t * FPS))))]
    assert len(on_screen) == len(samples)  # the name tile was there all along


def photo_settled(gallery: CallGallery, t_s: float) -> bool:
    """Whether the photo's tile has stayed in place for the warm-up by `t_s`."""
    def rect(t: float) -> tuple[int, int, int, int]:
        return next(tile.rect for tile in gallery.truth(int(round(t * FPS))) if tile.student == PHOTO)

    moved = max([0.0] + [layout.start_s for layout in gallery.layouts[1:]
                         if layout.start_s <= t_s and rect(layout.start_s) != rect(layout.start_s - 0.5)])
    return t_s - moved >= WARM_UP_S


def test_the_still_profile_photo_is_stored_camera_off_after_each_warm_up(lesson):
    gallery, _, _, _, _, seen = lesson
    photo = seen[seen["student"] == PHOTO]
    settled = photo[[photo_settled(gallery, t) for t in photo["t_s"]]]
    assert len(settled) >= 12
    share = (settled["state"] == "camera_off").mean()
    assert share >= 0.95, settled[["t_s", "state"]].to_string()
    assert (photo["expression"].isna() | (photo["state"] != "camera_off")).all()
    live = seen[seen["student"] != PHOTO]
    assert (live["state"] != "camera_off").all(), live[live["state"] == "camera_off"][["t_s", "student"]]


def test_the_still_photo_is_left_out_of_the_class_concentration(lesson, tmp_path):
    gallery, db, _, _, obs, seen = lesson
    photo = seen[seen["student"] == PHOTO]
    (photo_track,) = photo["track_id"].unique()
    engine = copy_db(db, tmp_path / "copy.db")
    try:
        with_photo = lesson_timeline(engine, 1, 1.0, viewer=EVERYONE)
        exclude_track(engine, 1, int(photo_track), datetime.now(UTC))
        without = lesson_timeline(engine, 1, 1.0, viewer=EVERYONE)
    finally:
        engine.dispose()
    assert len(with_photo) == len(without) == int(SECONDS * RATE_HZ)  # a sample per 1 s bucket
    off_ms = set(photo.loc[photo["state"] == "camera_off", "t_ms"] // 1000 * 1000)
    is_off = epoch_ms(with_photo["bucket_start"]).isin(off_ms).to_numpy()
    assert is_off.sum() >= 12
    pd.testing.assert_series_equal(with_photo.loc[is_off, "concentration"],
                                   without.loc[is_off, "concentration"])
    present = with_photo.loc[is_off, "students_present"]
    assert (present == without.loc[is_off, "students_present"]).all()  # a picture is nobody present
    # Engagement 0 is what a camera_off row stores: counted, it would pull the class down.
    assert (obs.loc[obs["state"] == "camera_off", "engagement"] == 0.0).all()
    assert (with_photo.loc[is_off, "concentration"] > 0).all()


def epoch_ms(times: pd.Series) -> pd.Series:
    """Aware datetimes as epoch milliseconds, as the database keeps `t_ms`."""
    return pd.Series([int(t.timestamp() * 1000) for t in times], index=times.index)


def mean_concentration(obs: pd.DataFrame, bucket_start: pd.Series, students: set[int]) -> np.ndarray:
    """Per bucket: mean over the given students counted there (a live camera for at least half
    their samples) of their mean engagement over their live samples."""
    starts = epoch_ms(bucket_start).to_numpy()
    rows = obs[obs["track_id"].isin(students)].copy()
    rows["bucket"] = starts[np.searchsorted(starts, rows["t_ms"].to_numpy(), side="right") - 1]
    rows["live"] = rows["state"] != "camera_off"
    per_student = rows.groupby(["bucket", "track_id"]).agg(
        live=("live", "sum"), still=("live", lambda live: (~live).sum()))
    live_rows = rows[rows["live"]].groupby(["bucket", "track_id"])["engagement"].mean()
    counted = per_student[(per_student["live"] > 0) & (per_student["live"] >= per_student["still"])]
    return live_rows.loc[counted.index].groupby("bucket").mean().reindex(starts).to_numpy()


def test_a_track_marked_not_a_student_leaves_the_lesson_aggregates(lesson, tmp_path):
    gallery, db, _, _, obs, seen = lesson
    (talker,) = seen.loc[seen["student"] == LIVE.index("talker"), "track_id"].unique()
    tracks = set(obs["track_id"])
    engine = copy_db(db, tmp_path / "copy.db")
    try:
        summary_before = student_summary(engine, 1, viewer=EVERYONE)
        timeline_before = lesson_timeline(engine, 1, 10.0, viewer=EVERYONE)
        seen_before = lessons_summary(engine, viewer=EVERYONE)["students_seen"].item()
        exclude_track(engine, 1, int(talker), datetime.now(UTC))
        summary = student_summary(engine, 1, viewer=EVERYONE)
        timeline = lesson_timeline(engine, 1, 10.0, viewer=EVERYONE)
        seen_after = lessons_summary(engine, viewer=EVERYONE)["students_seen"].item()
        include_track(engine, 1, int(talker))
        restored = student_summary(engine, 1, viewer=EVERYONE)
    finally:
        engine.dispose()
    assert set(summary_before["track_id"]) == tracks
    assert set(summary["track_id"]) == tracks - {talker}
    pd.testing.assert_frame_equal(
        summary.reset_index(drop=True),
        summary_before[summary_before["track_id"] != talker].reset_index(drop=True))
    pd.testing.assert_frame_equal(restored, summary_before)
    assert seen_after == seen_before - 1
    talker_rows = obs[obs["track_id"] == talker]
    assert timeline["observations"].sum() == timeline_before["observations"].sum() - (
        talker_rows["state"] != "camera_off").sum()
    assert (timeline["students_counted"] == timeline_before["students_counted"] - 1).all()  # talker in every bucket
    everyone = mean_concentration(obs, timeline_before["bucket_start"], tracks)
    assert timeline_before["concentration"].to_numpy() == pytest.approx(everyone)
    others = mean_concentration(obs, timeline["bucket_start"], tracks - {talker})
    assert timeline["concentration"].to_numpy() == pytest.approx(others)
    assert np.abs(others - everyone).max() > 0.1  # the talker's rows did move the class figure


def test_a_full_7x7_gallery_at_1920x1080_is_analysed_whole(tmp_path):
    """49 students: the sample media's twelve people, each several times with another camera look
    (mirrored, closer, another white balance), as `large_gallery` composes them."""
    gallery = large_gallery(7, fps=FPS)
    clip = tmp_path / "gallery_7x7.mp4"
    gallery.write(clip, 4.0)
    db = tmp_path / "lesson.db"
    run_engine(clip, db, "--attention-only")
    _, samples, obs = stored(db)
    assert len(samples) == 4
    assert (samples["faces_detected"] >= 47).all(), samples["faces_detected"].tolist()
    seen = place(gallery, obs)
    per_sample = seen.groupby("t_s")["student"].agg(["count", "nunique"])
    assert len(per_sample) == 4 and (per_sample["count"] >= 47).all(), per_sample
    assert (per_sample["nunique"] == per_sample["count"]).all()  # one face per tile
    tracks_per_student: dict[int, set[int]] = defaultdict(set)
    for row in seen.itertuples():
        tracks_per_student[row.student].add(row.track_id)
    assert all(len(ids) == 1 for ids in tracks_per_student.values())


def look_alike_gallery(fps: float = 10.0) -> CallGallery:
    """A still 3x3 call (no tile ever moves) where one student's camera shows the talker's video
    and another's the same video mirrored and 8 s later: two students who look alike, as twins in
    one room would, like the first demo clip's two talkers (10 fps, as that clip)."""
    cameras = sample_cameras(fps)
    talker = cameras["talker"]
    students = [Student(name, cameras[name]) for name in
                ("talker", "single_face", "0-f1-su-ph", "group-1", "nodder", "0-f15-hao-ph",
                 "15-f13-anc-ph")]
    students.append(Student("talker's twin", varied(lambda k: talker(k + int(8 * fps)), mirror=True)))
    students.append(Student("45-m7-di-ph", cameras["45-m7-di-ph"]))
    return CallGallery(students, [Layout(0.0, (3, 3), tuple(range(9)))], (1280, 720), fps)


def test_two_look_alike_students_whose_tiles_never_move_never_share_a_track(tmp_path):
    gallery = look_alike_gallery()
    clip = tmp_path / "look_alike.mp4"
    gallery.write(clip, 16.0)
    db = tmp_path / "lesson.db"
    run_engine(clip, db, "--attention-only")
    _, _, obs = stored(db)
    seen = place(gallery, obs)
    assert seen["student"].notna().all()
    assert set(seen["student"]) == set(range(9))
    students_of = seen.groupby("track_id")["student"].unique()
    assert {t: list(s) for t, s in students_of.items() if len(s) > 1} == {}
