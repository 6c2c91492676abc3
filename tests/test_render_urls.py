"""User links are built by the renderer from the facts a technique header holds."""

from __future__ import annotations

from bot.render.urls import attack_technique_url, explorer_technique_url
from store.views import TechniqueHeader


def _header(tid: str, *, stix_url: str | None = None, attack_version: str | None = None) -> TechniqueHeader:
    return TechniqueHeader(
        id=tid, name="x", domain="enterprise", tactics=(), platforms=(), summary="",
        stix_url=stix_url, attack_version=attack_version,
    )  # fmt: skip


def test_the_bundles_own_attack_link_wins() -> None:
    h = _header("T1048", stix_url="https://attack.mitre.org/techniques/T1048")
    assert attack_technique_url(h) == "https://attack.mitre.org/techniques/T1048"


def test_a_technique_outside_the_bundles_gets_attack_mitre_orgs_path() -> None:
    assert attack_technique_url(_header("T1048.003")) == "https://attack.mitre.org/techniques/T1048/003/"


def test_the_explorer_page_is_at_the_releases_attack_version() -> None:
    assert explorer_technique_url(_header("T1048", attack_version="14.1")) == (
        "https://center-for-threat-informed-defense.github.io/mappings-explorer/"
        "attack/attack-14.1/domain-enterprise/techniques/T1048/"
    )


def test_with_no_release_shown_the_explorer_page_is_at_its_default_version() -> None:
    assert "/attack-16.1/domain-enterprise/techniques/T1059/" in explorer_technique_url(_header("T1059"))
