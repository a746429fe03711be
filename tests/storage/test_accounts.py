"""Accounts on both backends: created, password replaced, role kept or changed, rules enforced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from storage.accounts import AccountRow, count_accounts, find_account, save_account
from storage.db import write_transaction
from tests.storage.conftest import T0

HASH_1 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$first"
HASH_2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$second"


def test_a_new_account_without_a_role_is_a_teacher(engine):
    assert save_account(engine, "ms.lee", HASH_1, None, T0) is True
    account = find_account(engine, "ms.lee")
    assert (account.username, account.password_hash, account.role) == ("ms.lee", HASH_1, "teacher")
    assert count_accounts(engine) == 1


def test_saving_again_replaces_the_hash_and_keeps_the_role(engine):
    save_account(engine, "head", HASH_1, "admin", T0)
    assert save_account(engine, "head", HASH_2, None, T0 + timedelta(days=1)) is False
    assert find_account(engine, "head").password_hash == HASH_2
    assert find_account(engine, "head").role == "admin"
    assert count_accounts(engine) == 1
    with engine.connect() as conn:
        created, updated = conn.execute(select(AccountRow.created_at, AccountRow.updated_at)).one()
    assert (created, updated) == (T0, T0 + timedelta(days=1))


def test_saving_with_a_role_changes_it(engine):
    save_account(engine, "ms.lee", HASH_1, None, T0)
    save_account(engine, "ms.lee", HASH_1, "admin", T0)
    assert find_account(engine, "ms.lee").role == "admin"


def test_an_unknown_role_is_refused_before_the_database(engine):
    with pytest.raises(ValueError, match="role must be one of teacher, admin"):
        save_account(engine, "ms.lee", HASH_1, "owner", T0)
    assert count_accounts(engine) == 0


def test_the_database_refuses_unknown_roles_and_duplicate_names(engine):
    row = {"username": "x", "password_hash": HASH_1, "created_at": T0, "updated_at": T0}
    with pytest.raises(IntegrityError, match="(?i)check"), write_transaction(engine) as conn:
        conn.execute(insert(AccountRow).values(role="owner", **row))
    save_account(engine, "x", HASH_1, None, T0)
    with pytest.raises(IntegrityError, match="(?i)unique"), write_transaction(engine) as conn:
        conn.execute(insert(AccountRow).values(role="teacher", **row))


def test_lookup_is_exact_and_missing_names_are_none(engine):
    save_account(engine, "ms.lee", HASH_1, None, T0)
    assert find_account(engine, "MS.LEE") is None  # the dashboard normalises before looking up
    assert find_account(engine, "nobody") is None
