"""What to lint: files, directories (migration folders of the usual frameworks) and stdin.

Raw SQL (Flyway, Prisma, plain numbered files) is linted as is. For Alembic, Django, Rails and
Knex the SQL literals a migration executes (`op.execute`, `RunSQL`, `execute <<~SQL`,
`knex.raw`) are extracted and placed on their original lines, so findings point into the real
file; their framework-level operations (op.create_index, add_column, ...) are best linted from
the SQL the framework prints (`alembic upgrade --sql`, `manage.py sqlmigrate`) piped to stdin.
Frameworks that wrap each migration in a transaction set the in-transaction assumption unless
the file opts out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from datamigration.errors import NotFoundError, UserInputError
from datamigration.workspace.root import Workspace
from datamigration.workspace.walk import natural_key, walk_files

#: Bigger inputs are refused rather than read into memory.
MAX_FILE_BYTES = 20 * 1024 * 1024
_SQL_CALLS = {"execute", "RunSQL", "text", "exec_driver_sql"}
_RB_HEREDOC = re.compile(
    r"execute\s*\(?\s*<<[~-]?(['\"]?)(\w+)\1[^\n]*\n(.*?)^\s*\2\s*$", re.DOTALL | re.MULTILINE
)
_RB_STRING = re.compile(r"execute\s*\(?\s*(['\"])(.*?)(?<!\\)\1", re.DOTALL)
_JS_RAW = re.compile(r"\.raw\(\s*(`|'|\")(.*?)(?<!\\)\1", re.DOTALL)
#: Frameworks that run each migration in a transaction unless the file opts out.
_OPT_OUT = {
    "alembic": re.compile(r"autocommit_block|transaction_per_migration\s*=\s*False"),
    "django": re.compile(r"atomic\s*=\s*False"),
    "rails": re.compile(r"disable_ddl_transaction!"),
    "knex": re.compile(r"transaction\s*:\s*false"),
}


@dataclass(frozen=True)
class LintInput:
    file: str  # as shown in findings (workspace-relative, or "<stdin>")
    text: str
    framework: str
    assume_in_transaction: bool = False


def _framework_by_name(path: Path) -> str:
    name = path.name
    if re.match(r"^[VUR]\d*(?:[._]\d+)*__.+\.sql$", name, re.IGNORECASE):
        return "flyway"
    if name == "migration.sql":
        return "prisma"
    if path.suffix == ".py":
        return (
            "django"
            if re.match(r"^\d{4}_", name) and path.parent.name == "migrations"
            else "alembic"
        )
    if path.suffix == ".rb":
        return "rails"
    if path.suffix in (".js", ".ts", ".cjs", ".mjs"):
        return "knex"
    return "sql"


def _place(snippets: list[tuple[int, str]]) -> str:
    """Snippets laid out on their original lines (1-based), each ended with `;`."""
    out: list[str] = []
    line = 1
    for at, body in sorted(snippets):
        if at > line:
            out.append("\n" * (at - line))
            line = at
        text = body.rstrip().rstrip(";") + ";\n"
        out.append(text)
        line += text.count("\n")
    return "".join(out)


def extract_sql(path_name: str, source: str, framework: str) -> str:
    """The SQL a non-SQL migration file executes, on its original lines."""
    snippets: list[tuple[int, str]] = []
    if framework in ("alembic", "django"):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return ""
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name not in _SQL_CALLS:
                continue
            for arg in [*node.args[:1], *(k.value for k in node.keywords if k.arg == "sql")]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    first = arg.lineno + (
                        1
                        if source.splitlines()[arg.lineno - 1].rstrip().endswith(('"""', "'''"))
                        else 0
                    )
                    snippets.append((first, arg.value.strip("\n")))
    elif framework == "rails":
        for m in _RB_HEREDOC.finditer(source):
            snippets.append((source.count("\n", 0, m.start(3)) + 1, m.group(3)))
        for m in _RB_STRING.finditer(source):
            snippets.append((source.count("\n", 0, m.start(2)) + 1, m.group(2)))
    elif framework == "knex":
        for m in _JS_RAW.finditer(source):
            snippets.append((source.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return _place(snippets)


def read_input(workspace: Workspace, path: Path, framework: str | None = None) -> LintInput:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UserInputError(
            f"{workspace.relative(path)} is larger than {MAX_FILE_BYTES} bytes",
            hint="Split the file, or lint it in parts through stdin.",
        )
    source = path.read_text(encoding="utf-8", errors="replace")
    fw = framework or _framework_by_name(path)
    rel = workspace.relative(path)
    if path.suffix.lower() == ".sql" or fw in ("sql", "flyway", "prisma"):
        return LintInput(rel, source, fw, False)
    opt_out = _OPT_OUT.get(fw)
    wrapped = opt_out is not None and not opt_out.search(source)
    return LintInput(rel, extract_sql(rel, source, fw), fw, wrapped)


def collect_inputs(workspace: Workspace, paths: list[str]) -> list[LintInput]:
    """Every input named by `paths` (files or directories), in apply order per folder."""
    from datamigration.workspace.frameworks import detect_migrations

    inputs: list[LintInput] = []
    sets = None
    for raw in paths:
        path = workspace.resolve(raw)
        if not path.exists():
            raise NotFoundError(
                f"{raw} does not exist",
                hint="Pass SQL files or migration "
                "folders inside the workspace, or pipe SQL on stdin.",
            )
        if path.is_file():
            inputs.append(read_input(workspace, path))
            continue
        if sets is None:
            sets = detect_migrations(workspace)
        rel = workspace.relative(path)
        inside = [
            s
            for s in sets
            if rel == "." or s.directory == rel or s.directory.startswith(rel.rstrip("/") + "/")
        ]
        if inside:
            for ms in inside:
                for f in ms.files:
                    inputs.append(read_input(workspace, workspace.root / f, ms.framework))
            continue
        sql_files = sorted(
            (f for f in walk_files(workspace, path) if f.rel.lower().endswith(".sql")),
            key=lambda f: natural_key(f.rel),
        )
        if not sql_files:
            raise UserInputError(
                f"{rel} is not a recognized migrations folder and holds no .sql files",
                hint="Pass a migrations folder (Alembic, Flyway, Django, Rails, Prisma, Knex or "
                "plain .sql files), SQL files themselves, or pipe SQL on stdin; "
                "`datamigration migrations` (tool find_migrations) lists the folders found.",
            )
        # WalkedFile.path is a plain string; resolve it again so a symlink stays confined.
        inputs += [read_input(workspace, workspace.resolve(f.rel)) for f in sql_files]
    return inputs
