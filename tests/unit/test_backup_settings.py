"""Backup settings and which backups count: the `[backup]` section, the environment override,
and when two URLs name one database (the executor's check matches backups by it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.db.urls import resolve
from datamigration.errors import UserInputError
from datamigration.safety.backup.gate import same_database_key
from datamigration.safety.backup.manifest import BackupSettings, backups_dir, folder_of
from datamigration.workspace.root import Workspace


def ws_with(tmp_path: Path, toml: str = "") -> Workspace:
    (tmp_path / "datamigration.toml").write_text(toml)
    return Workspace.open(tmp_path)


def test_the_defaults_require_a_backup_younger_than_a_day(tmp_path, monkeypatch):
    monkeypatch.delenv("DATAMIGRATION_BACKUP_REQUIRED", raising=False)
    s = BackupSettings.of(ws_with(tmp_path))
    assert s.required and s.max_age_hours == 24 and not s.require_rehearsal
    assert backups_dir(ws_with(tmp_path)) == tmp_path / ".datamigration" / "backups"


def test_the_section_sets_each_setting_and_the_environment_overrides_required(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("DATAMIGRATION_BACKUP_REQUIRED", raising=False)
    ws = ws_with(tmp_path, '[backup]\ndir = "bk"\nmax_age_hours = 2\nrequired = false\n')
    s = BackupSettings.of(ws)
    assert (s.dir, s.max_age_hours, s.required) == ("bk", 2, False)
    assert backups_dir(ws) == tmp_path / "bk"
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")
    assert BackupSettings.of(ws).required
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "maybe")  # not a boolean: ignored
    assert not BackupSettings.of(ws).required


@pytest.mark.parametrize(
    "toml", ["[backup]\nmax_age_hours = 0\n", "[backup]\ndir = 3\n", "[backup]\nretain = 1\n"]
)
def test_a_setting_of_the_wrong_kind_is_refused_with_a_hint(tmp_path, toml):
    with pytest.raises(UserInputError) as caught:
        BackupSettings.of(ws_with(tmp_path, toml))
    assert caught.value.hint


@pytest.mark.parametrize("bad", ["../x", "bk-1/../../etc", "nope"])
def test_a_backup_id_that_is_no_id_never_names_a_path(tmp_path, bad):
    with pytest.raises(UserInputError, match="not a backup id"):
        folder_of(ws_with(tmp_path), bad)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("sqlite:///app.db", "sqlite:///{root}/app.db", True),
        ("postgresql://u:***@db.local/app", "postgresql://other@DB.local:5432/app", True),
        ("postgresql://u@db.local:5433/app", "postgresql://u@db.local/app", False),
        ("postgresql://u@db.local/app", "postgresql://u@db.local/app2", False),
        ("mysql://root@h/app", "mysql://root@h:3306/app", True),
        ("mongodb://h/app", "mongodb://h:27017/app", True),
        ("mysql://root@h/app", "postgresql://root@h/app", False),
    ],
)
def test_two_urls_name_one_database_by_dialect_host_port_and_database(tmp_path, a, b, same):
    ws = ws_with(tmp_path)
    key = [same_database_key(resolve(u.format(root=tmp_path), ws)) for u in (a, b)]
    assert (key[0] == key[1]) is same
