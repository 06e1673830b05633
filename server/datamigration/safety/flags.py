"""Feature flags for gradual rollout, kept in the file an application already reads through flagd.

The feature-flag pattern ships new application behaviour (say, reading `email_address` instead of
`email`) to 1% of users, then 10%, then everyone, with a check between steps and a kill switch.
We do not invent a flag service: the flags live in the OpenFeature flagd JSON format
(`flags/flags.flagd.json` by default, `[flags] path` in datamigration.toml), which flagd and every
OpenFeature flagd in-process provider read and hot-reload. A rollout step writes a `fractional`
targeting rule; rollback removes it and points `defaultVariant` at the old behaviour, one atomic
rename, so every provider serves the old variant on its next read.

Safety rules enforced here, not left to the caller:
* Steps follow a ladder (1 -> 10 -> 100 by default); jumping past the next step needs `allow_skip`.
* Going up from a live step (current > 0) needs a gate (`flag_gates`): a validation rules file
  that must pass (Validation engine) and/or a health probe (query latency and errors through
  db/) — unless the caller explicitly says `ungated`. A failed gate writes nothing.
* Writes happen under the AgileFlow lock-file convention plus temp-file + rename, so concurrent
  writers never interleave and readers never see half a file; a write that would race a change
  made while the gate ran is refused (ConflictError).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from datamigration.atomic import atomic_write
from datamigration.coordination.locking import FileLock
from datamigration.coordination.schema_check import first_error
from datamigration.errors import ConflictError, FileFormatError, NotFoundError, UserInputError
from datamigration.safeload import check_depth, too_deep
from datamigration.safety.alerts import warn
from datamigration.safety.flag_eval import resolve_flag, share_of_variant
from datamigration.safety.flag_gates import Gate, GateCheck, GateFailedError, run_gate

DEFAULT_PATH = "flags/flags.flagd.json"
SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"
DEFAULT_STEPS: tuple[int, ...] = (1, 10, 100)
#: Synthetic targeting keys evaluated after each write to report the share actually served.
SHARE_SAMPLE = 10_000


# --- locating and reading the file -----------------------------------------------------------


def flags_path(workspace: Any) -> Path:
    """The flag file: `[flags] path` in datamigration.toml, else flags/flags.flagd.json."""
    section = (getattr(workspace, "config", None) or {}).get("flags") or {}
    configured = section.get("path") if isinstance(section, Mapping) else None
    return workspace.resolve(configured or DEFAULT_PATH)


def empty_document() -> dict[str, Any]:
    return {"$schema": SCHEMA_URL, "flags": {}}


def load_document(path: Path) -> dict[str, Any]:
    """The parsed, checked flag file; an absent file is an empty flag set."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return empty_document()
    try:
        data = json.loads(text)
        check_depth(data, source=str(path), hint="Fix the flag file; nothing was written.")
    except RecursionError:
        raise too_deep(str(path), "Fix the flag file; nothing was written.") from None
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg})",
            hint="Fix the JSON (flagd would refuse this file too); nothing was written.",
            path=str(path),
            line=exc.lineno,
            problem=exc.msg,
        ) from exc
    check_document(data, str(path))
    return data


def check_document(data: Any, source: str = "flags") -> None:
    """Schema (our vendored subset of flagd's) plus what a schema cannot say."""
    found = first_error(data, "flagd")
    if found is not None:
        raise FileFormatError(
            f"{source}: {found[1]}",
            hint="The file must follow flagd's flag definition format "
            f"({SCHEMA_URL}); nothing was written.",
            path=source,
            problem=found[1],
        )
    for key, flag in data["flags"].items():
        default = flag.get("defaultVariant")
        if default is not None and default not in flag["variants"]:
            raise FileFormatError(
                f"{source}: flag {key!r} has defaultVariant {default!r}, which is not one of "
                f"its variants {sorted(flag['variants'])}",
                hint="Name one of the flag's variants as defaultVariant.",
                path=source,
                problem="unknown defaultVariant",
            )


# --- what a flag says about its rollout ------------------------------------------------------


def variant_pair(flag: Mapping[str, Any]) -> tuple[str, str]:
    """(new behaviour, old behaviour) variant names of a rollout flag."""
    meta = flag.get("metadata") or {}
    variants = flag.get("variants") or {}
    on = meta.get("onVariant")
    off = meta.get("offVariant")
    for a, b in (("on", "off"), ("true", "false"), ("enabled", "disabled")):
        if on is None and off is None and a in variants and b in variants:
            on, off = a, b
    if on is None or off is None or on not in variants or off not in variants:
        raise UserInputError(
            f"cannot tell the new and the old variant of this flag (variants: {sorted(variants)})",
            hint="Give --on VARIANT and --off VARIANT (or use variants named on/off).",
        )
    return str(on), str(off)


def rollout_percent(flag: Mapping[str, Any], on: str, off: str) -> int | None:
    """Percent of keys served `on`: from our fractional rule, or 0/100 without targeting.

    None when the flag has targeting we did not write (a person's rule): we then refuse to
    overwrite it silently.
    """
    targeting = flag.get("targeting")
    if not targeting:
        return 100 if flag.get("defaultVariant") == on else 0
    parts = targeting.get("fractional") if isinstance(targeting, Mapping) else None
    if not isinstance(parts, list) or len(targeting) != 1:
        return None
    buckets = [p for p in parts if isinstance(p, list)]
    weights: dict[str, int] = {}
    for bucket in buckets:
        if not bucket or bucket[0] not in (on, off):
            return None
        weight = bucket[1] if len(bucket) > 1 else 1
        weights[bucket[0]] = weights.get(bucket[0], 0) + int(weight)
    total = sum(weights.values())
    if total == 0:
        return None
    return round(100 * weights.get(on, 0) / total)


def fractional_targeting(on: str, off: str, percent: int) -> dict[str, Any]:
    """flagd targeting serving `on` to `percent`% of targeting keys, sticky per key.

    The bucketing expression is omitted on purpose: flagd then buckets by flagKey+targetingKey,
    and an evaluation without a targeting key falls back to defaultVariant (the old behaviour)
    instead of bucketing everyone on the same empty string.
    """
    return {"fractional": [[on, percent], [off, 100 - percent]]}


@dataclass(frozen=True)
class FlagView:
    """One flag as a person reads it."""

    key: str
    state: str
    default_variant: str | None
    variants: dict[str, Any]
    targeting: bool
    percent: int | None
    on_variant: str | None
    off_variant: str | None
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def view(key: str, flag: Mapping[str, Any]) -> FlagView:
    try:
        on, off = variant_pair(flag)
        percent = rollout_percent(flag, on, off)
    except UserInputError:
        on = off = None
        percent = None
    return FlagView(
        key=key,
        state=flag.get("state", "ENABLED"),
        default_variant=flag.get("defaultVariant"),
        variants=dict(flag.get("variants") or {}),
        targeting=bool(flag.get("targeting")),
        percent=percent,
        on_variant=on,
        off_variant=off,
        metadata=dict(flag.get("metadata") or {}),
    )


class FlagList(TypedDict):
    """What `list_flags` returns: the flags file (relative path, whether it exists) and every
    flag in it, each a `FlagView.to_dict()`."""

    path: str
    exists: bool
    flags: list[dict[str, Any]]


def list_flags(workspace: Any) -> FlagList:
    path = flags_path(workspace)
    doc = load_document(path)
    return {
        "path": workspace.relative(path),
        "exists": path.exists(),
        "flags": [view(k, f).to_dict() for k, f in sorted(doc["flags"].items())],
    }


def get_flag(workspace: Any, key: str) -> dict[str, Any]:
    path = flags_path(workspace)
    doc = load_document(path)
    return view(key, _flag(doc, key, path)).to_dict()


def _flag(doc: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    flag = doc["flags"].get(key)
    if flag is None:
        known = ", ".join(sorted(doc["flags"])) or "none"
        raise NotFoundError(
            f"no flag {key!r} in {path.name} (flags: {known})",
            hint=f"Create it first: datamigration flags set {key}",
            flag=key,
        )
    return flag


# --- writing ----------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mutate(workspace: Any, change: Callable[[dict[str, Any], Path], Any]) -> Any:
    """Read-modify-write of the flag file under its lock; atomic replace; checked before."""
    path = flags_path(workspace)
    with FileLock(path):
        doc = load_document(path)
        result = change(doc, path)
        doc.setdefault("$schema", SCHEMA_URL)
        check_document(doc, str(path))
        atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return result


def set_flag(
    workspace: Any,
    key: str,
    *,
    state: str | None = None,
    default_variant: str | None = None,
    variants: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Create a flag (boolean on/off, serving off) or change its state/variants/default."""
    if not key or not key.strip():
        raise UserInputError("a flag needs a non-empty key", hint="e.g. new-email-column")
    if state is not None and state not in ("ENABLED", "DISABLED"):
        raise UserInputError(f"state must be ENABLED or DISABLED, not {state!r}")

    def change(doc: dict[str, Any], path: Path) -> dict[str, Any]:
        flags = doc["flags"]
        created = key not in flags
        flag = flags.setdefault(
            key,
            {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "metadata": {"onVariant": "on", "offVariant": "off", "rolloutPercent": 0},
            },
        )
        if variants is not None:
            flag["variants"] = dict(variants)
        if state is not None:
            flag["state"] = state
        if default_variant is not None:
            flag["defaultVariant"] = default_variant
        if description is not None:
            flag.setdefault("metadata", {})["description"] = description
        flag.setdefault("metadata", {})["updatedAt"] = _now()
        return {"created": created, "path": workspace.relative(path), "flag": view(key, flag)}

    out = _mutate(workspace, change)
    out["flag"] = out["flag"].to_dict()
    return out


# --- rollout and rollback ----------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutPlan:
    """The change a rollout would make: shown for confirmation, then applied if unchanged."""

    flag: str
    on_variant: str
    off_variant: str
    current: int
    target: int
    targeting: dict[str, Any]

    def summary(self) -> str:
        return (
            f"roll flag {self.flag!r} from {self.current}% to {self.target}% "
            f"({self.on_variant!r} for {self.target}% of targeting keys)"
        )

    def payload(self) -> dict[str, Any]:
        return {"flag": self.flag, "from": self.current, "to": self.target}


def plan_rollout(
    workspace: Any,
    key: str,
    percent: int,
    *,
    steps: tuple[int, ...] = DEFAULT_STEPS,
    allow_skip: bool = False,
    on: str | None = None,
    off: str | None = None,
) -> RolloutPlan:
    """Check the step against the ladder and describe it; writes nothing."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise UserInputError(
            f"rollout percent must be a whole number from 1 to 100, got {percent!r}",
            hint="To turn the new behaviour off for everyone use rollback.",
        )
    path = flags_path(workspace)
    flag = _flag(load_document(path), key, path)
    if on is None or off is None:
        pair_on, pair_off = variant_pair(flag)
        on, off = on or pair_on, off or pair_off
    for name in (on, off):
        if name not in flag["variants"]:
            raise UserInputError(
                f"flag {key!r} has no variant {name!r} (variants: {sorted(flag['variants'])})"
            )
    current = rollout_percent(flag, on, off)
    if current is None:
        raise ConflictError(
            f"flag {key!r} has targeting rules this tool did not write; refusing to replace them",
            hint="Remove or simplify its targeting by hand, or roll back first.",
            flag=key,
        )
    if percent > current and not allow_skip:
        ladder = sorted(set(steps) | {100})
        nxt = next((s for s in ladder if s > current), 100)
        if percent > nxt:
            raise UserInputError(
                f"flag {key!r} is at {current}%; the next rollout step is {nxt}%, not {percent}%",
                hint=f"Roll out to {nxt}% first and check it (steps: {ladder}), or pass "
                "--skip-steps to jump on purpose.",
                flag=key,
            )
    return RolloutPlan(
        flag=key,
        on_variant=on,
        off_variant=off,
        current=current,
        target=percent,
        targeting=fractional_targeting(on, off, percent),
    )


class RolloutReport(TypedDict):
    """What `rollout` wrote and checked: the CLI prints it, the MCP tool answers with it."""

    flag: str
    from_percent: int
    to_percent: int
    path: str
    gate: list[dict[str, Any]]  # GateCheck.to_dict() of each check that ran
    gated: bool
    measured_share: float
    share_sample: int
    definition: dict[str, Any]


def rollout(
    workspace: Any,
    key: str,
    percent: int,
    *,
    gate: Gate | None = None,
    ungated: bool = False,
    steps: tuple[int, ...] = DEFAULT_STEPS,
    allow_skip: bool = False,
    on: str | None = None,
    off: str | None = None,
) -> RolloutReport:
    """Move a flag to `percent`% after its gate passed; returns what was written and checked."""
    plan = plan_rollout(workspace, key, percent, steps=steps, allow_skip=allow_skip, on=on, off=off)
    gate = gate or Gate()
    going_up = plan.target > plan.current
    if going_up and plan.current > 0 and gate.empty and not ungated:
        raise UserInputError(
            f"flag {key!r} is live at {plan.current}%: going to {plan.target}% needs a gate",
            hint="Give a gate: a validation rules file that must pass (CLI --gate RULES.yaml, "
            "tool `rules`) and/or a health probe (--probe-url / `probe_db`); --ungated "
            "(`ungated`) skips the check on purpose.",
            flag=key,
        )
    checks = run_gate(workspace, gate) if going_up else []
    failed = [c for c in checks if not c.passed]
    if failed:
        why = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        warn(workspace, f"Flag {key!r}: rollout to {plan.target}% stopped by its gate: {why}",
             extra={"flag": key, "gate": "failed"})  # fmt: skip
        raise GateFailedError(
            f"rollout of {key!r} to {plan.target}% stopped: {why}",
            hint="Nothing was written; the flag stays at "
            f"{plan.current}%. Fix what the gate found, or roll back.",
            flag=key,
            checks=[c.to_dict() for c in checks],
        )

    def change(doc: dict[str, Any], path: Path) -> dict[str, Any]:
        flag = _flag(doc, key, path)
        now_at = rollout_percent(flag, plan.on_variant, plan.off_variant)
        if now_at != plan.current:
            raise ConflictError(
                f"flag {key!r} changed from {plan.current}% to {now_at}% while the gate ran",
                hint="Nothing was written. Look at the flag again and retry the step.",
                flag=key,
            )
        flag["state"] = "ENABLED"
        flag["defaultVariant"] = plan.off_variant
        flag["targeting"] = plan.targeting
        meta = flag.setdefault("metadata", {})
        meta.update(
            onVariant=plan.on_variant,
            offVariant=plan.off_variant,
            rolloutPercent=plan.target,
            rolloutUpdatedAt=_now(),
            rolloutGate=_gate_note(checks, going_up, ungated),
        )
        meta.pop("rolledBackAt", None)
        return dict(flag)

    written = _mutate(workspace, change)
    share = share_of_variant(key, written, plan.on_variant, SHARE_SAMPLE)
    return {
        "flag": key,
        "from_percent": plan.current,
        "to_percent": plan.target,
        "path": workspace.relative(flags_path(workspace)),
        "gate": [c.to_dict() for c in checks],
        "gated": bool(checks),
        "measured_share": round(share, 4),
        "share_sample": SHARE_SAMPLE,
        "definition": written,
    }


def _gate_note(checks: list[GateCheck], going_up: bool, ungated: bool) -> str:
    if not going_up:
        return "not needed (step down)"
    if not checks:
        return "skipped on purpose (--ungated)" if ungated else "none (first step)"
    return "passed: " + "; ".join(c.detail for c in checks)[:500]


class RollbackReport(TypedDict):
    """What `rollback` wrote, what every key is served now, and how long the switch took."""

    flag: str
    from_percent: int | None  # None: the flag had targeting this tool did not write
    to_percent: int
    serving: str | None
    seconds: float
    path: str
    definition: dict[str, Any]


def rollback(workspace: Any, key: str) -> RollbackReport:
    """Serve the old variant to everyone now: targeting removed, defaultVariant = old."""

    def change(doc: dict[str, Any], path: Path) -> dict[str, Any]:
        flag = _flag(doc, key, path)
        on, off = variant_pair(flag)
        before = rollout_percent(flag, on, off)
        flag.pop("targeting", None)
        flag["defaultVariant"] = off
        flag["state"] = "ENABLED"
        meta = flag.setdefault("metadata", {})
        meta.update(onVariant=on, offVariant=off, rolloutPercent=0, rolledBackAt=_now())
        return {"before": before, "flag": dict(flag), "on": on, "off": off}

    started = time.perf_counter()
    out = _mutate(workspace, change)
    seconds = time.perf_counter() - started
    resolution = resolve_flag(key, out["flag"], {"targetingKey": "any-user"})
    return {
        "flag": key,
        "from_percent": out["before"],
        "to_percent": 0,
        "serving": resolution.variant,
        "seconds": round(seconds, 4),
        "path": workspace.relative(flags_path(workspace)),
        "definition": out["flag"],
    }


def evaluate(
    workspace: Any, key: str, context: Mapping[str, Any], algorithm: str = "v2"
) -> dict[str, Any]:
    """What a flagd provider serves for this flag and evaluation context."""
    path = flags_path(workspace)
    flag = _flag(load_document(path), key, path)
    return resolve_flag(key, flag, context, algorithm=algorithm).to_dict()


def apply_percent(
    workspace: Any,
    key: str,
    percent: float,
    *,
    flags_file: str | None = None,
    gate: Gate | None = None,
    ungated: bool = True,
) -> dict[str, Any]:
    """One rollout step of a plan, as the executor runs it (and its reverse).

    Creates the flag (serving the old variant) when it does not exist yet, treats 0% as
    rollback, takes any step the plan lists (the plan was reviewed, so no ladder check), and
    writes to `flags_file` when the plan names one. `ungated` defaults to True because the
    executor checks the step's own gates (validation, health) before it calls this.
    """
    ws = _with_flags_file(workspace, flags_file)
    pct = round(float(percent))
    if pct <= 0:
        if key not in load_document(flags_path(ws))["flags"]:
            set_flag(ws, key)
        return rollback(ws, key)
    if key not in load_document(flags_path(ws))["flags"]:
        set_flag(ws, key)
    return rollout(ws, key, pct, gate=gate, ungated=ungated, allow_skip=True)


def ensure_flag(workspace: Any, key: str, *, flags_file: str | None = None) -> Any:
    """Create flag `key` (serving the old variant) unless it exists; the flags workspace."""
    ws = _with_flags_file(workspace, flags_file)
    if key not in load_document(flags_path(ws))["flags"]:
        set_flag(ws, key)
    return ws


def serve_all(
    workspace: Any, key: str, on: bool, *, flags_file: str | None = None
) -> dict[str, Any]:
    """Everyone served the new (`on`) or the old variant now, in one short write: a cutover's
    flip under its write pause (all or nothing; no ladder, no sampled share to compute)."""
    ws = ensure_flag(workspace, key, flags_file=flags_file)
    if not on:
        return {"flag": key, "serving": rollback(ws, key)["serving"]}

    def change(doc: dict[str, Any], path: Path) -> dict[str, Any]:
        flag = _flag(doc, key, path)
        new, old = variant_pair(flag)
        flag.pop("targeting", None)
        flag.update(defaultVariant=new, state="ENABLED")
        flag.setdefault("metadata", {}).update(onVariant=new, offVariant=old,
                                               rolloutPercent=100, updatedAt=_now())  # fmt: skip
        return {"flag": key, "serving": new}

    return dict(_mutate(ws, change))


def _with_flags_file(workspace: Any, flags_file: str | None) -> Any:
    if not flags_file:
        return workspace
    import dataclasses

    config = dict(getattr(workspace, "config", None) or {})
    config["flags"] = {**(config.get("flags") or {}), "path": flags_file}
    return dataclasses.replace(workspace, config=config)
