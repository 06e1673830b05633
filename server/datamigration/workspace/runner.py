"""`run`: a bash-like command runner with an allow-list, a timeout, an output cap and no secrets.

The model may run what the workspace allows without asking; anything else needs the user's
confirmation, which the MCP face asks for and the CLI takes as `--yes`. This module only decides
and executes: `check_policy` says whether a command may run unasked, `run_command` refuses an
unconfirmed command that may not.

Two kinds of allowed command:

- read-only ones (`ls`, `cat`, `git status`, `psql --version`...) run unasked, as long as no
  argument leaves the workspace and the program is not a file inside the workspace;
- everything else an allow entry covers may execute workspace code (`pytest` runs conftest.py,
  `alembic history` imports revision scripts, `npx` runs node_modules/.bin). It runs unasked only
  when the user confirmed this exact command line in this server session and no file changed
  since (`codetrust`). Otherwise the model could write conftest.py and run it, unconfirmed.

Why no shell by default: with `shell=False` the command is one argv, so `ls; rm -rf ~` is a call
to a program named `ls;` (not allowed), not two commands. `shell=True` runs `bash -c` and always
needs confirmation, since no prefix check can judge a shell script.

Policy (datamigration.toml):

    [run]
    allow = ["pytest", "alembic upgrade head", "make test"]  # added to the built-in list
    allow_always = ["touch"]  # never execute workspace files: run unasked like `ls`
    defaults = true          # false drops the built-in list
    timeout = 120            # seconds, default per call
    max_output = 30000       # characters kept per stream (head and tail)
    pass_env = ["DJANGO_SETTINGS_MODULE"]  # variables the child may see (`childenv`)

An entry is a token prefix: "git status" allows `git status --short` but not `git stash`. An
entry ending in the token `$` must match exactly ("psql --version $"). Besides the list, any
argument naming a path outside the workspace (`cat /etc/passwd`, `--output=../x`) makes the
command need confirmation, so allowed commands stay inside the root.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from datamigration.errors import (
    ConfirmationRequiredError,
    ConflictError,
    NotFoundError,
    UserInputError,
)
from datamigration.redact import redact_text
from datamigration.workspace.childenv import child_environment, hide_own_environment
from datamigration.workspace.codetrust import CodeTrust, Snapshot, take_snapshot
from datamigration.workspace.root import Workspace, is_within

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 3600.0
DEFAULT_MAX_OUTPUT = 30_000

#: Built-in entries that only read: they run unasked (arguments permitting).
READ_ONLY_ALLOW: tuple[str, ...] = (
    "ls",
    "pwd",
    "cat",
    "head",
    "tail",
    "wc",
    "file",
    "stat",
    "du",
    "tree",
    "diff",
    "echo",
    "which",
    "git status",
    "git diff",
    "git log",
    "git show",
    "git ls-files",
    "git rev-parse",
    "git blame",
    "git branch --show-current",
    "python --version $",
    "python3 --version $",
    "psql --version $",
    "pg_dump --version $",
    "pg_restore --version $",
    "mysql --version $",
    "mysqldump --version $",
    "mongosh --version $",
    "sqlite3 --version $",
    "node --version $",
)

#: Built-in entries that execute workspace code (tests, env.py and revision scripts, the
#: prisma in node_modules, flyway's config and jars): allowed, but each command line asks
#: again whenever the workspace changed since it was confirmed (`codetrust`).
CODE_RUNNING_ALLOW: tuple[str, ...] = (
    "pytest",
    "python -m pytest",
    "python3 -m pytest",
    "alembic history",
    "alembic heads",
    "alembic current",
    "alembic show",
    "alembic branches",
    "npx prisma --version $",
    "flyway --version $",
)

#: Built-in allow-list.
DEFAULT_ALLOW: tuple[str, ...] = READ_ONLY_ALLOW + CODE_RUNNING_ALLOW

#: Every git a child runs gets these settings (from the environment, which outranks the
#: repository's config): no fsmonitor hook program, and no bare repository planted as plain
#: files in the workspace (its `config` could name any program).
GIT_SAFETY = (("core.fsmonitor", "false"), ("safe.bareRepository", "explicit"))

#: Options that write files or run other programs (git diff/log --output, --ext-diff); they
#: make any command need confirmation.
_DANGEROUS_ARGS = ("--output", "--ext-diff", "--exec")
#: Short options of read-only programs that write files: `tree -o FILE` (and -R with -H
#: writes 00Tree.html files), `file -C` compiles a magic file. Checked inside option clusters.
_WRITING_SHORT_OPTIONS = {"tree": "oR", "file": "C"}


#: Characters shlex treats as shell punctuation; a token made only of them is an operator.
_SHELL_PUNCTUATION = frozenset("();<>|&")


@dataclass(frozen=True)
class RunPolicy:
    """The parsed allow-list and limits of one workspace."""

    allow: tuple[tuple[str, ...], ...]
    timeout: float = DEFAULT_TIMEOUT
    max_output: int = DEFAULT_MAX_OUTPUT
    pass_env: tuple[str, ...] = ()
    #: Entries that run unasked even after the workspace changed: the built-in read-only ones
    #: and the user's `allow_always` (programs they know never execute workspace files).
    unasked: frozenset[str] = frozenset(READ_ONLY_ALLOW)

    @classmethod
    def from_workspace(cls, workspace: Workspace) -> RunPolicy:
        return cls.from_config(workspace.config.get("run") or {})

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> RunPolicy:
        if not isinstance(section, Mapping):
            raise UserInputError(
                "[run] in datamigration.toml must be a table",
                hint='Write it as:\n[run]\nallow = ["pytest", "git status"]',
            )
        extra = section.get("allow", [])
        always = section.get("allow_always", [])
        for key, value in (("allow", extra), ("allow_always", always)):
            if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
                raise UserInputError(
                    f"[run] {key} in datamigration.toml must be a list of strings",
                    hint='For example: allow = ["pytest", "alembic upgrade head"]',
                )
        entries = ([*DEFAULT_ALLOW] if section.get("defaults", True) else []) + extra + always
        parsed = []
        for entry in entries:
            try:
                tokens = tuple(shlex.split(entry))
            except ValueError as exc:
                raise UserInputError(f"[run] allow entry {entry!r} does not parse: {exc}") from exc
            if tokens:
                parsed.append(tokens)
        timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
        max_output = int(section.get("max_output", DEFAULT_MAX_OUTPUT))
        if timeout <= 0 or max_output < 100:
            raise UserInputError("[run] timeout must be > 0 and max_output at least 100")
        pass_env = section.get("pass_env", [])
        if not isinstance(pass_env, list) or not all(isinstance(e, str) for e in pass_env):
            raise UserInputError(
                "[run] pass_env in datamigration.toml must be a list of variable names",
                hint='For example: pass_env = ["DJANGO_SETTINGS_MODULE"]',
            )
        return cls(
            allow=tuple(parsed),
            timeout=min(timeout, MAX_TIMEOUT),
            max_output=max_output,
            pass_env=tuple(pass_env),
            unasked=frozenset(READ_ONLY_ALLOW) | {" ".join(shlex.split(e)) for e in always},
        )

    def matching_entry(self, argv: Sequence[str]) -> str | None:
        """The allow-list entry that covers `argv`, or None."""
        for entry in self.allow:
            exact = entry[-1] == "$"
            tokens = entry[:-1] if exact else entry
            if exact and tuple(argv) == tokens:
                return " ".join(entry)
            if not exact and tuple(argv[: len(tokens)]) == tokens:
                return " ".join(entry)
        return None


@dataclass(frozen=True)
class PolicyDecision:
    """Whether a command may run unasked. For a command that runs workspace code, `snapshot`
    is the workspace state the decision (and a confirmation of it) is about."""

    allowed: bool
    reason: str
    matched: str | None = None
    runs_code: bool = False
    snapshot: Snapshot | None = field(default=None, compare=False)

    @property
    def state(self) -> str | None:
        """The snapshot digest a confirmation binds to (None for read-only commands)."""
        return self.snapshot.digest if self.snapshot else None


@dataclass(frozen=True)
class RunResult:
    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    truncated: bool
    confirmed: bool


def parse_command(command: str | Sequence[str]) -> list[str]:
    """A command line (shlex-split, POSIX rules) or an argv list, as a non-empty argv."""
    if isinstance(command, str):
        try:
            lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            argv = list(lexer)
        except ValueError as exc:
            raise UserInputError(
                f"command does not parse: {exc}", hint="Check quotes; run does not use a shell."
            ) from exc
        operators = [a for a in argv if a and set(a) <= _SHELL_PUNCTUATION]
        if operators:
            raise UserInputError(
                f"`{operators[0]}` is shell syntax, but run executes one program without a shell",
                hint="Run the commands one at a time, or pass shell=true (CLI: --shell), which "
                "always needs confirmation.",
            )
    else:
        argv = [str(a) for a in command]
    if not argv:
        raise UserInputError("empty command", hint="Give a program and its arguments.")
    if any("\x00" in a for a in argv):
        raise UserInputError("command contains a NUL byte")
    return argv


def check_policy(
    workspace: Workspace,
    argv: Sequence[str],
    *,
    shell: bool = False,
    policy: RunPolicy | None = None,
    trust: CodeTrust | None = None,
) -> PolicyDecision:
    """Whether `argv` may run without confirmation, and why (the reason is shown to the user).

    `trust` holds what the user confirmed earlier in this session; without it (the CLI) a
    command that runs workspace code always needs confirmation.
    """
    policy = policy or RunPolicy.from_workspace(workspace)
    if shell:
        return PolicyDecision(False, "shell commands always need confirmation")
    entry = policy.matching_entry(argv)
    if entry is None:
        return PolicyDecision(False, f"no [run] allow entry covers `{shlex.join(argv[:3])}`")
    for arg in argv[1:]:
        if any(arg == d or arg.startswith(d + "=") for d in _DANGEROUS_ARGS):
            return PolicyDecision(False, f"argument {arg!r} can write files or run programs")
        outside = _outside_path(workspace, arg)
        if outside:
            return PolicyDecision(False, f"argument {arg!r} names {outside}, outside the workspace")
    writing = _writing_option(argv)
    if writing:
        return PolicyDecision(False, f"option {writing!r} of {argv[0]} writes files")
    program = _program_in_workspace(workspace, argv[0], policy)
    if entry in policy.unasked and program is None:
        return PolicyDecision(True, f"allowed by [run] entry {entry!r}", matched=entry)
    snapshot = take_snapshot(workspace)
    why = trust.why_not(argv, snapshot) if trust else "the CLI confirms every such run (--yes)"
    what = (
        f"{argv[0]} is a program inside the workspace"
        if program
        else f"[run] entry {entry!r} may execute workspace code"
    )
    if why is None:
        return PolicyDecision(
            True,
            f"{what}; allowed: unchanged since this command was confirmed",
            matched=entry,
            runs_code=True,
            snapshot=snapshot,
        )
    return PolicyDecision(
        False, f"{what} and {why}", matched=entry, runs_code=True, snapshot=snapshot
    )


def run_command(
    workspace: Workspace,
    command: str | Sequence[str],
    *,
    shell: bool = False,
    timeout: float | None = None,
    confirmed: bool = False,
    policy: RunPolicy | None = None,
    env: Mapping[str, str] | None = None,
    trust: CodeTrust | None = None,
    confirmed_state: str | None = None,
) -> RunResult:
    """Run in the workspace root with a scrubbed environment; refuse unconfirmed unlisted commands.

    `confirmed_state` is the workspace snapshot the user saw when confirming a command that
    runs workspace code: if a file changed since, nothing runs (ConflictError). After a run of
    such a command, `trust` remembers the confirmation for the next identical call.

    A non-zero exit is a result, not an error (the caller reads `exit_code`); a program that does
    not exist is a NotFoundError.
    """
    policy = policy or RunPolicy.from_workspace(workspace)
    argv, shown = _argv_and_shown(command, shell)
    decision = check_policy(
        workspace, argv if not shell else [], shell=shell, policy=policy, trust=trust
    )
    _refuse_unconfirmed(decision, shown, confirmed=confirmed, confirmed_state=confirmed_state)
    limit = policy.timeout if timeout is None else float(timeout)
    if limit <= 0:
        raise UserInputError(f"timeout must be positive, got {timeout}")
    limit = min(limit, MAX_TIMEOUT)
    child_env = _launch_environment(workspace, argv, env, policy)
    hide_own_environment()
    started = time.monotonic()
    exit_code, timed_out, out, err = _run_process(
        workspace, argv, child_env, limit, policy.max_output
    )
    if decision.snapshot is not None and trust is not None:
        trust.record(argv, decision.snapshot, take_snapshot(workspace))
    return RunResult(
        command=redact_text(shown),
        exit_code=exit_code,
        stdout=redact_text(out.text()),
        stderr=redact_text(err.text()),
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out,
        truncated=out.dropped > 0 or err.dropped > 0,
        confirmed=not decision.allowed,
    )


def _argv_and_shown(command: str | Sequence[str], shell: bool) -> tuple[list[str], str]:
    """The argv to execute (`bash -c` for a shell command) and the command line to show."""
    if shell:
        if not isinstance(command, str):
            command = shlex.join(command)
        if not command.strip():
            raise UserInputError("empty command")
        return ["bash", "-c", command], command
    argv = parse_command(command)
    return argv, shlex.join(argv)


def _refuse_unconfirmed(
    decision: PolicyDecision, shown: str, *, confirmed: bool, confirmed_state: str | None
) -> None:
    """Raise unless the policy allows the command or the user confirmed it, on the workspace
    as it is now when the confirmation is about a snapshot."""
    if not decision.allowed and not confirmed:
        raise ConfirmationRequiredError(
            f"`{redact_text(shown)}` needs confirmation: {decision.reason}",
            hint="Nothing was run. Confirm to run it (MCP: the run tool asks the user or returns "
            "a confirm_token; CLI: --yes), or add it to [run] allow in datamigration.toml.",
            command=redact_text(shown),
            reason=decision.reason,
        )
    if confirmed_state is not None and decision.state != confirmed_state:
        raise ConflictError(
            f"the workspace changed after `{redact_text(shown)}` was confirmed; nothing was run",
            hint="Call run again with the same command: the user is asked about the files as "
            "they are now.",
        )


def _launch_environment(
    workspace: Workspace, argv: Sequence[str], env: Mapping[str, str] | None, policy: RunPolicy
) -> dict[str, str]:
    """The child's scrubbed environment; NotFoundError when the program is not on its PATH."""
    child_env = child_environment(
        workspace, os.environ if env is None else env, pass_env=policy.pass_env
    )
    child_env["PWD"] = str(workspace.root)
    if argv[0] == "git":
        _add_git_safety(child_env)
    if "/" in argv[0]:
        try:
            found = (workspace.root / argv[0]).is_file()
        except OSError:  # a directory on the way we may not enter: report it as not found
            found = False
    else:
        found = shutil.which(argv[0], path=child_env.get("PATH")) is not None
    if not found:
        raise NotFoundError(
            f"program {argv[0]!r} was not found on PATH",
            hint="Install it or give its path relative to the workspace root.",
        )
    return child_env


def _run_process(
    workspace: Workspace, argv: list[str], child_env: dict[str, str], limit: float, cap: int
) -> tuple[int | None, bool, _CappedReader, _CappedReader]:
    """Run `argv` in its own process group, killed at `limit` seconds; the exit code (None on
    timeout), whether it timed out, and its capped stdout and stderr."""
    try:
        proc = subprocess.Popen(
            argv,
            cwd=workspace.root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout kills the whole process group
        )
    except OSError as exc:
        raise UserInputError(f"could not start {argv[0]!r}: {exc.strerror or exc}") from exc
    out = _CappedReader(proc.stdout, cap)  # type: ignore[arg-type]
    err = _CappedReader(proc.stderr, cap)  # type: ignore[arg-type]
    timed_out = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    except BaseException:
        _kill_group(proc)
        raise
    out.join()
    err.join()
    return (None if timed_out else proc.returncode), timed_out, out, err


def _add_git_safety(env: dict[str, str]) -> None:
    env["GIT_CONFIG_COUNT"] = str(len(GIT_SAFETY))
    for i, (key, value) in enumerate(GIT_SAFETY):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value


def _writing_option(argv: Sequence[str]) -> str | None:
    letters = _WRITING_SHORT_OPTIONS.get(argv[0], "")
    for arg in argv[1:]:
        short = arg.startswith("-") and not arg.startswith("--")
        if letters and short and any(ch in letters for ch in arg[1:]):
            return arg
    return None


def _program_in_workspace(workspace: Workspace, program: str, policy: RunPolicy) -> Path | None:
    """The program's file when it lies inside the workspace (a path, or found on PATH there).

    Such a program is workspace code whatever its name: a `cat` in .venv/bin written by the
    model must not run as the read-only `cat`.
    """
    if "/" in program:
        found: str | None = str(workspace.root / program)
    else:
        path = child_environment(workspace, os.environ, policy.pass_env).get("PATH")
        found = shutil.which(program, path=path)
    if found is None:
        return None
    try:
        resolved = Path(found).resolve()
    except (OSError, RuntimeError):
        return Path(found)
    unresolved = Path(os.path.abspath(found))
    if is_within(resolved, workspace.root) or is_within(unresolved, workspace.root):
        return resolved
    return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _outside_path(workspace: Workspace, arg: str) -> Path | None:
    """The resolved path when `arg` (or the value of `--opt=value`) points outside the root.

    Every argument is tried as a path relative to the root: strings that are not paths
    (`HEAD~1`, `-n`) resolve inside it and pass, while `/etc/passwd`, `../x` and a symlink in
    the workspace that leads out are caught.
    """
    values = [arg] if not arg.startswith("-") else []
    if arg.startswith("-") and "=" in arg:
        values.append(arg.split("=", 1)[1])
    for value in values:
        if not value:
            continue
        candidate = Path(value).expanduser() if value.startswith("~") else Path(value)
        if not candidate.is_absolute():
            candidate = workspace.root / candidate
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError):
            return candidate
        if not is_within(resolved, workspace.root):
            return resolved
    return None


class _CappedReader:
    """Drains a pipe on a thread, keeping the first and last half of `cap` bytes.

    Draining (rather than `communicate`) keeps memory bounded when a command prints gigabytes,
    and keeping the tail matters: test runners and migrations print the verdict last.
    """

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := stream.read1(65536):  # type: ignore[attr-defined]
                room = self.head_cap - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    if len(self.tail) > self.tail_cap:
                        over = len(self.tail) - self.tail_cap
                        del self.tail[:over]
                        self.dropped += over

    def join(self) -> None:
        # A grandchild that left the process group may still hold the pipe; do not wait forever.
        self._thread.join(timeout=5)

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return f"{head}\n... [{self.dropped} bytes omitted] ...\n{tail}"
        return head + tail
