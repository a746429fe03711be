"""The join API as Starlette routes, mounted beside Streamlit's on one port (`st.App(routes=...)`).

GET  /join/api/{code}            is the lesson open? (404 unknown, 410 ended) and what it measures
POST /join/api/{code}/students   join: {"name": ...} -> a token, the student's number, the settings
POST /join/api/{code}/samples    a batch of samples (Authorization: Bearer TOKEN) -> stored/skipped
POST /join/api/{code}/leave      the student leaves (Authorization: Bearer TOKEN)

Every answer is JSON; a refusal is {"error": "one line"} with its status (docs/join.md). Bodies
are read up to their cap before parsing; database work runs in worker threads, at most DB_SLOTS
at once, and samples go to the server's writer thread (group commit). The student page itself
(GET /join/{code}) is another module's: pass it as `student_page`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dashboard.join.group_writer import GroupWriter, Job
from dashboard.join.ingest import AttentionBook, attention_settings
from dashboard.join.limits import (
    FAILED_ATTEMPTS_BURST,
    FAILED_ATTEMPTS_PER_MINUTE,
    RateLimiter,
    client_key,
    failed_attempts_limiter,
)
from dashboard.join.payload import (
    MAX_BATCH_BYTES,
    MAX_JOIN_BYTES,
    Refusal,
    example_batch,
    min_gap_ms,
    parse_batch,
    parse_join,
    settings_for_page,
)
from storage.db import StorageError, open_database
from storage.join import (
    JoinEnded,
    LessonFull,
    StudentAtLesson,
    UnknownJoinCode,
    find_join_lesson,
    find_student,
    join_student,
    mark_left,
    normalise_code,
    token_digest,
)
from storage.schema import to_epoch_ms
from storage.write_policy import is_transient

log = logging.getLogger(__name__)

API_PREFIX = "/join/api"
STUDENT_PAGE_PATH = "/join/{code}"  # the hook for the student page (GET), see join_routes
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]
Work = Callable[[str, bytes], Awaitable[tuple[int, dict[str, Any]]]]
TOKENS_REMEMBERED = 20_000  # checked tokens kept (removal and the end are checked at each write)
# Database reads and writes of the routes at once (the writer thread is one more): within the
# connection pool, so a burst of lookups waits for a connection instead of opening new ones.
DB_SLOTS = 4


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JoinServerSettings:
    """What the join routes run with; the integrator fills it from the server's settings."""

    db_url: str | None = None  # None: CLASSPULSE_DB_URL, else the data folder's SQLite file
    failed_attempts_per_minute: float = FAILED_ATTEMPTS_PER_MINUTE
    failed_attempts_burst: float = FAILED_ATTEMPTS_BURST
    clock: Callable[[], datetime] = field(default=_utc_now)  # aware UTC: sample times, seen times
    monotonic: Callable[[], float] = field(default=time.monotonic)  # the limits' clock


class JoinServer:
    """The state the routes share on one server: the database, each student's attention state,
    and the abuse limits. None of it must survive a restart (docs/join.md)."""

    def __init__(self, settings: JoinServerSettings) -> None:
        self.settings = settings
        self.book = AttentionBook()
        self.failures: RateLimiter = failed_attempts_limiter(
            settings.failed_attempts_per_minute, settings.failed_attempts_burst
        )
        self.budgets = RateLimiter(1.0, 1.0)  # sized per lesson at each take
        self.writer = GroupWriter(lambda: self.engine, self.book, self.budgets, settings.clock,
                                  settings.monotonic)  # fmt: skip
        self.tokens = TokenMemory()
        self._db_slots = anyio.CapacityLimiter(DB_SLOTS)
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The database, opened (and migrated) at the first request."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = open_database(self.settings.db_url)
            return self._engine

    def routes(self, student_page: Endpoint | None = None) -> list[BaseRoute]:
        """The API routes, and the student page at STUDENT_PAGE_PATH when given."""
        routes: list[BaseRoute] = [
            Route(API_PREFIX + "/{code}", self.lookup, methods=["GET"]),
            Route(API_PREFIX + "/{code}/students", self.join, methods=["POST"]),
            Route(API_PREFIX + "/{code}/samples", self.samples, methods=["POST"]),
            Route(API_PREFIX + "/{code}/leave", self.leave, methods=["POST"]),
        ]
        if student_page is not None:
            routes.append(Route(STUDENT_PAGE_PATH, student_page, methods=["GET"]))
        return routes

    async def lookup(self, request: Request) -> Response:
        """GET: whether the lesson is open, and what the consent screen must show before joining."""
        return await self._answer(request, "lookup", None, self._pooled(lambda code, body: self._lookup(code)),
                                  gated=True)  # fmt: skip

    async def join(self, request: Request) -> Response:
        """POST: a student joins; answers 201 with their token (shown to nobody else)."""
        return await self._answer(
            request, "join", MAX_JOIN_BYTES, self._pooled(self._join), gated=True
        )

    async def samples(self, request: Request) -> Response:
        """POST: a batch of one student's samples, answered once stored (group commit)."""
        token = _bearer(request)

        async def work(code: str, body: bytes) -> tuple[int, dict[str, Any]]:
            found = await self._known(code, token, _client(request))
            samples = parse_batch(body, found.lesson.attention_only)
            job = Job(found, samples, token_digest(token or ""))
            try:
                result = await asyncio.wrap_future(self.writer.submit(job))
            except Refusal as refusal:
                if refusal.status in (401, 403, 410):
                    self.tokens.forget(code, token)
                raise
            return 200, {"stored": result.stored, "skipped": result.skipped}

        return await self._answer(request, "samples", MAX_BATCH_BYTES, work)

    async def leave(self, request: Request) -> Response:
        """POST: the student pressed Leave."""
        token = _bearer(request)

        async def work(code: str, body: bytes) -> tuple[int, dict[str, Any]]:
            found = await self._known(code, token, _client(request))
            await self._in_pool(mark_left, self.engine, found.student_id, self.settings.clock())
            return 200, {"left": True}

        return await self._answer(request, "leave", 0, work)

    def _pooled(self, work: Callable[[str, bytes], tuple[int, dict[str, Any]]]) -> Work:
        """`work` run in a worker thread (it reads or writes the database)."""
        return lambda code, body: self._in_pool(work, code, body)

    async def _in_pool(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a worker thread, at most DB_SLOTS at once."""
        return await anyio.to_thread.run_sync(work, *args, limiter=self._db_slots)

    async def _known(self, code: str, token: str | None, client: str) -> StudentAtLesson:
        """The token's student, remembered after a check in the database (TokenMemory). An
        unknown token is a failed attempt: past the address's limit it is refused unread."""
        found = self.tokens.get(code, token)
        if found is not None:
            return found
        wait = self.failures.wait_s(client, self.settings.monotonic())
        if wait:
            raise Refusal(429, "too many failed attempts from this address; wait a minute", wait)
        found = await self._in_pool(self._student, code, token)
        self.tokens.keep(code, token, found)
        return found

    async def _answer(self, request: Request, kind: str, body_cap: int | None, work: Work,
                      gated: bool = False) -> Response:  # fmt: skip
        """Run `work(code, body)` and turn its outcome into JSON. `gated`: refused at once while the
        address is over its failed-attempt limit (a lookup or a join: what guessing a code is)."""
        client = _client(request)
        try:
            if gated and (wait := self.failures.wait_s(client, self.settings.monotonic())):
                raise Refusal(
                    429, "too many failed attempts from this address; wait a minute", wait
                )
            code = normalise_code(request.path_params["code"]) or ""
            body = b"" if body_cap is None else await _read_body(request, body_cap)
            status, content = await work(code, body)
            return JSONResponse(content, status, headers=_HEADERS)
        except Refusal as refusal:
            if refusal.status in (401, 404):  # what guessing a code or a token looks like
                self.failures.spend(client, self.settings.monotonic())
            log.info("join %s refused (%d): %s", kind, refusal.status, refusal.message)
            return _refused(refusal)
        except Exception as exc:
            if isinstance(exc, StorageError) or is_transient(exc):
                log.warning("join %s: the database did not answer: %s", kind, _first_line(exc))
                return _refused(
                    Refusal(503, "the server could not reach its database; try again", 2)
                )
            log.exception("join %s failed", kind)
            return _refused(Refusal(500, "the server failed on this request"))

    def _lookup(self, code: str) -> tuple[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            info = find_join_lesson(conn, code) if code else None
        if info is None:
            raise Refusal(404, "no lesson has this code")
        if not info.is_open:
            raise Refusal(410, "this lesson has ended")
        # The thresholds, limits and clock too: a page that joined before (its token kept) resumes
        # with this answer alone, as the same student.
        return 200, {"open": True, "ask_names": info.ask_names, "rate_hz": info.sample_rate_hz,
                     "attention_only": info.attention_only,
                     "example_batch": example_batch(info.attention_only),
                     "attention": asdict(attention_settings(info.settings)),
                     "limits": settings_for_page({"min_gap_ms": min_gap_ms(info.sample_rate_hz)}),
                     "server_time_ms": to_epoch_ms(self.settings.clock())}  # fmt: skip

    def _join(self, code: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            info = find_join_lesson(conn, code) if code else None
        if info is None:
            raise Refusal(404, "no lesson has this code")
        if not info.is_open:
            raise Refusal(410, "this lesson has ended")
        name = parse_join(body, info.ask_names)
        try:
            student, token = join_student(self.engine, code, name, self.settings.clock())
        except UnknownJoinCode:
            raise Refusal(404, "no lesson has this code") from None
        except JoinEnded:
            raise Refusal(410, "this lesson has ended") from None
        except LessonFull as exc:
            raise Refusal(403, str(exc)) from None
        page = settings_for_page({"min_gap_ms": min_gap_ms(info.sample_rate_hz)})
        return 201, {
            "token": token, "track_id": student.track_id,
            "label": student.name or f"Student {student.track_id}",
            "rate_hz": info.sample_rate_hz, "attention_only": info.attention_only,
            "attention": asdict(attention_settings(info.settings)), "limits": page,
            "server_time_ms": to_epoch_ms(self.settings.clock()),
        }  # fmt: skip

    def _student(self, code: str, token: str | None) -> StudentAtLesson:
        """The token's student in this lesson, refused when unknown, removed or ended."""
        if token is None:
            raise Refusal(401, "send the token given at join as 'Authorization: Bearer TOKEN'")
        with self.engine.connect() as conn:
            found = find_student(conn, code, token) if code else None
        if found is None:
            raise Refusal(401, "this token is not one of this lesson's; join again")
        if not found.lesson.is_open:
            raise Refusal(410, "this lesson has ended")
        if found.student.removed_at is not None:
            raise Refusal(403, "the teacher removed you from this lesson")
        return found


class TokenMemory:
    """Tokens checked in the database, by (code, token hash): a student's later batches skip the
    lookup. A token's student and lesson never change, and the write checks removal and the
    lesson's end again, so a kept token needs no second look (a refused write forgets it).
    Bounded: the least recently used are forgotten first."""

    def __init__(self, most: int = TOKENS_REMEMBERED) -> None:
        self._most = most
        self._known: OrderedDict[tuple[str, str], StudentAtLesson] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, code: str, token: str | None) -> StudentAtLesson | None:
        if token is None:
            return None
        key = (code, token_digest(token))
        with self._lock:
            found = self._known.get(key)
            if found is not None:
                self._known.move_to_end(key)
            return found

    def keep(self, code: str, token: str | None, found: StudentAtLesson) -> None:
        if token is None:
            return
        key = (code, token_digest(token))
        with self._lock:
            self._known[key] = found
            self._known.move_to_end(key)
            while len(self._known) > self._most:
                self._known.popitem(last=False)

    def forget(self, code: str, token: str | None) -> None:
        if token is not None:
            with self._lock:
                self._known.pop((code, token_digest(token)), None)


def join_routes(
    settings: JoinServerSettings, student_page: Endpoint | None = None
) -> list[BaseRoute]:
    """The join routes for `st.App("streamlit_app.py", routes=join_routes(...))`.

    `student_page` is the hook for the student page (GET /join/{code}), built elsewhere.
    """
    return JoinServer(settings).routes(student_page)


def _client(request: Request) -> str:
    """The failed-attempt limit's key of the request's address (docs/join.md, "Limits")."""
    return client_key(request.client.host) if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header; None when absent or malformed."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN.fullmatch(token):
        return None
    return token


async def _read_body(request: Request, cap: int) -> bytes:
    """The body, refused with 413 past `cap` bytes before more is read; JSON only."""
    if cap == 0:
        return b""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise Refusal(415, "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise Refusal(413, f"the body is larger than {cap} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise Refusal(413, f"the body is larger than {cap} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refusal(400, "the request ended before its body") from None
    return b"".join(chunks)


def _refused(refusal: Refusal) -> JSONResponse:
    headers = dict(_HEADERS)
    if refusal.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if refusal.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(min(refusal.retry_after_s, 3600))))
    return JSONResponse({"error": refusal.message}, refusal.status, headers=headers)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
