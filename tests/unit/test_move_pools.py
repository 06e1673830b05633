"""What a copy sends to Dask workers: connection names with their `${VAR}` entries as written,
absolute SQLite paths, and never a literal password in the task graph of a remote cluster (a
LocalCluster we start gets it through its workers' environment)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from datamigration.errors import UserInputError
from datamigration.move import CopyRequest
from datamigration.move.pools import (
    SECRET_VARS,
    ClusterError,
    SecretInGraphError,
    parse_cluster,
    ship,
)


def _request(ws: Path, source: str, target: str, **kw) -> CopyRequest:
    return CopyRequest(source, target, ("users",), workspace=str(ws), **kw)


def test_cluster_addresses_name_a_scheduler_or_a_local_cluster_of_n_processes() -> None:
    assert parse_cluster("tcp://scheduler:8786", 4) == ("tcp://scheduler:8786", 0)
    assert parse_cluster("local:3", 4) == (None, 3)
    assert parse_cluster("local", 4) == (None, 4)
    with pytest.raises(UserInputError, match="local:N"):
        parse_cluster("local:0", 4)
    with pytest.raises(ClusterError, match="neither"):
        parse_cluster("scheduler:8786", 4)


def test_a_started_local_cluster_gets_an_inline_password_through_the_environment_only(
    workspace_dir: Path,
) -> None:
    request = _request(workspace_dir, "postgresql://u:s%40cret@db:5432/app", "sqlite:///t.db")
    shipped, connections, env = ship(request, None)
    var = SECRET_VARS["source"]
    assert shipped.source == "postgresql://u:${" + var + "}@db:5432/app"
    assert env == {var: "s%40cret"} and connections == {}
    assert b"s%40cret" not in pickle.dumps(shipped) and b"s@cret" not in pickle.dumps(shipped)
    assert shipped.target == f"sqlite:///{workspace_dir / 't.db'}"  # absolute on every worker
    assert shipped.cluster is None and shipped.workspace == "."


def test_a_remote_cluster_refuses_an_inline_password_and_names_what_to_set(
    workspace_dir: Path,
) -> None:
    request = _request(workspace_dir, "postgresql://u:hunter2@db/app", "sqlite:///t.db")
    with pytest.raises(SecretInGraphError) as info:
        ship(request, "tcp://scheduler:8786")
    assert "tcp://scheduler:8786" in info.value.message and "hunter2" not in info.value.render()
    assert "${PGPASSWORD}" in info.value.hint and "every Dask worker" in info.value.hint


def test_a_connection_name_travels_with_its_entry_unexpanded_and_its_options(
    workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_PW", "from-env")
    (workspace_dir / "datamigration.toml").write_text(
        '[connections]\nsrc = "postgresql://app:${APP_PW}@db/app"\n'
        '[connections.dst]\nurl = "mysql://root:literal@db2/app"\nconnect_timeout = 3\n',
        encoding="utf-8",
    )
    request = _request(workspace_dir, "src", "dst")
    shipped, connections, env = ship(request, None)
    assert (shipped.source, shipped.target) == ("src", "dst")
    assert connections["src"] == {"url": "postgresql://app:${APP_PW}@db/app"}
    var = SECRET_VARS["target"]
    assert connections["dst"] == {
        "url": "mysql://root:${" + var + "}@db2/app",
        "connect_timeout": 3,
    }
    assert env == {var: "literal"}
    with pytest.raises(SecretInGraphError, match="connection 'dst'"):
        ship(request, "tcp://scheduler:8786")
    shipped, connections, env = ship(request.with_(target="sqlite:///t.db"), "tcp://s:8786")
    assert "from-env" not in repr(connections) and env == {}


def test_an_unreachable_scheduler_is_named_before_anything_is_written(workspace_dir: Path) -> None:
    import socket

    from datamigration.move import run_copy

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed once the block ends: nothing listens there
    request = _request(workspace_dir, "sqlite:///src.db", "sqlite:///dst.db")
    with pytest.raises(ClusterError) as info:
        run_copy(request.with_(cluster=f"tcp://127.0.0.1:{port}"))
    assert f"tcp://127.0.0.1:{port}" in info.value.message and "dask worker" in info.value.hint
    assert not (workspace_dir / "dst.db").exists()
