"""Corruption detection for export files: SHA-256 sidecars in `sha256sum` format, and verify.

An export that is copied between machines can be truncated or flipped on the way; a checksum
written next to it when it is produced and checked before it is loaded catches that. The sidecar
is the format `sha256sum -c` reads (``<hex>  <name>``), so the same file can be checked without
this tool. Compressed exports (.gz) are also decompressed to the end while verifying, which
catches a truncated stream whose sidecar was regenerated after the damage.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from datamigration.errors import FileFormatError, NotFoundError

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileCheck:
    path: str
    sha256: str
    ok: bool
    problem: str = ""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_checksum(path: Path) -> Path:
    """Write `<file>.sha256` next to `path`; returns the sidecar's path."""
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}", hint="Check the path of the export file.")
    sidecar = path.with_name(path.name + ".sha256")
    sidecar.write_text(f"{sha256_of(path)}  {path.name}\n", encoding="utf-8")
    return sidecar


def _gzip_ok(path: Path) -> str:
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(CHUNK):
                pass
    except (OSError, EOFError) as exc:
        return f"compressed stream is damaged: {exc}"
    return ""


def verify_checksums(sidecar: Path) -> list[FileCheck]:
    """Check every line of a `.sha256` file (paths relative to the sidecar's folder)."""
    if not sidecar.is_file():
        raise NotFoundError(
            f"no such checksum file: {sidecar}", hint="Create it with: datamigration checksum FILE"
        )
    out = []
    for number, line in enumerate(sidecar.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.lstrip("*")
        if not sep or len(digest) != 64:
            raise FileFormatError(
                f"{sidecar.name}:{number}: not a sha256sum line",
                hint="Each line is '<64 hex digits>  <file name>'.",
                path=str(sidecar),
                line=number,
            )
        target = sidecar.parent / name
        if not target.is_file():
            out.append(FileCheck(name, digest, False, "file is missing"))
            continue
        actual = sha256_of(target)
        if actual != digest.lower():
            out.append(FileCheck(name, actual, False, f"checksum mismatch (expected {digest})"))
            continue
        problem = _gzip_ok(target) if target.suffix == ".gz" else ""
        out.append(FileCheck(name, actual, not problem, problem))
    return out
