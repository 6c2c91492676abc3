"""Resolver benchmark on the full corpus: index build time, resolve latency, index memory.

    .venv/bin/python bench/resolve.py [--db URL] [--corpus ../shared] [--queries 2000]

Without ``--db`` the corpus is ingested into a temporary SQLite file first (not timed).
Targets (issues 3 and 12): build ≤ 1.5 s with the text index, p50 ≤ 0.3 ms, p99 ≤ 2 ms, worst
≤ 20 ms, memory ≤ 100 MB; top-1 ≥ 97% on the development set.  Understanding is reported on the
development sets (tests/resolve_cases.yaml, tests/resolve_paraphrases.yaml) and on the procedure
split (tests/procedure_split.py), each with names only ("before") and with the text index.
The machine is shared, so each figure is also given relative to a reference measured in the
same run: one plain ``rapidfuzz.process.extractOne`` over every indexed name (the naive
resolver), which moves with the machine's load the same way ours does.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def make_queries(index: object, n: int, seed: int = 7) -> list[str]:
    """Real questions (IDs, names with typos, shorthand, pairs) and garbage up to 4,000 chars."""
    import yaml

    from bot.resolve.index import ResolverIndex

    assert isinstance(index, ResolverIndex)
    rng = random.Random(seed)
    cases = yaml.safe_load((ROOT / "tests" / "resolve_cases.yaml").read_text(encoding="utf-8"))
    real = [c["q"] for c in cases]
    techniques = [e for e in index.entries if e.kind == "technique"]
    capabilities = [e for e in index.entries if e.kind == "capability"]

    def typo(s: str) -> str:
        if len(s) < 4:
            return s
        i = rng.randrange(1, len(s) - 1)
        return s[:i] + s[i + 1 :] if rng.random() < 0.5 else s[:i] + s[i + 1] + s[i] + s[i + 2 :]

    def garbage(length: int) -> str:
        alphabet = (
            "abcdefghijklmnopqrstuvwxyz0123456789 .-_/()[]*+?$^|\\<>!@#&;'\""
            "\x00\x07\u202e\u05d0\u0627\u4e2d\U0001f600"
        )
        return "".join(rng.choice(alphabet) for _ in range(length))

    out: list[str] = []
    while len(out) < n:
        r = rng.random()
        if r < 0.25:
            out.append(rng.choice(real))
        elif r < 0.45:
            out.append(rng.choice(techniques).id.lower())
        elif r < 0.65:
            out.append(typo(rng.choice(techniques).name.lower()))
        elif r < 0.75:
            c = rng.choice(capabilities)
            out.append(f"does {c.id} cover {rng.choice(techniques).id}")
        elif r < 0.85:
            out.append(
                f"what mitigates {rng.choice(techniques).name} in {rng.choice(['azure', 'aws', 'nist rev4'])}"
            )
        elif r < 0.95:
            out.append(garbage(rng.choice([5, 40, 200, 1000])))
        else:
            out.append(garbage(4000) if rng.random() < 0.5 else (rng.choice(real) + " ") * 200)
    return [q[:4000] for q in out[:n]]


def reference_count(src: object) -> None:
    """The least a text index does: every word of the same ATT&CK text counted per field
    (re.findall over the lower-cased text, a Counter each), no stemming, weighting or postings."""
    import re
    from collections import Counter

    word = re.compile(r"[a-z0-9]+")
    for doc in src.documents.values():  # type: ignore[attr-defined]
        for texts in (
            (doc.description,),
            [p.text for p in doc.procedures],
            doc.detections,
            doc.mitigations,
            doc.software,
        ):
            Counter(word.findall("\n".join(texts).lower()))


def accuracy(index: object, cases: list[dict[str, object]]) -> float:
    from bot.resolve import resolve
    from tests.test_resolve_accuracy import check_case

    return sum(not check_case(c, resolve(index, str(c["q"]))) for c in cases) / max(len(cases), 1)  # type: ignore[arg-type]


def split_scores(index: object, held: list[object]) -> tuple[float, float]:
    """Top-1 and top-3 (answers, then "did you mean" alternatives) over held-out questions."""
    from bot.resolve import resolve

    top1 = top3 = 0
    for h in held:
        res = resolve(index, h.question)  # type: ignore[arg-type, attr-defined]
        ids = [t.id for t in res.techniques] + [a.id for a in res.alternatives if a.kind == "technique"]
        top1 += bool(res.techniques) and res.techniques[0].id == h.technique  # type: ignore[attr-defined]
        top3 += h.technique in ids[:3]  # type: ignore[attr-defined]
    return top1 / max(len(held), 1), top3 / max(len(held), 1)


def understanding(src: object, aliases: object, index: object) -> None:
    """Development sets and the procedure split, names only against names + text."""
    import dataclasses

    import yaml

    from bot.resolve import ResolverIndex
    from bot.resolve.textindex import TextIndex
    from tests.procedure_split import split

    names_only = dataclasses.replace(index, text=TextIndex())  # type: ignore[type-var]
    for label, path in (
        ("development set", "resolve_cases.yaml"),
        ("paraphrases", "resolve_paraphrases.yaml"),
    ):
        cases = yaml.safe_load((ROOT / "tests" / path).read_text(encoding="utf-8"))
        print(
            f"{label} ({path}, {len(cases)} cases): top-1 {accuracy(names_only, cases):.1%} names only, "
            f"{accuracy(index, cases):.1%} with the text index"
        )
    split_src, held = split(src)  # type: ignore[arg-type]
    t = time.perf_counter()
    split_index = ResolverIndex.from_source(split_src, aliases=aliases)  # type: ignore[arg-type]
    built = time.perf_counter() - t
    before = split_scores(dataclasses.replace(split_index, text=TextIndex()), held)  # type: ignore[list-item]
    after = split_scores(split_index, held)  # type: ignore[arg-type]
    print(
        f"procedure split ({len(held)} held-out examples of {len({h.technique for h in held})} techniques, "
        f"index rebuilt without them in {built:.2f} s): top-1 {before[0]:.1%} → {after[0]:.1%}, "
        f"top-3 {before[1]:.1%} → {after[1]:.1%} (names only → with the text index)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", help="a database holding the corpus (default: ingest into a temp SQLite file)"
    )
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared"))
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--no-understanding", action="store_true", help="skip the accuracy figures")
    args = parser.parse_args()

    from rapidfuzz import fuzz, process

    from bot.resolve import ResolverIndex, load_aliases, resolve
    from store.db import make_engine, session_scope
    from store.reads.data_version import data_version
    from store.reads.resolver_source import source_from_session

    url = args.db
    tmp = None
    if not url:
        from store.ingest import ingest_paths

        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/corpus.db"
        print(f"ingesting {args.corpus} into {url} (not timed) …", flush=True)
        ingest_paths(make_engine(url), [Path(args.corpus)])
    engine = make_engine(url)
    aliases = load_aliases()

    import dataclasses

    builds, reads, indexing, versions, names_only, counting = [], [], [], [], [], []
    index = None
    for _ in range(args.builds):
        with session_scope(engine) as session:
            t0 = time.perf_counter()
            src = source_from_session(session)
            t1 = time.perf_counter()
            index = ResolverIndex.from_source(src, aliases=aliases)
            t2 = time.perf_counter()
            data_version(session)
            t3 = time.perf_counter()
            ResolverIndex.from_source(dataclasses.replace(src, documents={}), aliases=aliases)
            t4 = time.perf_counter()
            reference_count(src)
            t5 = time.perf_counter()
        reads.append((t1 - t0) * 1e3)
        indexing.append((t2 - t1) * 1e3)
        builds.append((t2 - t0) * 1e3)
        versions.append((t3 - t2) * 1e3)
        names_only.append((t4 - t3) * 1e3)
        counting.append((t5 - t4) * 1e3)
    assert index is not None

    gc.collect()
    tracemalloc.start()
    with session_scope(engine) as session:
        src = source_from_session(session)
        before = tracemalloc.get_traced_memory()[0]
        mem_index = ResolverIndex.from_source(src, aliases=aliases)
        after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del mem_index

    queries = make_queries(index, args.queries)
    # As the served bot does after start-up (bot/slack/runtime.py): the long-lived index is moved
    # out of the cyclic collector's way, so a full collection does not walk it mid-question.
    gc.collect()
    gc.freeze()
    for q in queries[:200]:  # warm caches the way a running bot has them warm
        resolve(index, q)
    # Three passes; each query's figure is its fastest pass, which filters out the stalls a
    # shared machine adds (the single-pass figures are printed too).
    passes = []
    for _ in range(3):
        one = []
        for q in queries:
            t = time.perf_counter()
            resolve(index, q)
            one.append((time.perf_counter() - t) * 1e3)
        passes.append(one)
    lat = [min(p[i] for p in passes) for i in range(len(queries))]
    single = passes[0]

    names = [v for e in index.entries for v in (e.name,) if v]
    ref = []
    for q in queries[:300]:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            process.extractOne(q[:200], names, scorer=fuzz.WRatio)
            best = min(best, (time.perf_counter() - t) * 1e3)
        ref.append(best)
    ref_p50 = statistics.median(ref)

    p50, p99, worst = statistics.median(lat), percentile(lat, 99), max(lat)
    print(f"entries: {len(index.entries)} (name variants {len(index.variants)}, words {len(index.words)})")
    print(
        f"index build (median of {args.builds}): {statistics.median(builds):.0f} ms "
        f"= store reads {statistics.median(reads):.0f} ms + indexing {statistics.median(indexing):.0f} ms "
        f"(min {min(builds):.0f} ms)   target ≤ 1,500 ms"
    )
    print(
        f"  of which the text index: {statistics.median(indexing) - statistics.median(names_only):.0f} ms "
        f"(names alone index in {statistics.median(names_only):.0f} ms; text index "
        f"{len(index.text.vocab)} terms, {len(index.text.post_docs)} postings, {len(index.text)} techniques)"
    )
    text_ms = statistics.median(indexing) - statistics.median(names_only)
    count_ms = statistics.median(counting)
    print(
        f"  reference (the same text's words counted per field, re.findall + Counter): {count_ms:.0f} ms; "
        f"the text index takes {text_ms / count_ms:.2f}× it, the whole build "
        f"{statistics.median(builds) / count_ms:.2f}×"
    )
    print(f"data_version: {statistics.median(versions):.2f} ms")
    print(
        f"index memory (tracemalloc, allocated by the build): {(after - before) / 2**20:.1f} MB"
        "   target ≤ 100 MB"
    )
    print(
        f"resolve over {len(queries)} mixed queries (best of 3 passes): p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
        f"worst {worst:.2f} ms   targets 0.3 / 2 / 20 ms"
    )
    print(
        f"  single pass: p50 {statistics.median(single):.3f} ms, p99 {percentile(single, 99):.3f} ms, "
        f"worst {max(single):.2f} ms; questions under 200 characters: p99 "
        f"{percentile([x for x, q in zip(lat, queries, strict=True) if len(q) < 200], 99):.3f} ms"
    )
    print(
        f"reference (naive extractOne over {len(names)} names, first 200 chars): p50 {ref_p50:.3f} ms; "
        f"resolver p50 is {p50 / ref_p50:.2f}× the reference"
    )
    if not args.no_understanding:
        with session_scope(engine) as session:
            understanding(source_from_session(session), aliases, index)
    if tmp is not None:
        engine.dispose()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
