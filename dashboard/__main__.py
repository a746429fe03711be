"""`python -m dashboard ...`: dashboard accounts, and join lessons, from the command line.

The password is read from a hidden prompt (typed twice) or, when stdin is not a terminal, from the
first line of stdin; never from the command line, where other users could read it in `ps`.
`join` opens a lesson students join from their browser (the running dashboard serves them) and
keeps it open until Ctrl+C or `join --close CODE`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click
from sqlalchemy import Engine

from dashboard.auth import (
    AuthError,
    check_new_password,
    check_role,
    hash_password,
    normalise_username,
)
from dashboard.join.payload import BROWSER_MODEL, MAX_RATE_HZ, MIN_RATE_HZ
from engine.attention import AttentionSettings
from storage.accounts import ROLES, find_account, save_account
from storage.cli_types import FiniteFloat, database_group
from storage.db import StorageError, open_database, safe_url
from storage.join import close_join, close_join_by_code, find_join_lesson, open_join_lesson
from storage.lessons import LessonSpec, engine_owner

cli = database_group(
    "ClassPulse dashboard: who may log in when it is open to a network.", AuthError, StorageError
)


def _keep_to_owner(engine: Engine) -> None:
    """A SQLite file holding password hashes is made readable by its owner only (WAL files too)."""
    database = engine.url.database or ""
    if engine.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(database + suffix)
        if path.exists():
            path.chmod(0o600)


def _read_password() -> str:
    """The new password: a hidden prompt typed twice, or stdin's first line when it is not a tty."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("New password", hide_input=True, confirmation_prompt=True)


@cli.command("set-password")
@click.option("--user", "username", default="teacher", show_default=True,
              help="The account's user name; created when it does not exist.")  # fmt: skip
@click.option("--role", type=click.Choice(ROLES), default=None,
              help="teacher or admin (a new account is a teacher; an existing one keeps its role).")  # fmt: skip
@click.pass_obj
def set_password(db_url: str | None, username: str, role: str | None) -> None:
    """Create a dashboard account or change its password (stored as an argon2id hash)."""
    name = normalise_username(username)
    if role is not None:
        check_role(role)
    password = _read_password()
    check_new_password(password)
    engine = open_database(db_url)
    created = save_account(engine, name, hash_password(password), role, datetime.now(UTC))
    _keep_to_owner(engine)
    account = find_account(engine, name)
    assert account is not None
    where = f"{name} ({account.role}) in {safe_url(engine.url)}"
    if created:
        click.echo(f"created account {where}")
    else:
        click.echo(f"changed the password of {where}; sessions that used the old one are ended")


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _student_link(url: str, code: str) -> str:
    """The link students open: the dashboard's address as they reach it, then /join/CODE."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.username:
        raise click.BadParameter(f"{url!r} is not an http(s) address like https://server:8501",
                                 param_hint="--url")  # fmt: skip
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        click.echo("note: browsers give the camera only to pages over HTTPS (or on this computer); "
                   "students on other devices need an https:// address", err=True)  # fmt: skip
    return f"{url.strip().rstrip('/')}/join/{code}"


@cli.command("join")
@click.option("--lesson", "title", default=None, help="Lesson title (to open a join lesson).")
@click.option("--group", "group_name", default="", help="Class or group name.")
@click.option("--rate", "rate_hz", type=FiniteFloat(MIN_RATE_HZ, MAX_RATE_HZ), default=1.0,
              show_default=True, help="Samples per second each student's device takes.")  # fmt: skip
@click.option("--attention-only/--expressions", default=True, show_default=True,
              help="Measure attention only, or expression probabilities too.")  # fmt: skip
@click.option("--ask-names", is_flag=True, help="Students type a name (else Student 1, 2, ...).")
@click.option("--teacher", "owner", default=None, envvar="CLASSPULSE_TEACHER", show_envvar=True,
              help="The account that owns the lesson on a shared server.")  # fmt: skip
@click.option("--url", default=None, help="The dashboard's address as students reach it, e.g. https://server:8501.")
@click.option("--close", "close_code", default=None, metavar="CODE", help="End the join lesson with this code.")
@click.option("--check-every", "check_s", type=FiniteFloat(0.1, 60), default=1.0, hidden=True)
@click.pass_obj
def join_cmd(db_url: str | None, title: str | None, group_name: str, rate_hz: float,
             attention_only: bool, ask_names: bool, owner: str | None, url: str | None,
             close_code: str | None, check_s: float) -> None:  # fmt: skip
    """Open a lesson students join from their browser; keep it open until Ctrl+C (or --close CODE)."""
    engine = open_database(db_url)
    if close_code is not None:
        lesson_id = close_join_by_code(engine, close_code, datetime.now(UTC))
        click.echo(f"join lesson {lesson_id} ended")
        return
    if not title or not url:
        raise click.UsageError("give --lesson TITLE and --url ADDRESS (or --close CODE)")
    link_base = _student_link(url, "")
    try:
        attention = AttentionSettings.from_env()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    spec = LessonSpec(title=title, group_name=group_name, started_at=datetime.now(UTC),
                      sample_rate_hz=rate_hz, attention_only=attention_only,
                      model_name=None if attention_only else BROWSER_MODEL, owner=owner,
                      settings={"attention": asdict(attention), "engine": engine_owner()})  # fmt: skip
    info = open_join_lesson(engine, spec, ask_names=ask_names)
    try:
        click.echo(f"join lesson {info.lesson_id} open: {title}")
        click.echo(f"link: {link_base}{info.code}")
        click.echo(f"code: {info.code}")
        click.echo("Ctrl+C ends the lesson", err=True)
        while True:
            time.sleep(check_s)
            with engine.connect() as conn:
                current = find_join_lesson(conn, info.code)
            if current is None or not current.is_open:
                click.echo(f"join lesson {info.lesson_id} was ended elsewhere")
                return
    except KeyboardInterrupt:
        close_join(engine, info.lesson_id, datetime.now(UTC))
        click.echo(f"join lesson {info.lesson_id} ended")


if __name__ == "__main__":
    cli()
