"""Which statements a rolled-back run refuses, decided before any connection is used."""

from __future__ import annotations

import pytest

from datamigration.db.base import Backend, _first_word
from datamigration.db.urls import resolve
from datamigration.errors import UserInputError


class NonTransactionalDDL(Backend):
    dialect = "mysql"
    transactional_ddl = False


class TransactionalDDL(Backend):
    dialect = "postgresql"
    transactional_ddl = True


def backend(cls: type[Backend]) -> Backend:
    return cls(resolve("postgresql://u@localhost/db"))


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("update t set a = 1", "UPDATE"),
        ("  -- why\n  /* block */ Delete from t", "DELETE"),
        ("(SELECT 1)", "SELECT"),
        ("start transaction", "START"),
        ("", ""),
    ],
)
def test_the_first_keyword_skips_comments_and_parentheses(sql, word):
    assert _first_word(sql) == word


def test_ddl_is_refused_only_where_ddl_commits_implicitly():
    statements = ["UPDATE t SET a = a", "ALTER TABLE t ADD COLUMN b int"]
    with pytest.raises(UserInputError) as info:
        backend(NonTransactionalDDL)._check_rollbackable(statements, autocommit=False)
    assert "statement 2 (ALTER)" in str(info.value) and info.value.data["statement"] == 2
    backend(TransactionalDDL)._check_rollbackable(statements, autocommit=False)


@pytest.mark.parametrize("sql", ["COMMIT", "rollback", "BEGIN", "SET autocommit = 1", "END"])
def test_transaction_control_is_refused_everywhere(sql):
    with pytest.raises(UserInputError, match="ends the transaction"):
        backend(TransactionalDDL)._check_rollbackable(["DELETE FROM t", sql], autocommit=False)


def test_autocommit_cannot_be_rolled_back():
    with pytest.raises(UserInputError, match="autocommit"):
        backend(TransactionalDDL)._check_rollbackable(["DELETE FROM t"], autocommit=True)
