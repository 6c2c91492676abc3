"""Inventory files: CSV (any of , ; tab, a BOM, quotes, empty columns) and YAML, read within bounds.

A file is parsed whole before anything is checked or stored, and any problem names the row, so an
import either replaces the inventory completely or leaves it as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import yaml

from bot.inventory.checker import Wanted
from store.state.inventory import STATUSES, Control, Status

MAX_BYTES = 5_000_000
MAX_YAML_BYTES = 1_000_000  # pure-Python YAML (aliases refused) reads ~1 MB/s
MAX_ROWS = 50_000
MAX_YAML_NODES = 200_000

ID_COLUMNS = ("id", "control", "control_id", "capability", "capability_id", "capability id", "control id")
FRAMEWORK_COLUMNS = ("framework", "mapping_framework")
STATUS_COLUMNS = ("status", "state")


class InventoryFileError(ValueError):
    """The file cannot be read as an inventory; the message says where and why."""


def _text(data: bytes, name: str) -> str:
    if len(data) > MAX_BYTES:
        raise InventoryFileError(
            f"{name}: {len(data):,} bytes is more than the {MAX_BYTES:,} an inventory may have"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None


def _status(value: str, where: str) -> Status:
    word = value.strip().lower() or "deployed"
    if word not in STATUSES:
        raise InventoryFileError(
            f"{where}: status `{value.strip()[:40]}` is not one of {', '.join(STATUSES)}"
        )
    return "planned" if word == "planned" else "deployed"


def parse_inventory_file(data: bytes, name: str) -> list[Wanted]:
    """Rows of a CSV or YAML inventory, by the file's name or, failing that, its content."""
    text = _text(data, name)
    lower = name.lower()
    if lower.endswith((".yaml", ".yml")):
        return _yaml_rows(text, name)
    if lower.endswith((".csv", ".tsv", ".txt")):
        return _csv_rows(text, name)
    stripped = text.lstrip()
    if stripped.startswith(("-", "controls:", "{", "[")) or ":" in stripped.split("\n", 1)[0]:
        return _yaml_rows(text, name)
    return _csv_rows(text, name)


def _csv_rows(text: str, name: str) -> list[Wanted]:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [(n, [c.strip() for c in r]) for n, r in enumerate(reader, 1) if any(c.strip() for c in r)]
    if not rows:
        raise InventoryFileError(f"{name}: no rows")
    if len(rows) > MAX_ROWS + 1:
        raise InventoryFileError(
            f"{name}: {len(rows):,} rows is more than the {MAX_ROWS:,} an inventory may have"
        )
    header = [c.lower().lstrip("#").strip() for c in rows[0][1]]
    id_col = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    fw_col = next((header.index(c) for c in FRAMEWORK_COLUMNS if c in header), None)
    st_col = next((header.index(c) for c in STATUS_COLUMNS if c in header), None)
    if id_col is not None:
        body = rows[1:]
    else:
        if any(h in header for h in FRAMEWORK_COLUMNS + STATUS_COLUMNS):
            raise InventoryFileError(
                f"{name}: row 1 has no ID column (name one of: {', '.join(ID_COLUMNS[:4])})"
            )
        body, id_col = rows, 0
    out = []
    for n, cells in body:

        def cell(i: int | None, cells: list[str] = cells) -> str:
            return cells[i] if i is not None and i < len(cells) else ""

        ident = cell(id_col)
        if not ident:
            if any(cells):
                raise InventoryFileError(f"{name}: row {n}: the ID column is empty")
            continue
        status: Status = _status(cell(st_col), f"{name}: row {n}") if st_col is not None else "deployed"
        if st_col is None and fw_col is None and len(cells) > 1 and cells[1].lower() in STATUSES:
            status = _status(cells[1], f"{name}: row {n}")
        out.append(Wanted(ident, cell(fw_col) or None, status, n))
    return out


class _BoundedLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases (the "billion laughs" shape) and with a node budget."""

    nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise InventoryFileError(
                f"line {event.start_mark.line + 1}: YAML aliases are not allowed in an inventory"
            )
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise InventoryFileError(f"more than {MAX_YAML_NODES:,} YAML nodes")
        return super().compose_node(parent, index)


def _yaml_rows(text: str, name: str) -> list[Wanted]:
    if len(text) > MAX_YAML_BYTES:
        raise InventoryFileError(
            f"{name}: a YAML inventory may have {MAX_YAML_BYTES:,} characters at most; use CSV for more"
        )
    try:
        doc = yaml.load(text, Loader=_BoundedLoader)
    except InventoryFileError as exc:
        raise InventoryFileError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InventoryFileError(
            f"{name}:{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"
        ) from None
    if isinstance(doc, dict) and "controls" in doc:
        doc = doc["controls"]
    out: list[Wanted] = []
    if isinstance(doc, dict):  # {framework: [ids]} or {framework: {status: [ids]}}
        for fw, ids in doc.items():
            if isinstance(ids, dict):
                for st, group in ids.items():
                    out.extend(_yaml_list(group, name, str(fw), _status(str(st), f"{name}: {fw}")))
            else:
                out.extend(_yaml_list(ids, name, str(fw), "deployed"))
    elif isinstance(doc, list):
        out.extend(_yaml_list(doc, name, None, "deployed"))
    else:
        raise InventoryFileError(f"{name}: expected a list of controls or a `controls:` key")
    if len(out) > MAX_ROWS:
        raise InventoryFileError(
            f"{name}: {len(out):,} entries is more than the {MAX_ROWS:,} an inventory may have"
        )
    return out


def _yaml_list(items: Any, name: str, framework: str | None, status: Status) -> Iterable[Wanted]:
    if isinstance(items, str | int | float):
        items = [items]
    if not isinstance(items, list):
        raise InventoryFileError(f"{name}: {framework or 'controls'}: expected a list of IDs")
    for n, item in enumerate(items, 1):
        where = f"{name}: {framework + ' ' if framework else ''}entry {n}"
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            yield Wanted(str(item), framework, status, n)
        elif isinstance(item, dict):
            ident = next((item[k] for k in ID_COLUMNS if k in item), None)
            if not isinstance(ident, str | int) or not str(ident).strip():
                raise InventoryFileError(f"{where}: needs an `id`")
            fw = item.get("framework", framework)
            st = _status(str(item["status"]), where) if "status" in item else status
            yield Wanted(str(ident), str(fw) if fw else None, st, n)
        else:
            raise InventoryFileError(f"{where}: expected an ID or a mapping with `id`")


def export_csv(controls: Iterable[Control], names: dict[tuple[str, str], str]) -> str:
    """The inventory as CSV that ``import`` reads back as the same inventory."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["framework", "id", "status", "name"])
    for c in sorted(controls):
        writer.writerow([c.framework, c.capability_id, c.status, names.get(c.key, "")])
    return buf.getvalue()


def export_yaml(controls: Iterable[Control]) -> str:
    grouped: dict[str, dict[str, list[str]]] = {}
    for c in sorted(controls):
        grouped.setdefault(c.framework, {}).setdefault(c.status, []).append(c.capability_id)
    return yaml.safe_dump({"controls": grouped}, sort_keys=True, allow_unicode=True)
