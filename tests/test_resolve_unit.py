"""Resolver behaviour on a small hand-written index: every ID form, words that steer, intent.

No database: ``small_index()`` is built from a dozen rows of each kind, so each test states
one behaviour against data it can see.  (The real corpus is exercised by
test_resolve_accuracy.py and test_resolve_store.py.)
"""

from __future__ import annotations

import json

import pytest

from bot.resolve import AliasSet, ResolverIndex, parse_aliases
from store.reads.resolver_source import CapabilityRow, GroupRow, IndexSource, TacticRow, TechniqueRow

ALIASES = {
    "abbreviations": {"exfil": "exfiltration", "mfa": "multifactor authentication"},
    "aliases": [
        {"terms": ["rdp"], "technique": "T1021.001"},
        {"terms": ["mfa fatigue"], "technique": "T1621"},
        {"terms": ["kms"], "framework": "aws", "capability": "aws_key_management_service"},
    ],
}


def small_source() -> IndexSource:
    t = TechniqueRow
    return IndexSource(
        techniques=[
            t(
                "T1048",
                "Exfiltration Over Alternative Protocol",
                tactics=("exfiltration",),
                platforms=("Linux",),
            ),
            t("T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol", parent_id="T1048"),
            t("T1041", "Exfiltration Over C2 Channel", tactics=("exfiltration",)),
            t("T1003", "OS Credential Dumping", tactics=("credential-access",)),
            t("T1003.001", "LSASS Memory", parent_id="T1003"),
            t("T1218", "System Binary Proxy Execution"),
            t("T1218.011", "Rundll32", parent_id="T1218"),
            t("T1085", "Rundll32", revoked=True, revoked_by="T1218.011"),
            t("T1566", "Phishing"),
            t("T1660", "Phishing", domain="mobile"),
            t("T1021.001", "Remote Desktop Protocol", parent_id="T1021"),
            t("T1021", "Remote Services"),
            t("T1110.003", "Password Spraying", parent_id="T1110"),
            t("T1110", "Brute Force"),
            t("T1621", "Multi-Factor Authentication Request Generation"),
            t("T0866", "Exploitation of Remote Services", domain="ics"),
        ],
        mapped_names=[("T1003", "Credential Dumping"), ("T1085", "Rundll32")],
        capabilities=[
            CapabilityRow("nist_800_53", "SC-07", "Boundary Protection", "SC"),
            CapabilityRow("nist_800_53", "AC-02", "Account Management", "AC"),
            CapabilityRow("nist_800_53", "AC-06", "Least Privilege", "AC"),
            CapabilityRow("m365", "DEF-CAPP-E5", "Defender for Cloud Apps", "m365-defender"),
            CapabilityRow("m365", "EID-MFA-E3", "Multifactor Authentication", "entra-id"),
            CapabilityRow("aws", "amazon_guardduty", "Amazon GuardDuty", "amazon_guardduty"),
            CapabilityRow("aws", "aws_key_management_service", "AWS Key Management Service", "aws_kms"),
            CapabilityRow(
                "kev",
                "CVE-2023-34362",
                "Progress MOVEit Transfer SQL Injection Vulnerability",
                "sql_injection",
            ),
            CapabilityRow(
                "veris", "action.hacking.variety.brute force", "Brute force attack.", "action.hacking"
            ),
            CapabilityRow("cri_profile", "PR.DS-01.01", "Data-at-rest protection", "PR.DS"),
            CapabilityRow(
                "intel-vpro", "intel-tdt", "Intel Threat Detection Technology", "advanced_threat_protection"
            ),
        ],
        capability_names=[("nist_800_53", "AC-06", "Least Privilege")],
        groups=[
            GroupRow("nist_800_53", "SC", "System and Communications Protection"),
            GroupRow("nist_800_53", "AC", "Access Control"),
            GroupRow("m365", "entra-id", "Microsoft Entra ID"),
            GroupRow("kev", "sql_injection", "SQL Injection"),
            GroupRow("cri_profile", "PR.DS", "Protect: Data Security"),
            GroupRow("veris", "action.hacking", "action.hacking"),
            GroupRow("aws", "amazon_guardduty", "Amazon GuardDuty"),
        ],
        tactics=[TacticRow("enterprise", "exfiltration", "Exfiltration")],
        technique_counts={"T1048": 300, "T1566": 200, "T1660": 3},
    )


def small_aliases() -> AliasSet:
    return parse_aliases(ALIASES, "test-aliases")


def small_index() -> ResolverIndex:
    return ResolverIndex.from_source(small_source(), aliases=small_aliases())


from bot.resolution import Resolution  # noqa: E402
from bot.resolve import resolve  # noqa: E402

INDEX = small_index()


def r(text: str) -> Resolution:
    return resolve(INDEX, text)


def top_technique(text: str) -> str | None:
    res = r(text)
    return res.techniques[0].id if res.techniques else None


def top_capability(text: str) -> tuple[str, str] | None:
    res = r(text)
    return (res.capabilities[0].framework, res.capabilities[0].id) if res.capabilities else None


# ---------------------------------------------------------------- technique IDs


@pytest.mark.parametrize(
    "text",
    [
        "T1048.003",
        "t1048.003",
        "T1048.3",
        "t1048.3",
        "T1048/003",
        "T1048-003",
        "T1048/3",
        "technique 1048.003",
        "https://attack.mitre.org/techniques/T1048/003/",
        "<https://attack.mitre.org/techniques/T1048/003/|exfil page>",
        "/t1048.3",
        "Ｔ１０４８.００３",
    ],
)
def test_a_sub_technique_id_is_recognised_in_every_common_form(text: str) -> None:
    assert top_technique(text) == "T1048.003"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t-1048", "T1048"),
        ("T_1048", "T1048"),
        ("t#1048", "T1048"),
        ("T - 1048", "T1048"),
        ("T1110-003", "T1110.003"),
        ("t-1110_3", "T1110.003"),
        ("T1110 003", "T1110.003"),
        ("1218.011", "T1218.011"),
        ("what about 1218/011?", "T1218.011"),
        ("1048", "T1048"),
    ],
)
def test_messy_technique_ids_are_read(text: str, expected: str) -> None:
    assert top_technique(text) == expected


def test_three_digits_after_a_space_are_a_sub_technique_only_if_it_exists() -> None:
    res = r("T1048 100 bytes")
    assert [t.id for t in res.techniques] == ["T1048"]


def test_a_bare_number_is_a_technique_only_when_nothing_else_is() -> None:
    assert [t.id for t in r("T1003 and 1218.011").techniques] == ["T1003"]
    assert "T1048" not in [t.id for t in r("we saw 1048 hosts beaconing").techniques]
    assert [t.id for t in r("9999.001").techniques] == []


def test_an_unknown_sub_technique_is_never_answered_as_its_parent() -> None:
    """T1048.099 does not exist: say so and offer the parent and its real sub-techniques, never
    silently answer T1048 (issue 15 item 2)."""
    res = r("T1048.099")
    assert [t.id for t in res.techniques] == ["T1048.099"] and not res.techniques[0].known
    assert res.intent == "unknown"
    assert "T1048.099 does not exist" in res.notes[0]
    assert [a.id for a in res.alternatives] == ["T1048", "T1048.003"]


def test_a_well_formed_but_unknown_technique_id_is_kept_with_a_note_and_the_nearest_ids() -> None:
    res = r("T9999")
    assert res.techniques[0].id == "T9999" and res.techniques[0].name == ""
    assert res.intent == "unknown"
    assert "does not exist in the loaded ATT&CK data" in res.notes[0]
    assert res.alternatives and all(a.kind == "technique" for a in res.alternatives)
    assert res.alternatives[0].id == "T1660"  # numerically nearest of the small index (mobile too)


def test_an_unknown_id_next_to_a_known_one_keeps_both() -> None:
    res = r("T9999 T1048")
    assert [(t.id, t.known) for t in res.techniques] == [("T9999", False), ("T1048", True)]
    assert res.intent == "technique"


def test_a_revoked_id_resolves_to_itself_with_a_note_naming_the_replacement() -> None:
    res = r("T1085")
    assert res.techniques[0].id == "T1085"
    assert res.techniques[0].note == "T1085 was revoked; now T1218.011 Rundll32"


def test_a_name_shared_with_a_revoked_technique_prefers_the_current_one() -> None:
    assert top_technique("rundll32") == "T1218.011"


def test_a_name_from_an_older_attack_version_resolves_to_the_technique() -> None:
    assert top_technique("credential dumping") == "T1003"


@pytest.mark.parametrize(
    "text",
    [
        "exfiltration over alternative protocol",
        "protocol alternative exfiltration",
        "exfiltraton over alternativ protocl",
        "exfil over alternative protocol",
        "Exfiltration-Over-Alternative-Protocol",
    ],
)
def test_names_match_with_typos_any_word_order_and_abbreviations(text: str) -> None:
    assert top_technique(text) == "T1048"


def test_a_parent_technique_beats_its_sub_technique_on_the_parent_name() -> None:
    assert top_technique("os credential dumping") == "T1003"


def test_shorthand_from_the_alias_file_resolves() -> None:
    assert top_technique("rdp") == "T1021.001"
    assert top_technique("mfa fatigue") == "T1621"


# ---------------------------------------------------------------- capabilities


@pytest.mark.parametrize(
    "text", ["SC-07", "SC-7", "sc7", "sc07", "SC 7", "sc-07", "Sc-7", "sc 7", "sc_7", "sc.7", "sc - 07"]
)
def test_a_nist_control_is_recognised_in_every_common_form(text: str) -> None:
    assert top_capability(text) == ("nist_800_53", "SC-07")


def test_a_nist_enhancement_falls_back_to_its_control_with_a_note() -> None:
    res = r("AC-2(1)")
    assert (res.capabilities[0].id, res.capabilities[0].note) == (
        "AC-02",
        "AC-2(1) is an enhancement; showing AC-02",
    )


def test_a_family_that_is_an_english_word_and_a_number_apart_are_not_a_control() -> None:
    assert r("at 3 we saw phishing").capabilities == ()


def test_a_lower_case_family_and_number_apart_are_a_control_only_if_it_exists() -> None:
    assert r("sc 99").capabilities == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PR.DS-01.01", ("cri_profile", "PR.DS-01.01")),
        ("pr.ds-1.1", ("cri_profile", "PR.DS-01.01")),
        ("A&A-01", ("csa_ccm", "A&A-01")),
        ("a&amp;a-1", ("csa_ccm", "A&A-01")),
        ("cve-2023-34362", ("kev", "CVE-2023-34362")),
        ("CVE 2023 34362", ("kev", "CVE-2023-34362")),
        ("def-capp-e5", ("m365", "DEF-CAPP-E5")),
        ("DEF-CAPP", ("m365", "DEF-CAPP-E5")),
        ("Amazon_GuardDuty", ("aws", "amazon_guardduty")),
        ("guardduty", ("aws", "amazon_guardduty")),
        ("aws kms", ("aws", "aws_key_management_service")),
        ("ACTION.HACKING.VARIETY.Brute Force", ("veris", "action.hacking.variety.brute force")),
        ("intel-tdt", ("intel-vpro", "intel-tdt")),
        ("moveit", ("kev", "CVE-2023-34362")),
        ("least privlege", ("nist_800_53", "AC-06")),
    ],
)
def test_capabilities_of_every_framework_resolve_to_canonical_ids(
    text: str, expected: tuple[str, str]
) -> None:
    assert top_capability(text) == expected


def test_a_cve_outside_the_loaded_kev_data_is_kept_with_a_note() -> None:
    res = r("CVE-2099-12345")
    assert (res.intent, res.capabilities[0].id) == ("cve", "CVE-2099-12345")
    assert res.notes


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("SC", "SC"),
        ("sc family", "SC"),
        ("access control family", "AC"),
        ("entra id", "entra-id"),
        ("PR.DS", "PR.DS"),
        ("action.hacking", "action.hacking"),
    ],
)
def test_capability_groups_resolve(text: str, group: str) -> None:
    res = r(text)
    assert (res.intent, res.groups[0].id) == ("family", group)


def test_a_cloud_product_is_a_capability_not_a_group() -> None:
    res = r("amazon guardduty")
    assert res.intent == "capability" and res.groups == ()


# ---------------------------------------------------------------- frameworks and filters


@pytest.mark.parametrize(
    ("text", "frameworks"),
    [
        ("what mitigates T1048 in azure", ("azure",)),
        ("T1048 o365", ("m365",)),
        ("T1048 office 365", ("m365",)),
        ("T1048 google cloud", ("gcp",)),
        ("T1048 cisa", ("kev",)),
        ("T1048 800-53", ("nist_800_53",)),
        ("T1048 intel vpro", ("intel-vpro",)),
        ("T1048 csa ccm", ("csa_ccm",)),
        ("T1048 cri profile", ("cri_profile",)),
        ("T1048 amazon", ("aws",)),
        ("T1048 veris", ("veris",)),
        ("T1048 microsoft 365 and aws", ("m365", "aws")),
    ],
)
def test_framework_words_fill_frameworks_and_are_not_entities(text: str, frameworks: tuple[str, ...]) -> None:
    res = r(text)
    assert res.frameworks == frameworks
    assert [t.id for t in res.techniques] == ["T1048"] and res.capabilities == ()


def test_rev4_sets_the_framework_version_and_names_nist() -> None:
    res = r("T1048 rev4")
    assert (res.filters.framework_version, res.frameworks) == ("rev4", ("nist_800_53",))


def test_attack_version_is_a_filter() -> None:
    assert r("attack 14.1 T1048").filters.attack_version == "14.1"


def test_significant_only_sets_the_minimum_score() -> None:
    assert r("T1048 significant only").filters.min_score == "significant"


@pytest.mark.parametrize(
    ("text", "categories"),
    [
        ("how do I detect T1048", ("detect",)),
        ("prevent T1048", ("protect",)),
        ("respond to T1048", ("respond",)),
        ("T1048 detection and response", ("detect", "respond")),
    ],
)
def test_category_words_become_filters(text: str, categories: tuple[str, ...]) -> None:
    res = r(text)
    assert res.filters.categories == categories and [t.id for t in res.techniques] == ["T1048"]


def test_a_category_noun_inside_a_control_name_is_not_a_filter() -> None:
    res = r("boundary protection")
    assert res.filters.categories == () and res.capabilities[0].id == "SC-07"


def test_a_domain_word_prefers_that_domain() -> None:
    res = r("mobile phishing")
    assert (res.filters.domain, res.techniques[0].id) == ("mobile", "T1660")


def test_without_a_domain_word_enterprise_wins() -> None:
    assert top_technique("phishing") == "T1566"


# ---------------------------------------------------------------- intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("T1048", "technique"),
        ("SC-07", "capability"),
        ("does SC-07 cover T1048?", "pair"),
        ("does boundary protection cover exfiltration over alternative protocol", "pair"),
        ("SC family", "family"),
        ("CVE-2023-34362", "cve"),
        ("compare T1048 across frameworks", "compare"),
        ("T1048 nist vs m365", "compare"),
        ("T1048 aws azure gcp", "technique"),
        ("azure", "framework"),
        ("help", "help"),
        ("", "help"),
        ("   ", "help"),
        ("xyzzy plugh", "unknown"),
    ],
)
def test_intent(text: str, intent: str) -> None:
    assert r(text).intent == intent


def test_filler_words_never_become_entities() -> None:
    res = r("what controls mitigate T1048, and how do I detect it?")
    assert [t.id for t in res.techniques] == ["T1048"] and res.capabilities == () and res.groups == ()


def test_a_name_next_to_an_id_must_be_convincing_to_count() -> None:
    res = r("T1048 detection")
    assert res.intent == "technique" and res.capabilities == ()


def test_an_ambiguous_word_offers_up_to_five_alternatives_that_resolve_exactly() -> None:
    res = r("exfiltration")
    assert res.intent == "unknown" and 1 <= len(res.alternatives) <= 5
    for alt in res.alternatives:
        assert r(alt.query).techniques[0].id == alt.id


def test_a_clear_best_guess_has_no_alternatives() -> None:
    assert r("exfiltration over alternative protocol").alternatives == ()


# ---------------------------------------------------------------- hostile input and the JSON contract


def test_slack_broadcasts_and_mentions_are_ignored() -> None:
    res = r("<!channel> <@U123|bob> <#C42|soc> T1048")
    assert [t.id for t in res.techniques] == ["T1048"] and res.alternatives == ()


def test_the_query_is_echoed_as_typed() -> None:
    assert r("  T1048 in Azure ").query == "T1048 in Azure"


def test_to_json_has_the_cli_contract_shape() -> None:
    data = json.loads(json.dumps(r("does SC-7 cover t1048.3 in azure, significant only").to_json()))
    assert set(data) >= {
        "query",
        "techniques",
        "capabilities",
        "frameworks",
        "filters",
        "intent",
        "alternatives",
    }
    assert data["techniques"] == [
        {"id": "T1048.003", "name": "Exfiltration Over Unencrypted Non-C2 Protocol", "score": 100.0}
    ]
    assert data["capabilities"] == [
        {"framework": "nist_800_53", "id": "SC-07", "name": "Boundary Protection", "score": 100.0}
    ]
    assert (data["frameworks"], data["intent"], data["filters"]["min_score"]) == (
        ["azure"],
        "pair",
        "significant",
    )


@pytest.mark.parametrize(
    ("url", "framework", "entity", "version"),
    [
        (
            "https://center-for-threat-informed-defense.github.io/mappings-explorer/external/nist/attack-14.1/"
            "domain-enterprise/nist-rev5/SC-07/",
            "nist_800_53",
            "SC-07",
            "rev5",
        ),
        (
            "https://center-for-threat-informed-defense.github.io/mappings-explorer/external/m365/attack-16.1/"
            "domain-enterprise/m365-07.18.2025/DEF-CAPP-E5/",
            "m365",
            "DEF-CAPP-E5",
            "07/18/2025",
        ),
        (
            "https://center-for-threat-informed-defense.github.io/mappings-explorer/external/nist/attack-14.1/"
            "domain-enterprise/nist-rev5/AC/",
            "nist_800_53",
            "AC",
            "rev5",
        ),
    ],
)
def test_a_mappings_explorer_url_names_its_capability_or_group_and_release(
    url: str, framework: str, entity: str, version: str
) -> None:
    res = r(f"<{url}|mappings explorer>")
    got = [c.id for c in res.capabilities] + [g.id for g in res.groups]
    assert got == [entity] and res.frameworks == (framework,)
    assert res.filters.framework_version == version and res.filters.attack_version in ("14.1", "16.1")
