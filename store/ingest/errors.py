"""What an ingest run reports: problems that abort it, and the summary of what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileResult", "IngestError", "IngestReport", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be loaded: the file, the place inside it and why."""

    path: str
    place: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.place}: {self.reason}" if self.place else f"{self.path}: {self.reason}"


class IngestError(Exception):
    """The run loaded nothing, because of these problems (every bad file is listed)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FileProblem(Exception):
    """Raised inside the parsers; the caller adds the file name."""

    def __init__(self, place: str, reason: str) -> None:
        super().__init__(f"{place}: {reason}")
        self.place = place
        self.reason = reason


@dataclass(frozen=True)
class FileResult:
    path: str
    kind: str  # mapping | attack | descriptions | skipped
    key: str  # release key, ATT&CK domain, description source; or why skipped
    action: str  # loaded | replaced | unchanged | duplicate | skipped
    rows: int = 0


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    mappings_inserted: int = 0
    releases_changed: list[str] = field(default_factory=list)
    attack_domains_changed: list[str] = field(default_factory=list)
    description_sources_changed: list[str] = field(default_factory=list)
    # ATT&CK objects of types not loaded, per domain and type; links to missing objects.
    attack_skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    attack_warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.releases_changed or self.attack_domains_changed or self.description_sources_changed)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values (``countermap ingest --json``)."""
        return {
            "changed": self.changed,
            "files": [
                {"path": f.path, "kind": f.kind, "key": f.key, "action": f.action, "rows": f.rows}
                for f in self.files
            ],
            "mappings_inserted": self.mappings_inserted,
            "releases_changed": self.releases_changed,
            "attack_domains_changed": self.attack_domains_changed,
            "description_sources_changed": self.description_sources_changed,
            "attack_skipped": self.attack_skipped,
            "attack_warnings": self.attack_warnings,
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
        }

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    def summary(self) -> str:
        loaded = self.count("loaded") + self.count("replaced")
        parts = [
            f"{loaded} file(s) loaded",
            f"{self.count('unchanged')} unchanged",
        ]
        if self.count("duplicate"):
            parts.append(f"{self.count('duplicate')} duplicate(s)")
        if self.count("skipped"):
            parts.append(f"{self.count('skipped')} skipped (not data files; -v lists them)")
        parts.append(f"{self.mappings_inserted} mapping rows written")
        skipped = sum(n for per in self.attack_skipped.values() for n in per.values())
        if skipped:
            parts.append(f"{skipped} ATT&CK object(s) of types not loaded skipped")
        if self.attack_warnings:
            parts.append(f"{len(self.attack_warnings)} ATT&CK warning(s) (links to missing objects)")
        return ", ".join(parts) + f" in {self.seconds:.2f} s"


def display_path(path: Path) -> str:
    return str(path)
