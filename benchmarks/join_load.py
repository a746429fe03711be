"""Simulated students posting to a join lesson as the real page does, and a check that every
sample sent is stored exactly once.

python -m benchmarks.join_load --students N --rate HZ --seconds S --url URL --db DBURL

The lesson is opened in the database (as `python -m dashboard join` does) and served by the
server at URL (the dashboard, or any server mounting dashboard.join's routes on that database).
Each simulated student is an HTTP client, not a browser: it joins, takes a sample every 1/HZ s on
the server's clock (its offset learnt at join) and posts what it holds every `batch_s`. Some drop
off for a while (their samples wait, as in the page's offline buffer, and go on return), and
some batches are posted twice, as a page does whose reply was lost. At the end every sample
answered 200 is looked up in the database: missing ones are lost, extra or doubled ones are
errors. Latency is that of the sample posts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
import httpx
import numpy as np
from sqlalchemy import func, select

from storage.cli_types import FiniteFloat
from storage.db import open_database
from storage.join import close_join, open_join_lesson
from storage.lessons import LessonSpec
from storage.schema import ObservationRow, SampleRow

log = logging.getLogger(__name__)

BATCH_MAX = 20


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How the simulated class behaves."""

    students: int
    rate_hz: float
    seconds: float
    batch_s: float = 2.0  # a page posts what it holds this often
    drop_share: float = 0.2  # about this share of students drop off once
    drop_s: tuple[float, float] = (3.0, 8.0)  # for this long (uniform)
    resend_share: float = 0.05  # batches posted a second time (a reply lost)
    attention_only: bool = True
    seed: int = 0
    # With several servers: each student joins through one (round robin) and posts there, or, with
    # `alternate`, posts each batch to the next server in turn (a load balancer without stickiness).
    alternate: bool = False


@dataclass
class LoadReport:
    """What the run came to."""

    students: int = 0
    sent: int = 0  # samples answered 200 (stored now or before)
    stored: int = 0  # distinct samples of the lesson in the database
    lost: int = 0
    duplicated: int = 0
    extra: int = 0  # stored though never sent
    drops: int = 0
    resends: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # refusals (HTTP status)
    network_errors: Counter[str] = field(
        default_factory=Counter
    )  # the batch was kept and sent again
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, doubled or invented, and no request refused (a dropped connection is
        the network's: the page keeps the batch and sends it again, as the simulated one does)."""
        return not (self.lost or self.duplicated or self.extra or self.errors) and self.sent > 0

    def percentile_ms(self, q: float) -> float:
        """A percentile of the sample posts' latency (NaN without any)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def lines(self) -> list[str]:
        """The report for a person."""
        errors = ", ".join(f"{k}: {n}" for k, n in sorted(self.errors.items())) or "none"
        network = ", ".join(f"{k}: {n}" for k, n in sorted(self.network_errors.items())) or "none"
        return [
            f"students {self.students}, samples sent {self.sent}, stored {self.stored}",
            f"lost {self.lost}, duplicated {self.duplicated}, stored but never sent {self.extra}",
            f"drop-offs {self.drops}, batches resent {self.resends}, refused: {errors}, "
            f"network errors (sent again): {network}",
            f"sample posts {len(self.latencies_ms)}: p50 {self.percentile_ms(50):.1f} ms, "
            f"p99 {self.percentile_ms(99):.1f} ms",
        ]


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

    def __init__(self, client: httpx.AsyncClient, apis: list[str], settings: LoadSettings,
                 report: LoadReport, seed: int) -> None:  # fmt: skip
        self.client, self.apis, self.settings, self.report = client, apis, settings, report
        self.api = apis[0]  # the server it joins through (and posts to, unless alternating)
        self.posts = 0
        self.rng = random.Random(seed)
        self.token = ""
        self.offset_ms = 0
        self.buffer: list[dict] = []
        self.sent: list[int] = []
        self.track_id = 0

    async def run(self, stop_at: float) -> None:
        """Join, then sample and post until `stop_at` (loop time), then send what is left."""
        loop = asyncio.get_running_loop()
        response = await self.client.post(f"{self.api}/students", json={})
        if response.status_code != 201:
            self.report.errors[f"join {response.status_code}"] += 1
            return
        joined = response.json()
        self.token, self.track_id = joined["token"], joined["track_id"]
        self.offset_ms = joined["server_time_ms"] - int(time.time() * 1000)
        period, cfg = 1.0 / self.settings.rate_hz, self.settings
        drop_chance = cfg.drop_share * cfg.batch_s / cfg.seconds
        next_sample = loop.time() + self.rng.uniform(0.05, period)
        next_post = loop.time() + cfg.batch_s + self.rng.uniform(0, cfg.batch_s)
        online_at = 0.0
        while (now := loop.time()) < stop_at:
            await asyncio.sleep(max(0.0, min(next_sample, next_post) - now))
            now = loop.time()
            if now >= next_sample:
                self._take_sample(period)
                next_sample = max(next_sample + period, now + 0.6 * period)
            if now >= next_post:
                next_post += cfg.batch_s
                if now < online_at:
                    continue
                if self.rng.random() < drop_chance:
                    online_at = now + self.rng.uniform(*cfg.drop_s)
                    self.report.drops += 1
                    continue
                await self._flush()
        await self._flush()

    def _take_sample(self, period: float) -> None:
        t_ms = int(time.time() * 1000) + self.offset_ms
        last = self.buffer[-1]["t_ms"] if self.buffer else (self.sent[-1] if self.sent else None)
        if last is not None and t_ms - last < 0.6 * period * 1000:
            return  # a late timer: a page skips rather than crowds samples
        self.buffer.append(_sample(self.rng, t_ms, self.settings.attention_only))

    async def _flush(self) -> None:
        """Post what the page holds, BATCH_MAX at a time, as long as the server takes it."""
        while self.buffer:
            batch = self.buffer[:BATCH_MAX]
            if not await self._post(batch):
                return
            self.sent.extend(sample["t_ms"] for sample in batch)
            del self.buffer[: len(batch)]
            if self.rng.random() < self.settings.resend_share:
                self.report.resends += 1
                await self._post(batch)

    async def _post(self, batch: list[dict]) -> bool:
        """One sample post; True when answered 200. A 429 is waited out and tried again."""
        headers = {"Authorization": f"Bearer {self.token}"}
        for _ in range(5):
            started = time.perf_counter()
            try:
                api = (self.apis[self.posts % len(self.apis)] if self.settings.alternate
                       else self.api)
                self.posts += 1
                response = await self.client.post(f"{api}/samples", json={"samples": batch},
                                                  headers=headers)  # fmt: skip
            except httpx.TransportError as exc:  # kept in the buffer, sent at the next post
                self.report.network_errors[type(exc).__name__] += 1
                return False
            self.report.latencies_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code == 200:
                return True
            self.report.errors[str(response.status_code)] += 1
            if response.status_code != 429:
                log.warning("a sample post was refused: %s", response.text[:200])
                return False
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        return False


async def simulate(
    urls: list[str], code: str, settings: LoadSettings, report: LoadReport
) -> dict[int, list[int]]:
    """Run the students against the servers; each one's sample times answered 200, by track.

    Each student has its own HTTP client and connection, as each browser does (one shared pool
    of hundreds of connections costs httpx more CPU than the server spends).
    """
    apis = [f"{url.rstrip('/')}/join/api/{code}" for url in urls]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(limits=limits, timeout=60.0) for _ in range(settings.students)]
    try:
        students = [_Student(client, apis[i % len(apis):] + apis[: i % len(apis)], settings, report,
                             settings.seed * 100_003 + i)
                    for i, client in enumerate(clients)]  # fmt: skip
        stop_at = asyncio.get_running_loop().time() + settings.seconds
        await asyncio.gather(*(student.run(stop_at) for student in students))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    report.students = sum(1 for student in students if student.token)
    return {student.track_id: student.sent for student in students if student.token}


def check_stored(
    db_url: str, lesson_id: int, sent: dict[int, list[int]], report: LoadReport
) -> None:
    """Compare what was sent with the lesson's samples and observations in the database."""
    engine = open_database(db_url)
    with engine.connect() as conn:
        samples = conn.execute(select(SampleRow.stream, SampleRow.t_ms)
                               .where(SampleRow.lesson_id == lesson_id)).all()  # fmt: skip
        observations = conn.execute(
            select(ObservationRow.track_id, ObservationRow.t_ms, func.count())
            .where(ObservationRow.lesson_id == lesson_id)
            .group_by(ObservationRow.track_id, ObservationRow.t_ms)
        ).all()  # fmt: skip
    stored = Counter((int(stream), int(t_ms)) for stream, t_ms in samples)
    wanted = {(track, t_ms) for track, times in sent.items() for t_ms in times}
    report.sent = sum(len(times) for times in sent.values())
    report.stored = len(stored)
    report.lost = len(wanted - set(stored))
    report.extra = len(set(stored) - wanted)
    report.duplicated = sum(n - 1 for n in stored.values() if n > 1)
    report.duplicated += sum(n - 1 for _, _, n in observations if n > 1)
    report.lost += len(wanted - {(int(track), int(t_ms)) for track, t_ms, _ in observations})


def run_load(urls: str | list[str], db_url: str, settings: LoadSettings) -> LoadReport:
    """Open a join lesson, run the simulated class against the server(s), close it and check the rows."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    engine = open_database(db_url)
    spec = LessonSpec(title=f"join_load {settings.students} students", group_name="load",
                      started_at=datetime.now(UTC), sample_rate_hz=settings.rate_hz,
                      attention_only=settings.attention_only)  # fmt: skip
    lesson = open_join_lesson(engine, spec, ask_names=False)
    report = LoadReport()
    try:
        sent = asyncio.run(simulate(urls, lesson.code, settings, report))
    finally:
        close_join(engine, lesson.lesson_id, datetime.now(UTC))
    check_stored(db_url, lesson.lesson_id, sent, report)
    return report


@click.command()
@click.option(
    "--students", type=click.IntRange(1, 100_000), required=True, help="Simulated students."
)
@click.option("--rate", "rate_hz", type=FiniteFloat(0.1, 10), default=1.0, show_default=True,
              help="Samples per second per student.")  # fmt: skip
@click.option(
    "--seconds", type=FiniteFloat(1), default=60.0, show_default=True, help="How long they send."
)
@click.option("--url", "urls", required=True, multiple=True,
              help="The server's URL, e.g. http://127.0.0.1:8501 (repeat for several servers on one database).")
@click.option("--alternate", is_flag=True, help="With several servers: each batch to the next server.")
@click.option("--db", "db_url", required=True, envvar="CLASSPULSE_DB_URL",
              help="The server's database (or CLASSPULSE_DB_URL), to open the lesson and check it.")  # fmt: skip
@click.option("--expressions", is_flag=True, help="Send expression probabilities too.")
@click.option("--drop-share", type=FiniteFloat(0, 1), default=0.2, show_default=True,
              help="About this share of students drops off once and comes back.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
def main(students: int, rate_hz: float, seconds: float, urls: tuple[str, ...], alternate: bool,
         db_url: str, expressions: bool, drop_share: float, seed: int) -> None:  # fmt: skip
    """Simulate students posting to a join lesson; check that every sample is stored exactly once."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = LoadSettings(students=students, rate_hz=rate_hz, seconds=seconds,
                            drop_share=drop_share, attention_only=not expressions, seed=seed,
                            alternate=alternate)  # fmt: skip
    report = run_load(list(urls), db_url, settings)
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
