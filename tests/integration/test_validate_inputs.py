"""Inputs of the diff and of rule generation that used to be ignored or misreported.

A field_map entry naming no column, a MongoDB pair without a named key, hints that spoke only
CLI, and a MongoDB source for rules-from-schema: each is checked on real databases (SQLite files
and the MongoDB wire server).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import bson
import pymongo
import pytest

from datamigration.errors import UserInputError
from datamigration.validate.diff import DiffOptions, diff_tables, sample_compare
from datamigration.validate.generate import rules_from_schema
from datamigration.validate.rules import run_rules

pytestmark = pytest.mark.integration


def sqlite_users(path: Path, rows: int = 50, *, email_column: str = "email") -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, {email_column} TEXT)"
        )
        conn.executemany(
            "INSERT INTO users VALUES (?, ?, ?)",
            [(i, f"user {i}", f"u{i}@example.com") for i in range(1, rows + 1)],
        )
    return f"sqlite:///{path}"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    """Two SQLite databases whose users tables name the e-mail column differently."""
    src = sqlite_users(tmp_path / "src.db")
    dst = sqlite_users(tmp_path / "dst.db", email_column="mail")
    return src, dst


def test_a_field_map_entry_naming_a_missing_source_column_is_refused_with_the_nearest_name(pair):
    src, dst = pair
    options = DiffOptions(field_map={"emial": "mail"})
    with pytest.raises(UserInputError) as err:
        diff_tables(src, "users", dst, "users", options)
    assert "emial" in str(err.value) and "source" in str(err.value)
    assert "'email'" in err.value.hint


def test_a_field_map_entry_naming_a_missing_target_column_is_refused_with_the_nearest_name(pair):
    src, dst = pair
    with pytest.raises(UserInputError) as err:
        diff_tables(src, "users", dst, "users", DiffOptions(field_map={"email": "mial"}))
    assert "'mial'" in str(err.value) and "target" in str(err.value)
    assert "'mail'" in err.value.hint


def test_a_correct_field_map_compares_the_renamed_column(pair):
    src, dst = pair
    report = diff_tables(src, "users", dst, "users", DiffOptions(field_map={"email": "mail"}))
    assert report["identical"] and report["columns_only_in_source"] == []
    assert {"source": "email", "target": "mail", "kind": "text"} in report["columns"]


def test_key_hints_name_the_cli_flag_the_tool_argument_and_the_rules_file_key(tmp_path: Path):
    src = f"sqlite:///{tmp_path / 'nokey.db'}"
    with sqlite3.connect(tmp_path / "nokey.db") as conn:
        conn.execute("CREATE TABLE events (name TEXT, at TEXT)")
    with pytest.raises(UserInputError) as no_key:
        diff_tables(src, "events", src, "events")
    with pytest.raises(UserInputError) as wrong_key:
        diff_tables(src, "events", src, "events", DiffOptions(key=("nmae",)))
    for err in (no_key, wrong_key):
        assert "--key on the CLI" in err.value.hint and "key= in the" in err.value.hint
    assert "'name'" in wrong_key.value.hint


def test_the_missing_database_hint_of_a_rules_run_names_both_faces():
    rules = {"rules": [{"type": "not_null", "table": "t", "columns": ["a"]}]}
    with pytest.raises(UserInputError) as err:
        run_rules(rules)
    assert "--source on the CLI" in err.value.hint and "source= in the" in err.value.hint


def mongo_users(url: str, ids: list, collection: str = "users") -> None:
    with pymongo.MongoClient(url) as client:
        db = client.get_default_database()
        db[collection].insert_many(
            [{"_id": i, "name": f"user {n}", "email": f"u{n}@x"} for n, i in enumerate(ids)]
        )


def test_a_mongodb_to_mongodb_diff_compares_by_id_without_being_told(mongo_url):
    ids = list(range(1, 41))
    mongo_users(mongo_url, ids, "users")
    mongo_users(mongo_url, ids, "copy")
    with pymongo.MongoClient(mongo_url) as client:
        copy = client.get_default_database()["copy"]
        copy.update_one({"_id": 7}, {"$set": {"email": "changed@x"}})
        copy.delete_one({"_id": 9})
    # Small buckets so the ranges are split and bisected, as on a large collection.
    small = DiffOptions(bucket_rows=8, row_threshold=4, split=4)
    report = diff_tables(mongo_url, "users", mongo_url, "copy", small)
    assert report["key"] == ["_id"] and report["segments_checked"] > 1
    assert (report["missing"], report["changed"], report["extra"]) == ([9], [7], [])
    sampled = sample_compare(mongo_url, "users", mongo_url, "copy", 40)
    assert sampled["missing"] == [9] and sampled["differences"] == 2


def test_a_mongodb_to_mongodb_diff_by_object_id_finds_the_changed_document(mongo_url):
    ids = [bson.ObjectId() for _ in range(30)]
    mongo_users(mongo_url, ids, "users")
    mongo_users(mongo_url, ids, "copy")
    with pymongo.MongoClient(mongo_url) as client:
        client.get_default_database()["copy"].update_one({"_id": ids[3]}, {"$set": {"name": "x"}})
    small = DiffOptions(bucket_rows=8, row_threshold=4, split=4)
    report = diff_tables(mongo_url, "users", mongo_url, "copy", small)
    assert report["changed"] == [str(ids[3])] and report["missing_count"] == 0
    assert report["extra_count"] == 0 and report["segments_checked"] > 3


def test_rules_from_a_mongodb_collection_check_count_required_fields_and_documents(mongo_url):
    with pymongo.MongoClient(mongo_url) as client:
        db = client.get_default_database()
        docs = [
            {"_id": i, "name": f"n{i}", "email": None if i == 3 else f"{i}@x",
             "nick": f"k{i}" if i % 2 else None, "address": {"city": "Oslo"}}
            for i in range(1, 21)
        ]  # fmt: skip
        db.users.insert_many(docs)
        db.users.create_index("name", unique=True)
        db.copy.insert_many(list(db.users.find()))
    doc = rules_from_schema(mongo_url, "users", target_url=mongo_url, target_table="copy")
    by_type = {r["type"]: r for r in doc["rules"]}
    assert set(by_type) == {"count_match", "required_fields", "unique", "checksum_diff"}
    # email is null once and nick sometimes: neither is promised; nested paths are not fields.
    assert by_type["required_fields"]["columns"] == ["name", "address"]
    assert by_type["unique"]["columns"] == ["name"]
    assert by_type["checksum_diff"]["key"] == ["_id"]
    run = run_rules(doc)
    assert run.passed, [r.message for r in run.results if not r.passed]


def test_rules_from_a_missing_mongodb_collection_say_it_is_missing(mongo_url):
    mongo_users(mongo_url, [1], "users")
    with pytest.raises(Exception) as err:
        rules_from_schema(mongo_url, "nope")
    assert "nope" in str(err.value) and "table" not in str(err.value)
