"""Every piece of SQL or MongoDB text a change spec carries, checked before any step is built.

Why: the planner pastes a spec's expressions (`fill`, `default`, `using`, `where`, `expression`,
backfill `set` values, expression index keys) and its `type` into the statements it generates.
Pasted unchecked, `"fill": "'x' WHERE false; DROP TABLE audit; SELECT 1 FROM small"` became a
second statement inside a harmless-looking "Fill NULLs" step. So each text must parse as exactly
ONE expression of its dialect - with PostgreSQL's own parser (pglast) or sqlglot for MySQL and
SQLite - wrapped as ``SELECT (<text>)``: one statement, one target, no FROM, WHERE, set
operation, row constructor or data-modifying node, and only functions of an allow-list of
built-ins. MongoDB values and filters are walked key by key: only the operators the document
planner knows pass. A refusal names the field and says what to write instead (raw_sql, which is
shown verbatim and linted, for anything beyond an expression).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

from datamigration.db.dialect import dialect_of, find_dialect
from datamigration.db.mongodb.operators import EXTENDED_JSON
from datamigration.documents import transform
from datamigration.errors import UserInputError


class UnsafeExpressionError(UserInputError):
    """A spec's expression or type is not exactly one expression of its dialect."""


HINT = (
    'Give one expression of the database\'s dialect, e.g. "fill": "\'n/a\'" or '
    '"using": "lower({})": no semicolon, comment, FROM, WHERE or second statement, and only '
    "built-in functions. Anything beyond one expression belongs in a raw_sql spec "
    '({"kind": "raw_sql", "sql": ...}), which the plan shows verbatim and lints.'
)

#: built-in functions an expression may call (lower case, without schema). Everything else
#: (user-defined functions, dblink_exec, pg_read_file, set_config, pg_terminate_backend, lo_*,
#: LOAD_FILE, SLEEP, load_extension ...) is refused: a spec is not the place to run code.
SAFE_FUNCTIONS = frozenset(
    """
    abs ceil ceiling floor round trunc truncate mod power pow sqrt sign div exp ln log log10
    greatest least coalesce nullif ifnull isnull nvl iif if
    lower upper initcap lcase ucase trim btrim ltrim rtrim substr substring left right length
    char_length character_length octet_length bit_length concat concat_ws replace split_part
    lpad rpad reverse position strpos instr locate md5 sha1 sha2 sha256 format regexp_replace
    translate to_hex hex unhex ascii chr char starts_with encode decode quote_literal
    now current_timestamp current_date current_time localtimestamp localtime clock_timestamp
    statement_timestamp transaction_timestamp date_trunc date_part extract to_char to_date
    to_timestamp to_number age make_date make_time make_timestamp make_timestamptz
    make_interval timezone date time datetime julianday strftime unixepoch date_format
    str_to_date from_unixtime unix_timestamp date_add date_sub adddate subdate timestampdiff
    datediff year month day hour minute second utc_timestamp sysdate curdate curtime
    gen_random_uuid uuid_generate_v4 uuid nextval currval
    to_json to_jsonb json_build_object jsonb_build_object json_build_array jsonb_build_array
    jsonb_set jsonb_extract_path jsonb_extract_path_text json_extract_path json_extract_path_text
    jsonb_strip_nulls jsonb_typeof json_typeof array_to_json row_to_json json_object
    json_array json_extract json_unquote json_set json_quote json_valid
    array_length array_to_string string_to_array array_append array_prepend array_remove
    array_cat cardinality cast convert typeof printf quote
    count sum min max avg string_agg array_agg bool_and bool_or every group_concat json_agg
    jsonb_agg json_object_agg jsonb_object_agg
    """.split()  # noqa: SIM905
)
#: sqlglot parses some dialect functions into classes of its own; these read or write files
UNSAFE_SQLGLOT = frozenset({"ReadCSV", "ReadParquet", "ToFile"})

#: the spec fields that hold one SQL expression; `set` (a mapping) and `columns` are apart
EXPRESSION_FIELDS = ("fill", "default", "using", "where", "expression")


def refuse(field: str, text: Any, why: str) -> UnsafeExpressionError:
    shown = str(text) if len(str(text)) <= 120 else str(text)[:117] + "..."
    return UnsafeExpressionError(
        f"the spec's {field} is refused: {why} (got {shown!r}); nothing was planned",
        hint=HINT,
        field=field,
    )


# --- SQL ---------------------------------------------------------------------------------------


def _no_comment_or_separator(field: str, text: str, dialect: str) -> None:
    """Refuse `;`, comments and (MySQL) backslashes anywhere, even inside a string literal.

    Why so strict: MySQL runs the text of ``/*! ... */`` comments, reads ``#`` as a comment and
    ``\\'`` as an escaped quote, so where one parser sees a string literal another may see code.
    An expression never needs these; a string that does can be built with CHR()/CHAR()."""
    bad = [";", "/*", "*/", "--", *dialect_of(dialect).expression_forbidden]
    found = [b for b in bad if b in text]
    if found:
        raise refuse(field, text, f"it contains {found[0]!r}")


def _balanced(field: str, text: str, dialect: str) -> None:
    """The text's own parentheses balance, read by the dialect's tokenizer (string literals
    and quoted names skipped). Why: the planner pastes an expression inside parentheses or
    after AND, so `true) OR (1 = 1` is one expression once wrapped, yet another one in place."""
    facts = dialect_of(dialect)
    if facts.parser == "pglast":
        from pglast.parser import ParseError, scan

        try:
            marks = [{"ASCII_40": 1, "ASCII_41": -1}.get(t.name, 0) for t in scan(text)]
        except ParseError as exc:
            raise refuse(field, text, f"PostgreSQL cannot read it ({exc})") from None
    else:
        import sqlglot
        from sqlglot.tokens import TokenType

        try:
            tokens = sqlglot.Dialect.get_or_raise(facts.sqlglot_dialect).tokenize(text)
        except sqlglot.errors.SqlglotError as exc:
            raise refuse(field, text, f"{dialect} cannot read it ({str(exc)[:80]})") from None
        opens = {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}
        marks = [opens.get(t.token_type, 0) for t in tokens]
    depth = 0
    for m in marks:
        depth += m
        if depth < 0:
            raise refuse(field, text, "it closes a parenthesis it did not open")
    if depth:
        raise refuse(field, text, "it leaves a parenthesis open")


def _placeholders(field: str, text: str) -> str:
    """`using` holds ``{}`` for the old value (str.format): the text with it substituted, as it
    will be sent. Any other replacement field is refused."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise refuse(field, text, f"unbalanced braces ({exc}); write {{{{ and }}}} for braces")
    for _, name, spec, conv in parts:
        if name is not None and (name or spec or conv):
            raise refuse(field, text, "the only placeholder is {} (the old value)")
    return text.format(*["old_value"] * sum(1 for p in parts if p[1] is not None))


def check_sql_expression(field: str, text: str, dialect: str) -> None:
    """`text` is exactly one expression of `dialect` (postgresql, mysql or sqlite)."""
    if not isinstance(text, str) or not text.strip():
        raise refuse(field, text, "it is empty")
    if field == "using":
        text = _placeholders(field, text)
    _no_comment_or_separator(field, text, dialect)
    _balanced(field, text, dialect)
    if dialect_of(dialect).parser == "pglast":
        _check_pg(field, text)
    else:
        _check_glot(field, text, dialect)


def check_sql_type(field: str, text: str, dialect: str) -> None:
    """`text` is exactly one type name: ``CAST(NULL AS <text>)`` parses to one cast, nothing
    else (no DEFAULT, constraint or statement riding along)."""
    if not isinstance(text, str) or not text.strip():
        raise refuse(field, text, "it is empty")
    _no_comment_or_separator(field, text, dialect)
    _balanced(field, text, dialect)
    if dialect_of(dialect).parser == "pglast":
        tree = _pg_tree(field, text, f"SELECT CAST(NULL AS {text})")
        target = _one_target(field, text, tree)
        cast = target.get("TypeCast")
        if (
            not cast
            or set(cast.get("arg", {})) != {"A_Const"}
            or "isnull" not in cast["arg"]["A_Const"]
        ):
            raise refuse(field, text, "it is not one type name")
        _walk_pg(field, text, cast["typeName"])
        return
    import sqlglot
    from sqlglot import exp

    select = _glot_select(field, text, f"SELECT CAST(NULL AS {text})", dialect)
    node = select.expressions[0]
    if not isinstance(node, exp.Cast) or not isinstance(node.to, exp.DataType):
        raise refuse(field, text, "it is not one type name")
    if any(isinstance(n, exp.Func) and not isinstance(n, exp.Cast) for n in node.walk()):
        raise refuse(field, text, "it is not one type name")
    del sqlglot


def _pg_tree(field: str, text: str, sql: str) -> dict[str, Any]:
    from pglast.parser import ParseError, parse_sql_json

    try:
        stmts = json.loads(parse_sql_json(sql))["stmts"]
    except ParseError as exc:
        raise refuse(field, text, f"PostgreSQL cannot parse it ({exc})") from None
    if len(stmts) != 1 or set(stmts[0]["stmt"]) != {"SelectStmt"}:
        raise refuse(field, text, "it makes more than one statement")
    return stmts[0]["stmt"]["SelectStmt"]


#: SELECT clauses that make the text more than an expression
_CLAUSES = ("fromClause", "whereClause", "groupClause", "havingClause", "windowClause",
            "valuesLists", "sortClause", "limitCount", "limitOffset", "lockingClause",
            "withClause", "distinctClause", "intoClause", "larg", "rarg")  # fmt: skip


def _one_target(field: str, text: str, select: Mapping[str, Any]) -> dict[str, Any]:
    extra = [c for c in _CLAUSES if select.get(c)]
    if extra or select.get("op", "SETOP_NONE") != "SETOP_NONE":
        what = extra[0].removesuffix("Clause").removesuffix("Lists").upper() if extra else "UNION"
        raise refuse(field, text, f"it adds a clause ({what}): it is more than one expression")
    targets = select.get("targetList") or []
    if len(targets) != 1 or targets[0]["ResTarget"].get("name"):
        raise refuse(field, text, "it is more than one expression")
    return targets[0]["ResTarget"]["val"]


def _check_pg(field: str, text: str) -> None:
    value = _one_target(field, text, _pg_tree(field, text, f"SELECT ({text})"))
    if "RowExpr" in value:
        raise refuse(field, text, "it is a list of expressions")
    _walk_pg(field, text, value)


def _nodes(tree: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield k, v
            yield from _nodes(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _nodes(v)


def _walk_pg(field: str, text: str, tree: Any) -> None:
    """Inside the expression: subqueries may read (a backfill looks values up), but no node
    writes, locks, or selects INTO, and every function is a safe built-in."""
    for key, node in _nodes(tree):
        if key.endswith("Stmt") and key != "SelectStmt":
            raise refuse(field, text, f"it holds a {key[:-4].upper()} statement")
        if key in ("IntoClause", "LockingClause", "lockingClause", "intoClause") and node:
            raise refuse(field, text, "it selects INTO or takes row locks")
        if key == "FuncCall":
            name = node["funcname"][-1]["String"]["sval"].lower()
            schema = node["funcname"][0]["String"]["sval"] if len(node["funcname"]) > 1 else None
            if name not in SAFE_FUNCTIONS or schema not in (None, "pg_catalog"):
                raise refuse(field, text, f"it calls {name}(), which is not an allowed built-in")


def _glot_select(field: str, text: str, sql: str, dialect: str) -> Any:
    import sqlglot
    from sqlglot import exp

    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.SqlglotError as exc:
        raise refuse(field, text, f"it does not parse as {dialect} ({str(exc)[:80]})") from None
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Select):
        raise refuse(field, text, "it makes more than one statement")
    select = parsed[0]
    extra = [k for k in ("from", "joins", "where", "group", "having", "order", "limit",
                         "offset", "into", "locks", "with", "distinct", "qualify")
             if select.args.get(k)]  # fmt: skip
    if extra:
        raise refuse(field, text, f"it adds a clause ({extra[0].upper()})")
    if len(select.expressions) != 1:
        raise refuse(field, text, "it is more than one expression")
    return select


def _check_glot(field: str, text: str, dialect: str) -> None:
    from sqlglot import exp

    select = _glot_select(field, text, f"SELECT ({text})", dialect)
    top = select.expressions[0]
    if not isinstance(top, exp.Paren) or isinstance(top.this, exp.Tuple):
        raise refuse(field, text, "it is more than one expression")
    for node in top.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Command,
                             exp.Into, exp.Lock, exp.Create, exp.Drop, exp.Alter)):  # fmt: skip
            raise refuse(field, text, f"it holds a {node.key.upper()} statement")
        if isinstance(node, exp.Anonymous):
            if str(node.name).lower() not in SAFE_FUNCTIONS:
                raise refuse(
                    field, text, f"it calls {node.name}(), which is not an allowed built-in"
                )
        elif isinstance(node, exp.Func) and type(node).__name__ in UNSAFE_SQLGLOT:
            raise refuse(field, text, f"it calls {node.sql_name()}(), which touches files")


# --- MongoDB -----------------------------------------------------------------------------------

#: extended-JSON wrappers a value may use ({"$date": ...}, data, not operators) are the query
#: guard's; a transform may use exactly the operators the document planner evaluates
TRANSFORM_OPERATORS = transform.OPERATORS
#: query operators a `where` filter may use (no $where, $expr, $function, $jsonSchema ...)
FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
                              "$exists", "$type", "$and", "$or", "$nor", "$not", "$regex",
                              "$options", "$all", "$elemMatch", "$size", "$mod"})  # fmt: skip


def check_mongo(field: str, value: Any, allowed: frozenset[str]) -> None:
    """Every `$` key anywhere in `value` is one of `allowed` (or extended JSON)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            for k, item in v.items():
                if isinstance(k, str) and k.startswith("$") and k not in allowed | EXTENDED_JSON:
                    raise UnsafeExpressionError(
                        f"the spec's {field} uses {k}, which document plans do not allow; "
                        "nothing was planned",
                        hint="Allowed here: " + ", ".join(sorted(allowed)) + " (server-side "
                        "JavaScript such as $where, $function and $accumulator never is).",
                        field=field,
                    )
                stack.append(item)
        elif isinstance(v, list | tuple):
            stack.extend(v)


def _mongo_value(text: Any) -> Any:
    if isinstance(text, str) and text.strip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def check_spec(spec: Any, dialect: str) -> None:
    """Refuse a spec whose expressions or type are not exactly what their field holds."""
    g = spec.get
    facts = find_dialect(dialect)
    if facts is None:
        return
    if facts.documents:
        for f in ("fill", "default"):
            if g(f) is not None:
                check_mongo(f, _mongo_value(g(f)), frozenset())
        if g("using") is not None:
            check_mongo("using", _mongo_value(g("using")), TRANSFORM_OPERATORS)
        for k, v in dict(g("set") or {}).items():
            check_mongo(f"set.{k}", _mongo_value(v), TRANSFORM_OPERATORS)
        if g("where"):
            check_mongo("where", _mongo_value(g("where")), FILTER_OPERATORS)
        return
    if not facts.sql:
        return
    for f in EXPRESSION_FIELDS:
        v = g(f)
        if v is None or (f == "default" and isinstance(v, bool | int | float)):
            continue
        check_sql_expression(f, v, dialect)
    for k, v in dict(g("set") or {}).items():
        check_sql_expression(f"set.{k}", v, dialect)
    if spec.kind in ("add_index", "add_unique"):
        for c in g("columns") or ():
            if "(" in c:  # an expression index key, pasted as written
                check_sql_expression("columns", c, dialect)
    if g("type") is not None and spec.kind != "move_table":
        check_sql_type("type", g("type"), dialect)
