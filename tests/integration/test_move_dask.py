"""The copy on a Dask cluster (a LocalCluster with two worker processes): the same target as
the local run (introspection and the checksum diff between the two targets), an empty diff
against the source, failures that surface as locally and resume, rejected rows brought back
to the workspace, and passwords that reach the workers only through their environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import distributed
import psycopg
import pytest

from datamigration.move import CopyRequest, run_copy
from datamigration.move.request import CopyFailedError
from datamigration.validate.diff import DiffOptions, diff_tables
from support import movedata

pytestmark = pytest.mark.integration

TABLES = ("users", "orders")
PASSWORD_VAR = "DM_DASK_TEST_PASSWORD"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A running cluster addressed as a remote one would be (tcp://), two worker processes
    that inherit the password variable from the environment they were started in."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_VAR, "not-checked-by-trust-auth")
        mp.delenv("DATAMIGRATION_WORKSPACE", raising=False)
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster:
        yield cluster.scheduler_address


def _with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user.split(':')[0]}:{password}@{host}"


def _request(src: str, dst: str, ws: Path, **kw) -> CopyRequest:
    kw.setdefault("partition_rows", 150)
    kw.setdefault("batch_size", 70)
    kw.setdefault("workers", 2)
    return CopyRequest(src, dst, kw.pop("tables", TABLES), workspace=str(ws), **kw)


def _assert_same_targets(local: str, cluster: str, ws: Path) -> None:
    for table in TABLES:
        assert movedata.pg_columns(cluster, table) == movedata.pg_columns(local, table)
        assert movedata.pg_constraints(cluster, table) == movedata.pg_constraints(local, table)
        r = diff_tables(local, table, cluster, table, DiffOptions(key=("id",)), str(ws))
        assert r["identical"] and r["source"]["rows"] == r["target"]["rows"] > 0, r
    assert movedata.inspected(cluster, "_datamigration_copy") is None


def _assert_clean(report: dict) -> None:
    assert report["passed"] and report["rejected"] == 0
    assert all(v["identical"] and v["missing_count"] == 0 for v in report["validation"])


def test_a_postgres_copy_on_a_started_local_cluster_gives_the_same_target_as_the_local_run(
    make_pg_url, workspace_dir: Path
) -> None:
    src, local, cluster = make_pg_url(), make_pg_url(), make_pg_url()
    movedata.seed_postgres(src)
    _assert_clean(run_copy(_request(src, local, workspace_dir)))
    # an inline password reaches the workers we start through their environment only
    target = _with_password(cluster, "inline-secret")
    seen: list[dict] = []
    report = run_copy(
        _request(src, target, workspace_dir, cluster="local:2"),
        progress=lambda event, data: seen.append(data) if event == "partition" else None,
    )
    _assert_clean(report)
    assert report["rows_copied"] == 1700 and report["partitions_run"] == len(seen) > 2
    assert sorted(d["done"] for d in seen) == list(range(1, len(seen) + 1))
    assert sum(d["rows"] for d in seen) == 1700
    assert "inline-secret" not in str(report)
    _assert_same_targets(local, cluster, workspace_dir)


def test_a_sqlite_to_postgres_copy_on_a_scheduler_address_gives_the_same_target(
    scheduler: str, make_pg_url, workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, "not-checked-by-trust-auth")  # here as on each worker
    local, cluster = make_pg_url(), make_pg_url()
    path = workspace_dir / "app.db"  # an absolute path every worker can read
    movedata.seed_sqlite(path)
    # connection names whose password comes from the variable each worker has
    host = _with_password(cluster, "${" + PASSWORD_VAR + "}")
    (workspace_dir / "datamigration.toml").write_text(
        f'[connections]\napp = "sqlite:///app.db"\nwarehouse = "{host}"\n', encoding="utf-8"
    )
    _assert_clean(run_copy(_request("app", local, workspace_dir)))
    _assert_clean(run_copy(_request("app", "warehouse", workspace_dir, cluster=scheduler)))
    _assert_same_targets(local, cluster, workspace_dir)
    cols = movedata.pg_columns(cluster, "users")
    assert cols["score"]["type"] == "double precision" and cols["score"]["not_null"]


def test_an_inline_password_is_never_sent_to_a_remote_scheduler(
    scheduler: str, make_pg_url, workspace_dir: Path
) -> None:
    from datamigration.move.pools import SecretInGraphError

    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src, users=20, orders=30)
    with pytest.raises(SecretInGraphError) as info:
        run_copy(_request(src, _with_password(dst, "pw-in-url"), workspace_dir, cluster=scheduler))
    assert "pw-in-url" not in info.value.render() and "environment" in info.value.hint
    assert movedata.inspected(dst, "users") is None  # nothing was written


def test_a_partition_failing_on_a_worker_fails_the_run_as_locally_and_it_resumes_on_the_cluster(
    scheduler: str, pg_url: str, workspace_dir: Path
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    src = f"sqlite:///{path}"
    # the first writer waits on a lock held here, and its connection is terminated
    with movedata.orders_writer_killed(pg_url), pytest.raises(CopyFailedError) as info:
        run_copy(_request(src, pg_url, workspace_dir, tables=("orders",), cluster=scheduler))
    assert "orders" in info.value.message and "resume" in info.value.hint
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM _datamigration_copy") > 0
    again = _request(src, pg_url, workspace_dir, tables=("orders",), cluster=scheduler)
    report = run_copy(again.with_(resume=True))
    assert report["passed"] and report["validation"][0]["target_rows"] == 1200
    assert movedata.pg_scalar(pg_url, "SELECT count(DISTINCT id) FROM orders") == 1200
    assert movedata.inspected(pg_url, "_datamigration_copy") is None


def test_rows_refused_on_a_worker_reach_the_workspace_and_strict_stops_as_locally(
    scheduler: str, pg_url: str, workspace_dir: Path
) -> None:
    src = movedata.seed_sqlite_tags(workspace_dir / "tags.db", too_long=(13, 177))
    strict = _request(src, pg_url, workspace_dir, tables=("tags",), strict=True, cluster=scheduler)
    with pytest.raises(CopyFailedError) as info:
        run_copy(strict)
    assert "strict copy stopped at the first refused row" in info.value.message
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE tags; DROP TABLE _datamigration_copy")
    report = run_copy(strict.with_(strict=False))
    assert report["rejected"] == 2 and not report["passed"]
    assert sorted(r["key"] for r in report["rejects"]) == [[13], [177]]
    files = sorted(p.name for p in (workspace_dir / report["rejects_dir"]).glob("*.jsonl"))
    assert files == ["tags.0.jsonl", "tags.1.jsonl"]


def test_a_partition_the_scheduler_runs_again_after_a_lost_worker_replaces_its_documents(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    """Dask reruns the same task (same attempts) when a worker dies; the worker reads the
    attempts back from the target, so MongoDB (no transaction) gets no duplicate."""
    import pymongo

    from datamigration.db.base import connect
    from datamigration.move.partitions import cut
    from datamigration.move.pools import remote_partition, ship
    from datamigration.move.runner import plan_tables

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);"
                     "INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 120) g")  # fmt: skip
    request = CopyRequest(pg_url, mongo_url, ("notes",), workspace=str(workspace_dir))
    with connect(pg_url) as src, connect(mongo_url) as dst:
        (plan,), _ = plan_tables(src, dst, request)
        dst.create_target(plan.target)
        store = dst.copy_state_table(request.state_table)
        store.ensure()
        (part,) = cut(src, plan, "copy-lost-worker", request.partition_rows)
        store.put([part.record()])
    shipped, connections, _ = ship(request.with_(cluster="tcp://scheduler:8786"), "tcp://s")
    first, _ = remote_partition(shipped, part, connections)
    again, rejected = remote_partition(shipped, part, connections)
    assert first.rows == again.rows == 120 and again.rejected == 0 and rejected == ""
    db = pymongo.MongoClient(mongo_url).get_default_database()
    assert db.notes.count_documents({}) == 120
    assert db["_datamigration_copy"].find_one({"part": 0})["attempts"] == 2
