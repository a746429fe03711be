"""What the dashboard asks an engine to do: a checked launch turned into `engine.protocol.StartRequest`.

The same request goes to a fresh engine and to the warm one. Secrets stay off every command line
(which every account on the machine can read in `ps`) and out of engine.json: the stream URL is in
the request, which travels through the engine's stdin pipe, and the database URL in the
environment the request carries (readable by this account alone).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dashboard.launch import LessonLaunch
from engine.protocol import StartRequest
from engine.source_spec import SourceKind
from storage.db import URL_ENV

FILE_SOURCES_PLAYED_IN_REAL_TIME = True
SOURCE_ENV = "CLASSPULSE_SOURCE"  # `engine run` reads a source there: never left to an engine by chance


def base_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Any engine's environment before its lesson's own: unbuffered, MediaPipe's chatter off, and
    no source left over from this process's environment."""
    env = dict(os.environ if base is None else base, PYTHONUNBUFFERED="1", GLOG_minloglevel="2")
    env.pop(SOURCE_ENV, None)
    return env


def engine_env(db_url: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A lesson's engine's environment: the database URL travels here."""
    env = base_env(base)
    if db_url:
        env[URL_ENV] = db_url
    return env


def start_request(
    launch: LessonLaunch,
    *,
    events_path: Path,
    stop_path: Path,
    db_url: str | None,
    cwd: Path,
    base: Mapping[str, str] | None = None,
) -> StartRequest:
    """The request for a launch: recordings play at real-time pace and the demo loops, as in a
    lesson; a setting the form left alone is left to the engine's defaults."""
    spec = launch.spec
    return StartRequest(
        title=launch.title.strip(),
        source=launch.source,
        group_name=launch.group_name.strip(),
        rate_hz=launch.rate_hz,
        attention_only=True if launch.attention_only else None,
        max_faces=launch.max_faces,
        realtime=FILE_SOURCES_PLAYED_IN_REAL_TIME and not spec.live,
        loop=spec.kind is SourceKind.DEMO,  # the 40 s clip plays until the teacher stops the lesson
        owner=launch.owner,
        quiet=True,
        events_path=str(events_path),
        stop_path=str(stop_path),
        env=engine_env(db_url, base),
        cwd=str(cwd),
    )
