"""The one-paragraph summary of an ATT&CK object's description (techniques, mitigations, threats,
data components): plain text that reads as a finished sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.reads.lines import summarise_description
from tests.stix_facts import bundle_objects


def test_citations_links_and_markup_are_stripped_from_the_first_paragraph() -> None:
    link = "[Rclone](https://attack.mitre.org/software/S1040)"
    text = f"Adversaries may use {link} <b>copy</b>.(Citation: X)\n\nMore."
    assert summarise_description(text) == "Adversaries may use Rclone copy."


def test_a_lead_in_to_a_list_is_dropped_when_the_paragraph_says_something_before_it() -> None:
    text = "Employ firewalls to filter traffic. It takes these measures:\n\n- Ingress: ports\n- Egress"
    assert summarise_description(text) == "Employ firewalls to filter traffic."


def test_a_lead_in_without_a_space_after_the_previous_sentence_is_still_a_sentence() -> None:
    assert summarise_description("Audit accounts.This can be done as follows:\n\nA:") == "Audit accounts."


def test_a_paragraph_that_is_only_a_lead_in_is_followed_by_the_first_items_of_its_list() -> None:
    items = "* a compromised site\n* a bucket\n  * nested\n* ads\n* mail"
    text = f"Delivery happens in several ways, including:\n\n{items}"
    assert summarise_description(text) == (
        "Delivery happens in several ways, including: a compromised site; a bucket; ads; …"
    )
    assert summarise_description("Seen as:\n\n- one\n- two.") == "Seen as: one; two."


def test_a_lead_in_with_no_list_after_it_ends_as_a_sentence() -> None:
    assert summarise_description("Examples of this are:\n\nIngress filtering:") == "Examples of this are."


@pytest.mark.parametrize("domain", ["enterprise", "mobile", "ics"])
def test_no_summary_in_the_bundles_ends_on_a_colon(corpus_dir: Path, domain: str) -> None:
    described = [
        o for o in bundle_objects(corpus_dir, domain) if o.get("description") and o["type"] != "relationship"
    ]
    ending = [o.get("name") for o in described if summarise_description(o["description"]).endswith(":")]
    leading_in = [o for o in described if o["description"].split("\n\n")[0].rstrip().endswith(":")]
    assert leading_in, "the bundle has descriptions whose first paragraph introduces a list"
    assert ending == []
