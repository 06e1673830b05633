"""Reads the labels at the top of a corpus file (dialect, expected and forbidden rules, options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FILES = Path(__file__).parent / "files"


@dataclass(frozen=True)
class Labelled:
    path: Path
    dialect: str
    expect: frozenset[str]
    expect_not: frozenset[str]
    assume_in_transaction: bool
    pg_version: int


def _ids(value: str) -> frozenset[str]:
    return frozenset(x.strip() for x in value.split(",") if x.strip())


def read(path: Path) -> Labelled:
    meta: dict[str, str] = {}
    flags: set[str] = set()
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        if ":" in body:
            key, value = body.split(":", 1)
            meta[key.strip()] = value.strip()
        else:
            flags.add(body)
    return Labelled(
        path,
        meta.get("dialect", "postgres"),
        _ids(meta.get("expect", "")),
        _ids(meta.get("expect-not", "")),
        "assume-in-transaction" in flags,
        int(meta.get("pg-version", "15")),
    )


def corpus() -> list[Labelled]:
    return [read(p) for p in sorted(FILES.glob("*.sql"))]
