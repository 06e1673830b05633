"""Which directory is the workspace, and how every path is confined to it.

The root is the directory the server starts in, unless `--workspace` or DATAMIGRATION_WORKSPACE
names another. Every path a tool receives goes through `Workspace.resolve`, which resolves
symlinks and compares path components (never string prefixes, so `/work/ws-evil` is not inside
`/work/ws`). The workspace config `datamigration.toml` is read here too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.errors import FileFormatError, PathOutsideWorkspaceError, UserInputError
from datamigration.safeload import too_deep

ENV_WORKSPACE = "DATAMIGRATION_WORKSPACE"
CONFIG_NAME = "datamigration.toml"
STATE_DIR = ".datamigration"
#: File-system limits (Linux, macOS and Windows agree on 255 for one name); checked before any
#: system call so an over-long name is a clear error instead of an OSError traceback.
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4095


@dataclass(frozen=True)
class Workspace:
    """A resolved workspace root plus its parsed config (empty when there is no config file)."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def open(cls, explicit: str | os.PathLike[str] | None = None) -> Workspace:
        """Pick the root (argument, then environment, then cwd), check it, load the config."""
        chosen = explicit or os.environ.get(ENV_WORKSPACE) or os.getcwd()
        root = Path(chosen).expanduser().resolve()
        if not root.is_dir():
            raise UserInputError(
                f"workspace root {root} is not a directory",
                hint=f"Pass --workspace DIR or set {ENV_WORKSPACE} to an existing directory.",
            )
        return cls(root=root, config=load_config(root / CONFIG_NAME))

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Absolute, symlink-resolved path inside the root, or PathOutsideWorkspaceError.

        Works for paths that do not exist yet (for writes): the deepest existing ancestor is
        resolved, so a symlinked parent directory that leaves the root is still caught.
        """
        raw = os.fspath(path)
        if "\x00" in raw:
            raise PathOutsideWorkspaceError(f"path {raw!r} contains a NUL byte")
        check_name_lengths(raw)
        try:
            candidate = Path(raw).expanduser()
            if not candidate.is_absolute():
                candidate = self.root / candidate
            resolved = candidate.resolve(strict=False)
        except (RuntimeError, OSError) as exc:  # symlink loop, unknown ~user
            raise UserInputError(
                f"path {raw!r} cannot be resolved: {exc}",
                hint="Fix or remove the looping symlink, or give another path.",
                path=raw,
            ) from exc
        check_name_lengths(str(resolved))
        if not is_within(resolved, self.root):
            raise PathOutsideWorkspaceError(
                f"path {raw!r} resolves to {resolved}, outside the workspace {self.root}",
                path=raw,
                workspace=str(self.root),
            )
        return resolved

    def relative(self, path: Path) -> str:
        """Path as shown to users and the model: relative to the root, with forward slashes."""
        try:
            return path.resolve().relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(path)

    @property
    def state_dir(self) -> Path:
        """Local run logs and server state (`.datamigration/`), created on demand."""
        d = self.root / STATE_DIR
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def docs_dir(self) -> Path:
        """The docs tree: AgileFlow's docs folder when present (manifest may rename it)."""
        manifest = self.root / ".agileflow" / "_cfg" / "manifest.yaml"
        if manifest.is_file():
            import yaml

            try:
                data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
            except (yaml.YAMLError, RecursionError):  # AgileFlow's file: unreadable = absent
                data = {}
            folder = data.get("docs_folder") if isinstance(data, dict) else None
            if isinstance(folder, str) and folder.strip():
                return self.resolve(folder.strip())
        return self.root / "docs"

    def is_agileflow_project(self) -> bool:
        """An AgileFlow project has `<docs>/09-agents/` or an `.agileflow/` folder."""
        return (self.docs_dir / "09-agents").is_dir() or (self.root / ".agileflow").is_dir()


def check_name_lengths(path: str) -> None:
    """Refuse a path no file system can hold: a component over 255 bytes or 4095 bytes in all.

    Without this the first `stat` fails with ENAMETOOLONG deep inside a tool, which surfaced as
    a traceback in the CLI and a bare "Error executing tool" over MCP.
    """
    encoded = os.fsencode(path)
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > NAME_MAX_BYTES:
        shown = path if len(path) <= 80 else path[:60] + "..." + path[-15:]
        raise UserInputError(
            f"path {shown!r} has a component of {longest} bytes; file systems allow at most "
            f"{NAME_MAX_BYTES} bytes per file or directory name",
            hint="Shorten that file or directory name (find existing names with the glob tool).",
            longest_component_bytes=longest,
        )
    if len(encoded) > PATH_MAX_BYTES:
        raise UserInputError(
            f"path of {len(encoded)} bytes is longer than the {PATH_MAX_BYTES}-byte limit",
            hint="Use a shorter path (fewer or shorter directory names).",
            path_bytes=len(encoded),
        )


def is_within(path: Path, root: Path) -> bool:
    """Component-wise containment: `/a/b` is within `/a`, `/a-evil` is not."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def load_config(path: Path) -> dict[str, Any]:
    """Parse datamigration.toml; a syntax error names the file and line, nothing is changed."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise too_deep(str(path), "Fix datamigration.toml; the file was not modified.") from None
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(
            f"{path}: {exc}",
            hint="Fix the TOML syntax at the line shown; the file was not modified.",
            path=str(path),
            line=getattr(exc, "lineno", None),
            problem=str(exc),
        ) from exc
