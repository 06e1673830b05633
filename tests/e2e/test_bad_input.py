"""Bad input never crashes us (issue 10 #10): each case is a clear error with a hint.

The examples from the issue (a spec file holding `[1,2,3]`, 100,000 nested brackets, `lint` of a
folder that is not a migrations folder) plus their family: other non-object specs, deep nesting
in JSON and in YAML (flow and block style), in every file we parse (spec, rules, status.json,
bus lines, the expertise file, flag context, story fields, MongoDB queries). On the CLI: a
non-zero exit code, the message and a hint, no traceback, and nothing written.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from datamigration.coordination import bus
from datamigration.db.mongodb.guard import parse_query
from datamigration.errors import FileFormatError, UserInputError
from datamigration.safeload import MAX_DEPTH
from datamigration.workspace.root import Workspace
from support.cli_errors import cli, refused

pytestmark = pytest.mark.e2e

N = 100_000
DEEP_JSON = {
    "arrays": "[" * N + "]" * N,
    "objects": '{"a":' * N + "1" + "}" * N,
    "just past the bound": '{"kind":' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}",
}
DEEP_YAML = {
    "flow": "[" * N + "]" * N,
    "block": "- " * N + "x\n",
    "mapping": "{a: " * N + "1" + "}" * N,
}
NOT_OBJECTS = ["[1,2,3]", '"x"', "null", "1", "true"]


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def app_db(workspace_dir: Path) -> str:
    with sqlite3.connect(workspace_dir / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    return "sqlite:///app.db"


# -- change specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_a_spec_file_that_is_not_an_object_is_refused_with_a_hint(
    workspace_dir: Path, app_db: str, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (workspace_dir / "spec.json").write_text(text)
    before = tree(workspace_dir)
    err = refused(capsys, cli(workspace_dir, "plan", "spec.json", "--db", app_db))
    assert "must be a change spec (a JSON object), found" in err and '"kind"' in err
    assert tree(workspace_dir) == before


def test_an_empty_object_spec_names_the_missing_kind(
    workspace_dir: Path, app_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "spec.json").write_text("{}")
    err = refused(capsys, cli(workspace_dir, "plan", "spec.json", "--db", app_db))
    assert "'kind' is a required property" in err


@pytest.mark.parametrize("shape", sorted(DEEP_JSON))
def test_a_deeply_nested_spec_file_is_refused_with_a_hint(
    workspace_dir: Path, app_db: str, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    (workspace_dir / "spec.json").write_text(DEEP_JSON[shape])
    before = tree(workspace_dir)
    err = refused(capsys, cli(workspace_dir, "plan", "spec.json", "--db", app_db))
    assert f"nests deeper than {MAX_DEPTH} levels" in err
    assert tree(workspace_dir) == before


# -- validation rules files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        *((f"rules-{k}.yaml", v) for k, v in sorted(DEEP_YAML.items())),
        *((f"rules-{k}.json", v) for k, v in sorted(DEEP_JSON.items())),
    ],
)
def test_a_deeply_nested_rules_file_is_refused_with_a_hint(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    (workspace_dir / name).write_text(text)
    before = tree(workspace_dir)
    err = refused(capsys, cli(workspace_dir, "validate", name))
    assert "nests deeper than" in err
    assert tree(workspace_dir) == before  # no report written


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_a_rules_file_that_is_not_a_mapping_is_refused_with_a_hint(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (workspace_dir / "rules.yaml").write_text(text)
    err = refused(capsys, cli(workspace_dir, "validate", "rules.yaml"))
    assert "rules.yaml" in err and "docs/validation.md" in err


# -- lint of a folder that is not a migrations folder -------------------------------------------


@pytest.mark.parametrize("content", [{}, {"notes.txt": "hello"}, {"0001_init.py": "x = 1\n"}])
def test_lint_of_a_folder_that_is_not_a_migrations_folder_says_so_with_a_hint(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], content: dict[str, str]
) -> None:
    folder = workspace_dir / "some" / "dir"
    folder.mkdir(parents=True)
    for name, text in content.items():
        (folder / name).write_text(text)
    err = refused(capsys, cli(workspace_dir, "lint", "some/dir"))
    assert "some/dir is not a recognized migrations folder" in err and "find_migrations" in err


def test_lint_of_a_plain_folder_of_sql_files_lints_them(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The crash was on this path: files found by the walker were plain strings.
    folder = workspace_dir / "some" / "dir"
    folder.mkdir(parents=True)
    (folder / "0001.sql").write_text("CREATE INDEX users_email ON users (email);\n")
    rc = cli(workspace_dir, "lint", "some/dir", "--dialect", "postgres", "--format", "json")
    out = capsys.readouterr().out
    assert rc == 1 and "some/dir/0001.sql" in out  # the blocking CREATE INDEX is an error


# -- coordination files and arguments -------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(DEEP_JSON))
def test_a_deeply_nested_status_file_is_refused_and_left_alone(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    text = '{"stories": {"US-1": {"title": "t", "x": ' + DEEP_JSON[shape] + "}}}"
    (workspace_dir / "status.json").write_text(text)
    refused(capsys, cli(workspace_dir, "status"))
    refused(capsys, cli(workspace_dir, "status", "set", "US-1", "in-progress"))
    assert (workspace_dir / "status.json").read_text() == text


def test_a_deeply_nested_story_field_is_refused(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(workspace_dir, "status", "new", "US-1", "--title", "t") == 0
    before = (workspace_dir / "status.json").read_text()
    capsys.readouterr()
    for value in (DEEP_JSON["arrays"], "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)):
        rc = cli(workspace_dir, "status", "set", "US-1", "ready", "--field", f"notes={value}")
        refused(capsys, rc)
    assert (workspace_dir / "status.json").read_text() == before


@pytest.mark.parametrize("shape", sorted(DEEP_JSON))
def test_a_deeply_nested_bus_line_is_skipped_as_malformed(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    deep = '{"ts":"2025-01-01","from":"AG-X","type":"question","to":"AG-DATAMIGRATION","text":'
    log.write_text(deep + DEEP_JSON[shape] + "}\n")
    ws = Workspace.open(workspace_dir)
    assert bus.read(ws).malformed_lines == 1 and bus.questions(ws) == []
    assert cli(workspace_dir, "bus", "questions") == 0
    assert "no open questions" in capsys.readouterr().out


@pytest.mark.parametrize("shape", sorted(DEEP_YAML))
def test_a_deeply_nested_expertise_file_is_refused_with_a_hint(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    path = workspace_dir / "expertise" / "datamigration.yaml"
    path.parent.mkdir()
    path.write_text("domain: datamigration\nnotes: " + DEEP_YAML[shape].replace("\n", "") + "\n")
    refused(capsys, cli(workspace_dir, "expertise", "validate"))
    refused(capsys, cli(workspace_dir, "expertise", "learn", "--context", "c", "--insight", "i"))


def test_a_deeply_nested_flag_context_is_refused(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli(workspace_dir, "flags", "eval", "f", "--key", "k", "--context", DEEP_JSON["objects"])
    assert "nests deeper than" in refused(capsys, rc)


def test_a_deeply_nested_config_file_is_refused(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "datamigration.toml").write_text("x = " + DEEP_JSON["arrays"] + "\n")
    assert "nests deeper than" in refused(capsys, cli(workspace_dir, "status"))


@pytest.mark.parametrize("shape", sorted(DEEP_JSON))
def test_a_deeply_nested_mongodb_query_is_refused_before_any_connection(shape: str) -> None:
    query = '{"find": "users", "filter": ' + DEEP_JSON[shape] + "}"
    with pytest.raises(UserInputError) as caught:
        parse_query(query)
    assert "nests deeper than" in caught.value.message and caught.value.hint


def test_a_change_spec_holding_an_array_is_a_file_format_error_not_a_type_error() -> None:
    from datamigration.plan.spec import parse_spec

    for value in (json.loads(t) for t in NOT_OBJECTS):
        with pytest.raises(FileFormatError) as caught:
            parse_spec(value)  # type: ignore[arg-type]
        assert '"kind"' in caught.value.hint
