"""Which groups and software a channel message names, for incident cards: real names and
aliases from the loaded ATT&CK, and the messages of an incident channel that must not card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.slack.threat_mentions import ThreatSpotter, english_words
from store.reads.card_names import CardName, card_names
from store.reads.fast import reading


@pytest.fixture(scope="module")
def names(corpus_engine: Engine) -> Iterator[tuple[CardName, ...]]:
    with reading(corpus_engine) as source:
        yield card_names(source)


@pytest.fixture(scope="module")
def spotter(names: tuple[CardName, ...]) -> ThreatSpotter:
    return ThreatSpotter(names, english_words())


def _ids(names: tuple[CardName, ...], *wanted: str) -> list[str]:
    """ATT&CK IDs of threats by their ATT&CK name (so the cases read as names)."""
    by_name = {t.name: t.attack_id for t in names}
    return [by_name[w] for w in wanted]


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ("we see Cobalt Strike beacons on WS-0142, looks like APT29 maybe", ("Cobalt Strike", "APT29")),
        ("found mimikatz.exe in C:\\temp", ("Mimikatz",)),
        ("Midnight Blizzard password spray against the tenant", ("APT29",)),
        ("cozy bear TTPs again", ("APT29",)),
        ("LockBit ransom note on the file server", ("LockBit 3.0",)),
        ("Play ransomware affiliates exploited the FortiOS bug", ("Play",)),
        ("Silence group phishing again?", ("Silence",)),
        ("Kimsuky is back with a new lure", ("Kimsuky",)),
        ("emotet spam wave hitting finance", ("Emotet",)),
        ("ALPHV leak site lists us", ("BlackCat",)),
        ("Scattered Spider called the helpdesk", ("Scattered Spider",)),
        ("NOBELIUM", ("APT29",)),
    ],
)
def test_names_and_aliases_of_known_threats_are_found(
    spotter: ThreatSpotter, names: tuple[CardName, ...], message: str, named: tuple[str, ...]
) -> None:
    assert spotter.find(message) == _ids(names, *named)


@pytest.mark.parametrize(
    "message",
    [
        "Please keep silence on the bridge while we triage",
        "let's play it safe and isolate the host",
        "ran ipconfig and netstat on the box, nothing weird",
        "certutil was used to decode the blob",
        "we had a snake in the server room lol",
        "Reaper is the boss",
        "we need a covenant with legal before we share the image",
        "`APT28` pasted in a code span",
        "see <https://attack.mitre.org/groups/G0016|this page>",
        "quick assist session opened by helpdesk",
        "Equation",
        "The Empire state building",
        "ryuk",
        "magic hound",
        "ping the on-call, then reg the asset",
    ],
)
def test_ordinary_incident_chatter_names_no_threat(spotter: ThreatSpotter, message: str) -> None:
    assert spotter.find(message) == []


def test_at_most_three_threats_per_message_first_mention_first(
    spotter: ThreatSpotter, names: tuple[CardName, ...]
) -> None:
    message = "Turla, then APT28, then Sandworm Team, then Kimsuky, then FIN7"
    assert spotter.find(message) == _ids(names, "Turla", "APT28", "Sandworm Team")
