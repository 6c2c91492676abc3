"""Golden answers: ``countermap ask --json`` for 1,000 seeded random questions, as sha256 hashes.

The questions are drawn from the loaded corpus with a fixed seed (techniques by ID and by name,
controls, pairs, CVEs, compare, control families, framework questions, several controls, pivots,
release diffs, and each with framework / release / ATT&CK version / domain filters), answered
in-process through the same path as ``countermap ask --json`` (``Answerer.read`` and
``bot.cli.ask_cmd.answer_json``), and each answer's JSON hashed.  Only the hashes are committed
(``tests/golden_answers.json``): no corpus data enters the repository.
The Slack message each question gets (``ask --blocks``) is hashed too.

A change that alters answers on purpose regenerates them, in the same commit, with

    COUNTERMAP_CORPUS=../shared .venv/bin/python -m tests.golden_answers --write

(``--db URL`` answers from an already ingested database instead of a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Engine, select

from bot.answer import Answerer
from bot.cli.ask_cmd import answer_json
from bot.config import Settings
from store.db import make_engine, session_scope
from store.models import Capability, Mapping, Release, Technique
from store.views import Filters

GOLDEN_FILE = Path(__file__).with_name("golden_answers.json")
SEED = 11
COUNT = 1000


@dataclass(frozen=True, slots=True)
class Question:
    """One ``countermap ask`` invocation: the text and its options."""

    text: str
    frameworks: tuple[str, ...] = ()
    framework_version: str | None = None
    attack_version: str | None = None
    domain: str | None = None

    def key(self) -> str:
        return json.dumps(
            [self.text, self.frameworks, self.framework_version, self.attack_version, self.domain]
        )


def _corpus_facts(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """What questions are drawn from, each list sorted so the seed alone decides the draw."""
    with session_scope(engine) as s:
        techniques = sorted(
            (str(t), str(n or ""), str(d or ""))
            for t, n, d in s.execute(select(Technique.attack_id, Technique.name, Technique.domain).distinct())
        )
        mapped = sorted({(str(t),) for t in s.scalars(select(Mapping.attack_id).distinct()) if t})
        caps = sorted(
            (str(fw), str(cid), str(written or cid), str(group or ""))
            for fw, cid, written, group in s.execute(
                select(
                    Capability.framework, Capability.capability_id, Capability.id_as_written, Capability.group
                ).distinct()
            )
        )
        pairs = sorted(
            (str(t), str(written or cid), str(fw))
            for t, cid, written, fw in s.execute(
                select(
                    Mapping.attack_id,
                    Mapping.capability_id,
                    Mapping.capability_id_as_written,
                    Mapping.framework,
                )
                .where(Mapping.attack_id.is_not(None), Mapping.capability_id.is_not(None))
                .distinct()
            )
        )
        releases = sorted(
            (str(fw), str(fv), str(av), str(dom))
            for fw, fv, av, dom in s.execute(
                select(Release.framework, Release.framework_version, Release.attack_version, Release.domain)
            )
        )
    return {
        "techniques": techniques,
        "mapped": mapped,
        "caps": [c for c in caps if c[0] != "kev"],
        "cves": [c for c in caps if c[0] == "kev"],
        "groups": sorted({(c[0], c[3]) for c in caps if c[3] and c[0] == "nist_800_53"}),
        "pairs": pairs,
        "releases": releases,
    }


def questions(engine: Engine, n: int = COUNT, seed: int = SEED) -> list[Question]:
    """``n`` questions drawn with ``seed``: a fixed rotation of kinds, each with random parts."""
    facts = _corpus_facts(engine)
    rng = random.Random(seed)
    frameworks = sorted({r[0] for r in facts["releases"]})
    out: list[Question] = []

    def release_filter(fw: str | None = None) -> dict[str, str | None]:
        pool = [r for r in facts["releases"] if fw is None or r[0] == fw] or facts["releases"]
        _, fv, av, dom = rng.choice(pool)
        pick = rng.randrange(4)
        return {
            "framework_version": fv if pick in (0, 3) else None,
            "attack_version": av if pick in (1, 3) else None,
            "domain": dom if pick == 2 else None,
        }

    kinds = (
        "technique", "technique_name", "capability", "pair", "cve", "compare", "group", "framework",
        "technique_fw", "technique_filtered", "capability_filtered", "pair_filtered", "mapped_only",
        "several", "pivot", "diff", "junk",
    )  # fmt: skip
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "technique":
            out.append(Question(rng.choice(facts["techniques"])[0]))
        elif kind == "technique_name":
            tid, name, _ = rng.choice(facts["techniques"])
            out.append(Question(name.lower() or tid))
        elif kind == "capability":
            out.append(Question(rng.choice(facts["caps"])[2]))
        elif kind == "pair":
            t, cap, _ = rng.choice(facts["pairs"])
            out.append(Question(f"{t} {cap}"))
        elif kind == "cve":
            out.append(Question(rng.choice(facts["cves"])[2]))
        elif kind == "compare":
            out.append(Question(f"compare {rng.choice(facts['mapped'])[0]}"))
        elif kind == "group":
            fw, group = rng.choice(facts["groups"])
            out.append(Question(f"{group} family"))
        elif kind == "framework":
            out.append(Question(rng.choice(frameworks)))
        elif kind == "technique_fw":
            fws = tuple(sorted(rng.sample(frameworks, rng.randint(1, 3))))
            out.append(Question(rng.choice(facts["mapped"])[0], frameworks=fws))
        elif kind == "technique_filtered":
            fw = rng.choice(frameworks)
            out.append(Question(rng.choice(facts["mapped"])[0], frameworks=(fw,), **release_filter(fw)))
        elif kind == "capability_filtered":
            fw, _, written, _ = rng.choice(facts["caps"])
            out.append(Question(written, **release_filter(fw)))
        elif kind == "pair_filtered":
            t, cap, fw = rng.choice(facts["pairs"])
            out.append(Question(f"{t} {cap}", **release_filter(fw)))
        elif kind == "mapped_only":
            out.append(Question(rng.choice(facts["mapped"])[0], frameworks=(rng.choice(frameworks),)))
        elif kind == "several":
            a, b = rng.sample([c for c in facts["caps"] if c[0] == "nist_800_53"], 2)
            out.append(Question(f"{a[2]} {b[2]}"))
        elif kind == "pivot":
            cap = rng.choice([c for c in facts["caps"] if c[0] == "nist_800_53"])
            out.append(Question(f"{cap[2]} in {rng.choice([f for f in frameworks if f != 'nist_800_53'])}"))
        elif kind == "diff":
            out.append(Question(f"{rng.choice(facts['mapped'])[0]} rev4 vs rev5"))
        else:
            tid, name, _ = rng.choice(facts["techniques"])
            word = name.split()[0].lower() if name else "zzz"
            out.append(Question(f"what about {word[::-1]} {rng.randint(0, 999)}"))
    return out


def answer_hashes(engine: Engine, items: list[Question]) -> list[str]:
    """sha256 of each question's ``ask --json`` output, answered as the CLI answers it."""
    answerer = Answerer(engine, Settings())
    out = []
    for q in items:
        result = answerer.read(
            q.text,
            frameworks=q.frameworks,
            filters=Filters(
                framework_version=q.framework_version, attack_version=q.attack_version, domain=q.domain
            ),
        )
        out.append(hashlib.sha256(answer_json(result)).hexdigest())
    return out


def payload_hashes(engine: Engine, items: list[Question]) -> list[str]:
    """sha256 of each question's Slack message (``ask --blocks``: text and blocks), so a move of
    wording or URLs from the reads into ``bot.render`` is checked to say the same."""
    answerer = Answerer(engine, Settings())
    out = []
    for q in items:
        result = answerer.answer(
            q.text,
            frameworks=q.frameworks,
            filters=Filters(
                framework_version=q.framework_version, attack_version=q.attack_version, domain=q.domain
            ),
        )
        out.append(hashlib.sha256(orjson.dumps(result.payload.to_dict())).hexdigest())
    return out


def questions_digest(items: list[Question]) -> str:
    """One hash of the drawn questions: tells a changed draw (other data, other generator)
    from changed answers."""
    return hashlib.sha256("\n".join(q.key() for q in items).encode()).hexdigest()


def record(engine: Engine) -> dict[str, object]:
    items = questions(engine)
    return {
        "seed": SEED,
        "count": len(items),
        "questions_sha256": questions_digest(items),
        "answers_sha256": answer_hashes(engine, items),
        "payloads_sha256": payload_hashes(engine, items),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {GOLDEN_FILE.name}")
    parser.add_argument("--db", help="an ingested database URL (default: ingest the corpus into a temp file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db
        if not url:
            from store.ingest import ingest_paths

            default = Path(__file__).resolve().parents[2] / "shared"
            corpus = Path(os.environ.get("COUNTERMAP_CORPUS") or default)
            url = f"sqlite:///{Path(tmp) / 'corpus.db'}"
            ingest_paths(make_engine(url), [corpus])
        engine = make_engine(url)
        try:
            got = record(engine)
        finally:
            engine.dispose()
    if args.write:
        GOLDEN_FILE.write_text(json.dumps(got, indent=1) + "\n")
        print(f"wrote {GOLDEN_FILE} ({got['count']} answers)")
        return 0
    want = json.loads(GOLDEN_FILE.read_text())
    failed = got["questions_sha256"] != want["questions_sha256"]
    for what in ("answers_sha256", "payloads_sha256"):
        pairs = zip(got[what], want[what], strict=True)  # type: ignore[call-overload]
        bad = [i for i, (a, b) in enumerate(pairs) if a != b]
        print(f"{what}: {len(bad)} of {got['count']} differ" + (f": {bad[:20]}" if bad else ""))
        failed = failed or bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
