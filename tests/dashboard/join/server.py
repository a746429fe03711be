"""A real uvicorn server on a free loopback port serving the join routes, with its log captured."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uvicorn
from starlette.applications import Starlette

from dashboard.join.routes import JoinServer, JoinServerSettings
from tests.dashboard.streamlit_server import free_port

LOGGERS = ("uvicorn", "dashboard", "storage")  # their children propagate here


class ManualClock:
    """A monotonic clock a test moves by hand (the abuse limits' clock)."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class ShiftedClock:
    """The wall clock moved by `shift_s` (the server's clock, for samples measured a while ago)."""

    def __init__(self) -> None:
        self.shift_s = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.shift_s)


@dataclass
class ServedJoin:
    """The running server: its URL, the JoinServer behind it, and everything it logged."""

    url: str
    join: JoinServer
    log: io.StringIO

    def api(self, code: str, what: str = "") -> str:
        return f"{self.url}/join/api/{code}" + (f"/{what}" if what else "")


@contextmanager
def serving_join(settings: JoinServerSettings) -> Iterator[ServedJoin]:
    """uvicorn in a thread serving only the join routes until the block ends."""
    join = JoinServer(settings)
    port = free_port()
    config = uvicorn.Config(Starlette(routes=join.routes()), host="127.0.0.1", port=port,
                            log_config=None, log_level="info", lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(handler)
    thread = threading.Thread(target=server.run, name="join-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start:\n{log.getvalue()}")
            time.sleep(0.02)
        yield ServedJoin(f"http://127.0.0.1:{port}", join, log)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).removeHandler(handler)
