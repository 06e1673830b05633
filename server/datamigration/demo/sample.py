"""The demo's sample application: a small shop database, an unsafe migration and a pre-check.

Everything is deterministic (a seeded generator, fixed reference time) so the demo prints the
same numbers on every machine and the end-to-end test can assert them. The rows are plain SQL
literals built from fixed word lists, so no value ever needs quoting beyond the escape below.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SEED = 20261125
USERS = 240
ORDERS_PER_USER_MAX = 6
#: A fixed "now" so the generated timestamps do not drift between runs.
REFERENCE_TIME = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
    "Radia", "Niklaus", "Sophie", "John", "Katherine", "Tim", "Hedy", "Linus", "Anita", "Guido",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
    "Hamilton", "Ritchie", "Perlman", "Wirth", "Wilson", "Backus", "Johnson", "Berners",
    "Lamarr", "Torvalds", "Borg", "Rossum",
)  # fmt: skip
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "SE", "ES", "IT", "PL", "JP")
ORDER_STATUSES = ("paid", "paid", "paid", "shipped", "shipped", "delivered", "refunded")
CURRENCIES = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR", "GB": "GBP",
              "US": "USD", "SE": "SEK", "PL": "PLN", "JP": "JPY"}  # fmt: skip
#: One user in this many has no country yet: the pre-check query finds them.
MISSING_COUNTRY_EVERY = 17

SCHEMA = (
    """CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    email       TEXT    NOT NULL UNIQUE,
    full_name   TEXT    NOT NULL,
    country     TEXT,
    created_at  TEXT    NOT NULL
)""",
    """CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    total_cents  INTEGER NOT NULL,
    currency     TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
)""",
)

#: The migration a developer might write for production PostgreSQL without thinking about
#: locks. Every statement is valid SQL and each one can stall a busy table; the linter says why.
UNSAFE_MIGRATION_NAME = "migrations/0002_orders_by_user.sql"
SAFE_REWRITE_NAME = "migrations/0002_orders_by_user.safe.sql"
#: Validation rules for the state the migration must reach.
RULES_NAME = "migrations/0002_orders_by_user.rules.yaml"
UNSAFE_MIGRATION = """\
-- Speed up "my orders" and tighten the users table.
CREATE INDEX orders_user_id_idx ON orders (user_id);
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE users ALTER COLUMN country SET NOT NULL;
ALTER TABLE orders ALTER COLUMN total_cents TYPE bigint;
"""

#: The pre-check the plan depends on: SET NOT NULL fails while any row still has NULL.
PRECHECK_QUERY = (
    "SELECT count(*) AS users_without_country, "
    "(SELECT count(*) FROM users) AS users_total "
    "FROM users WHERE country IS NULL"
)
#: A query a person would run before planning: which customers does the change touch most?
TOP_CUSTOMERS_QUERY = (
    "SELECT u.email, count(o.id) AS orders, sum(o.total_cents) AS total_cents "
    "FROM users u JOIN orders o ON o.user_id = u.id "
    "GROUP BY u.id ORDER BY total_cents DESC, u.id LIMIT 5"
)


@dataclass(frozen=True)
class SampleData:
    """The generated rows, kept so the demo can state exactly what it created."""

    users: tuple[tuple[object, ...], ...]
    orders: tuple[tuple[object, ...], ...]

    @property
    def users_without_country(self) -> int:
        return sum(1 for u in self.users if u[3] is None)


def generate(seed: int = SEED, users: int = USERS) -> SampleData:
    rng = random.Random(seed)
    user_rows: list[tuple[object, ...]] = []
    order_rows: list[tuple[object, ...]] = []
    order_id = 0
    for uid in range(1, users + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = None if uid % MISSING_COUNTRY_EVERY == 0 else rng.choice(COUNTRIES)
        signed_up = REFERENCE_TIME - timedelta(
            days=rng.randint(30, 900), minutes=rng.randint(0, 1439)
        )
        email = f"{first}.{last}.{uid}@example.com".lower()
        user_rows.append((uid, email, f"{first} {last}", country, _ts(signed_up)))
        for _ in range(rng.randint(0, ORDERS_PER_USER_MAX)):
            order_id += 1
            placed = signed_up + timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 1439))
            order_rows.append(
                (
                    order_id,
                    uid,
                    rng.choice(ORDER_STATUSES),
                    rng.randint(499, 49_999),
                    CURRENCIES.get(country or "", "EUR"),
                    _ts(placed),
                )
            )
    return SampleData(tuple(user_rows), tuple(order_rows))


def insert_statements(data: SampleData, batch: int = 200) -> list[str]:
    """Multi-row INSERTs, `batch` rows each (SQLite's default limit is far above this)."""
    out: list[str] = []
    for table, rows in (("users", data.users), ("orders", data.orders)):
        for i in range(0, len(rows), batch):
            values = ",\n".join(
                "(" + ", ".join(_literal(v) for v in r) + ")" for r in rows[i : i + batch]
            )
            out.append(f"INSERT INTO {table} VALUES\n{values}")
    return out


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
