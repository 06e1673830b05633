"""The PostgreSQL query path's statement guard: decide, before anything is sent, that a statement
is exactly one plain read.

Why a parser and not only the database: when the URL's user is a superuser, nothing the server
offers makes a role switch irreversible inside one statement (a ``DO`` block can ``RESET ROLE``,
``SET SESSION AUTHORIZATION`` back, then ``COPY ... TO PROGRAM``). So the statement is parsed with
PostgreSQL's own parser (pglast) and accepted only when every node of its tree is on an
allow-list: one ``SELECT``/``VALUES``/``TABLE`` (or ``EXPLAIN`` of one without ``ANALYZE``, or
``SHOW``), no ``INTO``, no locking clause, no data-modifying ``WITH``, and only built-in functions
from `ALLOWED_FUNCTIONS`. A construct the guard does not know is refused, never passed through.

What the tree cannot show (a name that resolves to user code: a function or operator shadowing a
built-in in the search path, a view or row policy calling user code, a cast into a domain) is
collected in `ReadShape` and checked against the catalog by `CATALOG_CHECK` in the same
transaction, still before the statement is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind

from datamigration.db.postgres.dialect import PostgresDialect

#: Built-in functions a read may call: pure computations, aggregates, catalog look-ups and
#: size/privilege inspection. No function that runs SQL text (query_to_xml, ts_stat), touches
#: files, signals or waits for other sessions, holds session locks, changes settings, sleeps,
#: or advances sequences/transaction ids.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    """
    count sum avg min max every bool_and bool_or bit_and bit_or bit_xor string_agg array_agg
    json_agg jsonb_agg json_object_agg jsonb_object_agg json_agg_strict jsonb_agg_strict
    json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique jsonb_object_agg_unique
    stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp regr_avgx
    regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy
    percentile_cont percentile_disc mode any_value range_agg range_intersect_agg xmlagg
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value grouping
    length char_length character_length octet_length bit_length lower upper initcap substr
    substring left right position strpos trim btrim ltrim rtrim lpad rpad replace translate
    split_part concat concat_ws format repeat reverse md5 sha224 sha256 sha384 sha512 encode
    decode to_hex to_bin to_oct ascii chr quote_ident quote_literal quote_nullable regexp_match
    regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table regexp_count
    regexp_instr regexp_like regexp_substr starts_with string_to_array string_to_table
    array_to_string normalize is_normalized overlay convert_from convert_to to_ascii unistr
    to_char to_number to_date to_timestamp like_escape similar_escape similar_to_escape
    hashtext hashtextextended hashint4 hashint8 crc32 crc32c casefold
    abs ceil ceiling floor round trunc sign sqrt cbrt power pow exp ln log log10 mod div pi
    degrees radians sin cos tan asin acos atan atan2 sind cosd tand asind acosd atand atan2d
    sinh cosh tanh asinh acosh atanh width_bucket gcd lcm factorial scale min_scale trim_scale
    random random_normal gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp
    uuid_extract_version num_nulls num_nonnulls
    now current_timestamp clock_timestamp statement_timestamp transaction_timestamp timeofday
    age date_part date_trunc date_bin extract make_date make_time make_timestamp
    make_timestamptz make_interval justify_days justify_hours justify_interval isfinite
    date_add date_subtract timezone overlaps
    to_json to_jsonb row_to_json array_to_json json_build_object json_build_array
    jsonb_build_object jsonb_build_array json_object jsonb_object json_array_length
    jsonb_array_length json_each json_each_text jsonb_each jsonb_each_text json_extract_path
    json_extract_path_text jsonb_extract_path jsonb_extract_path_text json_object_keys
    jsonb_object_keys json_array_elements json_array_elements_text jsonb_array_elements
    jsonb_array_elements_text json_typeof jsonb_typeof jsonb_pretty json_strip_nulls
    jsonb_strip_nulls jsonb_set jsonb_set_lax jsonb_insert jsonb_path_query
    jsonb_path_query_array jsonb_path_query_first jsonb_path_exists jsonb_path_match
    json_populate_record json_populate_recordset jsonb_populate_record jsonb_populate_recordset
    json_to_record json_to_recordset jsonb_to_record jsonb_to_recordset jsonb_concat
    json_scalar json_serialize
    array_length array_lower array_upper array_dims array_ndims cardinality array_append
    array_prepend array_cat array_position array_positions array_remove array_replace
    array_fill trim_array unnest array_sample array_shuffle array_reverse array_sort
    generate_series generate_subscripts
    isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange
    tsrange tstzrange daterange
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight strip numnode querytree tsvector_to_array
    array_to_tsvector
    host hostmask masklen netmask network family abbrev broadcast inet_merge set_masklen
    xmlelement xmlforest xmlconcat xmlparse xmlroot xmlcomment xmlexists xpath xpath_exists
    xml_is_well_formed
    pg_size_pretty pg_size_bytes pg_relation_size pg_total_relation_size pg_table_size
    pg_indexes_size pg_database_size pg_tablespace_size pg_column_size pg_relation_filenode
    format_type obj_description col_description shobj_description has_table_privilege
    has_column_privilege has_any_column_privilege has_database_privilege has_schema_privilege
    has_sequence_privilege has_function_privilege has_type_privilege has_language_privilege
    has_tablespace_privilege has_foreign_data_wrapper_privilege has_server_privilege
    has_parameter_privilege has_largeobject_privilege pg_has_role
    pg_get_viewdef pg_get_indexdef pg_get_constraintdef
    pg_get_triggerdef pg_get_functiondef pg_get_function_arguments pg_get_function_result
    pg_get_function_identity_arguments pg_get_expr pg_get_ruledef pg_get_serial_sequence
    pg_get_userbyid pg_get_keywords pg_get_statisticsobjdef pg_get_partkeydef
    pg_get_partition_constraintdef pg_typeof pg_table_is_visible pg_type_is_visible
    pg_function_is_visible pg_collation_for to_regclass to_regtype to_regtypemod to_regproc
    to_regprocedure to_regnamespace to_regrole to_regoper to_regoperator to_regcollation
    current_setting current_database current_schema current_schemas current_user session_user
    current_role system_user version pg_postmaster_start_time pg_conf_load_time
    pg_backend_pid pg_is_in_recovery pg_last_wal_replay_lsn pg_last_wal_receive_lsn
    pg_current_wal_lsn pg_wal_lsn_diff pg_blocking_pids pg_partition_tree pg_partition_root
    pg_partition_ancestors pg_index_column_has_property pg_index_has_property
    pg_indexam_has_property pg_options_to_table pg_tablespace_location pg_encoding_to_char
    pg_char_to_encoding pg_describe_object pg_identify_object pg_identify_object_as_address
    pg_sequence_last_value pg_input_is_valid pg_input_error_info pg_column_compression
    pg_relation_is_updatable pg_column_is_updatable pg_get_replica_identity_index
    pg_get_serial_sequence pg_stat_get_numscans pg_stat_get_live_tuples pg_stat_get_dead_tuples
    text int2 int4 int8 float4 float8 numeric bool date time timestamp timestamptz interval
    varchar bpchar name oid regclass regtype regproc regnamespace regrole char bytea uuid json
    jsonb inet cidr
    """.split()  # noqa: SIM905 - a word list reads better than 400 quoted names
)

#: Why some well-known functions are not on the allow-list (the rest get a generic reason).
_REFUSED_BECAUSE = {
    "set_config": "changes settings (the role, the read-only mode) inside the statement",
    "pg_sleep": "holds the session and its snapshot while it waits",
    "pg_terminate_backend": "ends another session",
    "pg_cancel_backend": "cancels another session's statement",
    "pg_reload_conf": "reloads the server configuration",
    "pg_read_file": "reads a file on the database server",
    "pg_read_binary_file": "reads a file on the database server",
    "pg_ls_dir": "lists a directory on the database server",
    "pg_stat_file": "reads file metadata on the database server",
    "nextval": "advances a sequence",
    "setval": "sets a sequence",
    "query_to_xml": "runs the SQL text it is given",
    "dblink": "opens another connection that is not read-only",
    "dblink_exec": "opens another connection that is not read-only",
}
_REFUSED_PREFIXES = {
    "lo_": "reads or writes server files and large objects",
    "dblink": "opens another connection that is not read-only",
    "pg_advisory": "takes an advisory lock that outlives the rolled-back transaction",
    "pg_try_advisory": "takes an advisory lock that outlives the rolled-back transaction",
    "txid_": "assigns or waits on transaction ids",
    "pg_ls_": "lists server directories",
    "pg_sleep": "holds the session and its snapshot while it waits",
}

#: Node types a plain read is made of. Anything else (a statement inside a CTE, a parameter,
#: a locking clause, ``INTO``) is refused by its absence from this set.
_ALLOWED_NODES: frozenset[type] = frozenset(
    getattr(ast, name)
    for name in """
    RawStmt SelectStmt ResTarget ColumnRef A_Const A_Expr BoolExpr FuncCall TypeCast TypeName
    RangeVar JoinExpr RangeSubselect RangeFunction SubLink CaseExpr CaseWhen CoalesceExpr
    MinMaxExpr NullTest BooleanTest SortBy WindowDef WithClause CommonTableExpr A_Indirection
    A_Indices A_Star A_ArrayExpr RowExpr String Integer Float Boolean BitString Alias
    GroupingSet SQLValueFunction CollateClause XmlExpr XmlSerialize RangeTableSample
    RangeTableFunc RangeTableFuncCol CTESearchClause CTECycleClause NamedArgExpr GroupingFunc
    ColumnDef JsonFuncExpr JsonTable JsonTableColumn JsonTablePathSpec JsonValueExpr
    JsonFormat JsonReturning JsonOutput JsonBehavior JsonArgument JsonKeyValue
    JsonObjectConstructor JsonArrayConstructor JsonArrayQueryConstructor JsonAggConstructor
    JsonObjectAgg JsonArrayAgg JsonIsPredicate JsonParseExpr JsonScalarExpr JsonSerializeExpr
    ExplainStmt DefElem VariableShowStmt
    """.split()  # noqa: SIM905 - a word list reads better than 400 quoted names
    if hasattr(ast, name)
)

#: EXPLAIN options that only change how the plan is printed (ANALYZE would run the statement).
_EXPLAIN_OPTIONS = frozenset(
    {"verbose", "costs", "settings", "buffers", "timing", "summary", "format", "generic_plan"}
)
_TABLESAMPLE_METHODS = frozenset({"bernoulli", "system"})
#: Comparisons the server may apply implicitly (IN, BETWEEN, ORDER BY, GROUP BY, DISTINCT,
#: CASE, joins): their operators are checked even when the text does not spell them.
_IMPLIED_OPERATORS = ("=", "<>", "<", ">", "<=", ">=")


class Refused(Exception):
    """The statement is not a plain read; `why` says what was found, `hint` what to do."""

    def __init__(self, why: str, hint: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.hint = hint


@dataclass
class ReadShape:
    """What a statement that passed the tree check still names, to be checked in the catalog."""

    kind: str  # "select", "explain" or "show"
    functions: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    relations: set[str] = field(default_factory=set)


def check_read(sql: str) -> ReadShape:
    """The statement's shape when it is exactly one plain read; raise `Refused` otherwise."""
    try:
        statements = parse_sql(sql)
    except RecursionError:
        raise Refused("the statement nests too deeply to check") from None
    except Exception as exc:  # noqa: BLE001 - pglast's ParseError and friends
        raise Refused(
            f"the statement does not parse as PostgreSQL: {str(exc).splitlines()[0]}",
            "Fix the syntax; the query path checks the statement before sending it.",
        ) from None
    if len(statements) != 1:
        raise Refused(
            f"{len(statements)} statements given; send exactly one",
            "Send one SELECT per call; nothing was sent to the database.",
        )
    stmt = statements[0].stmt
    if isinstance(stmt, ast.VariableShowStmt):
        return ReadShape(kind="show")
    shape = ReadShape(kind="select")
    if isinstance(stmt, ast.ExplainStmt):
        for option in stmt.options or ():
            if option.defname not in _EXPLAIN_OPTIONS:
                raise Refused(
                    f"EXPLAIN ({option.defname.upper()}) runs or changes the statement",
                    "Use EXPLAIN without ANALYZE; the query path never executes a plan's "
                    "statement for timing.",
                )
        shape.kind, stmt = "explain", stmt.query
    if not isinstance(stmt, ast.SelectStmt):
        raise Refused(
            f"{_statement_name(stmt)} is not a plain read",
            "The query path runs one SELECT, VALUES, TABLE, EXPLAIN (without ANALYZE) or "
            "SHOW; changes go through plan_migration and execute.",
        )
    _walk(stmt, shape)
    shape.operators.update(_IMPLIED_OPERATORS)
    return shape


def _statement_name(node: Any) -> str:
    name = type(node).__name__.removesuffix("Stmt")
    words = {
        "Do": "DO",
        "Call": "CALL",
        "VariableSet": "SET/RESET",
        "Copy": "COPY",
        "Insert": "INSERT",
        "Update": "UPDATE",
        "Delete": "DELETE",
        "Merge": "MERGE",
        "Transaction": "transaction control",
        "CreateTableAs": "CREATE TABLE AS / SELECT INTO",
    }
    return words.get(name, f"a {name} statement")


def _walk(root: ast.Node, shape: ReadShape) -> None:
    """Visit every node iteratively (deep nesting must not blow Python's stack)."""
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        if not isinstance(node, ast.Node):
            continue
        if type(node) not in _ALLOWED_NODES:
            raise Refused(_node_refusal(node), _HINT_PLAIN_READ)
        _check_node(node, shape)
        for slot in type(node).__slots__:
            value = getattr(node, slot, None)
            if isinstance(value, ast.Node | list | tuple):
                stack.append(value)


_HINT_PLAIN_READ = (
    "Send a plain SELECT (no INTO, no FOR UPDATE/SHARE, no INSERT/UPDATE/DELETE/MERGE in WITH); "
    "nothing was sent to the database."
)


def _node_refusal(node: ast.Node) -> str:
    kind = type(node).__name__
    if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
        return f"a data-modifying {kind.removesuffix('Stmt').upper()} inside the query"
    if kind == "IntoClause":
        return "SELECT ... INTO creates a table"
    if kind == "LockingClause":
        return "FOR UPDATE/SHARE takes row locks"
    if kind == "ParamRef":
        return "parameters ($1) are not supported on the query path"
    return f"the construct {kind} is not allowed on the read-only query path"


def _names(parts: Any) -> list[str]:
    return [getattr(p, "sval", "") for p in parts or ()]


def _check_node(node: ast.Node, shape: ReadShape) -> None:
    if isinstance(node, ast.SelectStmt):
        if node.intoClause is not None:
            raise Refused("SELECT ... INTO creates a table", _HINT_PLAIN_READ)
        if node.lockingClause:
            raise Refused("FOR UPDATE/SHARE takes row locks", _HINT_PLAIN_READ)
    elif isinstance(node, ast.FuncCall):
        _check_function(_names(node.funcname), shape)
    elif isinstance(node, ast.A_Expr):
        names = _names(node.name)
        if len(names) > 1 and names[0].lower() != "pg_catalog":
            raise Refused(
                f"the operator {'.'.join(names)} is not a built-in operator",
                "Use the built-in operators (OPERATOR(pg_catalog.op) when qualified).",
            )
        if node.kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_NOT_BETWEEN):
            return  # BETWEEN compares with <= and >=, which are always checked
        if node.kind in (A_Expr_Kind.AEXPR_BETWEEN_SYM, A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM):
            return
        if names:
            shape.operators.add(names[-1])
    elif isinstance(node, ast.SubLink):
        names = _names(node.operName)
        if len(names) > 1 and names[0].lower() != "pg_catalog":
            raise Refused(f"the operator {'.'.join(names)} is not a built-in operator")
        if names:
            shape.operators.add(names[-1])
    elif isinstance(node, ast.TypeName):
        names = _names(node.names)
        if names:
            shape.types.add(".".join(_quote(n) for n in names))
    elif isinstance(node, ast.RangeVar):
        parts = [p for p in (node.catalogname, node.schemaname, node.relname) if p]
        shape.relations.add(".".join(_quote(p) for p in parts))
    elif isinstance(node, ast.RangeTableSample):
        method = _names(node.method)
        if [m.lower() for m in method[:-1]] not in ([], ["pg_catalog"]) or (
            method[-1].lower() not in _TABLESAMPLE_METHODS
        ):
            raise Refused(
                f"TABLESAMPLE {'.'.join(method)} is not a built-in sampling method",
                "Use TABLESAMPLE BERNOULLI or SYSTEM.",
            )


def _check_function(parts: list[str], shape: ReadShape) -> None:
    name = parts[-1].lower() if parts else ""
    schema = parts[-2].lower() if len(parts) > 1 else None
    if schema is not None and schema != "pg_catalog":
        raise Refused(
            f"the function {'.'.join(parts)}() is not a built-in: the query path calls only "
            "built-in functions from its allow-list (user functions may write, signal or "
            "switch roles)",
            "Rewrite the query with built-in functions, or run the function through a plan "
            "(plan_migration, execute).",
        )
    if name not in ALLOWED_FUNCTIONS:
        why = _REFUSED_BECAUSE.get(name) or next(
            (w for p, w in _REFUSED_PREFIXES.items() if name.startswith(p)), None
        )
        reason = f" ({why})" if why else ""
        raise Refused(
            f"the function {'.'.join(parts)}() is not on the query path's allow-list of "
            f"built-in functions{reason}",
            "Use built-in functions for reading (aggregates, string, date, math, json, "
            "array, catalog and size functions).",
        )
    if schema is None:
        shape.functions.add(name)


def _quote(name: str) -> str:
    return PostgresDialect.quote_part(name)


#: Run in the read-only transaction before the statement: names of user code the statement
#: could reach although its text calls only built-ins. "User code" is a function outside
#: pg_catalog written in a language anyone may use (SQL, PL/pgSQL, ...: not C or internal),
#: because only such code can run SET ROLE / SET SESSION AUTHORIZATION and undo the downgrade.
#: Reached through: a same-named function or an operator in the search path, a cast into a
#: type named in the statement or its views (domain checks, cast functions), any implicit cast,
#: a view (recursively) or a row-level security policy.
CATALOG_CHECK = """
WITH RECURSIVE
usercode AS (
  SELECT p.oid, n.nspname || '.' || p.proname AS name
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND l.lanname NOT IN ('c', 'internal')
  UNION
  SELECT a.aggfnoid, n.nspname || '.' || p.proname
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_proc s ON s.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn)
  JOIN pg_namespace sn ON sn.oid = s.pronamespace
  JOIN pg_language l ON l.oid = s.prolang
  WHERE sn.nspname NOT IN ('pg_catalog', 'information_schema') AND l.lanname NOT IN ('c', 'internal')
),
rels AS (
  SELECT to_regclass(r)::oid AS oid FROM unnest(%(relations)s::text[]) r
  WHERE to_regclass(r) IS NOT NULL
  UNION
  SELECT d.refobjid FROM rels
  JOIN pg_rewrite rw ON rw.ev_class = rels.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
    AND d.refclassid = 'pg_class'::regclass
),
types AS (
  SELECT to_regtype(tn)::oid AS oid FROM unnest(%(types)s::text[]) tn
  UNION
  SELECT d.refobjid FROM rels
  JOIN pg_rewrite rw ON rw.ev_class = rels.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
    AND d.refclassid = 'pg_type'::regclass
),
reached AS (
  SELECT p.oid, 'an unqualified call to ' || p.proname || '()' AS way
  FROM pg_proc p
  WHERE p.proname = ANY(%(functions)s::text[])
    AND p.pronamespace = ANY(SELECT oid FROM pg_namespace
                             WHERE nspname = ANY(current_schemas(false)))
  UNION ALL
  SELECT o.oprcode, 'the operator ' || o.oprname
  FROM pg_operator o
  WHERE o.oprname = ANY(%(operators)s::text[])
    AND o.oprnamespace = ANY(SELECT oid FROM pg_namespace
                             WHERE nspname = ANY(current_schemas(false)))
  UNION ALL
  SELECT d.refobjid, 'a check of the type ' || format_type(t.oid, NULL)
  FROM types JOIN pg_type t ON t.oid = types.oid
  JOIN pg_constraint con ON con.contypid = t.oid
  JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = con.oid
    AND d.refclassid = 'pg_proc'::regclass
  UNION ALL
  SELECT ca.castfunc, 'a cast into the type ' || format_type(ca.casttarget, NULL)
  FROM pg_cast ca
  WHERE ca.casttarget IN (SELECT oid FROM types) OR ca.castcontext = 'i' -- implicit: anywhere
  UNION ALL
  SELECT COALESCE(o.oprcode, d.refobjid),
         CASE WHEN d.classid = 'pg_rewrite'::regclass THEN 'the view '
              ELSE 'a row policy of ' END || rels.oid::regclass::text
  FROM rels
  JOIN (SELECT 'pg_rewrite'::regclass AS classid, oid, ev_class AS rel FROM pg_rewrite
        UNION ALL
        SELECT 'pg_policy'::regclass, oid, polrelid FROM pg_policy) src ON src.rel = rels.oid
  JOIN pg_depend d ON d.classid = src.classid AND d.objid = src.oid
  LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
  WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
)
SELECT DISTINCT reached.way, usercode.name
FROM reached JOIN usercode ON usercode.oid = reached.oid
ORDER BY 1, 2
LIMIT 5
"""
