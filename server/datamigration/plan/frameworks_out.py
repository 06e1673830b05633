"""Migration files in the framework the repository already uses, from the plan's statements.

Flyway: one `V<n>__<slug>.sql` per step that has SQL, numbered after the highest version found
(a `.sql.conf` with `executeInTransaction=false` beside files that build indexes CONCURRENTLY).
Alembic: one revision per step, chained from the current head (`down_revision`), whose
`upgrade()` runs the same statements through `op.execute` (non-transactional ones inside
`autocommit_block()`) and whose `downgrade()` runs the step's rollback. Without a framework the
statements go to `<docs>/migrations/<id>/sql/`. Backfills become a keyset loop in Alembic and a
pointer to `datamigration execute` elsewhere (a SQL file cannot loop in batches portably).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from datamigration.plan.backfill import batch_sql, boundary_sql
from datamigration.plan.dialects import dialect_class
from datamigration.plan.model import Operation, Plan, Step
from datamigration.plan.sqltext import slug
from datamigration.plan.store import docs_plan_dir
from datamigration.workspace.frameworks import detect_migrations


def detect(workspace: Any) -> str:

    for ms in detect_migrations(workspace):
        if ms.framework in ("alembic", "flyway"):
            return ms.framework
    return "raw"


def _set(workspace: Any, framework: str) -> Any:

    return next((m for m in detect_migrations(workspace) if m.framework == framework), None)


def _sql_steps(plan: Plan) -> list[Step]:
    return [s for s in plan.steps if any(o.kind in ("sql", "backfill") for o in s.operations)]


def execute_command(plan: Plan, step: Step) -> str:
    """The command that runs `step` of `plan` (the executor's normal form)."""
    return f"datamigration execute {plan.id} --hash {plan.hash[:12]} --step {step.id}"


def _sql(op: Operation, plan: Plan, step: Step) -> str:
    if op.kind == "backfill":
        return (
            f"-- {op.description}: run in keyset batches with\n"
            f"--   {execute_command(plan, step)}\n"
            f"-- one batch looks like:\n-- {op.statements[0]}\n"
        )
    return "".join(s + ";\n" for s in op.statements)


def _file_body(step: Step, plan: Plan, ops: tuple[Operation, ...]) -> str:
    head = f"-- {plan.title}: {step.id} {step.title}\n-- plan {plan.id} hash {plan.hash[:12]}\n"
    prelude = dialect_class(plan.dialect).lock_timeout_prelude.format(
        ms=step.monitoring.get("lock_timeout_ms", 2000)
    )
    return head + prelude + "\n".join(f"-- {o.description}\n{_sql(o, plan, step)}" for o in ops)


def write_migrations(workspace: Any, plan: Plan) -> list[str]:
    if plan.framework == "flyway":
        return _flyway(workspace, plan)
    if plan.framework == "alembic":
        return _alembic(workspace, plan)
    return _raw(workspace, plan)


def _raw(workspace: Any, plan: Plan) -> list[str]:

    d = docs_plan_dir(workspace, plan.id) / "sql"
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for s in _sql_steps(plan):
        base = f"{s.id}_{slug(s.title, 40)}"
        up, down = d / f"{base}.up.sql", d / f"{base}.down.sql"
        up.write_text(_file_body(s, plan, s.operations), encoding="utf-8")
        down.write_text(_file_body(s, plan, s.rollback), encoding="utf-8")
        out += [str(up), str(down)]
    return out


_V = re.compile(r"^V(\d+)", re.IGNORECASE)


def _flyway(workspace: Any, plan: Plan) -> list[str]:
    ms = _set(workspace, "flyway")
    d = workspace.root / ms.directory if ms else workspace.root / "db" / "migration"
    d.mkdir(parents=True, exist_ok=True)
    versions = [int(m.group(1)) for f in d.iterdir() if (m := _V.match(f.name))]
    n = max(versions, default=0)
    out = []
    for s in _sql_steps(plan):
        n += 1
        path = d / f"V{n}__{slug(plan.title, 30)}_{s.id}_{slug(s.title, 30)}.sql"
        path.write_text(_file_body(s, plan, s.operations), encoding="utf-8")
        out.append(str(path))
        if any(not o.transactional for o in s.operations):
            conf = path.with_name(path.name + ".conf")
            conf.write_text("executeInTransaction=false\n", encoding="utf-8")
            out.append(str(conf))
    return out


_REV = re.compile(r"^revision\s*(?::[^=]+)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def _alembic_head(workspace: Any, ms: Any) -> str | None:
    if not ms or not ms.files:
        return None
    text = (workspace.root / ms.files[-1]).read_text(encoding="utf-8")
    m = _REV.search(text)
    return m.group(1) if m else None


def _py_ops(ops: tuple[Operation, ...], command: str, indent: str = "    ") -> list[str]:
    lines: list[str] = []
    for o in ops:
        lines.append(f"{indent}# {o.description}")
        if o.kind == "backfill" and o.backfill is not None and len(o.backfill.key_columns) == 1:
            b = o.backfill
            first = boundary_sql(b, None)
            nxt = boundary_sql(b, ["__A__"]).replace("'__A__'", ":after")
            batch = (
                batch_sql(b, ["__A__"], ["__U__"])
                .replace("'__A__'", ":after")
                .replace("'__U__'", ":upto")
            )
            head = batch_sql(b, None, ["__U__"]).replace("'__U__'", ":upto")
            tail = batch_sql(b, ["__A__"], None).replace("'__A__'", ":after")
            everything = batch_sql(b, None, None)
            lines += [
                f"{indent}with op.get_context().autocommit_block():",
                f"{indent}    _keyset(op.get_bind(), {first!r}, {nxt!r}, {head!r}, {batch!r}, {tail!r}, {everything!r})",
            ]
        elif o.kind == "backfill":
            message = f"composite-key backfill: run {command}"
            lines.append(f"{indent}raise NotImplementedError({message!r})")
        elif o.kind == "sql" and not o.transactional:
            lines.append(f"{indent}with op.get_context().autocommit_block():")
            lines += [f"{indent}    op.execute({s!r})" for s in o.statements]
        elif o.kind == "sql":
            lines += [f"{indent}op.execute({s!r})" for s in o.statements]
    return lines or [f"{indent}pass"]


KEYSET = '''

def _keyset(bind, first, nxt, head, batch, tail, everything):
    """Keyset batches, one commit each: the same statements the plan shows."""
    from sqlalchemy import text

    upto = bind.execute(text(first)).scalar()
    if upto is None:
        bind.execute(text(everything))
        return
    bind.execute(text(head), {"upto": upto})
    while True:
        after = upto
        upto = bind.execute(text(nxt), {"after": after}).scalar()
        if upto is None:
            bind.execute(text(tail), {"after": after})
            return
        bind.execute(text(batch), {"after": after, "upto": upto})
'''


def _alembic(workspace: Any, plan: Plan) -> list[str]:
    ms = _set(workspace, "alembic")
    d = workspace.root / ms.directory if ms else workspace.root / "alembic" / "versions"
    d.mkdir(parents=True, exist_ok=True)
    down = _alembic_head(workspace, ms)
    out = []
    for s in _sql_steps(plan):
        rev = f"{plan.hash[:8]}{s.id}"
        path = d / f"{rev}_{slug(s.title, 40)}.py"
        needs_keyset = any(o.kind == "backfill" for o in s.operations)
        body = [
            f'"""{plan.title}: {s.id} {s.title}',
            "",
            f"Generated by datamigration from plan {plan.id} (hash {plan.hash[:12]}).",
            '"""',
            "",
            "from alembic import op",
            "",
            f"revision = {rev!r}",
            f"down_revision = {down!r}",
            "branch_labels = None",
            "depends_on = None",
            "",
            "",
            "def upgrade():",
            *_py_ops(s.operations, execute_command(plan, s)),
            "",
            "",
            "def downgrade():",
            *_py_ops(s.rollback, execute_command(plan, s).replace(" execute ", " rollback ")),
        ]
        text = "\n".join(body) + "\n" + (KEYSET if needs_keyset else "")
        path.write_text(text, encoding="utf-8")
        out.append(str(path))
        down = rev
    return out


def as_paths(paths: list[str]) -> list[Path]:
    return [Path(p) for p in paths]
