"""Text → Resolution: IDs first, then the words that steer (frameworks, filters, intent),
then names in what is left.

Every stage blanks the characters it consumed, so "aws controls for credential dumping"
becomes framework ``aws`` plus the name query "credential dumping", and an ID's digits are
never matched again as a name.  Pure: no I/O, and no exception escapes ``resolve``.
"""

from __future__ import annotations

import logging
import re

from bot.resolution import (
    AttackObjectHit,
    CapabilityHit,
    GroupHit,
    Intent,
    Resolution,
    TechniqueHit,
    ThreatHit,
    ThreatKind,
)
from bot.resolve import threats as threatre
from bot.resolve import vocab
from bot.resolve.index import ATTACK_OBJECT_KINDS, Entry, ResolverIndex
from bot.resolve.names import ACCEPT, NAME_SCORE_MAX, NameStage
from bot.resolve.scan import SCAN_CHARS, IdStages
from bot.resolve.state import Match, missing_technique_note
from bot.resolve.text import MAX_INPUT_CHARS, STOP_WORDS, words
from store.ids import nearest_capability_ids, nearest_technique_ids
from store.views import Alternative, Filters

log = logging.getLogger(__name__)

__all__ = ["INTERNAL_ERROR_NOTE", "alternative_query", "missing_technique_note", "resolve"]

INTERNAL_ERROR_NOTE = "Sorry, I could not read that question."
CLEAR_LEAD = 7.0  # a best guess this far ahead of the next needs no "did you mean"
CONFIDENT = 78.0
MAX_ALTERNATIVES = 5


def resolve(index: ResolverIndex, text: str) -> Resolution:
    """Understand one question.  Never raises: on an internal error the answer is "unknown"."""
    query = text if isinstance(text, str) else ("" if text is None else str(text))
    query = query.strip()[:MAX_INPUT_CHARS]
    try:
        return _Resolver(index, query).run()
    except Exception:  # pragma: no cover - defensive: a bad question must never crash a listener
        log.exception("resolver failed on %r", query[:200])
        return Resolution(query=query, intent="unknown", notes=(INTERNAL_ERROR_NOTE,))


class _Resolver(IdStages, NameStage):
    """One question: the ID and steering stages, then names, then the ``Resolution``."""

    # ------------------------------------------------------------------ stages

    def run(self) -> Resolution:
        if self.text:
            self._urls()
            self._ids()
            self._steering()
            matches = self._names()
            self._named_threats()
        else:
            matches = []
        return self._finish(matches)

    def _named_threats(self) -> None:
        """A long question that names a threat among words matching nothing else ("we have
        LockBit on a host, which of our controls matter?") loses it in the name score, which
        weighs the name against the whole question: when nothing at all was found, a threat's
        name or alias written in full, or the head word only threat names use, is the answer."""
        st = self.st
        if st.techniques or st.capabilities or st.threats or st.objects or st.groups:
            return
        for i in threatre.named_threats(self.ix.threat_spans, self.text[:SCAN_CHARS])[:3]:
            self._add_threat(self.ix.entries[i], threatre.NAMED_THREAT_SCORE)

    # ------------------------------------------------------------------ result

    def _threat_hits(self) -> tuple[ThreatHit, ...]:
        ix = self.ix
        hits = []
        for tid, (score, note, name, kind) in sorted(self.st.threats.items(), key=lambda kv: -kv[1][0]):
            i = ix.threats.get(tid)
            shadow = ix.shadows.get(i) if i is not None else None
            kind_: ThreatKind = kind  # type: ignore[assignment]
            hits.append(ThreatHit(tid, name, kind_, score, note, shadow))
        return tuple(hits)

    def _finish(self, ranked: list[Match]) -> Resolution:
        st = self.st
        techniques = tuple(
            TechniqueHit(
                id=tid,
                name=name,
                score=score,
                domain=(self.ix.technique(tid).domain if self.ix.technique(tid) else "enterprise"),  # type: ignore[union-attr]
                note=note,
                known=self.ix.technique(tid) is not None,
            )
            for tid, (score, note, name) in sorted(st.techniques.items(), key=lambda kv: -kv[1][0])
        )
        capabilities = tuple(
            CapabilityHit(framework=fw, id=cid, name=name, score=score, note=note)
            for (fw, cid), (score, note, name) in sorted(st.capabilities.items(), key=lambda kv: -kv[1][0])
        )
        groups = tuple(
            GroupHit(framework=fw, id=gid, name=name, score=score)
            for (fw, gid), (score, name) in sorted(st.groups.items(), key=lambda kv: -kv[1][0])
        )
        threats = self._threat_hits()
        objects = tuple(
            AttackObjectHit(kind, oid, name, score, domain)  # type: ignore[arg-type]
            for oid, (score, name, kind, domain) in sorted(st.objects.items(), key=lambda kv: -kv[1][0])
        )
        used_tokens = {self._slot_list[u].token for m in self._accepted for u in m.used}
        for category, token in self._nouns:
            if token not in used_tokens and category not in st.categories:
                st.categories.append(category)
        notes = [
            n
            for n in (
                *st.notes,
                *(t.note for t in techniques),
                *(c.note for c in capabilities),
                *(t.note for t in threats),
            )
            if n
        ]
        if any(t.known for t in techniques) or groups or threats or objects:
            # A control ID the data does not have next to something it does (T1048 SC-99) is
            # left out, its note kept: never a pair answer about a control that is not there.
            capabilities = tuple(
                c for c in capabilities if c.framework == "kev" or self.ix.capability(c.framework, c.id)
            )
        alternatives = self._alternatives(ranked, techniques, capabilities, groups or threats)
        intent = self._intent(techniques, capabilities, groups, threats, objects)
        missing = [t.id for t in techniques if not t.known]
        if missing and len(missing) == len(techniques) and not (capabilities or groups or threats or objects):
            intent = "unknown"  # only IDs that do not exist: a "did you mean", never an empty answer
            alternatives = tuple(
                self._alternative(self.ix.entries[self.ix.techniques[tid]], 100.0)
                for tid in nearest_technique_ids(self.ix.techniques, missing[0])
            )
        # (A CVE outside KEV stays a CVE question: its answer says KEV does not list it.)
        unknown_caps = [
            c for c in capabilities if c.framework != "kev" and self.ix.capability(c.framework, c.id) is None
        ]
        if (
            unknown_caps
            and len(unknown_caps) == len(capabilities)
            and not (techniques or groups or threats or objects)
        ):
            # Only control IDs the loaded data does not have (SC-99): a "did you mean" of the
            # framework's nearest IDs, never a capability answer of "0 mappings".
            first = unknown_caps[0]
            known = [cid for fw, cid in self.ix.capabilities if fw == first.framework]
            intent = "unknown"
            alternatives = tuple(
                self._alternative(self.ix.entries[self.ix.capabilities[(first.framework, cid)]], 100.0)
                for cid in nearest_capability_ids(known, first.id)
            )
        if intent == "help":
            alternatives = ()
        if intent == "unknown" and not alternatives and self.text:
            notes.append("Nothing recognised: try a technique ID (T1048), a control (SC-07) or a name.")
        filters = Filters(
            framework_version=st.framework_version,
            attack_version=st.attack_version,
            domain=st.domain,
            categories=tuple(c for c in ("protect", "detect", "respond") if c in st.categories),
            min_score=st.min_score,
        )
        return Resolution(
            query=self.query,
            intent=intent,
            techniques=techniques,
            capabilities=capabilities,
            frameworks=tuple(st.frameworks),
            groups=groups,
            threats=threats,
            attack_objects=objects,
            filters=filters,
            alternatives=alternatives,
            notes=tuple(dict.fromkeys(notes)),
        )

    def _intent(
        self,
        techniques: tuple[TechniqueHit, ...],
        capabilities: tuple[CapabilityHit, ...],
        groups: tuple[GroupHit, ...],
        threats: tuple[ThreatHit, ...] = (),
        objects: tuple[AttackObjectHit, ...] = (),
    ) -> Intent:
        st = self.st
        if techniques and capabilities:
            return "pair"
        if threats and not capabilities and (not techniques or threats[0].score > techniques[0].score):
            return threats[0].kind
        if techniques and st.detection:
            return "detection"
        if techniques:
            if len(techniques) == 1 and st.compare:  # named frameworks alone mean "answer in these"
                return "compare"
            return "technique"
        if capabilities:
            return "cve" if capabilities[0].framework == "kev" else "capability"
        if groups:
            return "family"
        if objects:
            return objects[0].kind
        if st.notes:  # an ID typed that the data does not hold ("G9999"): not a request for help
            return "unknown"
        content = [w for w in words(self._cur()) if w not in STOP_WORDS]
        asked_help = any(w in vocab.HELP_WORDS for w in words(self.text[:SCAN_CHARS])) or self.text in (
            "?",
            "",
        )
        if asked_help and all(w in vocab.HELP_WORDS for w in content):
            return "help"
        if not self.text.strip():
            return "help"
        if not st.frameworks and all(w in vocab.HELP_WORDS or w in vocab.HELP_FILLER for w in content):
            return "help"  # "what can you do?", "how does this work": nothing but question words
        if st.frameworks and not self._ranked:
            return "framework"
        if st.frameworks and not [w for w in content if w not in vocab.HELP_WORDS]:
            return "framework"
        return "unknown"

    def _alternatives(
        self,
        ranked: list[Match],
        techniques: tuple[TechniqueHit, ...],
        capabilities: tuple[CapabilityHit, ...],
        groups: tuple[GroupHit | ThreatHit, ...],
    ) -> tuple[Alternative, ...]:
        if not ranked:
            return ()
        accepted = self._accepted
        chosen = {m.entry for m in accepted}
        others = [m for m in ranked if m.entry not in chosen]
        if self.st.threats:  # a revoked group whose replacement is the answer is no alternative
            others = [m for m in others if self._replaced_id(m.entry) not in self.st.threats]
        if self.st.techniques:  # nor is a revoked technique whose replacement is
            replaced, entries = self.ix.replaced_by, self.ix.entries
            others = [m for m in others if replaced.get(entries[m.entry].id) not in self.st.techniques]
        if not others:
            return ()
        if self._by_id:
            return ()  # an ID was typed: the question is not in doubt
        if accepted:
            top = accepted[0].score
            if top >= CONFIDENT and others[0].score < top - CLEAR_LEAD:
                return ()
            floor = max(ACCEPT - 20, top - 25)
        else:
            if techniques or capabilities or groups:
                return ()
            floor = 45.0
        out: list[Alternative] = []
        for m in others:
            if m.score < floor or len(out) >= MAX_ALTERNATIVES:
                break
            out.append(self._alternative(self.ix.entries[m.entry], min(m.score, NAME_SCORE_MAX)))
        return tuple(out)

    def _replaced_id(self, entry: int) -> str | None:
        e = self.ix.entries[entry]
        repl = self.ix.threat_replacement(e.id) if e.kind in threatre.THREAT_KINDS else None
        return repl.id if repl is not None else None

    def _alternative(self, e: Entry, score: float) -> Alternative:
        if e.kind == "technique":
            return Alternative("technique", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        if e.kind == "capability":
            label = e.id if e.name == e.id else f"{e.id} {e.name}"
            return Alternative("capability", e.id, label, round(score, 1), e.framework, alternative_query(e))
        if e.kind in threatre.THREAT_KINDS:
            return Alternative("threat", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        if e.kind == "tactic":
            return Alternative("tactic", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        if e.kind == "mitigation":
            return Alternative("mitigation", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        return Alternative("group", e.id, e.name, round(score, 1), e.framework, alternative_query(e))


def alternative_query(e: Entry) -> str:
    """Text that resolves to exactly ``e`` (the value behind a "did you mean" button)."""
    if e.kind == "technique" or e.kind in threatre.THREAT_KINDS or e.kind in ATTACK_OBJECT_KINDS:
        return e.id
    if e.kind == "group" and e.framework == "nist_800_53":
        return f"{e.id} family"
    if re.search(r"[-_.&\d]", e.id):
        return e.id
    # a plain word ("eop", "firewalls") is an ID only next to its framework's name
    return f"{vocab.FRAMEWORK_QUERY_WORD.get(e.framework or '', '')} {e.id}".strip()
