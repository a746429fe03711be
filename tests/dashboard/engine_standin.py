"""A stand-in for `python -m engine serve` in the dashboard's tests: a small real process that reads
the start request on its stdin as the engine does, writes the events it is told to through the
engine's own protocol, and then either exits or waits for its stop file.

    python -m tests.dashboard.engine_standin [--events JSON] [--exit N] [--stubborn] [--finish-db URL]

`--events` is a JSON list of events (as `engine.protocol.event_line` writes them, without the
newline); `--exit N` ends it with status N right after them; otherwise it waits for the request's
stop file and then writes `finished` (marking its lesson finished in `--finish-db` when given).
`--stubborn` ignores the stop file and SIGTERM alike (an engine that will not stop).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.protocol import EventWriter, Finished, StartRequest, parse_event, read_request

if TYPE_CHECKING:
    from pytest import MonkeyPatch


def standin(
    monkeypatch: MonkeyPatch,
    *events: dict,
    exit_code: int | None = None,
    stubborn: bool = False,
    finish_db: str | None = None,
) -> None:
    """Have the dashboard's control start this stand-in instead of the engine."""
    from dashboard import control

    command = [sys.executable, "-m", "tests.dashboard.engine_standin", "--events", json.dumps(events)]
    if exit_code is not None:
        command += ["--exit", str(exit_code)]
    if stubborn:
        command.append("--stubborn")
    if finish_db is not None:
        command += ["--finish-db", finish_db]
    monkeypatch.setattr(control, "serve_command", lambda python=sys.executable: command)


def started(lesson_id: int, title: str = "Maths", source: str = "demo") -> dict:
    """A `started` event as the engine writes it."""
    return {"event": "started", "lesson_id": lesson_id, "title": title, "source": source}


def failed(message: str, lesson_id: int | None = None) -> dict:
    """A `failed` event as the engine writes it."""
    return {"event": "failed", "message": message, "lesson_id": lesson_id}


def finished(lesson_id: int, samples: int, reason: str = "stopped", status: str = "finished") -> dict:
    """A `finished` event as the engine writes it."""
    return {"event": "finished", "lesson_id": lesson_id, "status": status, "samples": samples,
            "reason": reason}  # fmt: skip


@click.command()
@click.option("--events", "events_json", default="[]")
@click.option("--exit", "exit_code", type=int, default=None)
@click.option("--stubborn", is_flag=True)
@click.option("--finish-db", default=None)
def main(events_json: str, exit_code: int | None, stubborn: bool, finish_db: str | None) -> None:
    request: StartRequest | None = read_request(sys.stdin)
    assert request is not None, "no start request on stdin"
    writer = EventWriter(request.events_path)
    said = [parse_event(json.dumps(raw)) for raw in json.loads(events_json)]
    for event in said:
        writer.emit(event)
    if exit_code is not None:
        sys.exit(exit_code)
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(120)
        return
    stop = Path(request.stop_path or "")
    deadline = time.monotonic() + 120
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lesson_id = next((getattr(e, "lesson_id", None) for e in said if hasattr(e, "lesson_id")), None)
    if finish_db is not None and lesson_id is not None:
        from storage.db import open_database
        from storage.lessons import finish_lesson

        finish_lesson(open_database(finish_db), lesson_id)
    writer.emit(Finished(lesson_id, "finished", 0, "stopped"))


if __name__ == "__main__":
    main()
