"""Dashboard accounts: a user name, a password hash (never the password) and a role.

Storage only keeps what it is given: hashing and checking passwords belong to the dashboard
(dashboard/auth.py). The table lives on storage.schema's `Base`, so Alembic and the schema test
see it; it is created by migration 0003.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Engine,
    Integer,
    String,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import write_transaction
from storage.schema import Base, UTCDateTime

ROLES: tuple[str, ...] = ("teacher", "admin")
USERNAME_MAX = 64
# SQLite only aliases the rowid for a column declared INTEGER (as in storage.schema).
_ID = BigInteger().with_variant(Integer(), "sqlite")


class AccountRow(Base):
    """One person who may log in to the dashboard with a local password."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("role IN ('teacher', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Account:
    """A stored account as the dashboard reads it."""

    username: str
    password_hash: str
    role: str


def find_account(engine: Engine, username: str) -> Account | None:
    """The account with exactly this user name, or None."""
    statement = select(AccountRow.username, AccountRow.password_hash, AccountRow.role).where(
        AccountRow.username == username
    )
    with engine.connect() as conn:
        row = conn.execute(statement).first()
    return None if row is None else Account(row.username, row.password_hash, row.role)


def count_accounts(engine: Engine) -> int:
    """How many local accounts exist (none means nobody can log in with a password)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AccountRow)).scalar_one())


def save_account(
    engine: Engine, username: str, password_hash: str, role: str | None, now: datetime
) -> bool:
    """Create the account or replace its password hash (and its role when given); True if created.

    A new account without a role is a teacher.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    with write_transaction(engine) as conn:
        exists = conn.execute(
            select(AccountRow.id).where(AccountRow.username == username)
        ).first()
        if exists is None:
            conn.execute(
                insert(AccountRow).values(
                    username=username,
                    password_hash=password_hash,
                    role=role or "teacher",
                    created_at=now,
                    updated_at=now,
                )
            )
            return True
        values: dict[str, object] = {"password_hash": password_hash, "updated_at": now}
        if role is not None:
            values["role"] = role
        conn.execute(update(AccountRow).where(AccountRow.id == exists.id).values(**values))
        return False
