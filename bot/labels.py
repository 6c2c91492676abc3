"""The names users read for the keys reads return: a framework ("NIST 800-53"), a release
("NIST 800-53 rev5 · ATT&CK 14.1"), a mapping group ("Protect", or the release's label for an
unscored mapping type), what a capability's counts count ("Protect · significant") and a
sub-technique in a threat's list ("Compromise Accounts: Email Accounts")."""

from __future__ import annotations

from typing import Protocol

from store.threat_views import SubTechniqueName
from store.views import FRAMEWORKS, MappingGroup, Tally

FRAMEWORK_LABELS: dict[str, str] = {
    "nist_800_53": "NIST 800-53",
    "m365": "Microsoft 365",
    "aws": "AWS",
    "azure": "Azure",
    "gcp": "GCP",
    "veris": "VERIS",
    "kev": "CISA KEV",
    "cri_profile": "CRI Profile",
    "csa_ccm": "CSA CCM",
    "intel-vpro": "Intel vPro",
}
assert tuple(FRAMEWORK_LABELS) == FRAMEWORKS


OTHER_TACTIC = "Other"  # where a capability lists techniques outside the loaded ATT&CK


def framework_label(framework: str) -> str:
    return FRAMEWORK_LABELS.get(framework, framework)


class Release(Protocol):
    """A mapping release as views and coverage answers carry it (``ReleaseRef``, ``ReleaseFacts``)."""

    @property
    def framework(self) -> str: ...
    @property
    def framework_version(self) -> str: ...
    @property
    def attack_version(self) -> str: ...
    @property
    def domain(self) -> str: ...


def release_label(ref: Release) -> str:
    """``NIST 800-53 rev5 · ATT&CK 14.1`` (domain added when not enterprise)."""
    dom = "" if ref.domain == "enterprise" else f" {ref.domain}"
    return f"{framework_label(ref.framework)} {ref.framework_version} · ATT&CK {ref.attack_version}{dom}"


def group_label(group: MappingGroup) -> str:
    """ "Protect" for a score category; else the release's label for the mapping type."""
    if group.score_category:
        return group.score_category.capitalize()
    return group.lines[0].mapping_type_label if group.lines else ""


def count_label(tally: Tally | str) -> str:
    """ "Protect · significant", "Mitigates" (a key already worded is returned as it is)."""
    if isinstance(tally, str):
        return tally
    name = tally.score_category.capitalize() if tally.score_category else tally.type_label
    return name + (f" · {tally.score_value}" if tally.score_value else "")


def technique_name(name: str | SubTechniqueName) -> str:
    """A sub-technique as ATT&CK's group and software pages name it: "Compromise Accounts:
    Email Accounts" (a name already worded is returned as it is)."""
    return name if isinstance(name, str) else f"{name.parent}: {name.name}"
