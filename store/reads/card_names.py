"""The names incident cards look for in messages: every current group, software and campaign,
with its aliases, once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from store.models import Threat
from store.reads.fast import Source, _json, _q

__all__ = ["CardName", "card_names"]

_LIVE = select(
    Threat.attack_id, Threat.name, Threat.kind, Threat.stix_type, _json(Threat.aliases), Threat.domain
).where(Threat.revoked.is_(False), Threat.deprecated.is_(False))
_DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}


@dataclass(frozen=True, slots=True)
class CardName:
    attack_id: str
    name: str
    kind: str  # group | software | campaign
    stix_type: str  # intrusion-set | malware | tool | campaign
    aliases: tuple[str, ...]


def card_names(source: Source) -> tuple[CardName, ...]:
    """Current threats by ATT&CK ID, once each (the enterprise object of one in several domains)."""
    rows = sorted(_q(source, _LIVE), key=lambda r: (r.attack_id, _DOMAIN_ORDER.get(r.domain, 9)))
    seen: dict[str, CardName] = {}
    for r in rows:
        aliases = tuple(str(a) for a in r.aliases or () if a and str(a) != r.name)
        seen.setdefault(r.attack_id, CardName(r.attack_id, r.name, r.kind, r.stix_type, aliases))
    return tuple(seen.values())
