"""Terminal twins of the executor tools: execute, rollback, run-status.

`datamigration execute PLAN_ID --hash H [--step S | --phase P | --all] [--dry-run] [--yes]` runs
reviewed plan steps; without --yes it prints what it would do and exits 3 (confirmation needed);
`--dry-run` prints the exact operations without touching anything. `rollback` undoes the current
step or the whole plan (reverse order); `run-status` shows step statuses and backfill
checkpoints from the target database. Exit codes: 0 done, 3 confirmation needed, others per error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of
from datamigration.confirmation import require_yes
from datamigration.errors import UserInputError


def _plan_id(args: argparse.Namespace, required: bool = True) -> str | None:
    """PLAN_ID, or --plan PLAN_ID (the form migration files generated with a plan point to)."""
    pid = args.plan_id or getattr(args, "plan_opt", None)
    if args.plan_id and getattr(args, "plan_opt", None) and args.plan_id != args.plan_opt:
        raise UserInputError("two different plan ids given", hint="Give the plan id once.")
    if required and not pid:
        raise UserInputError(
            "which plan? give its id", hint="datamigration run-status lists the plans."
        )
    return pid


def _options(args: argparse.Namespace) -> Any:
    from datamigration.execute.runner import RunOptions

    def progress(event: str, data: dict[str, Any]) -> None:
        if args.json or args.quiet:
            return
        if event == "batch":
            est = data.get("estimated_rows")
            of = f"/{est}" if est else ""
            print_text(
                f"  {data['step']} batch {data['batch']}: {data['rows']}{of} rows, "
                f"last key {data['last_key']}"
            )
        elif event == "throttle":
            if data["state"] == "paused":
                print_text(f"  {data['step']} paused: {data['reason']} "
                           f"(waiting {data['pause_ms'] / 1000:.1f} s)")  # fmt: skip
            else:
                print_text(f"  {data['step']} resumed after {data['waited_s']:.1f} s")
        elif event == "step_started":
            print_text(f"{data['step']} {data['title']} ...")
        elif event in ("step_done", "rolled_back"):
            print_text(f"{data['step']} {event.replace('_', ' ')} in {data['seconds']} s")

    return RunOptions(
        batch_size=getattr(args, "batch_size", None),
        batch_pause_ms=getattr(args, "batch_pause_ms", 0.0) or 0.0,
        max_lag_s=getattr(args, "max_lag_seconds", None),
        progress=progress,
        without_backup=getattr(args, "without_backup", None),
        now=bool(getattr(args, "now", False)),
    )


def _render_dry_run(out: dict[str, Any]) -> str:
    lines = [f"DRY RUN ({out['mode']} {out['scope']} of plan {out['plan_id']}): nothing is changed"]
    for s in out["steps"]:
        flag = " [DESTRUCTIVE]" if s.get("destructive") else ""
        lines.append(f"\n{s['step']} [{s['phase']}] {s['title']}{flag}")
        if s.get("gates"):
            lines.append(f"  gates: {', '.join(s['gates'])}")
        for op in s["operations"]:
            mode = "autocommit" if not op["transactional"] else "one transaction"
            if op.get("lock_timeout_ms"):
                locks = f"lock_timeout {op['lock_timeout_ms']} ms, {op['retries']} retries"
            else:
                locks = "no lock timeout"
            lines.append(f"  - {op['id']} ({op['kind']}, {mode}, {locks})")
            if op.get("backfill"):
                b = op["backfill"]
                lines.append(
                    f"    keyset backfill of {b['table']} by {', '.join(b['key_columns'])}, "
                    f"{b['batch_size']} rows per batch"
                )
            for stmt in op["statements"]:
                lines.append("    " + stmt.replace("\n", "\n    ") + ";")
        for r in s.get("resume", []):
            lines.append(
                f"  resumes {r['operation']} after key {r['last_key']} ({r['rows_done']} rows done)"
            )
    if not out["steps"]:
        lines.append("\nnothing to do: the selected steps are already done")
    return "\n".join(lines)


def _backup_lines(gate: dict[str, Any] | None) -> list[str]:
    """What the backup check found before a step that can lose data."""
    if not gate:
        return []
    steps = ", ".join(gate["steps"])
    if gate.get("backup"):
        b = gate["backup"]
        return [f"backup: {b['id']} (verified {b['verified_at']}) covers {steps}"]
    if gate.get("without_backup"):
        return [f"WARNING: {steps} ran WITHOUT a verified backup: {gate['without_backup']}"]
    return [f"backup: not required ([backup] required = false) for {steps}"]


def _render_result(out: dict[str, Any]) -> str:
    if out.get("dry_run"):
        return _render_dry_run(out)
    lines = _backup_lines(out.get("backup"))
    verb = "rolled back" if out["mode"] == "rollback" else "done"
    for s in out["steps"]:
        lines.append(f"{s['step']} {s['title']}: {verb} in {s['seconds']} s")
        for op in s.get("operations", []):
            if "rows" in op:
                lines.append(
                    f"  {op['operation']}: {op['rows']} rows in {op['batches']} batches"
                    + (f", resumed after {op['resumed_from']}" if op.get("resumed_from") else "")
                )
            if pace := op.get("pace"):
                lines.append(f"  pace settled: {pace['batch_size']} rows per batch, "
                             f"{pace['pause_ms']} ms pause (budget {pace['budget_ms']} ms, "
                             f"{pace['decreases']} cuts)")  # fmt: skip
            if op.get("lock_timeouts"):
                lines.append(f"  {op['operation']}: {op['lock_timeouts']} lock timeout(s) retried")
    if out.get("note"):
        lines.append(out["note"])
    if "remaining" in out:
        lines.append(
            "remaining: "
            + (", ".join(out["remaining"]) if out["remaining"] else "none (plan complete)")
        )
    fv = out.get("final_validation")
    if fv and fv.get("ran"):
        lines.append(
            f"validation: {'passed' if fv['passed'] else 'FAILED'} ({fv['summary']}); report "
            f"{fv['report_markdown']}"
        )
        if fv.get("story"):
            lines.append(f"story {fv['story']}: {fv.get('story_status')}")
        lines += [f"note: {n}" for n in fv.get("notes", [])]
    lines += [f"note: {n}" for n in out.get("notes", [])]
    lines.append(f"log: {out['log']}")
    return "\n".join(lines)


def _run(args: argparse.Namespace, mode: str) -> int:
    from datamigration.execute.service import jsonable_result, prepare

    ws = workspace_of(args)
    prepared = prepare(
        ws,
        _plan_id(args),
        args.hash,
        mode=mode,
        db=args.db,
        step=args.step,
        phase=getattr(args, "phase", None),
        all_steps=args.all,
        dry_run=getattr(args, "dry_run", False),
        options=_options(args),
    )
    try:
        if prepared.needs_confirmation:
            require_yes(prepared.action(), args.yes)
    except BaseException:
        prepared.close()
        raise
    out = jsonable_result(prepared.run())
    if args.json:
        print_json(out)
    else:
        print_text(_render_result(out))
    fv = out.get("final_validation") or {}
    return 6 if fv.get("ran") and not fv.get("passed") else 0


def cmd_execute(args: argparse.Namespace) -> int:
    return _run(args, "execute")


def cmd_rollback(args: argparse.Namespace) -> int:
    return _run(args, "rollback")


def cmd_run_status(args: argparse.Namespace) -> int:
    from datamigration.execute.service import jsonable_result, run_status
    from datamigration.safety.captures import describe

    pid = _plan_id(args, required=False)
    out = jsonable_result(run_status(workspace_of(args), pid, db=args.db))
    if args.json:
        print_json(out)
        return 0
    captures = out.get("captures") or {}
    if captures.get("abandoned"):
        print_text(f"abandoned change capture: {describe(captures['abandoned'])}")
    if captures.get("unknown"):
        print_text(f"change capture (its sync may be running): {describe(captures['unknown'])}")
    if pid is None:
        if not out["runs"]:
            print_text("no runs yet (plans: " + str(len(out["plans"])) + ")")
        for r in out["runs"]:
            ev = r.get("last_event") or {}
            print_text(
                f"{r['plan_id']} {r['hash'][:12]} {r['title']}: last {ev.get('event')} at {ev.get('ts')}"
            )
        return 0
    print_text(f"{'plan ' if out.get('plan_hash') else ''}{out['plan_id']}"
               f"{' (' + out['plan_hash'][:12] + ')' if out.get('plan_hash') else ''}: "
               f"{out['summary']} [{out['source']}]")  # fmt: skip
    if out.get("database_error"):
        print_text(f"  database not reached: {out['database_error']}")
    for s in out["steps"]:
        extra = f" ({s['detail']})" if s.get("detail") else ""
        print_text(f"  {s['step']} [{s['phase']}] {s['title']}: {s['status']}{extra}")
    th = out.get("throttle")
    if th and th["paused"]:
        print_text(f"  {th['step']} paused: {th['reason']} (throttled for {th['waited_s']:.0f} s)")
    elif th:
        print_text(f"  last throttle: {th['step']} {th['state']} at {th['at']} ({th['pauses']} "
                   "pauses logged)")  # fmt: skip
    if pace := out.get("pace"):
        print_text(f"  pace {pace.get('state')}: {pace.get('batch_size')} rows per batch, "
                   f"{pace.get('pause_ms')} ms pause (budget {pace.get('budget_ms')} ms, "
                   f"{pace['cuts']} cuts)")  # fmt: skip
    for sample in out.get("samples", []):
        shown = ", ".join(f"{k} {v}" for k, v in sample.items() if k not in ("at", "step"))
        print_text(f"  sample {sample.get('at', '')} {sample.get('step') or ''}: {shown}")
    for c in out.get("checkpoints", []):
        if c["batches"]:
            state = "finished" if c["finished"] else "in progress"
            print_text(
                f"  checkpoint {c['operation']}: {c['rows_done']} rows, {c['batches']} batches, "
                f"last key {json.dumps(c['last_key'])} ({state})"
            )
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    from datamigration.execute.service import jsonable_result, rehearsal_action, rehearse_plan

    ws = workspace_of(args)
    plan, action = rehearsal_action(ws, _plan_id(args), args.hash, args.staging)
    require_yes(action, args.yes)
    out = jsonable_result(
        rehearse_plan(
            ws,
            plan,
            staging=args.staging,
            db=args.db,
            sample_rows=args.sample_rows,
            batch_size=args.batch_size,
            record=not args.no_record,
        )
    )
    if args.json:
        print_json(out)
        return 0 if out["rehearsal"]["passed"] else 1
    r = out["rehearsal"]
    where = "throwaway copy" if r["throwaway_copy"] else "staging"
    print_text(f"rehearsal of {out['plan_id']} on {where} {r['database']}: "
               f"{'passed' if r['passed'] else 'FAILED'} in {r['seconds']} s")  # fmt: skip
    if r["sampled_rows"]:
        print_text("  sampled rows: " + ", ".join(f"{t} {n}" for t, n in r["sampled_rows"].items()))
    for s in r["steps"]:
        print_text(f"  {s['step']}: {s['seconds']} s")
    print_text(f"  rollback of every reversible step: {r['rollback_seconds']} s")
    print_text(f"  full run after the rollback: {r['full_run_seconds']} s")
    if out["recorded"]:
        print_text(f"recorded in the plan: new hash {out['plan_hash']} (review it, then execute "
                   "with this hash)")  # fmt: skip
    return 0 if r["passed"] else 1


_TARGET_DB = "target database URL or connection name (default: the plan's)"


def _add_plan_args(
    p: argparse.ArgumentParser, hash_help: str | None, db_help: str | None = _TARGET_DB
) -> None:
    """PLAN_ID (or --plan), then --hash and --db where the command takes them."""
    p.add_argument("plan_id", nargs="?")
    p.add_argument("--plan", dest="plan_opt", help="the plan id (same as PLAN_ID)")
    if hash_help:
        p.add_argument("--hash", required=True, help=hash_help)
    if db_help:
        p.add_argument("--db", help=db_help)


def _add_confirm_args(p: argparse.ArgumentParser, yes_help: str) -> None:
    p.add_argument("--dry-run", action="store_true", help="print what would run; change nothing")
    p.add_argument("--yes", action="store_true", help=yes_help)


def register(subparsers: argparse._SubParsersAction) -> None:
    h = subparsers.add_parser(
        "rehearse",
        help="rehearse a plan on staging or a throwaway copy; record timings in the plan",
        description="Run every reversible step, roll them all back, then run the whole plan, "
        "timing each; on --staging URL, or on a throwaway copy of --db (schema + sampled rows). "
        "The timings are recorded in the plan, which gets a new hash.",
    )
    _add_plan_args(h, "the plan hash you reviewed", db_help=None)
    h.add_argument("--staging", help="staging database URL or connection name (it is changed)")
    h.add_argument("--db", help="source to copy when no --staging is given (default: the plan's)")
    h.add_argument("--sample-rows", type=int, default=10_000, help="rows per table in a copy")
    h.add_argument("--batch-size", type=int, help="override the backfill batch size")
    h.add_argument(
        "--no-record", action="store_true", help="do not write the timings into the plan"
    )
    h.add_argument("--yes", action="store_true", help="confirm: run the rehearsal")
    add_json_flag(h)
    h.set_defaults(func=cmd_rehearse)

    p = subparsers.add_parser(
        "execute",
        help="run steps of a reviewed plan (durable, resumable, confirmed)",
        description="Run a step, a phase or the rest of a stored plan, addressed by id and hash. "
        "Without --yes it only says what it would do; --dry-run prints the exact operations.",
    )
    _add_plan_args(p, "the plan hash you reviewed (12+ characters)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--step", help="run this step (earlier steps must be done)")
    scope.add_argument("--phase", help="run the remaining steps of this phase")
    scope.add_argument("--all", action="store_true", help="run every remaining step")
    _add_confirm_args(p, "confirm: carry out the steps")
    p.add_argument("--batch-size", type=int, help="override the backfill batch size")
    p.add_argument(
        "--batch-pause-ms", type=float, default=0.0, help="pause after each backfill batch (ms)"
    )
    p.add_argument(
        "--max-lag-seconds",
        type=float,
        help="pause a backfill while a standby's replay lag is above this (default: the plan's)",
    )
    p.add_argument(
        "--without-backup",
        metavar="REASON",
        help="run a step that can lose data without a verified backup (recorded on the story, "
        "posted on the bus as a warning)",
    )
    p.add_argument("--now", action="store_true",
                   help="run heavy work even outside the [windows] of datamigration.toml")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_json_flag(p)
    p.set_defaults(func=cmd_execute)

    r = subparsers.add_parser(
        "rollback",
        help="undo the current step or the whole plan (reverse order)",
        description="Run the reverse operations of the latest applied step (default), one "
        "named step, or every applied step in reverse order (--all).",
    )
    _add_plan_args(r, "the plan hash you reviewed")
    rs = r.add_mutually_exclusive_group()
    rs.add_argument("--step", help="roll back this step (it must be the latest applied)")
    rs.add_argument("--all", action="store_true", help="roll back every applied step")
    _add_confirm_args(r, "confirm: carry out the rollback")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    add_json_flag(r)
    r.set_defaults(func=cmd_rollback)

    s = subparsers.add_parser(
        "run-status",
        help="where plan runs stand: step statuses and backfill checkpoints",
        description="Without PLAN_ID: the runs with a local log. With it: each step's status and "
        "each backfill's checkpoint, read from the target database.",
    )
    _add_plan_args(s, None)
    add_json_flag(s)
    s.set_defaults(func=cmd_run_status)
