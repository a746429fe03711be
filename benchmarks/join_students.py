"""Simulated students posting to join lessons as the real page does, and a check that every sample
sent is stored exactly once.

Each simulated student is an HTTP client (aiohttp, one connection of its own, as each browser has),
not a browser: it joins, takes a sample every 1/HZ s on the server's clock (its offset learnt at
join) and sends as the page's sender.js does: a batch when FLUSH_AT_SAMPLES samples wait or
FLUSH_EVERY_S after the last one. Some drop off for a while (their samples wait, as in the page's
offline buffer, and go on return), and some batches are posted twice, as a page does whose reply
was lost. At the end every sample answered 200 is looked up in the database: missing ones are
lost, extra or doubled ones are errors. Latency is that of the sample posts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import numpy as np
from sqlalchemy import func, select

from storage.db import open_database
from storage.join import close_join, open_join_lesson
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, SampleRow

log = logging.getLogger(__name__)

# dashboard.join.payload.MAX_SAMPLES_PER_BATCH is larger; the page's batches are small.
BATCH_MAX = 20
FLUSH_EVERY_S = 5.0  # sender.js FLUSH_EVERY_MS
FLUSH_AT_SAMPLES = 10  # sender.js FLUSH_AT_SAMPLES


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How the simulated classes behave."""

    students: int
    rate_hz: float
    seconds: float
    batch_s: float = FLUSH_EVERY_S  # a page posts what it holds this often (or at FLUSH_AT_SAMPLES)
    drop_share: float = 0.2  # about this share of students drop off once
    drop_s: tuple[float, float] = (3.0, 8.0)  # for this long (uniform)
    resend_share: float = 0.05  # batches posted a second time (a reply lost)
    attention_only: bool = True
    seed: int = 0
    # With several servers: each student joins through one (round robin) and posts there, or, with
    # `alternate`, posts each batch to the next server in turn (a load balancer without stickiness).
    alternate: bool = False
    class_size: int = 0  # students per lesson (0: all in one lesson)

    @property
    def lessons(self) -> int:
        size = self.class_size or self.students
        return -(-self.students // size)


@dataclass
class LoadReport:
    """What the run came to."""

    students: int = 0
    lessons: list[int] = field(default_factory=list)  # their lesson ids, the first one watched
    sent: int = 0  # samples answered 200 (stored now or before)
    stored: int = 0  # distinct samples of the lessons in the database
    lost: int = 0
    duplicated: int = 0
    extra: int = 0  # stored though never sent
    drops: int = 0
    resends: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # refusals (HTTP status)
    network_errors: Counter[str] = field(default_factory=Counter)  # the batch was kept, sent again
    stale_connections: int = 0  # a keep-alive connection the server had closed: sent again at once
    latencies_ms: list[float] = field(default_factory=list)
    answered_at_s: list[float] = field(default_factory=list)  # each post's answer, from the start
    seconds: float = 0.0  # how long the students sent
    started_at: float = 0.0  # the run's start (time.perf_counter())

    @property
    def ok(self) -> bool:
        """Nothing lost, doubled or invented, and no request refused (a dropped connection is
        the network's: the page keeps the batch and sends it again, as the simulated one does)."""
        return not (self.lost or self.duplicated or self.extra or self.errors) and self.sent > 0

    def percentile_ms(self, q: float) -> float:
        """A percentile of the sample posts' latency (NaN without any)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def windows(self, width_s: float = 10.0) -> list[dict]:
        """Posts, p50 and p99 per `width_s` of the run (where a slow spell falls)."""
        by_window: dict[int, list[float]] = {}
        for at, ms in zip(self.answered_at_s, self.latencies_ms, strict=True):
            by_window.setdefault(int(at // width_s), []).append(ms)
        return [{"from_s": k * width_s, "posts": len(v), "p50_ms": float(np.percentile(v, 50)),
                 "p99_ms": float(np.percentile(v, 99))}
                for k, v in sorted(by_window.items())]  # fmt: skip

    def lines(self) -> list[str]:
        """The report for a person."""
        errors = ", ".join(f"{k}: {n}" for k, n in sorted(self.errors.items())) or "none"
        network = ", ".join(f"{k}: {n}" for k, n in sorted(self.network_errors.items())) or "none"
        posts = len(self.latencies_ms)
        return [
            f"students {self.students} in {len(self.lessons)} lessons, samples sent {self.sent}, "
            f"stored {self.stored}",
            f"lost {self.lost}, duplicated {self.duplicated}, stored but never sent {self.extra}",
            f"drop-offs {self.drops}, batches resent {self.resends}, refused: {errors}, "
            f"network errors (sent again): {network}, stale keep-alive connections (sent again at "
            f"once): {self.stale_connections}",
            f"sample posts {posts} ({posts / max(self.seconds, 1e-9):.1f}/s): "
            f"p50 {self.percentile_ms(50):.1f} ms, p99 {self.percentile_ms(99):.1f} ms, "
            f"max {max(self.latencies_ms, default=float('nan')):.1f} ms",
            "p99 per 10 s: " + " ".join(f"{w['p99_ms']:.0f}" for w in self.windows()),
        ]

    def figures(self) -> dict:
        """The report as JSON."""
        return {"students": self.students, "lessons": len(self.lessons), "sent": self.sent,
                "stored": self.stored, "lost": self.lost, "duplicated": self.duplicated,
                "extra": self.extra, "drops": self.drops, "resends": self.resends,
                "refused": dict(self.errors), "network_errors": dict(self.network_errors),
                "stale_connections": self.stale_connections,
                "posts": len(self.latencies_ms), "seconds": self.seconds,
                "p50_ms": self.percentile_ms(50), "p99_ms": self.percentile_ms(99),
                "max_ms": max(self.latencies_ms, default=float("nan")),
                "windows": self.windows()}  # fmt: skip


def _sample(rng: random.Random, t_ms: int, attention_only: bool) -> dict:
    """A plausible sample, as the page measures it."""
    if rng.random() < 0.1:
        return {"t_ms": t_ms, "face": False, "yaw_deg": None, "pitch_deg": None, "roll_deg": None,
                "eye_openness": None, "gaze_offset": None, "probabilities": None}  # fmt: skip
    probabilities = None
    if not attention_only:
        weights = [rng.random() for _ in range(7)]
        probabilities = [round(w / sum(weights), 4) for w in weights]
    return {"t_ms": t_ms, "face": True, "yaw_deg": round(rng.gauss(0, 15), 2),
            "pitch_deg": round(rng.gauss(0, 10), 2), "roll_deg": round(rng.gauss(0, 5), 2),
            "eye_openness": round(rng.uniform(0.1, 0.4), 3),
            "gaze_offset": round(rng.uniform(0, 0.6), 3), "probabilities": probabilities}  # fmt: skip


class _Student:
    """One simulated page: joins, samples on a timer, posts batches, drops off and returns."""

    def __init__(self, session: aiohttp.ClientSession, apis: list[str], settings: LoadSettings,
                 report: LoadReport, seed: int) -> None:  # fmt: skip
        self.session, self.apis, self.settings, self.report = session, apis, settings, report
        self.api = apis[0]  # the server it joins through (and posts to, unless alternating)
        self.posts = 0
        self.rng = random.Random(seed)
        self.token = ""
        self.offset_ms = 0
        self.buffer: list[dict] = []
        self.sent: list[int] = []
        self.track_id = 0
        self._retry_after = 1.0

    async def run(self, start_at: float, stop_at: float) -> None:
        """Join at `start_at` (loop time), then sample and post until `stop_at`, then send the rest."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        status, joined = await self._request(f"{self.api}/students", {})
        if status != 201:
            self.report.errors[f"join {status}"] += 1
            return
        self.token, self.track_id = joined["token"], joined["track_id"]
        self.offset_ms = joined["server_time_ms"] - int(time.time() * 1000)
        sampling = asyncio.create_task(self._sample_until(stop_at))
        try:
            await self._send_until(stop_at)
        finally:
            await sampling
        await self._flush()

    async def _sample_until(self, stop_at: float) -> None:
        """A sample every period, whatever the sending is doing (the page's camera loop)."""
        loop, period = asyncio.get_running_loop(), 1.0 / self.settings.rate_hz
        next_sample = loop.time() + self.rng.uniform(0.05, period)
        while next_sample < stop_at:
            await asyncio.sleep(max(0.0, next_sample - loop.time()))
            self._take_sample(period)
            next_sample = max(next_sample + period, loop.time() + 0.6 * period)

    async def _send_until(self, stop_at: float) -> None:
        """Send as sender.js does: when FLUSH_AT_SAMPLES wait or `batch_s` after the last send,
        one request at a time; now and then the network drops for a few seconds."""
        loop, cfg = asyncio.get_running_loop(), self.settings
        drop_chance = cfg.drop_share * cfg.batch_s / cfg.seconds
        last_send = loop.time() + self.rng.uniform(-cfg.batch_s, 0.0)  # pages are not in step
        online_at = 0.0
        while (now := loop.time()) < stop_at:
            missing = max(0, FLUSH_AT_SAMPLES - len(self.buffer))
            due = max(online_at, min(last_send + cfg.batch_s, now + missing / cfg.rate_hz))
            if due > now:
                await asyncio.sleep(min(due, stop_at) - now)
                continue
            last_send = now
            if self.rng.random() < drop_chance:
                online_at = now + self.rng.uniform(*cfg.drop_s)  # offline: samples wait
                self.report.drops += 1
                continue
            if not await self._flush():
                online_at = loop.time() + 1.0  # the page's first back-off

    def _take_sample(self, period: float) -> None:
        t_ms = int(time.time() * 1000) + self.offset_ms
        last = self.buffer[-1]["t_ms"] if self.buffer else (self.sent[-1] if self.sent else None)
        if last is not None and t_ms - last < 0.6 * period * 1000:
            return  # a late timer: a page skips rather than crowds samples
        self.buffer.append(_sample(self.rng, t_ms, self.settings.attention_only))

    async def _flush(self) -> bool:
        """Post what the page holds, BATCH_MAX at a time, as long as the server takes it; False
        when a post failed (the rest waits)."""
        while self.buffer:
            batch = self.buffer[:BATCH_MAX]
            if not await self._post(batch):
                return False
            self.sent.extend(sample["t_ms"] for sample in batch)
            del self.buffer[: len(batch)]
            if self.rng.random() < self.settings.resend_share:
                self.report.resends += 1
                await self._post(batch)
        return True

    async def _request(self, url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.post(url, json=body, headers=headers) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:  # not JSON (a proxy's error page)
                answer = {}
            self._retry_after = float(response.headers.get("Retry-After", "1"))
            return response.status, answer

    async def _post(self, batch: list[dict]) -> bool:
        """One sample post; True when answered 200. A 429 is waited out and tried again."""
        for _ in range(5):
            api = self.apis[self.posts % len(self.apis)] if self.settings.alternate else self.api
            self.posts += 1
            started = time.perf_counter()
            try:
                try:
                    status, answer = await self._request(f"{api}/samples", {"samples": batch},
                                                         self.token)  # fmt: skip
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    # The server closed the idle keep-alive connection as this post went out: a
                    # browser sends it again at once on a new connection, and so does this.
                    self.report.stale_connections += 1
                    started = time.perf_counter()
                    status, answer = await self._request(f"{api}/samples", {"samples": batch},
                                                         self.token)  # fmt: skip
            except (TimeoutError, aiohttp.ClientError) as exc:  # kept, sent at the next post
                self.report.network_errors[type(exc).__name__] += 1
                return False
            answered = time.perf_counter()
            self.report.latencies_ms.append((answered - started) * 1000)
            self.report.answered_at_s.append(answered - self.report.started_at)
            if status == 200:
                return True
            self.report.errors[str(status)] += 1
            if status != 429:
                log.warning("a sample post was refused (%d): %s", status, answer)
                return False
            await asyncio.sleep(self._retry_after)
        return False


async def simulate(
    urls: list[str], codes: list[str], settings: LoadSettings, report: LoadReport
) -> dict[tuple[str, int], list[int]]:
    """Run the students against the servers, spread over the lessons' codes in turn and joining
    over the first seconds; each one's sample times answered 200, by (code, track)."""
    sessions = [aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1, force_close=False),
        timeout=aiohttp.ClientTimeout(total=60.0)) for _ in range(settings.students)]  # fmt: skip
    loop = asyncio.get_running_loop()
    ramp_s = min(10.0, settings.seconds / 4, settings.students / 100)  # not all in one instant
    started = loop.time()
    report.started_at = time.perf_counter()
    students: list[tuple[str, _Student]] = []
    for i, session in enumerate(sessions):
        code = codes[i % len(codes)]
        apis = [f"{url.rstrip('/')}/join/api/{code}" for url in urls]
        apis = apis[i % len(apis) :] + apis[: i % len(apis)]
        students.append((code, _Student(session, apis, settings, report,
                                        settings.seed * 100_003 + i)))  # fmt: skip
    # Each student sends for the same time, so they leave as they came: spread over the ramp (a
    # whole school sending its last batches in one instant is no lesson's end).
    sending_s = settings.seconds - ramp_s
    try:
        joins = [started + ramp_s * i / settings.students for i in range(len(students))]
        runs = [student.run(at, at + sending_s)
                for at, (_, student) in zip(joins, students, strict=True)]  # fmt: skip
        await asyncio.gather(*runs)
    finally:
        await asyncio.gather(*(session.close() for session in sessions))
    report.seconds = loop.time() - started
    report.students = sum(1 for _, student in students if student.token)
    return {(code, student.track_id): student.sent for code, student in students if student.token}


def check_stored(db_url: str, lessons: dict[str, int], sent: dict[tuple[str, int], list[int]],
                 report: LoadReport) -> None:  # fmt: skip
    """Compare what was sent with the lessons' samples and observations in the database."""
    engine = open_database(db_url)
    wanted = {
        (lessons[code], track, t_ms) for (code, track), times in sent.items() for t_ms in times
    }
    ids = list(lessons.values())
    with engine.connect() as conn:
        samples = conn.execute(select(SampleRow.lesson_id, SampleRow.stream, SampleRow.t_ms)
                               .where(SampleRow.lesson_id.in_(ids))).all()  # fmt: skip
        observations = conn.execute(
            select(ObservationRow.lesson_id, ObservationRow.track_id, ObservationRow.t_ms,
                   func.count())
            .where(ObservationRow.lesson_id.in_(ids))
            .group_by(ObservationRow.lesson_id, ObservationRow.track_id, ObservationRow.t_ms)
        ).all()  # fmt: skip
    stored = Counter((int(lesson), int(stream), int(t_ms)) for lesson, stream, t_ms in samples)
    report.sent = len(wanted)
    report.stored = len(stored)
    report.lost = len(wanted - set(stored))
    report.extra = len(set(stored) - wanted)
    report.duplicated = sum(n - 1 for n in stored.values() if n > 1)
    report.duplicated += sum(n - 1 for *_, n in observations if n > 1)
    observed = {(int(lesson), int(track), int(t_ms)) for lesson, track, t_ms, _ in observations}
    report.lost += len(wanted - observed)


def open_lessons(db_url: str, settings: LoadSettings) -> dict[str, int]:
    """The join lessons the students are spread over (as a teacher's Start opens them): code -> id."""
    engine = open_database(db_url)
    size = settings.class_size or settings.students
    lessons = {}
    for n in range(settings.lessons):
        spec = LessonSpec(title=f"join_load class {n + 1} ({size} students)", group_name="load",
                          started_at=datetime.now(UTC), sample_rate_hz=settings.rate_hz,
                          attention_only=settings.attention_only)  # fmt: skip
        lesson = open_join_lesson(engine, spec, ask_names=False)
        lessons[lesson.code] = lesson.lesson_id
    return lessons


def close_lessons(db_url: str, lessons: dict[str, int]) -> None:
    engine = open_database(db_url)
    for lesson_id in lessons.values():
        close_join(engine, lesson_id, datetime.now(UTC))


def run_class(urls: list[str], db_url: str, settings: LoadSettings,
              lessons: dict[str, int]) -> LoadReport:  # fmt: skip
    """Run the simulated students against open `lessons`, close them, check the rows."""
    report = LoadReport(lessons=list(lessons.values()))
    try:
        sent = asyncio.run(simulate(urls, list(lessons), settings, report))
    finally:
        close_lessons(db_url, lessons)
    check_stored(db_url, lessons, sent, report)
    return report


def run_load(urls: str | list[str], db_url: str, settings: LoadSettings) -> LoadReport:
    """Open the join lessons, run the simulated students against the server(s), close the lessons
    and check the rows."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    return run_class(urls, db_url, settings, open_lessons(db_url, settings))
