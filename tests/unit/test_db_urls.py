"""Connection URLs and names, the schema model and the backend registry, without a database."""

from __future__ import annotations

import pytest

from datamigration.db import base, urls
from datamigration.db.errors import DriverMissingError, UnsupportedOperationError, translate
from datamigration.db.model import (
    Collection,
    Column,
    FieldStat,
    Index,
    PrimaryKey,
    Schema,
    Table,
    schema_from_dict,
)
from datamigration.db.summary import render_text, summarize, table_detail
from datamigration.errors import DatabaseError, NotFoundError, UserInputError
from datamigration.workspace.root import Workspace


def test_a_url_is_parsed_and_its_password_redacted_everywhere():
    url = urls.resolve("postgresql://app:s3cr3t-Pa55@db.example:6543/app?sslmode=require")
    assert (url.dialect, url.host, url.port, url.database) == (
        "postgresql",
        "db.example",
        6543,
        "app",
    )
    assert url.password == "s3cr3t-Pa55"
    assert url.params == {"sslmode": "require"}
    for shown in (url.redacted, str(url), repr(url), url.label):
        assert "s3cr3t-Pa55" not in shown
    assert "***" in url.redacted


def test_a_percent_encoded_password_is_decoded_and_registered_as_a_secret():
    from datamigration.redact import redact_text

    url = urls.resolve("mysql://u:p%40ss%2Fw0rd@h/db")
    assert url.password == "p@ss/w0rd"
    assert "p@ss/w0rd" not in redact_text("driver said: p@ss/w0rd was wrong")


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("postgres://h/d", "postgresql"),
        ("mariadb://h/d", "mysql"),
        ("mysql+pymysql://h/d", "mysql"),
        ("sqlite:///rel.db", "sqlite"),
        ("mongodb://h/d", "mongodb"),
    ],
)
def test_every_supported_scheme_maps_to_its_dialect(text, dialect):
    assert urls.resolve(text).dialect == dialect


def test_sqlite_urls_follow_the_three_and_four_slash_convention():
    assert urls.resolve("sqlite:///data/app.db").database == "data/app.db"
    assert urls.resolve("sqlite:////var/lib/app.db").database == "/var/lib/app.db"


def test_an_unknown_scheme_is_refused_with_the_supported_list():
    with pytest.raises(UserInputError, match="oracle") as info:
        urls.resolve("oracle://h/d")
    assert "postgresql" in info.value.hint


def _workspace(tmp_path, text: str) -> Workspace:
    (tmp_path / "datamigration.toml").write_text(text, encoding="utf-8")
    return Workspace.open(tmp_path)


def test_a_configured_name_resolves_with_environment_variables(tmp_path):
    ws = _workspace(tmp_path, '[connections]\napp = "postgresql://app:${PGPW}@db/app"\n')
    url = urls.resolve("app", ws, environ={"PGPW": "from-env-42"})
    assert url.password == "from-env-42" and url.name == "app"
    assert "from-env-42" not in url.label


def test_a_missing_environment_variable_names_the_variable(tmp_path):
    ws = _workspace(tmp_path, '[connections]\napp = "postgresql://app:${PGPW}@db/app"\n')
    with pytest.raises(UserInputError, match="PGPW"):
        urls.resolve("app", ws, environ={})


def test_an_unknown_name_suggests_the_nearest_configured_one(tmp_path):
    ws = _workspace(tmp_path, '[connections]\nwarehouse = "postgresql://h/w"\n')
    with pytest.raises(NotFoundError) as info:
        urls.resolve("warehose", ws)
    assert "warehouse" in info.value.hint


def test_a_connection_table_carries_options(tmp_path):
    ws = _workspace(
        tmp_path,
        '[connections.ro]\nurl = "sqlite:///x.db"\nstatement_timeout_ms = 50\n'
        'password = "literal"\n',
    )
    url = urls.resolve("ro", ws)
    assert url.options["statement_timeout_ms"] == 50
    listed = urls.list_connections(ws)
    assert listed[0]["options"] == {"statement_timeout_ms": 50}


def test_listing_connections_redacts_literal_passwords_and_names_missing_variables(tmp_path):
    ws = _workspace(
        tmp_path,
        '[connections]\na = "postgresql://u:literal-pw@h/d"\n'
        'b = "mysql://u:${NOT_SET_ANYWHERE}@h/d"\n',
    )
    listed = {r["name"]: r for r in urls.list_connections(ws, environ={})}
    assert "literal-pw" not in str(listed)
    assert listed["b"]["missing_env"] == ["NOT_SET_ANYWHERE"]


def test_driver_errors_are_translated_redacted_and_without_a_chain():
    class DriverError(Exception):
        pass

    def fails():
        raise DriverError("could not connect to postgresql://u:hunter22@h/d: boom")

    with pytest.raises(DatabaseError) as info:
        from datamigration.db.errors import guard

        guard(
            fails,
            lambda exc: translate(
                exc, label="postgresql://u:***@h/d", action="connect", secrets=["hunter22"]
            ),
        )
    err = info.value
    assert "hunter22" not in str(err) and "hunter22" not in repr(err)
    assert err.__cause__ is None and err.__context__ is None
    assert err.data["driver_error"] == "DriverError"


def test_the_registry_picks_a_backend_by_scheme_and_reports_capabilities():
    cls = base.backend_class(urls.resolve("postgresql://h/d"))
    assert cls.dialect == "postgresql" and cls.capabilities()["transactional_ddl"]
    lite = base.backend_class(urls.resolve("sqlite:///x.db"))
    assert lite.capabilities()["concurrent_index"] is False


def test_a_missing_driver_is_a_clear_error_naming_the_package(monkeypatch, tmp_path):
    (tmp_path / "dm_fake_backend.py").write_text("import dm_no_such_driver\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(base.BACKEND_MODULES, "postgres", "dm_fake_backend")
    monkeypatch.delitem(base._REGISTRY, "postgres", raising=False)
    with pytest.raises(DriverMissingError) as info:
        base.backend_class(urls.resolve("postgres://u:pw-123@h/d"))
    assert "pip install dm_no_such_driver" in info.value.hint
    assert "pw-123" not in str(info.value) and info.value.__context__ is None


def test_the_base_backend_refuses_what_it_cannot_do():
    backend = base.Backend(urls.resolve("sqlite:///x.db"))
    with pytest.raises(UnsupportedOperationError):
        backend.query("SELECT 1")


def _schema(n: int) -> Schema:
    tables = tuple(
        Table(
            name=f"t{i}",
            schema="public",
            total_bytes=i * 100,
            columns=(Column("id", "integer", "integer", nullable=False),),
            primary_key=PrimaryKey("pk", ("id",)),
            indexes=(Index("pk", ("id",), unique=True, primary=True),),
        )
        for i in range(n)
    )
    coll = Collection("events", document_count=3, fields=(FieldStat("a", {"string": 3}, 3, 1.0),))
    return Schema("postgresql", "app", tables=tables, collections=(coll,))


def test_the_schema_model_round_trips_through_plain_dicts():
    schema = _schema(3)
    assert schema_from_dict(schema.to_dict()) == schema


def test_the_summary_is_capped_keeps_the_largest_tables_and_says_truncated():
    summary = summarize(_schema(50), max_tables=5)
    assert summary["truncated"] is True and summary["table_count"] == 50
    assert [t["name"] for t in summary["tables"]] == [f"public.t{i}" for i in range(45, 50)]
    assert "truncated" in render_text(summary)
    assert summarize(_schema(3))["truncated"] is False


def test_table_detail_suggests_a_near_name():
    with pytest.raises(NotFoundError) as info:
        table_detail(_schema(3), "t10")
    assert "t1" in info.value.hint
    assert table_detail(_schema(3), "public.t2")["name"] == "t2"


def test_a_mongodb_seed_list_keeps_every_host_and_masks_the_password():
    text = "mongodb://app:Seed-Pw-1@h1:27017,H2:27018,[::1]/app?replicaSet=rs&w=majority"
    url = urls.resolve(text)
    assert url.hosts == (("h1", 27017), ("h2", 27018), ("::1", None))
    assert (url.host, url.port, url.database) == ("h1", 27017, "app")
    assert url.params == {"replicaSet": "rs", "w": "majority"}
    assert url.url == text  # handed to the driver as written
    assert url.redacted == "mongodb://app:***@h1:27017,H2:27018,[::1]/app?replicaSet=rs&w=majority"
    for shown in (url.redacted, str(url), repr(url), url.label):
        assert "Seed-Pw-1" not in shown


def test_a_single_host_url_lists_its_one_host():
    assert urls.resolve("postgresql://db.example:6543/app").hosts == (("db.example", 6543),)
    assert urls.resolve("postgresql:///app?host=/tmp").hosts == ()


def test_a_configured_seed_list_resolves_and_is_listed_redacted(tmp_path):
    ws = _workspace(
        tmp_path,
        '[connections]\nrs = "mongodb://app:${RSPW}@h1:27017,h2:27017/app?replicaSet=rs"\n',
    )
    url = urls.resolve("rs", ws, environ={"RSPW": "env-rs-pw"})
    assert url.password == "env-rs-pw" and len(url.hosts) == 2
    listed = urls.list_connections(ws, environ={"RSPW": "env-rs-pw"})
    assert listed[0]["url"] == "mongodb://app:***@h1:27017,h2:27017/app?replicaSet=rs"


def test_a_database_on_another_server_of_the_seed_list_keeps_the_hosts():
    url = urls.resolve("mongodb://h1:27017,h2:27017/app?replicaSet=rs").with_database("other")
    assert url.database == "other" and len(url.hosts) == 2
    assert url.params == {"replicaSet": "rs"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("postgresql://u:Bad-Pw-2@h1,h2/app", "take one host"),
        ("mysql://u:Bad-Pw-2@h1:3306,h2:3306/app", "take one host"),
        ("mongodb+srv://u:Bad-Pw-2@a.example,b.example/app", "exactly one host"),
        ("mongodb://u:Bad-Pw-2@h1:99999,h2/app", "malformed"),
        ("mongodb://u:Bad-Pw-2@h1:27017,,h2/app", "empty host"),
        ("mongodb://u:Bad-Pw-2@h1:port,h2/app", "malformed"),
        ("postgresql://u:Bad-Pw-2@h1:port/app", "malformed"),
    ],
)
def test_a_bad_host_list_is_a_user_error_that_never_shows_the_password(text, problem):
    with pytest.raises(UserInputError, match=problem) as info:
        urls.resolve(text)
    assert "Bad-Pw-2" not in str(info.value) and "Bad-Pw-2" not in info.value.hint
    assert info.value.__cause__ is None


def test_an_unreachable_seed_list_is_a_connection_error_without_the_password():
    from datamigration.db import connect
    from datamigration.db.errors import ConnectionFailedError

    text = "mongodb://app:Seed-Pw-3@127.0.0.1:1,127.0.0.1:2/app?replicaSet=rs"
    with pytest.raises(ConnectionFailedError) as info:
        connect(text, connect_timeout=0.3)
    shown = f"{info.value} {info.value.hint} {info.value.data}"
    assert "Seed-Pw-3" not in shown and "127.0.0.1:1,127.0.0.1:2" in shown


def test_a_relative_sqlite_path_in_the_config_is_anchored_at_the_workspace_root(tmp_path):
    from datamigration.db.urls import resolve
    from datamigration.workspace.root import Workspace

    (tmp_path / "datamigration.toml").write_text('[connections]\napp = "sqlite:///data/app.db"\n')
    ws = Workspace.open(tmp_path)
    assert resolve("app", ws).database == str(tmp_path.resolve() / "data" / "app.db")
    # a URL typed on the command line or passed to a tool means the same file (issue 10 #11:
    # `--workspace` was ignored); absolute paths, file: URIs and :memory: are left alone
    assert resolve("sqlite:///data/app.db", ws).database == str(tmp_path.resolve() / "data/app.db")
    assert resolve("sqlite:////abs/app.db", ws).database == "/abs/app.db"
    assert resolve("sqlite://", ws).database == ":memory:"
    assert resolve("sqlite:///data/app.db").database == "data/app.db"  # no workspace: as typed
