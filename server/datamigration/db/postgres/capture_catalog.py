"""What the logical capture asks PostgreSQL's catalog before it creates anything, and the
refusals it gives: `wal_level`, the tables' keys and REPLICA IDENTITY, a slot or publication of
the same name made for other tables, a live sync already holding it.

Why refuse a key-less table before creating the publication: once a table is in a publication
that publishes updates, PostgreSQL refuses the application's own UPDATE and DELETE on it unless
it has a replica identity. Creating the publication first would break the application.

A live sync holds a session advisory lock keyed by its slot name (`LOCK_CLASS`,
`lock_key(slot)`): it disappears with the session, so a slot whose lock nobody holds belongs to
no running sync (a crashed or abandoned run) and is reported as a leftover.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from datamigration.db.capture import CAPTURE_PREFIX
from datamigration.db.errors import TableNotFoundError
from datamigration.errors import ConflictError

#: first key of the advisory lock a live logical capture holds ("dmsc")
LOCK_CLASS = 0x646D7363
#: how long a new capture waits for a killed sync's read of the slot to end
HOLDER_WAIT_S = 30.0
#: the advisory lock's second key: the slot name's hash, made non-negative so it reads the
#: same in pg_locks.objid (an oid)
LOCK_KEY_SQL = "(hashtext(%s) & 2147483647)"


class CaptureRefusedError(ConflictError):
    """The source is not ready for a capture (settings, keys, a name in use)."""


@dataclass(frozen=True)
class TableFacts:
    """One captured table as the catalog describes it. `key` is what events are keyed by: the
    primary key, or the replica identity's columns (its index, or every column under FULL
    without a primary key). `toastable` are the columns whose large values may be TOASTed."""

    given: str
    oid: int
    schema: str
    name: str
    identity: str
    key: tuple[str, ...]
    toastable: tuple[str, ...]
    partitioned: bool


_TABLE_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relreplident, c.relkind,
  ARRAY(SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord),
        pg_attribute a WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid
        AND a.attnum = k.attnum ORDER BY k.ord)::text[],
  ARRAY(SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord),
        pg_attribute a WHERE i.indrelid = c.oid AND i.indisreplident AND a.attrelid = c.oid
        AND a.attnum = k.attnum ORDER BY k.ord)::text[],
  ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
        AND NOT a.attisdropped ORDER BY a.attnum)::text[],
  ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
        AND NOT a.attisdropped AND a.attstorage <> 'p' ORDER BY a.attnum)::text[]
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s)
"""


def table_facts(backend: Any, table: str) -> TableFacts:
    """The table's identity and keys, or a refusal naming the choices."""
    from datamigration.db.postgres.connection import split_name

    quoted = split_name(table).as_string(backend.conn)
    rows = backend.fetch(_TABLE_SQL, (quoted,))
    if not rows:
        raise TableNotFoundError(
            f"table {table!r} not found on {backend.label}",
            hint="Name an existing table (schema.table when it is not on the search_path).",
        )
    oid, schema, name, identity, kind, pk, ident, columns, toastable = rows[0]
    if kind not in ("r", "p"):
        raise CaptureRefusedError(
            f"{table} is not a table (relkind {kind!r}); only tables can be captured",
            hint="Capture the tables a view or materialized view reads from.",
        )
    key = _key_of(table, identity, list(pk), list(ident), list(columns))
    return TableFacts(table, int(oid), schema, name, identity, key, tuple(toastable), kind == "p")


def _key_of(
    table: str, identity: str, pk: list[str], ident: list[str], columns: list[str]
) -> tuple[str, ...]:
    if identity == "n":
        raise CaptureRefusedError(
            f"table {table} has REPLICA IDENTITY NOTHING: its updates and deletes cannot be "
            "captured, and in a publication the application's UPDATE and DELETE would fail",
            hint=f"ALTER TABLE {table} REPLICA IDENTITY DEFAULT (with a primary key) or "
            f"ALTER TABLE {table} REPLICA IDENTITY FULL.",
        )
    if identity == "i" and ident:
        return tuple(ident)
    if pk:
        return tuple(pk)
    if identity == "f":
        return tuple(columns)
    raise CaptureRefusedError(
        f"table {table} has no primary key and no replica identity: its updates and deletes "
        "cannot be captured (and once it is in a publication PostgreSQL refuses the "
        "application's UPDATE and DELETE on it)",
        hint=f"Add a key (ALTER TABLE {table} ADD PRIMARY KEY (...)), or ALTER TABLE {table} "
        "REPLICA IDENTITY FULL (each update logs the whole old row), or REPLICA IDENTITY "
        "USING INDEX on a unique index over NOT NULL columns.",
    )


def toast_warnings(facts: list[TableFacts]) -> list[dict[str, Any]]:
    """Tables whose unchanged large values arrive as UNAVAILABLE (identity DEFAULT/INDEX)."""
    return [
        {
            "table": f.given,
            "columns": list(f.toastable),
            "why": "REPLICA IDENTITY is not FULL: an UPDATE that does not touch a large "
            "(TOASTed) value sends it as unavailable and the target keeps its copy",
            "fix": f"ALTER TABLE {f.given} REPLICA IDENTITY FULL",
        }
        for f in facts
        if f.identity != "f" and f.toastable
    ]


def check_settings(backend: Any) -> dict[str, Any]:
    """Refuse a server whose settings cannot keep a logical slot, with the exact fix."""
    level, slots, senders = backend.fetch(
        "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int, "
        "current_setting('max_wal_senders')::int"
    )[0]
    fixes = []
    if level != "logical":
        fixes.append("ALTER SYSTEM SET wal_level = logical;")
    if not slots:
        fixes.append("ALTER SYSTEM SET max_replication_slots = 10;")
    if not senders:
        fixes.append("ALTER SYSTEM SET max_wal_senders = 10;")
    if fixes:
        fix = " ".join(fixes) + " then restart the server (these settings take effect only at "
        fix += "server start)"
        raise CaptureRefusedError(
            f"logical decoding is off on {backend.label} (wal_level={level}, "
            f"max_replication_slots={slots}, max_wal_senders={senders}). Fix: {fix}",
            hint=f"Run {fix}; or capture with triggers (method 'trigger'), which adds work "
            "to every write of the captured tables.",
            wal_level=level,
        )
    return {"wal_level": level, "max_replication_slots": slots, "max_wal_senders": senders}


def check_encoding(backend: Any) -> None:
    """pgoutput sends text in the database's encoding, and psycopg decodes it in the
    connection's: refuse a connection whose encoding differs rather than garble text."""
    server, client = backend.fetch(
        "SELECT current_setting('server_encoding'), pg_client_encoding()"
    )[0]
    if server != client and server != "SQL_ASCII":
        raise CaptureRefusedError(
            f"the capture's connection uses client_encoding {client} but the database stores "
            f"{server}: changes arrive in {server} and would be decoded wrongly",
            hint=f"Connect with client_encoding={server} (add ?client_encoding={server} to the "
            "URL, or leave it unset).",
        )


def base_types(backend: Any, oids: list[int]) -> dict[int, int]:
    """Domain OID -> its base type's OID (followed through domains over domains)."""
    rows = backend.fetch(
        "WITH RECURSIVE d(oid, base) AS (SELECT oid, typbasetype FROM pg_type "
        "WHERE typtype = 'd' AND oid = ANY(%s::oid[]) UNION ALL SELECT d.oid, t.typbasetype "
        "FROM d JOIN pg_type t ON t.oid = d.base AND t.typtype = 'd') "
        "SELECT d.oid, d.base FROM d JOIN pg_type t ON t.oid = d.base AND t.typtype <> 'd'",
        ([int(o) for o in oids],),
    )
    return {int(a): int(b) for a, b in rows}


def check_existing(backend: Any, slot: str, publication: str, oids: set[int]) -> dict[str, bool]:
    """Whether the slot and the publication exist already for exactly these tables (a restart
    of the same run, reused), or refuse: another database's slot, another plugin, other
    tables, or a live sync holding it."""
    found = backend.fetch(
        "SELECT plugin, slot_type, database = current_database() FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (slot,),
    )
    pub = backend.fetch(
        "SELECT p.puballtables, ARRAY(SELECT prrelid::bigint FROM pg_publication_rel r "
        "WHERE r.prpubid = p.oid) FROM pg_publication p WHERE p.pubname = %s",
        (publication,),
    )
    refuse_if_held(backend, slot)
    if found and (found[0][0] != "pgoutput" or found[0][1] != "logical" or not found[0][2]):
        raise CaptureRefusedError(
            f"replication slot {slot} exists already and is not this run's (plugin "
            f"{found[0][0]}, {found[0][1]}, {'this' if found[0][2] else 'another'} database)",
            hint="Give the sync run another name, or drop that slot if it is abandoned.",
        )
    if pub and (pub[0][0] or {int(x) for x in pub[0][1]} != oids):
        raise CaptureRefusedError(
            f"publication {publication} exists already for other tables: the name belongs "
            "to another run or table set",
            hint="Give the sync run another name, or stop the run that owns it "
            "(its capture objects are removed then).",
        )
    if found and not pub:
        raise CaptureRefusedError(
            f"replication slot {slot} exists already without its publication: it belongs to "
            "another run or a broken one",
            hint="Give the sync run another name, or remove that run's leftovers first.",
        )
    return {"slot": bool(found), "publication": bool(pub)}


def refuse_if_held(backend: Any, slot: str, wait_s: float = HOLDER_WAIT_S) -> None:
    """Refuse when another session's sync holds the capture. A sync killed in the middle of a
    read keeps its lock until its server process notices, when that read ends: while the
    holder is the session reading the slot, wait for it (up to `wait_s`); a holder that is
    not reading is a live sync, refused at once."""
    deadline = time.monotonic() + wait_s
    while (holder := live_holder(backend, slot)) is not None:
        reading = backend.fetch(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        )
        if not reading or reading[0][0] != holder or time.monotonic() > deadline:
            raise CaptureRefusedError(
                f"capture {slot} is in use by a running sync (server process {holder})",
                hint="Stop that sync first (datamigration sync stop RUN), or give this run "
                "another name.",
                pid=holder,
            )
        time.sleep(0.1)


def live_holder(backend: Any, slot: str) -> int | None:
    """The server process of another session whose sync holds this capture, if any."""
    rows = backend.fetch(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid "
        f"AND objid = {LOCK_KEY_SQL}::oid AND objsubid = 2 AND granted "
        "AND pid <> pg_backend_pid()",
        (LOCK_CLASS, slot),
    )
    return int(rows[0][0]) if rows else None


_LEFTOVERS_SQL = f"""
SELECT s.slot_name, s.active, s.database,
  pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
  EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
          AND l.classid = {LOCK_CLASS}::oid AND l.objsubid = 2
          AND l.objid = (hashtext(s.slot_name) & 2147483647)::oid)
FROM pg_replication_slots s
WHERE starts_with(s.slot_name, %s) AND NOT pg_is_in_recovery() ORDER BY 1
"""


def leftovers(backend: Any) -> list[dict[str, Any]]:
    """Slots (cluster-wide) and publications (this database) named with the capture prefix;
    `live` tells whether a running sync holds them."""
    out: list[dict[str, Any]] = []
    live_runs: set[str] = set()
    for name, active, database, retained, live in backend.fetch(_LEFTOVERS_SQL, (CAPTURE_PREFIX,)):
        run = name[len(CAPTURE_PREFIX) :]
        if live:
            live_runs.add(run)
        out.append({
            "kind": "slot",
            "name": name,
            "run": run,
            "live": bool(live),
            "detail": {"active": bool(active or live), "retained_wal_bytes": retained,
                       "database": database},
            "remove": f"SELECT pg_drop_replication_slot('{name}');",
        })  # fmt: skip
    for (name,) in backend.fetch(
        "SELECT pubname FROM pg_publication WHERE starts_with(pubname, %s) ORDER BY 1",
        (CAPTURE_PREFIX,),
    ):
        run = name[len(CAPTURE_PREFIX) :].removesuffix("_pub")
        out.append({
            "kind": "publication",
            "name": name,
            "run": run,
            "live": run in live_runs,
            "detail": {"active": run in live_runs, "database": backend.url.database},
            "remove": f'DROP PUBLICATION "{name}";',
        })  # fmt: skip
    return out
