"""`datamigration flags list|get|set|rollout|rollback|eval`: the terminal face of safety/flags.

Thin: each subcommand calls one function of `datamigration.safety.flags` and prints text (or
`--json`). A rollout step changes what users get, so it needs --yes (the CLI twin of the MCP
confirmation); rollback is the kill switch and runs at once. Exit codes: 0 done, 2 bad input,
3 confirmation needed, 4 conflict/lock, 6 a gate failed (nothing written).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of
from datamigration.confirmation import Action, require_yes
from datamigration.errors import UserInputError
from datamigration.safeload import load_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flags",
        help="feature flags in flagd's JSON format: list, set, rollout 1%%->10%%->100%%, rollback",
        description="Flags live in flags/flags.flagd.json (or [flags] path in datamigration.toml), "
        "a file flagd and OpenFeature flagd providers read. Rollout steps go 1 -> 10 -> 100 "
        "percent with a gate between steps; rollback serves the old variant to everyone at once.",
    )
    sub = p.add_subparsers(dest="flags_command", metavar="{list,get,set,rollout,rollback,eval}")
    p.set_defaults(func=_list)
    add_json_flag(p)

    ls = sub.add_parser("list", help="every flag with its rollout percent")
    add_json_flag(ls)
    ls.set_defaults(func=_list)

    get = sub.add_parser("get", help="one flag")
    get.add_argument("flag", metavar="FLAG")
    add_json_flag(get)
    get.set_defaults(func=_get)

    st = sub.add_parser(
        "set",
        help="create a flag (boolean on/off, serving off) or change it",
        description="Creating a flag is safe (it serves the old variant). Changing an existing "
        "flag's state, variants or default changes what users get and needs --yes.",
    )
    st.add_argument("flag", metavar="FLAG")
    st.add_argument("--state", choices=["ENABLED", "DISABLED"])
    st.add_argument("--default-variant", metavar="VARIANT")
    st.add_argument("--variants", metavar="JSON", help='e.g. \'{"on": true, "off": false}\'')
    st.add_argument("--description", metavar="TEXT")
    st.add_argument("--yes", action="store_true", help="confirm a change to an existing flag")
    add_json_flag(st)
    st.set_defaults(func=_set)

    ro = sub.add_parser(
        "rollout",
        help="serve the new variant to N%% of targeting keys (after the gate passed)",
        description="Steps follow 1 -> 10 -> 100. Going up from a live step needs a gate: "
        "--gate RULES.yaml (validation rules that must pass) and/or --probe-url URL (a health "
        "probe: query latency and errors). A failed gate writes nothing.",
    )
    ro.add_argument("flag", metavar="FLAG")
    ro.add_argument("--percent", type=int, required=True, metavar="N")
    ro.add_argument("--gate", metavar="RULES.yaml", help="validation rules file that must pass")
    ro.add_argument("--source", metavar="URL", help="source database for the rules")
    ro.add_argument("--target", metavar="URL", help="target database for the rules")
    ro.add_argument("--probe-url", metavar="URL", help="database to health-probe")
    ro.add_argument("--probe-sql", default="SELECT 1", metavar="SQL")
    ro.add_argument("--probe-samples", type=int, default=20, metavar="N")
    ro.add_argument("--max-p95-ms", type=float, default=250.0, metavar="MS")
    ro.add_argument("--max-error-rate", type=float, default=0.0, metavar="RATE")
    ro.add_argument("--on", metavar="VARIANT", help="the new-behaviour variant (default: on)")
    ro.add_argument("--off", metavar="VARIANT", help="the old-behaviour variant (default: off)")
    ro.add_argument("--skip-steps", action="store_true", help="allow jumping past the next step")
    ro.add_argument("--ungated", action="store_true", help="go up without a gate, on purpose")
    ro.add_argument("--yes", action="store_true", help="confirm the rollout step")
    add_json_flag(ro)
    ro.set_defaults(func=_rollout)

    rb = sub.add_parser("rollback", help="serve the old variant to everyone, now")
    rb.add_argument("flag", metavar="FLAG")
    add_json_flag(rb)
    rb.set_defaults(func=_rollback)

    ev = sub.add_parser("eval", help="what flagd serves for a targeting key (flagd's hashing)")
    ev.add_argument("flag", metavar="FLAG")
    ev.add_argument("--key", required=True, metavar="TARGETING_KEY")
    ev.add_argument("--context", metavar="JSON", help="more evaluation context, as JSON")
    ev.add_argument("--algorithm", choices=["v2", "v1"], default="v2")
    add_json_flag(ev)
    ev.set_defaults(func=_eval)


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    return load_json(text, source=what, hint=f"Pass {what} as a small JSON object.")


def _line(f: dict[str, Any]) -> str:
    pct = "custom targeting" if f["percent"] is None else f"{f['percent']}%"
    state = "" if f["state"] == "ENABLED" else f" [{f['state']}]"
    return f"{f['key']}: {pct} -> {f['on_variant'] or '?'}, default {f['default_variant']}{state}"


def _list(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    out = flags.list_flags(workspace_of(args))
    if getattr(args, "json", False):
        print_json(out)
    elif not out["flags"]:
        print_text(f"no flags in {out['path']} (create one: datamigration flags set KEY)")
    else:
        print_text("\n".join([f"{out['path']}:"] + ["  " + _line(f) for f in out["flags"]]))
    return 0


def _get(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    out = flags.get_flag(workspace_of(args), args.flag)
    if args.json:
        print_json(out)
    else:
        print_text(_line(out) + "\n" + json.dumps(out["metadata"], indent=2, sort_keys=True))
    return 0


def _set(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    ws = workspace_of(args)
    variants = _json_arg(args.variants, "--variants")
    if variants is not None and not isinstance(variants, dict):
        raise UserInputError("--variants must be a JSON object of variant name -> value")
    existing = {f["key"] for f in flags.list_flags(ws)["flags"]}
    changes = {
        k: v
        for k, v in (
            ("state", args.state),
            ("defaultVariant", args.default_variant),
            ("variants", variants),
        )
        if v is not None
    }
    if args.flag in existing and changes:
        require_yes(Action("flags_set", f"change flag {args.flag!r}: {changes}", changes), args.yes)
    out = flags.set_flag(
        ws,
        args.flag,
        state=args.state,
        default_variant=args.default_variant,
        variants=variants,
        description=args.description,
    )
    if args.json:
        print_json(out)
    else:
        verb = "created" if out["created"] else "updated"
        print_text(f"{verb} in {out['path']}: {_line(out['flag'])}")
    return 0


def _rollout(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    ws = workspace_of(args)
    plan = flags.plan_rollout(
        ws, args.flag, args.percent, allow_skip=args.skip_steps, on=args.on, off=args.off
    )
    require_yes(Action("flags_rollout", plan.summary(), plan.payload()), args.yes)
    gate = flags.Gate(
        rules=args.gate,
        source=args.source,
        target=args.target,
        probe_url=args.probe_url,
        probe_sql=args.probe_sql,
        probe_samples=args.probe_samples,
        max_p95_ms=args.max_p95_ms,
        max_error_rate=args.max_error_rate,
    )
    out = flags.rollout(
        ws,
        args.flag,
        args.percent,
        gate=gate,
        ungated=args.ungated,
        allow_skip=args.skip_steps,
        on=args.on,
        off=args.off,
    )
    if args.json:
        print_json(out)
        return 0
    head = (
        f"{out['flag']}: {out['from_percent']}% -> {out['to_percent']}% in {out['path']} "
        f"(measured: {out['measured_share']:.2%} of {out['share_sample']} sample keys get the "
        "new variant)"
    )
    lines = [head]
    lines += [
        f"  gate {'ok  ' if c['passed'] else 'FAIL'} {c['name']}: {c['detail']}"
        for c in out["gate"]
    ]
    if not out["gate"]:
        lines.append("  gate: none (first step or --ungated)")
    print_text("\n".join(lines))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    out = flags.rollback(workspace_of(args), args.flag)
    if args.json:
        print_json(out)
    else:
        before = "custom targeting" if out["from_percent"] is None else f"{out['from_percent']}%"
        print_text(
            f"{out['flag']}: rolled back from {before} to 0% in {out['seconds'] * 1000:.1f} ms; "
            f"every key now gets {out['serving']!r} ({out['path']})"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from datamigration.safety import flags

    context = _json_arg(args.context, "--context") or {}
    if not isinstance(context, dict):
        raise UserInputError("--context must be a JSON object")
    context["targetingKey"] = args.key
    out = flags.evaluate(workspace_of(args), args.flag, context, algorithm=args.algorithm)
    if args.json:
        print_json(out)
    else:
        print_text(f"{out['flag']} for {args.key!r}: {out['variant']} ({out['reason']})")
    return 0 if out["reason"] != "ERROR" else 1
