"""The environment a `run` child gets: a short allow-list of harmless variables, never a secret.

The server's own environment holds the credentials the migrations use (`PGPASSWORD`,
`MYSQL_PWD`, the `${APP_DB_PW}` that datamigration.toml references, `DATABASE_URL`). A command
the model runs must not see them, whether or not the user confirmed it: the user agreed to run
`pytest`, not to hand it the production password. A deny-list of names missed `MYSQL_PWD`,
`DB_PWD` and `PGDSN`, so the child now starts from an allow-list (PATH, HOME, locale, temp dirs,
the active virtualenv...) and even those are dropped when they look secret:

- the name matches *PASS*, *PWD*, *SECRET*, *TOKEN*, *DSN*, *KEY*, *CREDENTIAL*, *AUTH*;
- datamigration.toml references it as `${NAME}`;
- the value holds a URL with a password, or is a secret the process has seen (a resolved
  connection password, as `redact_text` knows them).

`[run] pass_env = ["DJANGO_SETTINGS_MODULE", "TEST_DATABASE_URL"]` adds names; the user wrote
them in a file the model cannot change without confirmation, so they pass even when their
value holds a URL with a password, but never when datamigration.toml references them.

A child running as the same user could still read the server's environment from
`/proc/<ppid>/environ`; `hide_own_environment` closes that on Linux (a non-dumpable process's
/proc files belong to root). Processes above the server (the assistant that started it) are out
of its reach: keep secrets out of their environment too (see docs/workspace-tools.md).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Iterable, Mapping

from datamigration.redact import MASK, redact_text
from datamigration.workspace.root import CONFIG_NAME, Workspace

#: Variables a child gets when present (and not secret by the rules above).
PASS_THROUGH = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "COLORTERM",
        "NO_COLOR",
        "FORCE_COLOR",
        "TZ",
        "TMPDIR",
        "TMP",
        "TEMP",
        "CI",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "PYTHONPATH",
        "PYTHONIOENCODING",
        "NODE_PATH",
        "JAVA_HOME",
        "GOPATH",
        "GOROOT",
        "CARGO_HOME",
        "RUSTUP_HOME",
        # Windows needs these to start most programs at all.
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "WINDIR",
        "COMSPEC",
        "PATHEXT",
        "USERPROFILE",
    }
)
PASS_THROUGH_PREFIXES = ("LC_",)

_SECRET_NAME = re.compile(r"PASS|PWD|SECRET|TOKEN|DSN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_CONFIG_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:]*:[^\s/@]+@")

_PR_SET_DUMPABLE = 4
_hidden = False


def is_secret_variable(name: str) -> bool:
    """True for names that usually hold credentials (`MYSQL_PWD`, `PGDSN`, `API_KEY`...): wider
    than `redact.is_secret_name` (URL options), since a child process needs none of them."""
    return bool(_SECRET_NAME.search(name))


def config_references(workspace: Workspace) -> set[str]:
    """Every `${NAME}` written in datamigration.toml, whatever section or comment it is in."""
    try:
        text = (workspace.root / CONFIG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return set(_CONFIG_REFERENCE.findall(text))


def child_environment(
    workspace: Workspace, source: Mapping[str, str], pass_env: Iterable[str] = ()
) -> dict[str, str]:
    """The variables of `source` a child may see, with PATH stripped of relative entries."""
    referenced = config_references(workspace)
    chosen = set(pass_env)
    out: dict[str, str] = {}
    for name, value in source.items():
        if name in referenced:
            continue
        if name in chosen:
            out[name] = value
            continue
        if name not in PASS_THROUGH and not name.startswith(PASS_THROUGH_PREFIXES):
            continue
        if is_secret_variable(name) or looks_secret(value):
            continue
        out[name] = value
    if "PATH" in out:
        out["PATH"] = absolute_path_entries(out["PATH"])
    return out


def looks_secret(value: str) -> bool:
    """A URL with a password, or exactly a secret seen before (not a substring of one: a
    password `postgres` must not hide a PATH through /usr/lib/postgresql)."""
    return bool(_URL_WITH_PASSWORD.search(value)) or (
        len(value) >= 3 and redact_text(value) == MASK
    )


def absolute_path_entries(path: str) -> str:
    """PATH without empty or relative entries: those search the working directory, which is
    the workspace, so a file the model wrote there could stand in for `ls` or `git`."""
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and os.path.isabs(p))


def hide_own_environment() -> None:
    """Make this process non-dumpable (Linux), so a child cannot read /proc/<ppid>/environ.

    The flag is reset by execve in the child, so the child itself is unaffected. Idempotent and
    best effort: on other systems, or without libc, nothing happens.
    """
    global _hidden
    if _hidden or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
            _hidden = True
    except (OSError, AttributeError):
        pass
