"""Resolver stages that read IDs, links and the words that steer an answer (frameworks,
versions, domains, categories, scores, "compare", families), blanking what they consume."""

from __future__ import annotations

from bot.resolve import ids as idre
from bot.resolve import vocab
from bot.resolve.detecting import detection_spans
from bot.resolve.state import ResolverState
from bot.resolve.text import STOP_WORDS, fold, stem, words
from store.ids import canonical_capability_id

SCAN_CHARS = 300  # steering words, control IDs and names are looked for in this much text


class IdStages(ResolverState):
    """The ID and steering stages (run before names, on the whole text)."""

    def _urls(self) -> None:
        for m in idre.URL_RE.finditer(self._cur()):
            facts = idre.read_url(m.group(0))
            if facts.technique:
                self._tech(facts.technique)
            if facts.framework:
                self._framework(facts.framework)
                if facts.capability:
                    cid = canonical_capability_id(facts.framework, facts.capability.replace("%20", " "))
                    group = self.ix.groups.get((facts.framework, cid)) or self.ix.groups.get(
                        (facts.framework, facts.capability)
                    )
                    if self.ix.capability(facts.framework, cid) is None and group is not None:
                        self._add_entry(self.ix.entries[group], 100.0)  # a family page: .../nist-rev5/AC/
                    else:
                        self._add_cap(facts.framework, cid, 100.0)
            if facts.attack_version and not self.st.attack_version:
                self.st.attack_version = facts.attack_version
            if facts.framework_version and not self.st.framework_version:
                self.st.framework_version = facts.framework_version
            self._blank(m.start(), m.end())

    def _ids(self) -> None:
        ix = self.ix
        cur = self._cur()
        for m in idre.CVE_RE.finditer(cur) if "cve" in cur.lower() else ():
            self._add_cap("kev", f"CVE-{m.group(1)}-{m.group(2)}", 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        low = cur.lower()
        finders = []
        if "tech" in low or "ttp" in low:
            finders.append(idre.TECHNIQUE_WORD_RE)
        if idre.TECHNIQUE_HINT_RE.search(cur):  # the full pattern's look-behind is slow on long text
            finders.append(idre.TECHNIQUE_RE)
        for rx in finders:
            for m in rx.finditer(cur):
                spaced = m.group(3) if rx.groups >= 3 else None
                if spaced and self.ix.technique(idre.technique_id(m.group(1), spaced)) is None:
                    # "T1048 100 bytes": three digits after a space are a sub-technique only if it exists
                    self._tech(idre.technique_id(m.group(1), None))
                    self._blank(m.start(), m.end(1))
                    continue
                self._tech(idre.technique_id(m.group(1), m.group(2) or spaced))
                self._blank(m.start(), m.end())
            cur = self._cur()
        self._attack_object_ids()
        self._threat_ids()
        if not self.st.techniques:
            self._bare_techniques()
        # Technique IDs and CVEs are found anywhere in a long paste; everything else only in
        # its first part, which bounds the work a 4,000-character message can cause.
        if len(self.buf) > SCAN_CHARS:
            self.buf = self.buf[:SCAN_CHARS]
            self._dirty = True
        cur = self._cur()
        for m in idre.CSA_RE.finditer(cur):
            self._add_cap("csa_ccm", canonical_capability_id("csa_ccm", f"{m.group(1)}-{m.group(2)}"), 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        for m in idre.CRI_RE.finditer(cur):
            fn, cat, sub, diag = m.groups()
            group = f"{fn}.{cat}".upper()
            if sub is None:
                gi = ix.groups.get(("cri_profile", group))
                if gi is not None:
                    self._add_entry(ix.entries[gi], 100.0)
                    self._blank(m.start(), m.end())
                continue
            cid = canonical_capability_id("cri_profile", f"{group}-{sub}" + (f".{diag}" if diag else ""))
            if ix.capability("cri_profile", cid) is None and diag is None:
                # "PR.DS-01" names a subcategory: its first diagnostic statement is the nearest
                first = [
                    k[1] for k in ix.capabilities if k[0] == "cri_profile" and k[1].startswith(cid + ".")
                ]
                if first:
                    self._add_cap(
                        "cri_profile", min(first), 100.0, f"{cid} is a subcategory; showing {min(first)}"
                    )
                    self._blank(m.start(), m.end())
                    continue
            self._add_cap("cri_profile", cid, 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        for start, end, base, enhancement, strong in idre.nist_matches(cur):
            typed = self.text[start:end].strip()
            if ix.capability("nist_800_53", base) is None and not strong:
                continue
            note = f"{typed} is an enhancement; showing {base}" if enhancement else None
            self._add_cap("nist_800_53", base, 100.0, note)
            self._blank(start, end)
        cur = self._cur()
        for m in idre.M365_RE.finditer(cur):
            full = fold(m.group(0))
            hits = ix.ids.get(full) if m.group(3) else ix.m365_bases.get(full)
            if hits:
                for i in hits[:2]:
                    self._add_entry(ix.entries[i], 100.0)
                self._blank(m.start(), m.end())
        cur = self._cur()
        if idre.VERIS_START_RE.search(cur):
            self._veris(cur)
            cur = self._cur()
        for m in idre.ID_TOKEN_RE.finditer(cur):
            hits = ix.ids.get(fold(m.group(1)))
            if hits:
                for i in hits[:3]:
                    self._add_entry(ix.entries[i], 100.0)
                self._blank(m.start(), m.end())

    def _bare_techniques(self) -> None:
        """A technique number typed without its T ("1218.011"), when nothing else in the text is a
        technique ID: dotted anywhere in the first part, four digits only as the whole question."""
        cur = self._cur()[:SCAN_CHARS]
        for m in idre.BARE_TECHNIQUE_RE.finditer(cur):
            tid = idre.technique_id(m.group(1), m.group(2))
            if self.ix.technique(tid) is not None:
                self._tech(tid)
                self._blank(m.start(), m.end())
        if self.st.techniques:
            return
        content = " ".join(w for w in words(cur) if w not in STOP_WORDS)
        alone = idre.BARE_NUMBER_RE.match(content)
        if alone and self.ix.technique(f"T{alone.group(1)}") is not None:
            at = cur.find(alone.group(1))
            self._tech(f"T{alone.group(1)}")
            self._blank(at, at + 4)

    def _veris(self, cur: str) -> None:
        low = cur.lower()
        if len(low) != len(cur):  # a few characters lower-case to two; keep positions aligned
            low = cur.encode("ascii", "replace").decode("ascii").lower()
        for m in idre.VERIS_START_RE.finditer(low):
            pos = m.start()
            if low[pos] == " ":
                continue
            for path, i in self.ix.veris_paths:
                end = pos + len(path)
                if low.startswith(path, pos) and (
                    end == len(low) or not (low[end].isalnum() or low[end] in "_.")
                ):
                    self._add_entry(self.ix.entries[i], 100.0)
                    self._blank(pos, end)
                    low = low[:pos] + " " * (end - pos) + low[end:]
                    break

    def _steering(self) -> None:
        st = self.st
        for start, end in vocab.address_spans(self._low()):
            self._blank(start, end)
        for start, end, version in vocab.attack_version_spans(self._low()):
            st.attack_version = st.attack_version or version
            self._blank(start, end)
        for start, end, rev in vocab.nist_revision_spans(self._low()):
            st.framework_version = st.framework_version or rev
            self._framework("nist_800_53")
            self._blank(start, end)
        for start, end, version in vocab.framework_version_spans(self._low()):
            st.framework_version = st.framework_version or version
            self._blank(start, end)
        for start, end, key in vocab.framework_spans(self._low()):
            self._framework(key)
            # "gcp services", "m365 products": the framework's own offerings, not a name's word
            # ("which gcp services help with exfiltration" is no Exfiltration Over Web Service)
            after = vocab.OFFERINGS_RE.match(self._low(), end)
            self._blank(start, after.end() if after else end)
        for start, end, domain in vocab.domain_spans(self._low()):
            st.domain = st.domain or domain
            if domain != "mobile":
                self._blank(start, end)
        # On the text as typed: "detect T1048" asks how to detect it, "T1048 detect" filters.
        typed = self.text.lower() if len(self.text.lower()) == len(self.text) else self._low()
        for start, end in detection_spans(typed[:SCAN_CHARS]):
            st.detection = True
            if "detect" not in st.categories:  # a technique answer asked this way shows detections
                st.categories.append("detect")
            self._blank(start, end)
        for start, end, value in vocab.min_score_spans(self._low()):
            st.min_score = st.min_score or value
            self._blank(start, end)
        for start, end, category, is_verb in vocab.category_spans(self._low()):
            if is_verb:
                if category not in st.categories:
                    st.categories.append(category)
                self._blank(start, end)
            else:  # "protection" may be part of a name ("Boundary Protection"): decided later
                self._nouns.append((category, stem(fold(self.text[start:end]))))
        for start, end in vocab.compare_spans(self._low()):
            st.compare = True
            self._blank(start, end)
        self._families()
        if st.frameworks:
            self._framework_ids()

    def _framework_ids(self) -> None:
        """Plain-word IDs ("eop", "xss", "firewalls") count once their framework is named."""
        for m in idre.WORD_RE.finditer(self._cur()):
            for i in self.ix.ids.get(m.group(0).lower(), ()):
                if self.ix.entries[i].framework in self.st.frameworks:
                    self._add_entry(self.ix.entries[i], 100.0)
                    self._blank(m.start(), m.end())

    def _families(self) -> None:
        """Bare NIST family codes: "SC", "sc family", or a question that is only "ac"."""
        cur = self._cur()
        content = [w for w in words(cur) if w not in STOP_WORDS]
        groupish = any(w in vocab.GROUP_WORDS for w in content)
        for m in idre.TWO_LETTERS_RE.finditer(cur):
            code = m.group(0)
            before = cur[m.start() - 1] if m.start() else " "
            after = cur[m.end()] if m.end() < len(cur) else " "
            if before in ".&-/" or after in "&-.(":
                continue
            if code.upper() not in self.ix.nist_families:
                continue
            alone = [w for w in content if w not in vocab.GROUP_WORDS] == [code.lower()]
            if code.isupper() or groupish or alone:
                gi = self.ix.groups.get(("nist_800_53", code.upper()))
                if gi is not None:
                    self._add_entry(self.ix.entries[gi], 100.0)
                    self._blank(m.start(), m.end())
        if any(w in vocab.FAMILY_WORDS for w in content):
            self.st.group_words = True
