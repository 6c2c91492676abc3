"""``countermap inventory``: the team's own controls, from the terminal (import, export, list, ...)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import add_output_options, engine_from, settings_from
from bot.inventory.service import InventoryService, Outcome
from bot.render.inventory import inventory_plain
from bot.resolve.aliases import load_aliases
from store.state.inventory import WORKSPACE, audit_trail


def register(sub: Any) -> None:
    p = sub.add_parser(
        "inventory",
        help="the team's own controls: list, add, remove, clear, import, export, history",
        description="Manage the control inventory that coverage and gap answers use. The workspace "
        "inventory applies to every channel; --channel keeps a channel's own, which overrides it.",
    )
    isub = p.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)

    def scoped(name: str, help_: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = isub.add_parser(name, help=help_)
        q.add_argument("--team", required=True, metavar="T…", help="Slack team (workspace) ID")
        q.add_argument("--channel", metavar="C…", help="a channel's own inventory (default: the workspace's)")
        add_output_options(q)
        return q

    q = scoped("list", "what the inventory holds (a channel falls back to the workspace's)")
    q.set_defaults(func=run_inventory)
    for verb, help_ in (
        ("add", "add controls (IDs; 'planned' marks them planned)"),
        ("remove", "remove controls"),
    ):
        q = scoped(verb, help_)
        q.add_argument(
            "ids", nargs="+", metavar="ID", help="e.g. SC-07 nist:SI-04 DEF-ATH-E5 amazon_guardduty"
        )
        q.add_argument("--user", help="who made the change, for the audit trail")
        q.set_defaults(func=run_inventory)
    q = scoped("clear", "remove every control")
    q.add_argument("--user", help="who made the change, for the audit trail")
    q.set_defaults(func=run_inventory)
    q = scoped("import", "replace the inventory with a CSV or YAML file (all or nothing)")
    q.add_argument("file", help="CSV (columns id, framework, status) or YAML; - for stdin")
    q.add_argument("--user", help="who made the change, for the audit trail")
    q.set_defaults(func=run_inventory)
    q = scoped("export", "write the inventory as CSV or YAML (import reads it back)")
    q.add_argument("--format", choices=("csv", "yaml"), default="csv")
    q.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    q.set_defaults(func=run_inventory)
    q = scoped("history", "the audit trail: who changed what, and when")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(func=run_inventory)


def _outcome_json(o: Outcome) -> dict[str, Any]:
    def ctl(c: Any) -> dict[str, str]:
        return {
            "framework": c.framework,
            "id": c.capability_id,
            "status": c.status,
            "name": o.names.get(c.key, ""),
        }

    out: dict[str, Any] = {"action": o.action, "team": o.team_id, "channel": o.channel_id or None, "ok": o.ok}
    if o.error:
        out["error"] = o.error
    if o.problems:
        out["problems"] = [
            {"typed": p.typed, "reason": p.reason, "suggestions": list(p.suggestions), "row": p.row}
            for p in o.problems
        ]
    if o.result:
        r = o.result
        out.update(
            added=[ctl(c) for c in r.added],
            updated=[ctl(c) for c in r.updated],
            removed=[ctl(c) for c in r.removed],
            unchanged=[ctl(c) for c in r.unchanged],
            version=r.version,
        )
    if o.action == "list":
        inv = o.inventory
        out["scope"] = None if inv is None else ("channel" if inv.is_channel else "workspace")
        out["controls"] = [ctl(c) for c in inv.controls] if inv else []
    return out


def run_inventory(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    engine = engine_from(args)
    service = InventoryService(engine, load_aliases(settings))
    team, channel = args.team, args.channel or WORKSPACE
    verb = args.inventory_command
    user = getattr(args, "user", None)
    if verb == "export":
        text = service.export(team, channel, args.format)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if verb == "history":
        lines = audit_trail(engine, team, channel, limit=max(1, args.limit))
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "at": a.at.isoformat(),
                            "user": a.user_id,
                            "action": a.action,
                            "framework": a.framework,
                            "id": a.capability_id,
                            "status": a.status,
                            "detail": a.detail,
                        }
                        for a in lines
                    ]
                )
            )
        else:
            for a in lines:
                what = f"{a.framework}:{a.capability_id}" if a.capability_id else (a.detail or "")
                print(f"{a.at:%Y-%m-%d %H:%M:%S}  {a.user_id or '-':<12} {a.action:<7} {what}")
        return 0
    if verb == "list":
        outcome = service.listing(team, args.channel)
    elif verb == "add":
        outcome = service.add(team, channel, _joined(args.ids), user)
    elif verb == "remove":
        outcome = service.remove(team, channel, _joined(args.ids), user)
    elif verb == "clear":
        outcome = service.clear(team, channel, user)
    else:
        try:
            data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        except OSError as exc:
            print(f"countermap: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        outcome = service.import_file(
            team, channel, data, "stdin" if args.file == "-" else Path(args.file).name, user
        )
    if args.json:
        print(json.dumps(_outcome_json(outcome)))
    else:
        print(inventory_plain(outcome), file=sys.stdout if outcome.ok else sys.stderr)
    return 0 if outcome.ok else 1


def _joined(ids: list[str]) -> str:
    """Shell arguments back into command text; one with spaces (a VERIS path, a name) stays one."""
    return " ".join(f'"{a}"' if any(ch.isspace() for ch in a) else a for a in ids)
