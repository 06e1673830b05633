"""A generated rules file is a starting point people edit: regenerating it must not lose that.

The CLI (`rules-from-schema -o FILE`, `--overwrite`) and the MCP tool (`generate_rules`,
`overwrite`) share `write_rules_file`, so both refuse the same way and write the same text.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from datamigration.cli import main as cli_main
from datamigration.errors import ConflictError
from datamigration.validate.generate import rules_from_schema, write_rules_file
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


@pytest.fixture
def src(tmp_path: Path) -> str:
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)")
        conn.executemany("INSERT INTO users VALUES (?, ?, ?)", [(1, "a", "a@x"), (2, "b", None)])
    return f"sqlite:///{tmp_path / 'src.db'}"


def cli(ws: Path, *args: str) -> int:
    return cli_main(["--workspace", str(ws), *args])


def test_rules_from_schema_keeps_a_hand_edited_file_unless_told_to_overwrite(
    workspace_dir: Path, src: str, capsys
):
    assert cli(workspace_dir, "rules-from-schema", src, "users", "-o", "rules.yaml") == 0
    path = workspace_dir / "rules.yaml"
    generated = path.read_text()
    # Generating the same file again rewrites identical content: allowed.
    assert cli(workspace_dir, "rules-from-schema", src, "users", "-o", "rules.yaml") == 0
    edited = generated.replace("name: migrate users", "name: migrate users (reviewed)")
    path.write_text(edited)
    capsys.readouterr()
    rc = cli(workspace_dir, "rules-from-schema", src, "users", "-o", "rules.yaml")
    err = capsys.readouterr().err
    assert rc != 0 and path.read_text() == edited
    assert "already exists" in err and "--overwrite" in err
    assert cli(workspace_dir, "rules-from-schema", src, "users", "-o", "rules.yaml",
               "--overwrite", "--json") == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == "rules.yaml" and out["rules"] == len(yaml.safe_load(generated)["rules"])
    assert path.read_text() == generated


def test_the_cli_and_the_engine_write_the_same_text_so_either_may_rewrite_the_others_file(
    workspace_dir: Path, src: str
):
    ws = Workspace.open(workspace_dir)
    doc = rules_from_schema(src, "users")
    assert write_rules_file(ws, "out/rules.json", doc) == "out/rules.json"
    assert json.loads((workspace_dir / "out/rules.json").read_text()) == doc
    assert cli(workspace_dir, "rules-from-schema", src, "users", "-o", "out/rules.json") == 0
    doc["name"] = "something else"
    with pytest.raises(ConflictError) as err:
        write_rules_file(ws, "out/rules.json", doc)
    assert "overwrite=true in the tool" in err.value.hint
