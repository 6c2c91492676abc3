"""Questions that ask how to detect something, in the words analysts use.

"how do I detect T1048" and "detections for kerberoasting" are the plain forms; analysts also
write "how would I spot pass the hash", "what should I look for to catch kerberoasting", "signs
of credential dumping", "what logs show rclone exfiltration", "what does dcsync look like in
the logs".  Rather than a list of such sentences, a detection question is recognised by its
parts: a seeing verb with a person asking ("how would I spot", "can we catch", "to notice"),
evidence nouns ("signs of", "indicators of", "traces of"), or telemetry as the subject ("what
logs show", "which events reveal", "in our siem").

Asking which controls or services detect something ("which aws services detect T1530") is not
a detection question but a technique question filtered to detections: only the plain forms
count when the question names controls, coverage or mitigations.
"""

from __future__ import annotations

import re
from functools import cache

_B = r"(?<![\w-])"
_E = r"(?![\w-])"
_PERSON = r"(?:i|we|you|one|they|someone|the\s+soc|our\s+soc|my\s+team|our\s+team|analysts?)"
_MODAL = r"(?:do|does|can|could|would|should|might|will|must|to)"
_ADVERB = r"(?:(?:best|even|reliably|quickly|easily|actually|ever|go\s+about|be\s+able\s+to|start\s+to)\s+)*"
# Verbs that mean detecting, whatever follows; and verbs that do only when what follows is not
# a control ("how do I find controls for T1048" asks for controls).
_STRONG = (
    r"(?:detect(?:s|ed|ing)?|spot(?:s|ted|ting)?|catch(?:es|ing)?|notice(?:s|d)?|noticing"
    r"|hunt(?:s|ed|ing)?(?:\s+(?:for|down))?|sniff(?:ing)?\s+out|pick(?:ing)?\s+up\s+on"
    r"|alert(?:ing)?\s+on|monitor(?:ing)?\s+for|look(?:ing)?\s+(?:for|out\s+for)"
    r"|watch(?:ing)?\s+(?:for|out\s+for)|search(?:ing)?\s+for|flag(?:ging)?)"
)
_WEAK = (
    r"(?:find|finding|identify|identifying|recogni[sz]e|recogni[sz]ing|uncover|uncovering|discover"
    r"|discovering|investigate|investigating|track\s+down|trace|tell|know|see|confirm|verify)"
)
_NOT_A_CONTROL = (
    r"(?!\s+(?:\S+\s+){0,2}?(?:controls?|mitigations?|coverage|capabilit(?:y|ies)|services?|mappings?"
    r"|gaps?|frameworks?|protections?|products?)" + _E + ")"
)
_TELEMETRY = (
    r"(?:logs?|log\s+entries|events?|event\s+ids?|(?:windows|security|sysmon|audit)\s+events?"
    r"|telemetry|artifacts?|artefacts?|alerts?|data\s+sources?|data|traffic|signals?)"
)
_TRACES = r"(?:logs?|events?|event\s+ids?|telemetry|artifacts?|artefacts?|traces?|evidence|footprints?)"
_SHOWS = (
    r"(?:would\s+|will\s+|might\s+|could\s+|should\s+|can\s+|do\s+)?"
    r"(?:show|shows|reveal|reveals|indicate|indicates|capture|captures|record|records|catch|catches"
    r"|surface|surfaces|expose|exposes|flag|flags|tell|tells|contain|contains|point\s+to)"
)

_LEAD = (
    r"^\s*(?:/?attack\s+)?(?:(?:"
    + rf"how\s+{_MODAL}\s+(?:{_PERSON}\s+)?{_ADVERB}|ways?\s+to\s+)?"
    + r"(?:detect|detecting|detection|detections|hunt|hunting|spot|spotting|catch|catching|notice"
    + r"|(?:look|watch|monitor)(?:ing)?\s+(?:out\s+)?for)(?:\s+(?:for|of|on))?)"
    + _E
)
_PLAIN = (
    _B + r"(?:how\s+(?:do|can|could|would|should)\s+(?:i|we|you|one)\s+(?:best\s+)?detect"
    r"|how\s+to\s+detect|ways?\s+to\s+detect|detection\s+strateg(?:y|ies)|detection\s+analytics?"
    r"|detection\s+rules?|detection\s+logic|detections?\s+(?:for|of|on)|analytics?"
    r"|log\s+sources?|data\s+components?|data\s+sources?|what\s+(?:should|do)\s+(?:i|we)\s+log"
    r"|what\s+to\s+log|what\s+to\s+look\s+for|hunt(?:ing)?\s+for|telemetry)" + _E
)
_FORMS = [
    # how would I spot ..., how can we tell if ..., how to go about catching ...
    rf"how\s+{_MODAL}\s+(?:{_PERSON}\s+)?{_ADVERB}(?:{_STRONG}|{_WEAK}{_NOT_A_CONTROL})"
    r"(?:\s+(?:if|when|whether|that|for|of|on))?",
    # can we catch ..., I want to spot ..., what should I look for to catch ...
    rf"(?:{_PERSON}|to|and|or)\s+{_ADVERB}{_STRONG}",
    # what would catch ..., ways to find ..., is mimikatz detectable
    rf"(?:what|which|that)\s+(?:would|will|could|can|might|should)\s+{_ADVERB}{_STRONG}",
    rf"ways?\s+to\s+{_ADVERB}(?:{_STRONG}|{_WEAK}{_NOT_A_CONTROL})",
    r"detectable|undetected",
    r"alerts?\s+(?:on|when)",  # not "alerts for": Azure's "Alerts for Windows Machines"
    rf"what\s+(?:should|do|can|would|must|could)\s+{_PERSON}\s+(?:be\s+)?"
    r"(?:look(?:ing)?\s+for|monitor(?:ing)?(?:\s+for)?|watch(?:ing)?\s+(?:for|out\s+for)|collect(?:ing)?"
    r"|search(?:ing)?\s+for|hunt(?:ing)?\s+for|alert(?:ing)?\s+on|check(?:ing)?(?:\s+for)?|log(?:ging)?)",
    # signs of ..., indicators of compromise for ..., evidence that ...
    r"(?:(?:tell[\s-]?tale|early|warning|obvious|common|typical)\s+)?"
    r"(?:signs?|indicators?(?:\s+of\s+(?:compromise|attack))?|iocs?|evidence|traces?|symptoms?"
    r"|footprints?|fingerprints?|red\s+flags?|artifacts?|artefacts?)\s+(?:of|for|from|that|left\s+by)",
    # what logs show ..., which event ids reveal ...
    rf"(?:what|which)\s+(?:kinds?\s+of\s+|sort\s+of\s+)?{_TELEMETRY}\s+{_SHOWS}",
    # what artifacts does timestomping leave, which events does it generate
    rf"(?:what|which)\s+{_TRACES}\s+(?:does|do|did|would|will|might|could|should)",
    r"(?:leaves?|left)\s+behind",
    # ... look like in the logs, ... in our siem
    r"(?:look|looks|appear|appears|show\s+up|shows\s+up)(?:\s+like)?\s+in\s+(?:the\s+|my\s+|our\s+)?"
    r"(?:logs?|telemetry|siem|edr|events?|event\s+logs?|network\s+traffic)",
    r"in\s+(?:my|our|the)\s+(?:logs?|telemetry|siem|edr|event\s+logs?)",
    # sigma rule for ..., splunk query to find ..., hunting queries
    r"(?:sigma|splunk|spl|kql|eql|yara|siem|edr|xdr|hunting|hunt|suricata|snort|elastic)\s+"
    r"(?:rules?|quer(?:y|ies)|search(?:es)?|signatures?|logic|content|use[\s-]cases?)"
    r"(?:\s+(?:for|to\s+(?:find|catch|detect|spot)|that\s+(?:finds?|catches|detects)))?",
    r"detection\s+(?:opportunit(?:y|ies)|ideas?|engineering)(?:\s+(?:for|on))?",
]
_PHRASINGS = _B + "(?:" + "|".join(_FORMS) + ")" + _E
# A question about controls: only the plain forms make it a detection question.  ("services":
# a Windows service is a technique's word, "what logs would show a new service being installed".)
_CONTROLS = (
    _B + r"(?:controls?|mitigat\w*|services|capabilit(?:y|ies)|products?|cover(?:s|ed|age)?"
    r"|mapp(?:ing|ings|ed|s)|maps|protect\w*|prevent\w*|block\w*)" + _E
)


# Every form above holds one of these (a seeing verb, an evidence or telemetry noun, a query
# language): a question without any is no detection question, and the forms, about 15 ms to
# compile, are compiled only for one that has one ("countermap ask T1048" never does).
_TRIGGER = re.compile(
    r"detect|hunt|spot|catch|notic|look|watch|monitor|analytic|log|data|telemetry|sniff|pick|alert"
    r"|search|flag|find|identif|recogni|uncover|discover|investigat|track|trace|tell|know|see|confirm"
    r"|verif|collect|check|sign|indicator|ioc|evidence|symptom|footprint|fingerprint|artifact|artefact"
    r"|event|traffic|behind|siem|edr|xdr|sigma|splunk|kql|eql|yara|suricata|snort|elastic"
)


@cache
def _compiled() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return re.compile(_LEAD), re.compile(_PLAIN), re.compile(_PHRASINGS), re.compile(_CONTROLS)


def detection_spans(low: str) -> list[tuple[int, int]]:
    """Where lower-case ``low`` asks how to detect something (empty: it does not)."""
    if not _TRIGGER.search(low):
        return []
    lead, plain, phrasings, controls = _compiled()
    spans = []
    m = lead.match(low)
    if m:
        spans.append((m.start(), m.end()))
    spans.extend((m.start(), m.end()) for m in plain.finditer(low))
    if not controls.search(low):
        spans.extend((m.start(), m.end()) for m in phrasings.finditer(low))
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out
