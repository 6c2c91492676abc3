"""SOC shorthand that no ATT&CK or control name contains ("rdp", "mimikatz", "mfa fatigue").

The shipped list is ``data/aliases.yaml``; admins add their own files through the
``alias_files`` setting.  Files are validated up front so a typo fails at start-up with the
file and entry named, rather than silently never matching.

File shape::

    abbreviations:            # a word → the words it stands for, applied before matching
      exfil: exfiltration
    aliases:
      - terms: [rdp]          # one or more phrases
        technique: T1021.001  # or: framework: aws + capability: aws_key_management_service
        quote: "Remote Desktop Protocol (RDP)"   # optional: the ATT&CK text that supports it
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from countermap_data import shipped

from bot.config import ALL_FRAMEWORKS, ConfigError, Settings

DEFAULT_ALIAS_FILE: Traversable = shipped("aliases.yaml")

_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?")
_KEYS = {"terms", "technique", "framework", "capability", "quote", "note"}


class AliasError(ConfigError):
    """An alias file is unreadable or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Alias:
    term: str
    kind: str  # "technique" | "capability"
    id: str
    framework: str | None = None
    quote: str | None = None
    source: str = ""


@dataclass(frozen=True)
class AliasSet:
    aliases: tuple[Alias, ...] = ()
    abbreviations: dict[str, str] = field(default_factory=dict)

    def __add__(self, other: AliasSet) -> AliasSet:
        return AliasSet(self.aliases + other.aliases, {**self.abbreviations, **other.abbreviations})


def _strings(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise AliasError(f"{where}: 'terms' must be a phrase or a non-empty list of phrases")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise AliasError(f"{where}: every term must be a non-empty string, not {item!r}")
        if len(item) > 100:
            raise AliasError(f"{where}: term {item[:30]!r}… is longer than 100 characters")
        out.append(" ".join(item.split()))
    return out


def parse_aliases(raw: Any, source: str) -> AliasSet:
    """Validate one parsed YAML document; raises ``AliasError`` naming the first problem."""
    if raw is None:
        return AliasSet()
    if not isinstance(raw, dict):
        raise AliasError(f"{source}: expected a mapping with 'aliases' and/or 'abbreviations'")
    unknown = set(raw) - {"aliases", "abbreviations"}
    if unknown:
        raise AliasError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; use 'aliases', 'abbreviations'"
        )
    abbreviations: dict[str, str] = {}
    abbr = raw.get("abbreviations") or {}
    if not isinstance(abbr, dict):
        raise AliasError(f"{source}: 'abbreviations' must map a word to the words it stands for")
    for word, meaning in abbr.items():
        if not isinstance(word, str) or not re.fullmatch(r"[A-Za-z0-9]+", word):
            raise AliasError(f"{source}: abbreviation {word!r} must be a single word of letters and digits")
        if not isinstance(meaning, str) or not meaning.strip():
            raise AliasError(f"{source}: abbreviation {word!r} needs the words it stands for")
        abbreviations[word.lower()] = " ".join(meaning.split())
    entries = raw.get("aliases") or []
    if not isinstance(entries, list):
        raise AliasError(f"{source}: 'aliases' must be a list of entries")
    out: list[Alias] = []
    seen: dict[str, str] = {}
    for n, entry in enumerate(entries, 1):
        where = f"{source}: alias #{n}"
        if not isinstance(entry, dict):
            raise AliasError(f"{where}: expected a mapping with 'terms' and a target")
        extra = set(entry) - _KEYS
        if extra:
            raise AliasError(f"{where}: unknown key(s) {sorted(extra)}")
        terms = _strings(entry.get("terms"), where)
        where = f"{where} ({terms[0]!r})"
        quote = entry.get("quote")
        if quote is not None and not isinstance(quote, str):
            raise AliasError(f"{where}: 'quote' must be text")
        if "technique" in entry:
            if "capability" in entry or "framework" in entry:
                raise AliasError(f"{where}: give either 'technique' or 'framework' + 'capability', not both")
            tid = str(entry["technique"]).strip().upper()
            if not _TECHNIQUE_ID.fullmatch(tid):
                raise AliasError(
                    f"{where}: {entry['technique']!r} is not a technique ID like T1021 or T1021.001"
                )
            kind, target, framework = "technique", tid, None
        elif "capability" in entry:
            framework = entry.get("framework")
            if framework not in ALL_FRAMEWORKS:
                raise AliasError(f"{where}: 'framework' must be one of {', '.join(ALL_FRAMEWORKS)}")
            target = str(entry["capability"]).strip()
            if not target:
                raise AliasError(f"{where}: 'capability' is empty")
            kind = "capability"
        else:
            raise AliasError(f"{where}: needs a target: 'technique' or 'framework' + 'capability'")
        for term in terms:
            # one phrase may name one technique, or one capability per framework ("kms")
            key = f"{term.casefold()}|{framework or 'attack'}"
            label = f"{framework}:{target}" if framework else target
            if seen.get(key, label) != label:
                raise AliasError(f"{where}: {term!r} already points at {seen[key]} in this file")
            seen[key] = label
            out.append(Alias(term, kind, target, framework, quote, source))
    return AliasSet(tuple(out), abbreviations)


def read_alias_file(path: Traversable) -> AliasSet:
    import yaml  # noqa: PLC0415 - only an index build reads alias files (a cached index saves ~18 ms)

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AliasError(f"{path}: cannot read alias file: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise AliasError(f"{path}: not valid YAML: {exc}") from exc
    return parse_aliases(raw, str(path))


def load_aliases(settings: Settings | None = None, *, extra_files: Iterable[Traversable] = ()) -> AliasSet:
    """The shipped aliases plus the admins' files (later files win on abbreviations)."""
    files = [DEFAULT_ALIAS_FILE, *(settings.alias_files if settings else ()), *extra_files]
    result = AliasSet()
    for path in files:
        result = result + read_alias_file(path)
    return result
