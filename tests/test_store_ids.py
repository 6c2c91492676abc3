"""Canonical IDs: one key per control however it is written."""

from __future__ import annotations

import pytest

from store.ids import attack_id_or_none, canonical_attack_id, canonical_capability_id, nearest_capability_ids


@pytest.mark.parametrize("raw", ["SC-7", "SC-07", "sc07", "sc-7", " SC 7 ", "SC-007"])
def test_nist_ids_padded_and_unpadded_are_one_control(raw: str) -> None:
    assert canonical_capability_id("nist_800_53", raw) == "SC-07"


@pytest.mark.parametrize("raw", ["AC-2(1)", "ac-02(01)", "AC-2.1", "AC-2 (1)"])
def test_nist_enhancements_are_padded_too(raw: str) -> None:
    assert canonical_capability_id("nist_800_53", raw) == "AC-02(01)"


def test_nist_three_digit_control_numbers_stay_whole() -> None:
    assert canonical_capability_id("nist_800_53", "SC-100") == "SC-100"


@pytest.mark.parametrize(
    ("framework", "raw", "expected"),
    [
        ("cri_profile", "gv.oc-1.1", "GV.OC-01.01"),
        ("cri_profile", "GV.OC-01", "GV.OC-01"),
        ("csa_ccm", "a&a-1", "A&A-01"),
        ("csa_ccm", "DSP-07", "DSP-07"),
        ("kev", "cve-2021-40539", "CVE-2021-40539"),
        ("m365", "def-air-e5", "DEF-AIR-E5"),
        ("aws", "Amazon_GuardDuty", "amazon_guardduty"),
        (
            "veris",
            "Action.Hacking.Variety.HTTP Response Splitting",
            "action.hacking.variety.http response splitting",
        ),
        ("veris", "action.hacking.vector.Command  shell", "action.hacking.vector.command shell"),
        ("some_future_framework", "  Mixed Case-1 ", "Mixed Case-1"),
    ],
)
def test_other_frameworks(framework: str, raw: str, expected: str) -> None:
    assert canonical_capability_id(framework, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("t1048", "T1048"),
        ("T1048.3", "T1048.003"),
        ("t1048/003", "T1048.003"),
        ("ta0010", "TA0010"),
        ("m1037", "M1037"),
    ],
)
def test_attack_ids(raw: str, expected: str) -> None:
    assert canonical_attack_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "T104", "1048", "M1037.001", "T1048.0001", "Exfiltration"])
def test_not_attack_ids(raw: str) -> None:
    with pytest.raises(ValueError):
        canonical_attack_id(raw)
    assert attack_id_or_none(raw) is None


def test_nearest_capability_ids_stay_in_the_family_and_go_by_number() -> None:
    known = ["SC-07", "SC-08", "SC-44", "SI-02", "AC-04", "GV.OC-01"]
    assert nearest_capability_ids(known, "SC-09") == ["SC-08", "SC-07", "SC-44"]
    assert nearest_capability_ids(known, "GV.OC-03") == ["GV.OC-01"]
    assert nearest_capability_ids(known, "ZZ-01") == []
    assert nearest_capability_ids(known, "firewall") == []
