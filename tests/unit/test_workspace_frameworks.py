"""detect_migrations: one layout per framework, apply order, and no false claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.workspace.frameworks import MigrationSet, detect_migrations
from datamigration.workspace.root import Workspace


def build(root: Path, tree: dict[str, str]) -> Workspace:
    for rel, text in tree.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Workspace.open(root)


def only(ws: Workspace) -> MigrationSet:
    found = detect_migrations(ws)
    assert len(found) == 1, found
    return found[0]


def alembic_rev(rev: str, down: str | None) -> str:
    down_s = repr(down) if down else "None"
    return f'"""x"""\nrevision: str = {rev!r}\ndown_revision: Union[str, None] = {down_s}\n'


def test_alembic_from_alembic_ini_in_revision_chain_order(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "alembic.ini": "[alembic]\nscript_location = %(here)s/migrations\n",
            "migrations/env.py": "",
            "migrations/script.py.mako": "",
            # names sort the wrong way round on purpose: order must come from the chain
            "migrations/versions/zz_first.py": alembic_rev("aaa", None),
            "migrations/versions/mm_second.py": alembic_rev("bbb", "aaa"),
            "migrations/versions/aa_third.py": alembic_rev("ccc", "bbb"),
            "migrations/versions/__init__.py": "",
        },
    )
    ms = only(ws)
    assert (ms.framework, ms.directory, ms.config) == (
        "alembic",
        "migrations/versions",
        "alembic.ini",
    )
    assert ms.files == (
        "migrations/versions/zz_first.py",
        "migrations/versions/mm_second.py",
        "migrations/versions/aa_third.py",
    )


def test_alembic_without_ini_is_found_by_env_py_and_template(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "db/alembic/env.py": "",
            "db/alembic/script.py.mako": "",
            "db/alembic/versions/1a_init.py": alembic_rev("1a", None),
        },
    )
    ms = only(ws)
    assert (ms.framework, ms.directory, ms.config) == ("alembic", "db/alembic/versions", None)


def test_flyway_orders_by_version_number_then_repeatables(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "flyway.conf": "flyway.locations=filesystem:sql\n",
            "sql/V10__later.sql": "",
            "sql/V2__second.sql": "",
            "sql/V1_1__first_patch.sql": "",
            "sql/V1__first.sql": "",
            "sql/R__views.sql": "",
        },
    )
    ms = only(ws)
    assert ms.framework == "flyway" and ms.config == "flyway.conf"
    assert [f.split("/")[-1] for f in ms.files] == [
        "V1__first.sql",
        "V1_1__first_patch.sql",
        "V2__second.sql",
        "V10__later.sql",
        "R__views.sql",
    ]


def test_django_app_migrations(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "shop/migrations/__init__.py": "",
            "shop/migrations/0002_order.py": "",
            "shop/migrations/0001_initial.py": "",
            "shop/models.py": "",
        },
    )
    ms = only(ws)
    assert ms.framework == "django"
    assert ms.files == ("shop/migrations/0001_initial.py", "shop/migrations/0002_order.py")


def test_rails_db_migrate(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "db/migrate/20240102000000_add_age.rb": "",
            "db/migrate/20240101000000_create_users.rb": "",
            "db/schema.rb": "",
        },
    )
    ms = only(ws)
    assert (ms.framework, ms.directory, ms.config) == ("rails", "db/migrate", "db/schema.rb")
    assert ms.files[0].endswith("20240101000000_create_users.rb")


def test_prisma_migration_folders(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "prisma/schema.prisma": "",
            "prisma/migrations/migration_lock.toml": 'provider = "postgresql"\n',
            "prisma/migrations/20240102_add_age/migration.sql": "",
            "prisma/migrations/20240101_init/migration.sql": "",
        },
    )
    ms = only(ws)
    assert (ms.framework, ms.directory) == ("prisma", "prisma/migrations")
    assert ms.files == (
        "prisma/migrations/20240101_init/migration.sql",
        "prisma/migrations/20240102_add_age/migration.sql",
    )


def test_knex_timestamped_migrations(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "knexfile.js": "module.exports = {}\n",
            "migrations/20240101120000_create_users.js": "",
            "migrations/20240102120000_add_age.ts": "",
        },
    )
    ms = only(ws)
    assert (ms.framework, ms.config) == ("knex", "knexfile.js")
    assert len(ms.files) == 2


@pytest.mark.parametrize(
    "tree",
    [
        {"migrations/001_init.sql": "", "migrations/002_users.sql": ""},
        {"db/000001_init.up.sql": "", "db/000001_init.down.sql": ""},
        {"schema_changes/add_index.sql": ""},
    ],
)
def test_raw_sql_folders(workspace_dir: Path, tree: dict[str, str]) -> None:
    ms = only(build(workspace_dir, tree))
    assert ms.framework == "sql"
    assert len(ms.files) == len(tree)


def test_raw_sql_files_sort_numerically(workspace_dir: Path) -> None:
    ms = only(build(workspace_dir, {f"migrations/{i}_step.sql": "" for i in (1, 2, 10)}))
    assert [f.split("/")[-1] for f in ms.files] == ["1_step.sql", "2_step.sql", "10_step.sql"]


def test_unrelated_sql_and_python_files_are_not_migrations(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "queries/report.sql": "",
            "src/migrations.py": "",
            "tests/fixtures/data.sql": "",
            "app/models/__init__.py": "",
        },
    )
    assert detect_migrations(ws) == []


def test_several_frameworks_in_one_repository_are_all_found(workspace_dir: Path) -> None:
    ws = build(
        workspace_dir,
        {
            "backend/db/migrate/20240101000000_create_users.rb": "",
            "svc/sql/V1__init.sql": "",
            ".venv/lib/site-packages/django/contrib/auth/migrations/__init__.py": "",
            ".venv/lib/site-packages/django/contrib/auth/migrations/0001_initial.py": "",
        },
    )
    assert [(m.framework, m.directory) for m in detect_migrations(ws)] == [
        ("rails", "backend/db/migrate"),
        ("flyway", "svc/sql"),
    ]
