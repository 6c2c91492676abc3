"""License requirements pulled out of M365 comments, on the real comments and on the
headings' variants."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from store.licenses import extract_license_requirements


def _m365_comments(corpus_dir: Path) -> list[str]:
    out: list[str] = []
    for path in sorted((corpus_dir / "mappings" / "m365").rglob("*.json")):
        out += [
            o["comments"] for o in orjson.loads(path.read_bytes())["mapping_objects"] if o.get("comments")
        ]
    return out


def test_real_m365_comments_give_the_same_requirements_with_crlf_line_ends(corpus_dir: Path) -> None:
    comments = _m365_comments(corpus_dir)
    found = 0
    for text in comments:
        plain = extract_license_requirements(text)
        assert extract_license_requirements(text.replace("\n", "\r\n")) == plain
        if plain:
            found += 1
            assert "\n" not in plain and "\r" not in plain and plain == plain.strip()
    assert found >= 349  # data-notes: 349 rows of M365 07/18/2025 alone carry them


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("Detects it.\n\nLicense Requirements: \nMicrosoft Entra ID P2\n", "Microsoft Entra ID P2"),
        (
            "Detects it.\r\n\r\nLicense requirements: M365 E3 (or Defender for Office plan 1)",
            "M365 E3 (or Defender for Office plan 1)",
        ),
        (
            "Responds.\n\nRequired licenses\nE5 or Microsoft Defender for Office 365 Plan 2 licenses. ",
            "E5 or Microsoft Defender for Office 365 Plan 2 licenses.",
        ),
        (
            "Alerts.\n\n\nLicense: A Microsoft 365 security product license entitles customer use \n"
            " of Defender XDR.",
            "A Microsoft 365 security product license entitles customer use of Defender XDR.",
        ),
        (
            "A.\n\nLicense Requirements: \nME-ID (Free) \n\nLicense Requirements: \nME-ID (Free) ",
            "ME-ID (Free)",
        ),
        ("A.\n\nLicense Requirements: X\n\nAnother paragraph that is not about licenses.", "X"),
    ],
)
def test_heading_variants(comment: str, expected: str) -> None:
    assert extract_license_requirements(comment) == expected


@pytest.mark.parametrize(
    "comment",
    [
        None,
        "",
        "With the E5 licensing or Office Plan 2, ZAP also protects Teams.",
        "Unlicensed software is blocked.",
    ],
)
def test_comments_without_a_license_heading_give_none(comment: str | None) -> None:
    assert extract_license_requirements(comment) is None
