from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.sources import (
    ImageFolderSource,
    LatestFrameReader,
    LiveSource,
    SourceError,
    SourceLost,
    VideoFileSource,
    open_source,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("rate_hz", "expected_times"), [
    (2.0, [0.0, 0.5, 1.0, 1.5, 2.0]),
    (1.0, [0.0, 1.0, 2.0]),
    (0.4, [0.0]),
])
def test_video_file_is_sampled_by_its_own_timestamps(asset, rate_hz, expected_times):
    source = VideoFileSource(asset("single_face.mp4"), rate_hz, START)  # 72 frames at 30 fps
    frames = list(source.frames())
    source.close()
    assert [round(f.t_s, 3) for f in frames] == expected_times
    assert [f.ts for f in frames] == [START + timedelta(seconds=t) for t in expected_times]
    assert [f.index for f in frames] == list(range(len(expected_times)))
    assert frames[0].image.shape == (360, 640, 3)


def test_replaying_a_file_gives_identical_frames_and_times(asset):
    runs = []
    for _ in range(2):
        source = VideoFileSource(asset("single_face.mp4"), 2.0, START)
        runs.append([(f.ts, int(f.image.sum())) for f in source.frames()])
    assert runs[0] == runs[1]


def test_missing_video_is_one_clear_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource(tmp_path / "nope.mp4", 2.0, START)


def test_corrupt_video_is_refused_at_open(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 500)
    with pytest.raises(SourceError, match="cannot read video"):
        VideoFileSource(bad, 2.0, START)


def test_truncated_video_ends_cleanly_and_says_so(asset, tmp_path):
    data = asset("WolfgangLanger_Pexels.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    source = VideoFileSource(cut, 2.0, START)
    frames = list(source.frames())
    assert source.truncated
    assert 0 < len(frames) < 40  # the whole clip gives 40 samples at 2 Hz


def test_rate_outside_allowed_range_is_refused(asset):
    with pytest.raises(SourceError, match="outside"):
        VideoFileSource(asset("single_face.mp4"), 45.0, START)


def test_image_folder_yields_each_image_one_period_apart(asset, tmp_path):
    for i, name in enumerate(("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg")):
        (tmp_path / f"{i:02d}_{name}").write_bytes(asset(name).read_bytes())
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path, 0.5, START)
    frames = list(source.frames())
    assert [f.ts for f in frames] == [START, START + timedelta(seconds=2)]


@pytest.mark.parametrize(("spec", "message"), [
    ("demo", "demo clip is missing"),
    ("/no/such/file.mp4", "is not a camera index"),
    ("screen:1,2", "a screen region is x,y,w,h"),
    ("", "no source given"),
    ("99", "cannot open camera 99"),
])
def test_unknown_sources_give_one_line_errors(spec, message, tmp_path):
    with pytest.raises(SourceError, match=message):
        open_source(spec, 2.0, start=START, demo_path=tmp_path / "absent.mp4")


def test_open_source_picks_the_right_kind(asset, tmp_path):
    assert isinstance(open_source(str(asset("single_face.mp4")), 2.0, start=START), VideoFileSource)
    (tmp_path / "a.jpg").write_bytes(asset("single_face.jpg").read_bytes())
    assert isinstance(open_source(str(tmp_path), 2.0, start=START), ImageFolderSource)


class CountingCamera:
    """A device whose frames carry their own sequence number in pixel (0, 0)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.n = 0
        self.fail_after = fail_after
        self.lock = threading.Lock()

    def grab(self) -> np.ndarray | None:
        with self.lock:
            if self.fail_after is not None and self.n >= self.fail_after:
                return None
            self.n += 1
            frame = np.zeros((4, 4, 3), np.uint16)
            frame[0, 0, 0] = self.n
        threading.Event().wait(0.002)
        return frame


def test_latest_frame_reader_keeps_only_the_newest_frame():
    camera = CountingCamera()
    reader = LatestFrameReader(camera.grab)
    threading.Event().wait(0.2)
    frame, seq = reader.latest()
    reader.stop()
    assert seq > 5
    assert int(frame[0, 0, 0]) == seq  # what is handed out is the last frame read, not the first queued


def test_live_source_skips_frames_instead_of_building_a_backlog():
    camera = CountingCamera()
    source = LiveSource(lambda: camera.grab, "fake camera", 10.0)
    seen = []
    for frame in source.frames():
        seen.append(int(frame.image[0, 0, 0]))
        threading.Event().wait(0.15)  # a slow consumer
        if len(seen) == 4:
            break
    source.close()
    assert all(b - a > 1 for a, b in zip(seen, seen[1:], strict=False))
    assert all(f is not None for f in seen)


def test_live_source_that_never_comes_back_raises_source_lost():
    camera = CountingCamera(fail_after=3)
    source = LiveSource(lambda: camera.grab, "fake camera", 5.0, stale_s=0.3, give_up_s=1.0)
    with pytest.raises(SourceLost, match="fake camera was lost"):
        for _ in source.frames():
            pass
    source.close()


def test_live_source_stamps_frames_with_the_clock_passed_in():
    camera = CountingCamera()
    ticks = iter(START + timedelta(seconds=i) for i in range(100))
    source = LiveSource(lambda: camera.grab, "fake camera", 20.0, clock=lambda: next(ticks))
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 3:
            break
    source.close()
    assert [f.t_s for f in frames] == [1.0, 2.0, 3.0]
    assert frames[0].ts == START + timedelta(seconds=1)


def test_still_image_file_is_one_sample(asset, tmp_path):
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), cv2.imread(str(asset("single_face.jpg"))))
    frames = list(open_source(str(path), 2.0, start=START).frames())
    assert len(frames) == 1 and frames[0].ts == START


def test_frames_are_refused_when_the_folder_is_empty(tmp_path: Path):
    with pytest.raises(SourceError, match="holds no images"):
        ImageFolderSource(tmp_path, 2.0, START)


def test_a_looped_file_plays_again_with_media_time_running_on(asset):
    source = VideoFileSource(asset("single_face.mp4"), 2.0, START, loop=True)  # 2.4 s long
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 12:
            break
    source.close()
    times = [f.t_s for f in frames]
    assert times == sorted(times) and times[-1] > 5.0  # past two passes of the clip
    assert all(0.4 < b - a < 0.6 for a, b in zip(times, times[1:], strict=False))
    from tests.conftest import video_frame

    assert frames[5].t_s == pytest.approx(2.5)  # 0.1 s into the second pass: the clip's frame 3
    assert np.array_equal(frames[5].image, video_frame(asset("single_face.mp4"), 3))


def numbered_video(path: Path, n_frames: int, fps: float) -> Path:
    """A small real video whose frame i is a flat grey of level 4 * i (MJPEG keeps flat frames exact)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((48, 64, 3), 4 * i, np.uint8))
    writer.release()
    return path


def frame_number(image: np.ndarray) -> int:
    return int(round(float(image.mean()) / 4))


class JumpingClock:
    """A wall clock that moves only when slept on or told to jump (a slow machine)."""

    def __init__(self, at: datetime) -> None:
        self.now = at
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def jump(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.mark.parametrize(("work_s", "expected"), [
    # (seconds each sample takes to process, then [(t_s, frame shown)]); 20 fps, 4 samples/s
    ([0.1] * 4, [(0.0, 0), (0.25, 5), (0.5, 10), (0.75, 15)]),  # keeping up: one tick every 0.25 s
    ([0.1, 1.3, 0.1, 0.1], [(0.0, 0), (0.25, 5), (1.55, 31), (1.65, 33)]),  # a stall: frames skipped
    ([0.6, 0.6, 0.6, 0.6], [(0.0, 0), (0.6, 12), (1.2, 24), (1.8, 36)]),  # always behind: at once
])
def test_a_file_played_in_real_time_takes_the_frame_due_now(tmp_path, work_s, expected):
    clock = JumpingClock(START)
    video = numbered_video(tmp_path / "numbered.avi", 60, 20.0)
    source = VideoFileSource(video, 4.0, None, realtime=True, clock=clock, sleep=clock.sleep)
    seen = []
    for frame, work in zip(source.frames(), work_s, strict=False):
        seen.append((frame, clock.now))
        clock.jump(work)
    source.close()
    assert [(round(f.t_s, 6), frame_number(f.image)) for f, _ in seen] == expected
    assert [f.ts for f, _ in seen] == [now for _, now in seen]  # stamped with the clock, not media time
    assert [f.ts for f, _ in seen] == [START + timedelta(seconds=t) for t, _ in expected]
    assert [f.index for f, _ in seen] == [0, 1, 2, 3]
    assert all(s >= 0 for s in clock.slept)


def test_a_file_played_in_real_time_skips_frames_by_grabbing_them(tmp_path):
    clock = JumpingClock(START)
    source = VideoFileSource(numbered_video(tmp_path / "n.avi", 60, 20.0), 2.0, START, realtime=True,
                             clock=clock, sleep=clock.sleep)
    frames = source.frames()
    next(frames)
    clock.jump(2.0)
    frame = next(frames)
    source.close()
    assert frame_number(frame.image) == 40 and frame.t_s == 2.0
    assert source.frames_skipped == 39  # frames 1-39 grabbed, never decoded into images


def test_a_looped_file_in_real_time_runs_media_time_on_and_a_plain_one_ends(tmp_path):
    video = numbered_video(tmp_path / "n.avi", 60, 20.0)  # 3 s long
    clock = JumpingClock(START)
    looped = VideoFileSource(video, 2.0, START, realtime=True, loop=True, clock=clock, sleep=clock.sleep)
    frames = looped.frames()
    assert frame_number(next(frames).image) == 0
    clock.jump(7.2)  # two passes and 1.2 s into the third
    frame = next(frames)
    looped.close()
    assert frame.t_s == pytest.approx(7.2) and frame_number(frame.image) == 24
    assert frame.ts == START + timedelta(seconds=7.2)

    clock = JumpingClock(START)
    plain = VideoFileSource(video, 2.0, START, realtime=True, clock=clock, sleep=clock.sleep)
    frames = plain.frames()
    next(frames)
    clock.jump(3.5)
    assert list(frames) == []  # past its end: the lesson's source has ended
    assert not plain.truncated
    plain.close()


def test_a_file_played_in_real_time_starts_at_the_frame_due_since_its_start(tmp_path):
    clock = JumpingClock(START + timedelta(seconds=1.5))  # the lesson began 1.5 s ago
    source = VideoFileSource(numbered_video(tmp_path / "n.avi", 60, 20.0), 2.0, START, realtime=True,
                             clock=clock, sleep=clock.sleep)
    frame = next(source.frames())
    source.close()
    assert frame.t_s == 1.5 and frame_number(frame.image) == 30 and frame.ts == clock.now


def test_without_a_start_time_zero_is_the_clock_at_the_first_frame(tmp_path):
    clock = JumpingClock(START)
    source = open_source(str(numbered_video(tmp_path / "n.avi", 60, 20.0)), 2.0, clock=clock)
    clock.jump(12.0)  # models loading after the source was opened
    frames = list(source.frames())
    assert frames[0].ts == START + timedelta(seconds=12) and frames[0].t_s == 0.0
    assert [f.t_s for f in frames] == [0.5 * i for i in range(6)]  # as fast as possible: media time
    assert [frame_number(f.image) for f in frames] == [10 * i for i in range(6)]
