"""What the MySQL/MariaDB read-only path lets through to the server: an allow-list on the parse.

A read-only transaction stops writes to tables, but not what a privileged account can do
inside a SELECT: ``INTO OUTFILE`` / ``INTO DUMPFILE`` write a file on the server host,
``LOAD_FILE()`` reads one, ``SLEEP``/``BENCHMARK`` hold a connection, ``GET_LOCK`` takes a
session lock, a user-defined function (``sys_exec``) runs a program, and an executable comment
(``/*! ... */``, ``/*M! ... */``) is code to the server but a comment to any parser. So a
statement is sent only when sqlglot (dialect mysql) parses it as exactly one statement of an
allowed kind and every part of it is on an allow-list: statement kinds, called function names,
no INTO, no locking clause, no executable comment or optimizer hint anywhere in the text.

This is the parser's half. The database's half (a user with only SELECT and SHOW VIEW, no FILE,
SUPER or PROCESS) is what docs/databases.md asks for; `file_privilege_warning` lets the backend
say when it is missing.
"""

from __future__ import annotations

import re
from typing import Any


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Pure built-ins of MySQL 8 / MariaDB 10.x that read nothing outside the statement's own rows
# and write nothing: string, number, date, JSON, cast, comparison, aggregate and window
# functions. Anything else (LOAD_FILE, SLEEP, BENCHMARK, GET_LOCK, RELEASE_LOCK, NEXTVAL,
# LAST_INSERT_ID(x), MASTER_POS_WAIT, UDFs, stored functions) is refused.
SAFE_FUNCTIONS = _words(
    """
    abs acos adddate addtime aes_decrypt aes_encrypt against ascii asin atan atan2 avg bin
    bit_and bit_count bit_length bit_or bit_xor cast ceil ceiling char char_length
    character_length charset chr coalesce coercibility collation concat concat_ws conv convert
    convert_tz cos cot count crc32 cume_dist curdate current_date current_role current_time
    current_timestamp current_user curtime database date date_add date_format date_sub datediff
    day dayname dayofmonth dayofweek dayofyear degrees dense_rank elt exp export_set extract
    field find_in_set first_value floor format from_base64 from_days from_unixtime get_format
    greatest group_concat hex hour if ifnull inet6_aton inet6_ntoa inet_aton inet_ntoa insert
    instr interval is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6 isnull json_array
    json_array_append json_array_insert json_arrayagg json_compact json_contains
    json_contains_path json_depth json_detailed json_equals json_exists json_extract
    json_insert json_keys json_length json_loose json_merge json_merge_patch
    json_merge_preserve json_normalize json_object json_objectagg json_overlaps json_pretty
    json_query json_quote json_remove json_replace json_search json_set json_type
    json_unquote json_valid json_value lag last_day last_value lcase lead least left length
    lengthb ln localtime localtimestamp locate log log10 log2 lower lpad ltrim make_set
    makedate maketime match max md5 median microsecond mid min minute mod month monthname
    natural_sort_key now nth_value ntile nullif nvl nvl2 oct octet_length ord percent_rank
    percentile_cont percentile_disc period_add period_diff pi position pow power quarter quote
    radians rand rank regexp_instr regexp_like regexp_replace regexp_substr repeat replace
    reverse right round row_number rpad rtrim schema sec_to_time second sformat sha sha1 sha2
    sign sin soundex space sqrt std stddev stddev_pop stddev_samp str_to_date strcmp subdate
    substr substring substring_index subtime sum sysdate tan time time_format time_to_sec
    timediff timestamp timestampadd timestampdiff to_base64 to_days to_seconds trim truncate
    ucase unhex unix_timestamp upper utc_date utc_time utc_timestamp uuid var_pop var_samp
    user session_user system_user connection_id
    variance version week weekday weekofyear weight_string year yearweek
    """
)

# Keywords that sqlglot tokenizes as keywords and that stand before "(" without being a call.
_SYNTAX_BEFORE_PAREN = _words(
    """
    all alias and any as by distinct else except exists for from group having in
    index intersect interval is join key lateral like not on or over partition recursive row
    select some then union using values when where window with xor
    """
)

# Statements that only read; EXPLAIN/DESCRIBE only of a table or of such a query.
_QUERY_KINDS = ("Select", "Union", "Except", "Intersect", "Values", "Show", "Subquery")

# Anything that starts an executable comment or an optimizer hint, wherever it stands: the
# server runs /*!...*/ and /*M!...*/ as code, and /*+ SET_VAR(...) */ changes session settings.
_EXECUTABLE_COMMENT = re.compile(r"/\*\s*(?:!|m!|\+)", re.IGNORECASE)


def mysql_guard(sql: str) -> str | None:
    """Why a MySQL/MariaDB statement must not be sent, or None when it may.

    Decided on sqlglot's parse: text that does not parse is refused (the server could read it
    differently), and so is everything not on the allow-lists above.
    """
    import sqlglot
    from sqlglot import exp

    if _EXECUTABLE_COMMENT.search(sql):
        return (
            "executable comments (/*! ... */, /*M! ... */) and optimizer hints (/*+ ... */) are "
            "code to the server; they are refused anywhere in the text, even inside a string"
        )
    try:
        tokens = sqlglot.tokenize(sql, read="mysql")
        statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
    except Exception as exc:  # noqa: BLE001 - sqlglot raises several error types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"the statement does not parse as MySQL ({first}); only plain queries are sent"
    if not statements:
        return "empty statement"
    if len(statements) > 1:
        return "several statements given; exactly one is allowed"
    tree = statements[0]
    reason = _kind_refusal(tree, exp)
    if reason:
        return reason
    if any(t.token_type.name == "INTO" for t in tokens):
        return "SELECT ... INTO writes a file (OUTFILE, DUMPFILE) or variables"
    if any(t.token_type.name == "PROCEDURE" for t in tokens):
        return "SELECT ... PROCEDURE runs a server procedure"
    if any(True for _ in tree.find_all(exp.Lock)):
        return "locking reads (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) take row locks"
    return _call_refusal(tokens, _local_names(tree, exp))


def _kind_refusal(tree: Any, exp: Any) -> str | None:
    if isinstance(tree, exp.Describe):
        if (tree.args.get("style") or "").upper() == "ANALYZE":
            return "EXPLAIN ANALYZE runs the statement"
        inner = tree.this
        if isinstance(inner, exp.Table) or type(inner).__name__ in _QUERY_KINDS:
            return None
        return f"EXPLAIN of {type(inner).__name__.upper()} is not a query"
    if type(tree).__name__ in _QUERY_KINDS:
        return None
    word = tree.sql(dialect="mysql").split(None, 1)[0].upper() if tree.sql() else "it"
    return (
        f"{word} is not a query; only SELECT, UNION, VALUES, SHOW, DESCRIBE and EXPLAIN "
        "(without ANALYZE) are sent"
    )


def _local_names(tree: Any, exp: Any) -> set[str]:
    """Names the statement defines itself (CTEs), which may be followed by a column list."""
    return {cte.alias.lower() for cte in tree.find_all(exp.CTE) if cte.alias}


def _call_refusal(tokens: list[Any], local: set[str]) -> str | None:
    """Every word followed by "(" is a call unless it is syntax or a CTE name: allow-listed
    built-ins only, unquoted and unqualified (a quoted or schema.name call is a stored one)."""
    for i, tok in enumerate(tokens[:-1]):
        if tokens[i + 1].token_type.name != "L_PAREN":
            continue
        kind, name = tok.token_type.name, tok.text.lower()
        if kind in ("VAR", "IDENTIFIER") and name in local:
            continue
        if kind == "IDENTIFIER" or (i > 0 and tokens[i - 1].token_type.name == "DOT"):
            return f"the call of {tok.text!r} names a stored or user-defined function"
        if kind != "VAR" and (name in _SYNTAX_BEFORE_PAREN or not name[:1].isalpha()):
            continue
        if name == "group" and i > 0 and tokens[i - 1].text.upper() == "WITHIN":
            continue
        if name not in SAFE_FUNCTIONS:
            return f"the function {tok.text.upper()}() is not on the read-only allow-list"
    return None


#: the session's own global privileges that reach the server's files (FILE) or everything
#: (SUPER); USER_PRIVILEGES lists every account to a privileged user, so match the grantee
FILE_PRIVILEGE_SQL = (
    "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = "
    "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') "
    "AND PRIVILEGE_TYPE IN ('FILE', 'SUPER') ORDER BY PRIVILEGE_TYPE"
)

#: the session settings sqlglot's MySQL tokenizer assumes: with NO_BACKSLASH_ESCAPES or
#: ANSI_QUOTES the server would split strings differently from the parse that was checked
NORMAL_SQL_MODE = (
    "sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(REPLACE(CONCAT(',', @@SESSION.sql_mode, ','),"
    " ',NO_BACKSLASH_ESCAPES,', ','), ',ANSI_QUOTES,', ','), ',ANSI,', ','))"
)


def file_privilege_warning(privileges: list[str]) -> str | None:
    """The warning a query answer carries when the account can read or write server files."""
    if not privileges:
        return None
    return (
        f"the connecting account holds {' and '.join(privileges)}: only this tool's parser "
        "keeps a query from the server's files. Connect as a read-only user for the database "
        "to enforce it too (GRANT SELECT, SHOW VIEW ON db.* TO ro; see docs/databases.md)."
    )
