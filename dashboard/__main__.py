"""`python -m dashboard ...`: dashboard accounts from the command line.

The password is read from a hidden prompt (typed twice) or, when stdin is not a terminal, from the
first line of stdin; never from the command line, where other users could read it in `ps`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import Engine

from dashboard.auth import (
    AuthError,
    check_new_password,
    check_role,
    hash_password,
    normalise_username,
)
from storage.accounts import ROLES, find_account, save_account
from storage.cli_types import database_group
from storage.db import StorageError, open_database, safe_url

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


if __name__ == "__main__":
    cli()
