"""Helpers of the read-only query tests: a plain driver connection, and peak memory measured in
a fresh process (the test process's own peak would hide what one query costs)."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pymysql

_PEAK_SCRIPT = """
import resource, sys
from datamigration.db import connect
with connect(sys.argv[1]) as db:
    db.query("SELECT 1")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        result = db.query(sys.argv[2], max_rows=100, timeout_ms=10000)
        outcome = f"rows={result.row_count},truncated={result.truncated}"
    except Exception as exc:
        outcome = type(exc).__name__
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, outcome)
"""


def mysql_connect(url: str, user: str | None = None, password: str = "") -> pymysql.Connection:
    """An autocommit PyMySQL connection to the database `url` names, as `user` if given."""
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=user or parts.username,
        password=password or parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


def peak_rss_kb(url: str, sql: str) -> tuple[int, int, str]:
    """Peak RSS (KiB) of a fresh process before and after one query capped at 100 rows, and
    its outcome: ``rows=N,truncated=B`` or the error's class name."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, url, sql],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout.split()
    return int(out[0]), int(out[1]), out[2]
