"""Inventory operations as the Slack command, App Home and the CLI use them: check, then store.

Every ID is checked against the loaded data before anything is written; one unknown ID refuses the
whole change with a did-you-mean, so an inventory is never half-updated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.inventory.checker import ControlChecker, Problem, Wanted, split_ids
from bot.inventory.files import InventoryFileError, export_csv, export_yaml, parse_inventory_file
from bot.resolve.aliases import AliasSet
from store.db import Engine
from store.reads.scope import reads
from store.state import inventory as store_inventory
from store.state.inventory import WORKSPACE, ChangeResult, Control, Inventory, Status

APPLICABLE_SECONDS = 2.0  # how stale another process's inventory change may be on an answer

Action = Literal["add", "remove", "clear", "import", "list"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an inventory command did (or why it did nothing), for render."""

    action: Action
    team_id: str
    channel_id: str  # WORKSPACE or a channel
    result: ChangeResult | None = None
    problems: tuple[Problem, ...] = ()
    error: str | None = None
    inventory: Inventory | None = None
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems


class InventoryService:
    """One per process.  The checker is rebuilt when the loaded data changes."""

    def __init__(
        self, engine: Engine, aliases: AliasSet | None = None, version: Callable[[], str | None] | None = None
    ) -> None:
        self.engine = engine
        self.aliases = aliases
        self._version_of = version
        self._checker: ControlChecker | None = None
        self._checker_version: str | None = None
        self._lock = threading.Lock()
        self._applicable: dict[tuple[str, str], tuple[tuple[int, int], Inventory | None, float]] = {}

    def checker(self) -> ControlChecker:
        with self._lock:
            version = self._version_of() if self._version_of else None
            if self._checker is not None and version is not None and version == self._checker_version:
                return self._checker
            with reads(self.engine) as data:
                if version is None:
                    version = data.data_version()
                if self._checker is None or version != self._checker_version:
                    self._checker = ControlChecker(data.known_controls(), self.aliases)
                    self._checker_version = version
            return self._checker

    # ------------------------------------------------------------------ changes

    def add(self, team_id: str, channel_id: str, text: str, user_id: str | None) -> Outcome:
        status, tokens = _status_and_ids(text)
        if not tokens:
            return Outcome(
                "add", team_id, channel_id, error="Name the controls to add, e.g. `SC-07 amazon_guardduty`."
            )
        checked = self.checker().check([Wanted(t, None, status) for t in tokens])
        if checked.problems:
            return Outcome("add", team_id, channel_id, problems=checked.problems)
        result = store_inventory.add_controls(self.engine, team_id, channel_id, checked.controls, user_id)
        self._changed()
        return Outcome("add", team_id, channel_id, result, names=checked.names)

    def remove(self, team_id: str, channel_id: str, text: str, user_id: str | None) -> Outcome:
        _status, tokens = _status_and_ids(text)
        if not tokens:
            return Outcome("remove", team_id, channel_id, error="Name the controls to remove.")
        checker = self.checker()
        current = store_inventory.inventory(self.engine, team_id, channel_id)
        checked = checker.check([Wanted(t) for t in tokens])
        problems = list(checked.problems)
        have = {c.key for c in current.controls}
        keys = []
        for c in checked.controls:
            if c.key in have:
                keys.append(c.key)
            else:
                problems.append(Problem(c.capability_id, "is not in this inventory"))
        if problems:
            return Outcome("remove", team_id, channel_id, problems=tuple(problems))
        result = store_inventory.remove_controls(self.engine, team_id, channel_id, keys, user_id)
        self._changed()
        return Outcome("remove", team_id, channel_id, result, names=checked.names)

    def clear(self, team_id: str, channel_id: str, user_id: str | None) -> Outcome:
        result = store_inventory.replace_inventory(
            self.engine, team_id, channel_id, (), user_id, action="clear"
        )
        self._changed()
        return Outcome("clear", team_id, channel_id, result)

    def import_file(
        self, team_id: str, channel_id: str, data: bytes, name: str, user_id: str | None
    ) -> Outcome:
        """Replace the inventory with the file's controls, or change nothing and say why."""
        try:
            rows = parse_inventory_file(data, name)
        except InventoryFileError as exc:
            return Outcome("import", team_id, channel_id, error=str(exc))
        if not rows:
            return Outcome("import", team_id, channel_id, error=f"{name}: no controls in the file")
        checked = self.checker().check(rows)
        if checked.problems:
            return Outcome("import", team_id, channel_id, problems=checked.problems)
        result = store_inventory.replace_inventory(
            self.engine, team_id, channel_id, checked.controls, user_id, detail=f"from {name[:200]}"
        )
        self._changed()
        return Outcome("import", team_id, channel_id, result, names=checked.names)

    # ------------------------------------------------------------------ reads

    def listing(self, team_id: str, channel_id: str | None) -> Outcome:
        """The inventory that applies here: the channel's own, else the workspace's."""
        inv = store_inventory.effective_inventory(self.engine, team_id, channel_id)
        names = self._names(inv.controls) if inv else {}
        return Outcome("list", team_id, inv.channel_id if inv else WORKSPACE, inventory=inv, names=names)

    def effective(self, team_id: str, channel_id: str | None) -> Inventory | None:
        return store_inventory.effective_inventory(self.engine, team_id, channel_id)

    def applicable(self, team_id: str | None, channel_id: str | None) -> Inventory | None:
        """The inventory an answer here is marked against: the scopes' versions are read at most
        every ``APPLICABLE_SECONDS`` per channel (one small read; every message paid ~2.6 ms of CPU
        for it in bench/http.py), and the inventory itself only when a version moved."""
        if not team_id:
            return None
        key = (team_id, channel_id or "")
        now = time.monotonic()
        with self._lock:
            hit = self._applicable.get(key)
        if hit is not None and now - hit[2] < APPLICABLE_SECONDS:
            return hit[1]
        versions = store_inventory.inventory_versions(self.engine, team_id, channel_id)
        if hit is not None and hit[0] == versions:
            found = hit[1]
        else:
            found = None if versions == (0, 0) else self.effective(team_id, channel_id)
        with self._lock:
            if len(self._applicable) > 4096:
                self._applicable.clear()
            self._applicable[key] = (versions, found, now)
        return found

    def _changed(self) -> None:
        """A change made here holds on this process's next message at once (others within
        ``APPLICABLE_SECONDS``)."""
        with self._lock:
            self._applicable.clear()

    def export(self, team_id: str, channel_id: str, fmt: Literal["csv", "yaml"] = "csv") -> str:
        inv = store_inventory.inventory(self.engine, team_id, channel_id)
        if fmt == "yaml":
            return export_yaml(inv.controls)
        return export_csv(inv.controls, self._names(inv.controls))

    def _names(self, controls: Sequence[Control]) -> dict[tuple[str, str], str]:
        checker = self.checker()
        return {c.key: checker.name_of(*c.key) for c in controls}


def _status_and_ids(text: str) -> tuple[Status, list[str]]:
    """``planned SC-07 SI-04`` / ``SC-07 --planned``: one status word applies to every ID."""
    status: Status = "deployed"
    tokens = []
    for token in split_ids(text):
        word = token.lower().lstrip("-")
        if word in ("planned", "deployed"):
            status = "planned" if word == "planned" else "deployed"
        else:
            tokens.append(token)
    return status, tokens
