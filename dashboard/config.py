"""Dashboard settings: typed, documented defaults filled from CLASSPULSE_* in one place; the clock."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from storage.db import DATA_DIR_ENV, DEFAULT_DATA_DIR, resolve_url

TIMEZONE_ENV = "CLASSPULSE_TIMEZONE"
ATTENTION_ONLY_ENV = "CLASSPULSE_ATTENTION_ONLY"
ALERT_LEVEL_ENV = "CLASSPULSE_ALERT_LEVEL"
ALERT_MINUTES_ENV = "CLASSPULSE_ALERT_MINUTES"
OIDC_DOMAINS_ENV = "CLASSPULSE_OIDC_DOMAINS"
MEDIA_DIRS_ENV = "CLASSPULSE_MEDIA_DIRS"
ALLOW_STREAMS_ENV = "CLASSPULSE_ALLOW_STREAMS"
DEFAULT_CLASS_ENV = "CLASSPULSE_DEFAULT_CLASS"
MAX_FACES_ENV = "CLASSPULSE_MAX_FACES"  # the engine reads it too
ENGINE_STANDBY_ENV = "CLASSPULSE_ENGINE_STANDBY"
PUBLIC_URL_ENV = "CLASSPULSE_PUBLIC_URL"


def utc_now() -> datetime:
    """The current time, aware UTC. Pages call it through this module so tests can fix the clock."""
    return datetime.now(UTC)


def machine_timezone(environ: Mapping[str, str] | None = None) -> str:
    """The machine's IANA zone name ($TZ, /etc/timezone, the /etc/localtime link), else UTC."""
    environ = os.environ if environ is None else environ
    candidates = [environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name and is_timezone(name):
            return name
    return "UTC"


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezone_choices(current: str) -> list[str]:
    """All IANA zones (sorted), with `current` guaranteed among them."""
    zones = sorted(available_timezones() | {"UTC", current})
    return zones


def _env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = (environ.get(name) or "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _env_dirs(environ: Mapping[str, str], name: str) -> tuple[Path, ...]:
    raw = environ.get(name) or ""
    return tuple(Path(d.strip()) for d in raw.split(os.pathsep) if d.strip())


def _env_domains(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = environ.get(name) or ""
    return tuple(d.strip().lower().lstrip("@") for d in raw.split(",") if d.strip())


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard is configured by.

    db_url: the database (CLASSPULSE_DB_URL, else the SQLite file classpulse.db in the data folder).
    data_dir: where engine logs, the running-engine file, uploaded clips and the default SQLite
        database go (CLASSPULSE_DATA_DIR, else data/ under the current folder).
    timezone: the teacher's zone for every time shown (CLASSPULSE_TIMEZONE, else the machine's).
    attention_only: the Live form's default (CLASSPULSE_ATTENTION_ONLY, as the engine reads it).
    alert_level / alert_minutes: warn when class concentration stays under the level this long.
    default_class: the Live form's class (CLASSPULSE_DEFAULT_CLASS, else empty).
    max_faces: the Live form's face limit (CLASSPULSE_MAX_FACES as the engine reads it, else 50).
    The time zone, alert level and default class are defaults: a teacher's own choices, kept in
    the database (storage.teacher_settings), win over them (dashboard.state).
    oidc_domains: email domains whose OIDC logins are let in (CLASSPULSE_OIDC_DOMAINS, comma
        separated); none means an OIDC login alone lets nobody in.
    media_dirs: the folders whose videos and image folders the Live form may name by path
        (CLASSPULSE_MEDIA_DIRS, separated by os.pathsep); none means no typed path, uploads only.
    allow_streams: whether the Live form takes stream URLs (CLASSPULSE_ALLOW_STREAMS=1): the
        server then connects to whatever address is typed, so it is the administrator's choice.
    engine_standby: keep a warm engine waiting while the start form is shown, so that Start skips
        the engine's imports (CLASSPULSE_ENGINE_STANDBY=0 turns it off: about 300 MB less memory
        while no lesson runs, and a start about 2.5 s slower; dashboard.warm_engine).
    public_url: the dashboard's address as students reach it, for a join lesson's link and QR code
        (CLASSPULSE_PUBLIC_URL, e.g. https://classpulse.school.lan:8501); empty: the address the
        teacher's own browser used.
    """

    db_url: str
    data_dir: Path
    timezone: str = "UTC"
    attention_only: bool = False
    alert_level: float = 40.0
    alert_minutes: float = 3.0
    oidc_domains: tuple[str, ...] = ()
    media_dirs: tuple[Path, ...] = ()
    allow_streams: bool = False
    default_class: str = ""
    max_faces: int = 50
    engine_standby: bool = True
    public_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardSettings:
        """Defaults overridden by CLASSPULSE_* variables."""
        environ = os.environ if environ is None else environ
        zone = (environ.get(TIMEZONE_ENV) or "").strip()
        return cls(
            db_url=resolve_url(None, environ),
            data_dir=Path(environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser(),
            timezone=zone if zone and is_timezone(zone) else machine_timezone(environ),
            attention_only=_env_bool(environ, ATTENTION_ONLY_ENV, False),
            alert_level=min(100.0, max(0.0, _env_float(environ, ALERT_LEVEL_ENV, 40.0))),
            alert_minutes=min(10.0, max(0.5, _env_float(environ, ALERT_MINUTES_ENV, 3.0))),
            oidc_domains=_env_domains(environ, OIDC_DOMAINS_ENV),
            media_dirs=_env_dirs(environ, MEDIA_DIRS_ENV),
            allow_streams=_env_bool(environ, ALLOW_STREAMS_ENV, False),
            default_class=(environ.get(DEFAULT_CLASS_ENV) or "").strip(),
            max_faces=int(min(100.0, max(1.0, _env_float(environ, MAX_FACES_ENV, 50.0)))),
            engine_standby=_env_bool(environ, ENGINE_STANDBY_ENV, True),
            public_url=(environ.get(PUBLIC_URL_ENV) or "").strip(),
        )
