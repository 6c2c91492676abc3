"""Links for users: ATT&CK pages and Mappings Explorer pages, built from the facts a view holds."""

from __future__ import annotations

from store.views import TechniqueHeader

EXPLORER_TECHNIQUE_URL = (
    "https://center-for-threat-informed-defense.github.io/mappings-explorer/"
    "attack/attack-{version}/domain-{domain}/techniques/{id}/"
)
# Mappings Explorer has pages for every version the data maps; with no release shown, the
# version its site opens on.
EXPLORER_DEFAULT_ATTACK_VERSION = "16.1"


def attack_technique_url(header: TechniqueHeader) -> str:
    """The bundle's own link when it has one, else attack.mitre.org's path for the ID."""
    if header.stix_url:
        return header.stix_url
    base, _, sub = header.id.partition(".")
    return f"https://attack.mitre.org/techniques/{base}/" + (f"{sub}/" if sub else "")


def explorer_technique_url(header: TechniqueHeader) -> str:
    """The technique's Mappings Explorer page at the ATT&CK version of the releases shown."""
    version = header.attack_version or EXPLORER_DEFAULT_ATTACK_VERSION
    return EXPLORER_TECHNIQUE_URL.format(version=version, domain=header.domain, id=header.id)


def attack_tactic_url(attack_id: str) -> str:
    """attack.mitre.org's page for a tactic (the data has no link for one)."""
    return f"https://attack.mitre.org/tactics/{attack_id}/"
