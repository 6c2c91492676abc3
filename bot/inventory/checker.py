"""Turn what a team types or imports (``SC-7``, ``nist:SC-07``, ``DEF-ATH``, ``"Safe Links"``) into
controls the data knows, or into a clear refusal with a did-you-mean.

Nothing is stored unless every ID checks out, so the checker answers for a whole list at once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bot.config import ALL_FRAMEWORKS
from bot.resolve.aliases import AliasSet
from bot.resolve.vocab import FRAMEWORK_PHRASES
from store.ids import canonical_capability_id
from store.reads.controls import KnownControl
from store.state.inventory import Control, Status

# Frameworks whose "capabilities" are not controls a team deploys.
NOT_CONTROLS = {
    "kev": "is a vulnerability in CISA's KEV catalogue, not a control",
    "veris": "is a VERIS incident category, not a control",
}

# Framework words as questions use them, plus every key as written (``nist:SC-07``, ``ccm:A&A-01``).
FRAMEWORK_WORDS: dict[str, str] = {**{key: key for key in ALL_FRAMEWORKS}, **FRAMEWORK_PHRASES}

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_TOKEN = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^\s,;]+)')
MAX_TOKEN = 200
_VENDOR = re.compile(r"^(?:amazon|aws|azure|microsoft|google|gcp|intel)[\s_-]+")


def split_ids(text: str) -> list[str]:
    """IDs separated by spaces, commas or semicolons; quotes keep a name with spaces together
    (Slack's curly quotes too)."""
    out = []
    for m in _TOKEN.finditer(text.translate(_QUOTES)):
        token = next(g for g in m.groups() if g is not None).strip()
        if token:
            out.append(token)
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one typed ID was not taken, with the IDs it may have meant."""

    typed: str
    reason: str
    suggestions: tuple[str, ...] = ()
    row: int | None = None  # the import row, when it came from a file


@dataclass(frozen=True, slots=True)
class Checked:
    controls: tuple[Control, ...] = ()
    problems: tuple[Problem, ...] = ()
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.controls)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One ID to check, as typed or as one row of an import file."""

    text: str
    framework: str | None = None  # a framework column or ``nist:`` prefix
    status: Status = "deployed"
    row: int | None = None


class ControlChecker:
    """Built once per data version from every capability the store knows."""

    def __init__(self, known: Iterable[KnownControl], aliases: AliasSet | None = None) -> None:
        self._by_key: dict[tuple[str, str], KnownControl] = {}
        self._by_id: dict[str, list[KnownControl]] = defaultdict(list)
        self._by_name: dict[str, list[KnownControl]] = defaultdict(list)
        for k in known:
            self._by_key[(k.framework, k.capability_id)] = k
            self._by_id[k.capability_id.lower()].append(k)
            if k.id_as_written.lower() != k.capability_id.lower():
                self._by_id[k.id_as_written.lower()].append(k)
            if k.name:
                self._by_name[k.name.lower()].append(k)
        self._aliases: dict[str, list[KnownControl]] = defaultdict(list)
        for alias in aliases.aliases if aliases else ():
            if alias.kind == "capability" and alias.framework:
                hit = self._by_key.get((alias.framework, alias.id))
                if hit:
                    self._aliases[alias.term.lower()].append(hit)
        self._short: dict[str, list[KnownControl]] = defaultdict(list)
        for k in self._by_key.values():
            for form in (k.capability_id.lower(), k.name.lower()):
                short = _VENDOR.sub("", form).replace("_", " ").strip()
                if short and short != form and k not in self._short[short]:
                    self._short[short].append(k)
        self._choices = sorted(set(self._by_id) | set(self._by_name))
        self.frameworks = frozenset(k.framework for k in self._by_key.values())

    def name_of(self, framework: str, capability_id: str) -> str:
        hit = self._by_key.get((framework, capability_id))
        return hit.name if hit else ""

    def exists(self, framework: str, capability_id: str) -> bool:
        return (framework, capability_id) in self._by_key

    def check(self, wanted: Sequence[Wanted]) -> Checked:
        controls: list[Control] = []
        problems: list[Problem] = []
        names: dict[tuple[str, str], str] = {}
        for w in wanted:
            found = self._one(w)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                controls.append(Control(found.framework, found.capability_id, w.status))
                names[(found.framework, found.capability_id)] = found.name
        return Checked(tuple(controls), tuple(problems), names)

    def _one(self, w: Wanted) -> KnownControl | Problem:
        typed = w.text.strip()[:MAX_TOKEN]
        framework = w.framework
        if framework is None and ":" in typed and not typed.lower().startswith(("http:", "https:")):
            prefix, rest = typed.split(":", 1)
            if prefix.strip().lower() in FRAMEWORK_WORDS:
                framework, typed = FRAMEWORK_WORDS[prefix.strip().lower()], rest.strip()
        if framework is not None:
            key = FRAMEWORK_WORDS.get(framework.strip().lower(), framework.strip().lower())
            if key not in self.frameworks:
                known = ", ".join(sorted(self.frameworks))
                return Problem(w.text, f"unknown framework `{framework}` (known: {known})", row=w.row)
            framework = key
        if not typed:
            return Problem(w.text, "empty ID", row=w.row)
        candidates = self._candidates(typed, framework)
        if framework is not None:
            candidates = [c for c in candidates if c.framework == framework]
        unique = list({(c.framework, c.capability_id): c for c in candidates}.values())
        if len(unique) == 1:
            hit = unique[0]
            if hit.framework in NOT_CONTROLS:
                return Problem(w.text, NOT_CONTROLS[hit.framework], row=w.row)
            return hit
        if len(unique) > 1:
            options = tuple(f"{c.framework}:{c.capability_id}" for c in unique)
            return Problem(w.text, "exists in several frameworks; say which one", options, row=w.row)
        return Problem(w.text, "not a control in the loaded data", self._suggest(typed, framework), w.row)

    def _candidates(self, typed: str, framework: str | None) -> list[KnownControl]:
        lower = typed.lower()
        exact = list(self._by_id.get(lower, ()))
        frameworks = [framework] if framework else sorted(self.frameworks)
        for fw in frameworks:
            canonical = canonical_capability_id(fw, typed)
            hit = self._by_key.get((fw, canonical))
            if hit and hit not in exact:
                exact.append(hit)
        if exact:
            return exact
        named = self._by_name.get(lower) or self._aliases.get(lower)
        if named:
            return list(named)
        # Product words without the vendor: guardduty → amazon_guardduty, "firewall" → azure_firewall.
        short = self._short.get(_VENDOR.sub("", lower).replace("_", " ").strip())
        if short:
            return list(short)
        # M365 IDs without their licence tier: DEF-ATH → DEF-ATH-E5, when only one tier exists.
        tiered = [
            k
            for k in self._by_key.values()
            if k.framework == "m365" and k.capability_id.lower().rsplit("-", 1)[0] == lower
        ]
        return tiered

    def _suggest(self, typed: str, framework: str | None) -> tuple[str, ...]:
        hits = process.extract(typed.lower(), self._choices, scorer=fuzz.WRatio, limit=12, score_cutoff=60)
        out: list[str] = []
        for choice, _score, _ in hits:
            for k in self._by_id.get(choice, []) + self._by_name.get(choice, []):
                if (framework and k.framework != framework) or k.framework in NOT_CONTROLS:
                    continue
                label = k.capability_id
                if label not in out:
                    out.append(label)
            if len(out) >= 3:
                break
        return tuple(out[:3])
