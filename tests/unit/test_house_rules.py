"""The house rules of DESIGN.md that a reader can check: drivers only under db/, engines never
import the MCP SDK or the CLI. Read from the source with `ast`, so strings that merely contain
an import (generated Alembic files, docs) do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "datamigration"
DRIVERS = {"psycopg", "psycopg2", "pymongo", "bson", "pymysql", "sqlite3", "sqlalchemy"}
FACES = {"mcp", "mcp_types", "datamigration.mcp", "datamigration.cli"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(*, outside: tuple[str, ...]) -> list[Path]:
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in outside
    ]


def roots(names: set[str], wanted: set[str]) -> set[str]:
    return {n for n in names if n in wanted or n.split(".")[0] in wanted or
            any(n == w or n.startswith(w + ".") for w in wanted)}  # fmt: skip


@pytest.mark.parametrize(
    "path", modules(outside=("db",)), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_database_driver_is_imported_outside_db(path):
    assert not roots(imported(path), DRIVERS), "drivers belong in server/datamigration/db/"


@pytest.mark.parametrize(
    "path",
    modules(outside=("mcp", "cli", "__main__.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_engines_never_import_the_mcp_sdk_or_the_cli(path):
    assert not roots(imported(path), FACES), "engines stay free of the MCP and CLI faces"


#: what the database layer and the document vocabulary may import of the product: each other
#: (db/ -> documents/ only) and the shared leaves, never an engine (plan/, execute/, ...)
LOWER_LAYERS = {
    "db": {"db", "documents", "errors", "redact", "safeload"},
    "documents": {"documents", "errors"},
}


@pytest.mark.parametrize(
    "path",
    [p for layer in LOWER_LAYERS for p in sorted((PACKAGE / layer).rglob("*.py"))],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_database_layer_and_the_document_vocabulary_import_no_engine(path):
    product = {n.split(".")[1] for n in imported(path) if n.startswith("datamigration.")}
    allowed = LOWER_LAYERS[path.relative_to(PACKAGE).parts[0]]
    assert product <= allowed, "db/ and documents/ sit below the engines: ask, do not import"


def test_the_checks_see_a_driver_import_when_there_is_one(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom bson import ObjectId\nx = 'import psycopg'\n")
    assert roots(imported(sample), DRIVERS) == {"bson"}


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "typemap").rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_type_map_uses_no_part_of_the_database_layer_but_the_model_and_dialects(path):
    layer = {n for n in imported(path) if n.startswith("datamigration.db")}
    allowed = {"datamigration.db.model", "datamigration.db.dialect"}  # both driver-free
    assert layer <= allowed, "the type map is knowledge, not a connection"


#: Names of databases (the product's and the linter's spelling): comparing against one is a
#: branch on a database that belongs in its package under db/ (a backend method or a
#: `db.dialect.Dialect` attribute).
DIALECT_NAMES = {"postgresql", "postgres", "mysql", "mariadb", "sqlite", "mongodb"}

#: Comparisons still to move, per file (a ratchet: a count may fall, never rise, and a file
#: not listed may have none). Empty: every engine asks the dialect classes.
KNOWN_DIALECT_COMPARISONS: dict[str, int] = {}


def _names_a_dialect(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in DIALECT_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_dialect(e) for e in node.elts)
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return isinstance(name, str) and name.endswith("dialect")


def dialect_comparisons(path: Path) -> int:
    """Comparisons (==, !=, in, not in) where one side names a database or is a `dialect`."""
    count = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
        ):
            count += any(_names_a_dialect(side) for side in (node.left, *node.comparators))
    return count


@pytest.mark.parametrize(
    "path",
    modules(outside=("db",)),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_engine_compares_a_dialect_name_outside_db(path):
    known = KNOWN_DIALECT_COMPARISONS.get(str(path.relative_to(PACKAGE)), 0)
    assert dialect_comparisons(path) <= known, (
        "ask the backend or db.dialect.dialect_of(name) instead of comparing a dialect name"
    )


def test_the_dialect_check_sees_a_comparison_when_there_is_one(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text(
        "a = b.dialect == 'x'\nc = d in ('mysql', 'sqlite')\ne = f == g\nh = 'postgres' != i\n"
    )
    assert dialect_comparisons(sample) == 3


# -- no import circle between modules ------------------------------------------------------------
# A function-local import of one of our modules hides a circle from Python's start-up order, not
# from the design: the two modules still need each other. So every import counts, wherever it
# sits, except those under `if TYPE_CHECKING:` (never executed). A module's parent packages are
# not edges of their own: importing `a.b.c` runs `a/__init__` first whoever asks, and that is
# Python's order, not a dependency of `a.b.c`'s author.


def package_modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package; a package is its `__init__.py`."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports_run(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but for those only a type checker reads."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def module_imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports (a `from a import b` names `a.b` when b is a
    module, else `a` itself)."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in _imports_run(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names if alias.name in known)
            continue
        base = node.module or ""
        if node.level:
            anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([node.module] if node.module else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            edges.update({sub} if sub in known else {base} & known.keys())
    return edges - {name}


def import_circles(package: Path) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a longer loop (Tarjan's
    strongly connected components with more than one module), each sorted."""
    known = package_modules(package)
    graph = {name: sorted(module_imports(name, path, known)) for name, path in known.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in graph[v]:
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            group = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for v in graph:
        if v not in order:
            visit(v)
    return sorted(circles)


def test_no_import_circle_between_modules_counting_function_local_imports():
    assert import_circles(PACKAGE) == [], (
        "modules that import each other (a function-local import hides a circle, it does not "
        "remove it): move the shared piece into a module both can import"
    )


def sample_package(root: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under `root` made of the given files (path inside the package -> text)."""
    for name, text in files.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return root / "pkg"


def test_the_circle_check_sees_a_circle_hidden_by_a_function_local_import(tmp_path):
    package = sample_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg import b\n",
            "b.py": "def f():\n    from pkg.a import x\n    return x\n",
            "c.py": "from . import d\n",
            "d.py": "class D:\n    def m(self):\n        from .c import y\n",
            "e.py": "import pkg.a\n",
        },
    )
    assert import_circles(package) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"]]


def test_the_circle_check_skips_type_checking_imports_and_parent_packages(tmp_path):
    package = sample_package(
        tmp_path,
        {
            "__init__.py": "from pkg.sub.leaf import x\n",
            "sub/__init__.py": "",
            "sub/leaf.py": "from pkg import other\nx = 1\n",
            "other.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.sub.leaf\n",
        },
    )
    assert import_circles(package) == []
    (package / "other.py").write_text("import pkg.sub.leaf\n")
    assert import_circles(package) == [["pkg.other", "pkg.sub.leaf"]]
