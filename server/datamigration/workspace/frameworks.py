"""Find the migration folders a repository already has, and which framework owns each.

The linter needs the files to check and the planner must write new migrations in the framework
the team already uses (an Alembic revision, a Flyway `V3__x.sql`, a Rails migration), so both
start from `detect_migrations`. Detection looks at names and layout only (it never imports
project code): Alembic by `alembic.ini` or an `env.py` + `script.py.mako` folder, Flyway by
`V1__name.sql` files, Django by numbered modules in a `migrations` package, Rails by
`db/migrate/<14 digits>_name.rb`, Prisma by `migrations/<name>/migration.sql`, Knex by
`<14 digits>_name.js|ts`, and raw SQL by numbered `.sql` files or a folder named for migrations.

Files come back in the order the framework applies them (Alembic by its revision chain, Flyway
by version number), as workspace-relative paths that the file tools accept.
"""

from __future__ import annotations

import configparser
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from datamigration.errors import DataMigrationError
from datamigration.workspace.root import Workspace
from datamigration.workspace.walk import natural_key, walk_files

FRAMEWORKS = ("alembic", "flyway", "django", "rails", "prisma", "knex", "sql")
MAX_DEPTH = 12

_FLYWAY = re.compile(r"^(?:[VUB](?P<version>\d+(?:[._]\d+)*)|R)__.+\.sql$", re.IGNORECASE)
_DJANGO = re.compile(r"^\d{4}_\w+\.py$")
_RAILS = re.compile(r"^\d{14}_\w+\.rb$")
_KNEX = re.compile(r"^\d{14}_[\w.-]+\.(?:js|ts|cjs|mjs)$")
_NUMBERED_SQL = re.compile(r"^\d+[_.\-].*\.sql$", re.IGNORECASE)
_SQL_DIR = re.compile(r"migrat|^sql$|^schema|^ddl$|^changes?$", re.IGNORECASE)
_REVISION = re.compile(r"^revision\s*(?::[^=]+)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]+)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@dataclass(frozen=True)
class MigrationSet:
    """One migration folder: its framework, where it is, its files in apply order."""

    framework: str
    directory: str
    files: tuple[str, ...]
    config: str | None = None


def detect_migrations(workspace: Workspace) -> list[MigrationSet]:
    """Every migration folder in the workspace, sorted by directory.

    A folder belongs to one framework at most; the more specific signal wins (an Alembic
    `versions/` folder full of `.py` files is not also a Django app).
    """
    by_dir: dict[str, list[str]] = defaultdict(list)
    for f in walk_files(workspace, workspace.root, max_depth=MAX_DEPTH):
        parent = PurePosixPath(f.rel).parent.as_posix()
        by_dir[parent].append(PurePosixPath(f.rel).name)
    found: dict[str, MigrationSet] = {}

    def claim(ms: MigrationSet) -> None:
        if ms.directory not in found and ms.files:
            found[ms.directory] = ms

    for ms in _alembic(workspace, by_dir):
        claim(ms)
    for ms in _prisma(by_dir):
        claim(ms)
    for directory, names in sorted(by_dir.items()):
        if directory in found:
            continue
        for detector in (_django, _rails, _flyway, _knex, _raw_sql):
            ms = detector(directory, names, by_dir)
            if ms is not None:
                claim(ms)
                break
    return sorted(found.values(), key=lambda m: (m.directory, m.framework))


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"


# --- Alembic --------------------------------------------------------------------------------


def _alembic(workspace: Workspace, by_dir: dict[str, list[str]]) -> list[MigrationSet]:
    out: list[MigrationSet] = []
    seen: set[str] = set()
    for directory, names in sorted(by_dir.items()):
        if "alembic.ini" not in names:
            continue
        ini = _join(directory, "alembic.ini")
        for versions in _alembic_version_dirs(workspace, ini):
            if versions in by_dir and versions not in seen:
                seen.add(versions)
                out.append(_alembic_set(workspace, versions, by_dir[versions], ini))
    # A script folder without alembic.ini (multi-db setups, ini elsewhere): env.py + mako.
    for directory, names in sorted(by_dir.items()):
        if "env.py" in names and "script.py.mako" in names:
            versions = _join(directory, "versions")
            if versions in by_dir and versions not in seen:
                seen.add(versions)
                out.append(_alembic_set(workspace, versions, by_dir[versions], None))
    return out


def _alembic_version_dirs(workspace: Workspace, ini: str) -> list[str]:
    ini_path = workspace.root / ini
    here = ini_path.parent
    parser = configparser.ConfigParser(defaults={"here": str(here)})
    try:
        parser.read(ini_path, encoding="utf-8")
        section = parser["alembic"]
        script_location = section.get("script_location", "").strip()
        version_locations = section.get("version_locations", "").strip()
    except (configparser.Error, KeyError, UnicodeDecodeError):
        return []
    if not script_location:
        return []
    if ":" in script_location and not Path(script_location).is_absolute():
        script_location = script_location.replace(":", "/").replace(".", "/")  # package:resource
    locations = (
        re.split(r"[\s,;]+", version_locations)
        if version_locations
        else [str(Path(script_location) / "versions")]
    )
    dirs = []
    for loc in filter(None, locations):
        p = Path(loc)
        if not p.is_absolute():
            p = here / p
        try:
            resolved = workspace.resolve(p)
        except DataMigrationError:
            continue  # a version folder outside the workspace is not ours to read
        dirs.append(workspace.relative(resolved))
    return dirs


def _alembic_set(
    workspace: Workspace, versions: str, names: list[str], ini: str | None
) -> MigrationSet:
    scripts = [n for n in names if n.endswith(".py") and n != "__init__.py"]
    revisions: dict[str, tuple[str, list[str]]] = {}
    for name in scripts:
        try:
            text = (workspace.root / versions / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        rev = _REVISION.search(text)
        down = _DOWN.search(text)
        if rev:
            parents = _QUOTED.findall(down.group(1)) if down else []
            revisions[rev.group(1)] = (name, parents)
    ordered = _topological(revisions)
    rest = sorted((n for n in scripts if n not in ordered), key=natural_key)
    files = tuple(_join(versions, n) for n in [*ordered, *rest])
    return MigrationSet("alembic", versions, files, ini)


def _topological(revisions: dict[str, tuple[str, list[str]]]) -> list[str]:
    """File names from base to head; ties (branches) broken by file name for stability."""
    remaining = dict(revisions)
    done: set[str] = set()
    order: list[str] = []
    while remaining:
        ready = sorted(
            (
                rev
                for rev, (_, parents) in remaining.items()
                if all(p in done or p not in revisions for p in parents)
            ),
            key=lambda r: natural_key(remaining[r][0]),
        )
        if not ready:  # a cycle: keep the rest in name order rather than loop
            order.extend(sorted((v[0] for v in remaining.values()), key=natural_key))
            break
        for rev in ready:
            order.append(remaining.pop(rev)[0])
            done.add(rev)
    return order


# --- Prisma ---------------------------------------------------------------------------------


def _prisma(by_dir: dict[str, list[str]]) -> list[MigrationSet]:
    groups: dict[str, list[str]] = defaultdict(list)
    for directory, names in by_dir.items():
        if "migration.sql" not in names:
            continue
        parent = PurePosixPath(directory).parent
        parent_s = parent.as_posix()
        lock = "migration_lock.toml" in by_dir.get(parent_s, [])
        if lock or parent.parent.name == "prisma":
            groups[parent_s].append(_join(directory, "migration.sql"))
    out = []
    for parent_s, files in sorted(groups.items()):
        lock = "migration_lock.toml" in by_dir.get(parent_s, [])
        out.append(
            MigrationSet(
                "prisma",
                parent_s,
                tuple(sorted(files, key=natural_key)),
                _join(parent_s, "migration_lock.toml") if lock else None,
            )
        )
    return out


# --- one-folder detectors -------------------------------------------------------------------


def _django(directory: str, names: list[str], by_dir: dict[str, list[str]]) -> MigrationSet | None:
    if PurePosixPath(directory).name != "migrations" or "__init__.py" not in names:
        return None
    files = sorted((n for n in names if _DJANGO.match(n)), key=natural_key)
    return (
        MigrationSet("django", directory, tuple(_join(directory, n) for n in files))
        if files
        else None
    )


def _rails(directory: str, names: list[str], by_dir: dict[str, list[str]]) -> MigrationSet | None:
    files = sorted(n for n in names if _RAILS.match(n))
    if not files:
        return None
    parent = PurePosixPath(directory).parent.as_posix()
    schema = next(
        (_join(parent, s) for s in ("schema.rb", "structure.sql") if s in by_dir.get(parent, [])),
        None,
    )
    return MigrationSet("rails", directory, tuple(_join(directory, n) for n in files), schema)


def _flyway(directory: str, names: list[str], by_dir: dict[str, list[str]]) -> MigrationSet | None:
    matched = [(n, _FLYWAY.match(n)) for n in names]
    versioned = [(n, m) for n, m in matched if m and m.group("version")]
    repeatable = sorted(n for n, m in matched if m and not m.group("version"))
    if not versioned and not repeatable:
        return None

    def version(item: tuple[str, re.Match[str]]) -> tuple[tuple[int, ...], str]:
        return tuple(int(p) for p in re.split(r"[._]", item[1].group("version"))), item[0]

    files = [n for n, _ in sorted(versioned, key=version)] + repeatable
    config = next((c for c in ("flyway.conf", "flyway.toml") if c in by_dir.get(".", [])), None)
    return MigrationSet("flyway", directory, tuple(_join(directory, n) for n in files), config)


def _knex(directory: str, names: list[str], by_dir: dict[str, list[str]]) -> MigrationSet | None:
    files = sorted(n for n in names if _KNEX.match(n))
    if not files:
        return None
    root_names = by_dir.get(".", [])
    config = next((n for n in root_names if re.fullmatch(r"knexfile\.(?:js|ts|cjs|mjs)", n)), None)
    return MigrationSet("knex", directory, tuple(_join(directory, n) for n in files), config)


def _raw_sql(directory: str, names: list[str], by_dir: dict[str, list[str]]) -> MigrationSet | None:
    sql = [n for n in names if n.lower().endswith(".sql")]
    if not sql:
        return None
    numbered = [n for n in sql if _NUMBERED_SQL.match(n)]
    if not numbered and not _SQL_DIR.search(PurePosixPath(directory).name):
        return None
    files = sorted(sql, key=natural_key)
    return MigrationSet("sql", directory, tuple(_join(directory, n) for n in files))
