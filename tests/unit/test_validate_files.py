"""File checksums and the rules-file schema, without a database."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from datamigration.errors import FileFormatError
from datamigration.validate.filesums import verify_checksums, write_checksum
from datamigration.validate.rules import check_rules, load_rules


def test_a_checksum_verifies_until_the_file_is_changed(tmp_path: Path):
    export = tmp_path / "users.csv"
    export.write_text("id,name\n1,a\n")
    sidecar = write_checksum(export)
    assert re.fullmatch(r"[0-9a-f]{64}  users.csv\n", sidecar.read_text())
    assert all(c.ok for c in verify_checksums(sidecar))
    export.write_text("id,name\n1,b\n")
    [check] = verify_checksums(sidecar)
    assert not check.ok and "mismatch" in check.problem


def test_a_truncated_gzip_export_is_reported_even_with_a_fresh_checksum(tmp_path: Path):
    export = tmp_path / "users.csv.gz"
    export.write_bytes(gzip.compress(b"x" * 100_000)[:-20])
    [check] = verify_checksums(write_checksum(export))
    assert not check.ok and "damaged" in check.problem


def test_a_missing_export_is_reported(tmp_path: Path):
    sidecar = tmp_path / "gone.csv.sha256"
    sidecar.write_text("0" * 64 + "  gone.csv\n")
    [check] = verify_checksums(sidecar)
    assert check.problem == "file is missing"


def test_a_rules_file_with_a_missing_field_names_the_rule(tmp_path: Path):
    with pytest.raises(FileFormatError, match="rules/0"):
        check_rules({"rules": [{"type": "not_null", "table": "users"}]})
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(FileFormatError, match="not valid YAML"):
        load_rules(bad)


def test_every_rule_type_of_the_schema_is_documented():
    import json

    root = Path(__file__).resolve().parents[2]
    schema = json.loads(
        (root / "server/datamigration/schemas/validation-rules.schema.json").read_text()
    )
    types = schema["$defs"]["rule"]["properties"]["type"]["enum"]
    docs = (root / "docs/validation.md").read_text()
    assert [t for t in types if f"`{t}`" not in docs] == []
    for name in ("validate", "diff_data", "generate_rules", "rules-from-schema", "checksum"):
        assert name in docs
