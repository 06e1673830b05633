"""The plan model: plain, frozen data that the planner writes and the executor runs.

Why a separate model: a plan is reviewed by people (plan.md, plan.json under docs/), stored by
id and content hash, and only then executed. What runs must be exactly what was reviewed, so
the plan carries every statement the executor will send; the executor never generates SQL of
its own.

Contract for the executor (additive changes only from here on):

* ``Plan.phases`` in order, each ``Phase.steps`` in order. A step id (``s01``, ``s02`` ...)
  is unique within the plan and stable for a given plan hash; use it for durable run state.
* A ``Step`` runs its ``operations`` in order. ``Step.rollback`` is the ready-made undo of the
  whole step (the reverses of its operations, last first); run it to roll the step back.
  ``Operation.reverse`` holds the undo of that single operation.
* ``Operation.kind`` says how to run it:
    - ``"sql"``: send ``statements`` with ``backend.execute(statements,
      autocommit=not op.transactional, lock_timeout_ms=op.lock_timeout_ms)``. Non-transactional
      operations (CREATE/DROP INDEX CONCURRENTLY) hold exactly one statement each. When
      ``lock_timeout_ms`` is set, retry on lock timeout with backoff and jitter
      (``retries`` attempts at most). ``rerunnable`` operations are safe to run again after a
      crash (IF [NOT] EXISTS, CREATE OR REPLACE); others must be checked before re-running.
    - ``"backfill"``: ``backfill`` (a ``BackfillSpec``) drives a keyset loop. Render each
      batch with ``datamigration.plan.backfill``: ``boundary_sql(spec, after)`` returns the
      query for the last key of the next batch (no row = finished), ``batch_sql(spec, after,
      upto)`` the statement to run (autocommit per batch). The durable resume point is the
      last ``upto`` key committed. ``statements`` holds one rendered sample batch, for review.
    - ``"manual"``: an application change (deploy, config) the executor cannot do. It waits
      for the operator's confirmation; ``params["instructions"]`` says what to do.
    - ``"flag"``: a feature-flag change run by the flags engine. ``params`` is exactly
      ``{"flag": key, "percentage": 0-100, "flags_file": path or None}``; run it as
      ``datamigration.safety.flags.apply_percent(workspace, params["flag"],
      params["percentage"], flags_file=params["flags_file"])`` (0% is the rollback).
    - ``"validate"``: run ``params["rules"]`` (validation-rules format) and stop on failure.
    - ``"document"`` (MongoDB): ``params`` is the document operation itself, plain JSON
      (``collection``, ``op``, ``filter``, ``update`` / ``set`` / ``keys``, options; see
      ``datamigration.plan.ops_mongodb`` and ``datamigration.documents.operations``). Run it with
      ``backend.apply_document_operation(params)``; a batched one (``set_fields``, or
      ``update_many`` with ``batch_size``) runs one keyset batch over ``_id`` per call with
      ``resume=(last _id,)`` and returns ``last_key`` and ``finished``.
    - ``"copy"``: a `move_table` copy run by the move engine (``params``: target, tables,
      batch_size; see ``datamigration.execute.copy_operation``). ``"cdc"``: reserved.
    - ``"shadow_reads"``: reads a sample of keys through the old path and the new one and
      fails on a mismatch (``params``: pairs of table/target_table/key/columns/field_map,
      sample, seed, max_mismatches, min_reads; see ``datamigration.execute.shadow_operation``);
      in a `move_table` plan the source against ``target`` (``tables``, ``mapping``).
    - A `move_table` plan's kinds (``datamigration.execute.sync_operations``), ``params``
      holding ``run`` (the sync run's name), ``target`` and ``tables`` (``mapping`` optional):
      ``"sync_start"`` starts the capture, snapshot and streaming in a background process
      (``move.sync.control.spawn``; ``method``); its reverse (a ``sync_start`` with
      ``teardown``) stops the sync and removes the capture objects.
      ``"sync_catch_up"`` waits (``until``: ``"snapshot"`` or ``"lag"`` under ``lag_max_s``,
      at most ``timeout_s``); nothing to reverse.
      ``"cutover"`` (``lag_max_s``, ``pause_max_ms``, ``write_pause`` ``"lock"``/``"flag"``,
      ``flag``, ``pause_flag``, ``flags_file``) runs ``move.sync.cutover.cutover``; its reverse
      (``rollback: true``) ``rollback_cutover``.
* ``mutating`` operations need confirmation (the Foundation's confirm flow);
  ``destructive`` ones (contract steps: dropping the old column/table) also need validation to
  have passed first — ``Step.gates`` lists what must hold before the step starts
  (``"validation_passed"``, ``"confirmation"``, ``"health_ok"``, ``"app_deployed"``).
* ``Step.validation`` holds rules in the validation engine's format
  (``schemas/validation-rules.schema.json``), run after the step and written for the schema
  as it is after the step (``Plan.post_validation``: for the final schema); ``Step.rollback_triggers``
  name metric thresholds that trigger the rollback while the step runs.
* ``plan_hash(plan.to_dict())`` is the sha256 of the canonical JSON of the plan without its
  ``hash`` and ``artifacts`` fields; ``Plan.hash`` stores it. Load plans only through
  ``datamigration.plan.store.load_plan(workspace, plan_id, plan_hash)``, which refuses a
  mismatch.

Dialect names are the backends' (``postgresql``, ``mysql``, ``sqlite``, ``mongodb``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

PLAN_VERSION = 1

#: Phases in the order they run. A plan uses a subset, always in this order.
PHASES = (
    "prepare",
    "expand",
    "migrate",
    "switch",
    "contract",
    "rollout",
    "cleanup",
    "snapshot",
    "catch_up",
    "shadow",
    "cutover",
    "decommission",
)
PATTERNS = ("expand_contract", "dual_write_cdc", "shadow_traffic", "feature_flags")
OPERATION_KINDS = (
    "sql",
    "backfill",
    "manual",
    "flag",
    "validate",
    "copy",
    "cdc",
    "document",
    "sync_start",
    "sync_catch_up",
    "shadow_reads",
    "cutover",
)
GATES = ("validation_passed", "confirmation", "health_ok", "app_deployed")
DIALECTS = ("postgresql", "mysql", "sqlite", "mongodb")

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
DEFAULT_RETRIES = 5


def _plain(value: Any) -> Any:
    """JSON-able form of model objects: dataclasses to dicts, tuples to lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _frozen(value: Any) -> Any:
    """Lists to tuples, recursively (dicts stay dicts): JSON back into model shapes."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _thaw(value: Any) -> Any:
    """Inside free-form dicts (rules, params) keep JSON lists as lists."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def canonical_json(data: Any) -> str:
    """The one canonical text of a JSON value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(_plain(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: Fields of a plan that are not part of its content hash.
UNHASHED_FIELDS = ("hash", "artifacts")


def plan_hash(plan: Mapping[str, Any] | Plan) -> str:
    """sha256 (hex) of the canonical JSON of a plan without `hash` and `artifacts`."""
    data = plan.to_dict() if isinstance(plan, Plan) else dict(plan)
    body = {k: v for k, v in data.items() if k not in UNHASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# --- the change spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeSpec:
    """A parsed change spec (schemas/change-spec.schema.json).

    `kind` and `table` are pulled out because everything branches on them; `options` keeps
    every other field of the change as written (column, new_name, type, ...), so a new change
    kind needs no new fields here.
    """

    kind: str
    table: str | None
    options: Mapping[str, Any] = field(default_factory=dict)
    title: str | None = None
    story: str | None = None
    pattern: str | None = None  # the override asked for in the spec, if any

    def get(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": 1, "kind": self.kind}
        if self.table is not None:
            out["table"] = self.table
        out.update(_thaw(self.options))
        for name in ("title", "story", "pattern"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangeSpec:
        special = {"version", "kind", "table", "title", "story", "pattern"}
        return cls(
            kind=str(data["kind"]),
            table=data.get("table"),
            options={k: _thaw(v) for k, v in data.items() if k not in special},
            title=data.get("title"),
            story=data.get("story"),
            pattern=data.get("pattern"),
        )


# --- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillSpec:
    """A batched keyset backfill: what to write, over which table, in what batch size.

    mode "update": ``UPDATE table SET <set_expression> WHERE <key range> AND (<where>)``.
    mode "insert": ``INSERT INTO target_table (insert_columns) SELECT select_expressions FROM
    table WHERE <key range> AND (<where>)`` skipping rows already copied (split/merge).
    `where` selects the rows still to do, so a re-run after a crash is harmless.
    """

    table: str
    key_columns: tuple[str, ...]
    set_expression: str = ""
    where: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    dialect: str = "postgresql"
    mode: str = "update"
    target_table: str | None = None
    insert_columns: tuple[str, ...] = ()
    select_expressions: tuple[str, ...] = ()
    conflict_columns: tuple[str, ...] = ()
    #: rows expected (measured when planned), for progress and estimates
    estimated_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackfillSpec:
        return cls(**{k: _frozen(v) for k, v in data.items() if k in _names(cls)})


@dataclass(frozen=True)
class Operation:
    """One executable unit. See the module docstring for how each kind runs."""

    id: str
    kind: str
    dialect: str
    description: str
    statements: tuple[str, ...] = ()
    backfill: BackfillSpec | None = None
    reverse: tuple[Operation, ...] = ()
    transactional: bool = True
    lock_timeout_ms: int | None = DEFAULT_LOCK_TIMEOUT_MS
    retries: int = DEFAULT_RETRIES
    mutating: bool = True
    destructive: bool = False
    rerunnable: bool = True
    #: the heaviest lock it takes, in the database's words (e.g. "ACCESS EXCLUSIVE, brief")
    lock: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Operation:
        kw = {k: v for k, v in data.items() if k in _names(cls)}
        kw["statements"] = tuple(kw.get("statements", ()))
        if kw.get("backfill") is not None:
            kw["backfill"] = BackfillSpec.from_dict(kw["backfill"])
        kw["reverse"] = tuple(Operation.from_dict(r) for r in kw.get("reverse", ()))
        kw["params"] = _thaw(kw.get("params", {}))
        return cls(**kw)


# --- steps and phases -----------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackTrigger:
    """A condition that, while the step runs or after it, triggers its rollback."""

    metric: str  # error_rate / latency_p99_ratio / replication_lag_seconds / checksum / validation
    op: str  # ">" / ">=" / "==" / "failed"
    threshold: float | str | None
    description: str
    action: str = "rollback_step"  # rollback_step / pause / rollback_plan

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackTrigger:
        return cls(**{k: v for k, v in data.items() if k in _names(cls)})


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    phase: str
    description: str
    operations: tuple[Operation, ...]
    rollback: tuple[Operation, ...] = ()
    validation: tuple[Mapping[str, Any], ...] = ()
    monitoring: Mapping[str, Any] = field(default_factory=dict)
    rollback_triggers: tuple[RollbackTrigger, ...] = ()
    estimate_seconds: float = 0.0
    requires_confirmation: bool = True
    gates: tuple[str, ...] = ()
    destructive: bool = False
    #: False when the step is a point of no return (data dropped); the plan says so.
    reversible: bool = True

    @property
    def mutating(self) -> bool:
        return any(op.mutating for op in self.operations)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        kw = {k: v for k, v in data.items() if k in _names(cls)}
        kw["operations"] = tuple(Operation.from_dict(o) for o in kw.get("operations", ()))
        kw["rollback"] = tuple(Operation.from_dict(o) for o in kw.get("rollback", ()))
        kw["validation"] = tuple(_thaw(r) for r in kw.get("validation", ()))
        kw["monitoring"] = _thaw(kw.get("monitoring", {}))
        kw["rollback_triggers"] = tuple(
            RollbackTrigger.from_dict(t) for t in kw.get("rollback_triggers", ())
        )
        kw["gates"] = tuple(kw.get("gates", ()))
        return cls(**kw)


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    description: str
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Phase:
        return cls(
            name=data["name"],
            title=data["title"],
            description=data.get("description", ""),
            steps=tuple(Step.from_dict(s) for s in data.get("steps", ())),
        )


# --- plan-level documents -------------------------------------------------------------------


@dataclass(frozen=True)
class Estimates:
    """Where the time goes, from measured sizes and a measured (or default) backfill rate."""

    total_seconds: float
    per_phase_seconds: Mapping[str, float]
    table_rows: Mapping[str, int]
    table_bytes: Mapping[str, int]
    backfill_rows_per_second: float
    rate_source: str  # "measured: ..." or "default: ..."
    downtime_seconds: float
    downtime_reason: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estimates:
        kw = {k: _thaw(v) for k, v in data.items() if k in _names(cls)}
        kw["notes"] = tuple(kw.get("notes", ()))
        return cls(**kw)


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str
    done: bool = False
    evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChecklistItem:
        return cls(**{k: v for k, v in data.items() if k in _names(cls)})


@dataclass(frozen=True)
class CommunicationItem:
    when: str
    audience: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommunicationItem:
        return cls(**{k: v for k, v in data.items() if k in _names(cls)})


@dataclass(frozen=True)
class Plan:
    id: str
    spec: ChangeSpec
    dialect: str
    database: str  # redacted label of the database planned against (never a password)
    pattern: str
    pattern_reason: str
    phases: tuple[Phase, ...]
    estimates: Estimates
    checklist: tuple[ChecklistItem, ...]
    post_validation: tuple[Mapping[str, Any], ...]
    communication: tuple[CommunicationItem, ...]
    lint: tuple[Mapping[str, Any], ...]
    created_at: str
    version: int = PLAN_VERSION
    title: str = ""
    story: str | None = None
    framework: str = "raw"
    pattern_overridden: bool = False
    alternatives: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    #: staging rehearsal results, when one ran (timings of each step and of the rollback)
    rehearsal: Mapping[str, Any] | None = None
    #: the maintenance windows its heavy steps assume (safety/windows.py `assumed_window`);
    #: absent from plan.json when none are configured, so such plans keep their bytes and hash
    window: Mapping[str, Any] | None = None
    hash: str = ""
    #: files written for this plan (docs, framework migrations); not part of the hash
    artifacts: tuple[str, ...] = ()

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for p in self.phases for s in p.steps)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    @property
    def tables(self) -> list[str]:
        """The tables the plan touches (measured when it was made), or the spec's table."""
        names = list(self.estimates.table_rows) or [self.spec.table]
        return [n for n in dict.fromkeys(names) if n]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def compute_hash(self) -> str:
        return plan_hash(self)

    def to_dict(self) -> dict[str, Any]:
        out = _plain(self)
        out["spec"] = self.spec.to_dict()
        if out.get("window") is None:
            del out["window"]
        return out

    def canonical(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        kw = {k: v for k, v in data.items() if k in _names(cls)}
        kw["spec"] = ChangeSpec.from_dict(kw["spec"])
        kw["phases"] = tuple(Phase.from_dict(p) for p in kw.get("phases", ()))
        kw["estimates"] = Estimates.from_dict(kw["estimates"])
        kw["checklist"] = tuple(ChecklistItem.from_dict(c) for c in kw.get("checklist", ()))
        kw["communication"] = tuple(
            CommunicationItem.from_dict(c) for c in kw.get("communication", ())
        )
        for name in ("post_validation", "lint", "alternatives"):
            kw[name] = tuple(_thaw(x) for x in kw.get(name, ()))
        kw["warnings"] = tuple(kw.get("warnings", ()))
        kw["artifacts"] = tuple(kw.get("artifacts", ()))
        for name in ("rehearsal", "window"):
            if kw.get(name) is not None:
                kw[name] = _thaw(kw[name])
        return cls(**kw)


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}
