"""The alias file: validated with clear errors, extendable by admins, and every shipped alias
backed by ATT&CK's own words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.config import Settings
from bot.resolve import AliasError, ResolverIndex, load_aliases, parse_aliases, resolve
from bot.resolve.aliases import DEFAULT_ALIAS_FILE, read_alias_file
from tests.test_resolve_unit import small_source


def test_the_shipped_alias_file_is_valid_and_not_trivial() -> None:
    aliases = read_alias_file(DEFAULT_ALIAS_FILE)
    assert len(aliases.aliases) >= 50 and aliases.abbreviations


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["rdp"], "expected a mapping"),
        ({"alias": []}, "unknown top-level key"),
        ({"aliases": [{"terms": ["rdp"]}]}, "needs a target"),
        ({"aliases": [{"terms": [], "technique": "T1021"}]}, "'terms' must be"),
        ({"aliases": [{"terms": ["rdp"], "technique": "1021"}]}, "is not a technique ID"),
        (
            {"aliases": [{"terms": ["kms"], "framework": "amazon", "capability": "x"}]},
            "'framework' must be one of",
        ),
        ({"aliases": [{"terms": ["x"], "technique": "T1021", "capability": "y"}]}, "not both"),
        ({"aliases": [{"terms": ["x"], "technique": "T1021", "colour": "y"}]}, "unknown key"),
        (
            {"aliases": [{"terms": ["rdp"], "technique": "T1021"}, {"terms": ["RDP"], "technique": "T1047"}]},
            "already",
        ),
        ({"abbreviations": {"two words": "x"}}, "single word"),
    ],
)
def test_a_malformed_alias_file_is_refused_with_the_file_and_entry_named(raw: Any, message: str) -> None:
    with pytest.raises(AliasError, match=message) as info:
        parse_aliases(raw, "admin.yaml")
    assert str(info.value).startswith("admin.yaml")


def test_an_unreadable_alias_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("aliases: [terms: {", encoding="utf-8")
    with pytest.raises(AliasError, match=r"broken\.yaml: not valid YAML"):
        read_alias_file(bad)
    with pytest.raises(AliasError, match=r"missing\.yaml: cannot read"):
        read_alias_file(tmp_path / "missing.yaml")


def test_an_admin_alias_file_from_the_settings_extends_the_resolver(tmp_path: Path) -> None:
    extra = tmp_path / "ours.yaml"
    extra.write_text(
        "aliases:\n  - terms: [crown jewels exfil]\n    technique: T1048\n"
        "  - terms: [our waf]\n    framework: aws\n    capability: amazon_guardduty\n",
        encoding="utf-8",
    )
    aliases = load_aliases(Settings(alias_files=(extra,)))
    index = ResolverIndex.from_source(small_source(), aliases=aliases)
    assert resolve(index, "crown jewels exfil").techniques[0].id == "T1048"
    assert resolve(index, "our waf").capabilities[0].id == "amazon_guardduty"
    without = ResolverIndex.from_source(small_source(), aliases=load_aliases(Settings()))
    assert not resolve(without, "crown jewels exfil").techniques


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def test_every_technique_alias_is_supported_by_the_techniques_own_attack_text(corpus_engine: Engine) -> None:
    from store.models import Technique

    with corpus_engine.connect() as conn:
        descriptions = {
            row.attack_id: _norm(f"{row.name} {row.description or ''}")
            for row in conn.execute(
                select(Technique.attack_id, Technique.name, Technique.description).where(
                    Technique.revoked.is_(False)
                )
            )
        }
    unsupported = []
    for alias in read_alias_file(DEFAULT_ALIAS_FILE).aliases:
        if alias.kind != "technique":
            continue
        if alias.id not in descriptions:
            unsupported.append(f"{alias.term!r}: {alias.id} is not a current ATT&CK technique")
        elif not alias.quote or _norm(alias.quote) not in descriptions[alias.id]:
            unsupported.append(f"{alias.term!r}: quote {alias.quote!r} is not in {alias.id}'s description")
    assert not unsupported, "\n".join(unsupported)


def _initials(name: str) -> str:
    return "".join(
        w[0] for w in re.findall(r"[A-Za-z0-9]+", name) if w.lower() not in {"and", "for", "of", "the"}
    )


def test_every_capability_alias_is_an_initialism_its_id_a_nickname_or_the_explorer_sites_id(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    from store.ids import canonical_capability_id
    from store.models import Capability

    site = _norm((corpus_dir / "reference" / "T1048-technique-page.txt").read_text(encoding="utf-8"))

    with corpus_engine.connect() as conn:
        names = {
            (row.framework, row.capability_id): row.name or ""
            for row in conn.execute(select(Capability.framework, Capability.capability_id, Capability.name))
        }
    problems = []
    for alias in read_alias_file(DEFAULT_ALIAS_FILE).aliases:
        if alias.kind != "capability":
            continue
        key = (alias.framework or "", canonical_capability_id(alias.framework or "", alias.id))
        if key not in names:
            problems.append(f"{alias.term!r}: {key} is not a loaded capability")
            continue
        if alias.framework == "m365" and alias.quote:  # the site's ID: "ID Name" as the site shows it
            shown_id, _, shown_name = alias.quote.partition(" ")
            if _norm(alias.quote) not in site or shown_name != names[key] or alias.term not in shown_id:
                problems.append(f"{alias.term!r}: {alias.quote!r} is not how the site shows {names[key]!r}")
            continue
        if alias.framework == "kev":  # a vulnerability nickname: its quote names the product
            if not alias.quote or alias.quote.casefold() not in names[key].casefold():
                problems.append(f"{alias.term!r}: quote {alias.quote!r} is not in {key[1]} {names[key]!r}")
            continue
        term = alias.term.replace(" ", "").lower()
        initials = _initials(names[key]).lower()
        if not (term in initials or term in key[1].lower().replace("-", "").replace("_", "")):
            problems.append(f"{alias.term!r} is neither an initialism of {names[key]!r} nor part of {key[1]}")
    assert not problems, "\n".join(problems)
