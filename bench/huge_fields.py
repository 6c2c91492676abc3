"""Huge data fields: the cost of a technique answer and of its Details page when one mapping has a
comment of 200 KB, 2 MB or 20 MB (and a capability name of 500,000 characters), against the same
answer with a 1 KB comment, measured in the same run (the machine is shared: compare ratios).

    .venv/bin/python bench/huge_fields.py [--sizes 200000,2000000,20000000] [--repeat 5]

Data: a small hand-written mapping file (never the real data), ingested into a temporary SQLite
file.  Rendering is what is timed; the view is read once.  Target (issue 17 item 10): no answer's
cost grows faster than its size, and Details costs about what it does for a short comment
(before: a 20 MB comment cost ~40 s of CPU per Details click, the comment cut quadratically).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/http.py would shadow the standard library's http package: the project root instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p and Path(p).resolve() != ROOT / "bench"]


def _view(folder: Path, comment_chars: int, name_chars: int) -> tuple[Any, Any, Any]:
    from store.db import make_engine, session_scope
    from store.ingest import ingest_paths
    from store.reads.dispatch import build_view
    from store.views import ViewRequest
    from tests.store_fixtures import mapping_document, mapping_row, write_json

    words = ("lorem ipsum dolor sit amet, consectetur adipiscing\n" * (comment_chars // 51 + 1))[
        :comment_chars
    ]
    rows = [
        mapping_row("SC-07", "T1048", comments=words, name="N" * name_chars),
        mapping_row("AC-2", "T1048", comments="a short comment"),
    ]
    path = write_json(folder / f"m{comment_chars}-{name_chars}.json", mapping_document(rows=rows))
    engine = make_engine(f"sqlite:///{folder / f'{comment_chars}-{name_chars}.db'}")
    ingest_paths(engine, [path])
    request = ViewRequest("technique", ("T1048",), frameworks=("nist_800_53",))
    with session_scope(engine) as session:
        view = build_view(session, request)
    engine.dispose()
    line = next(
        ln for sec in view.sections for g in sec.groups for ln in g.lines if ln.capability_id == "SC-07"
    )
    return view, request, line


def _time(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="200000,2000000,20000000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from bot.render.blocks import render_view
    from bot.render.limits import violations
    from bot.render.state import State

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(1_000, 40), *((n, 40) for n in sizes), (1_000, 500_000)]
        results = []
        for comment_chars, name_chars in cases:
            view, request, line = _view(Path(tmp), comment_chars, name_chars)
            answer, details = State(request), State(request, expanded=line.key)
            answer_ms = _time(lambda v=view, s=answer: render_view(v, s), args.repeat)
            details_ms = _time(lambda v=view, s=details: render_view(v, s), args.repeat)
            out = render_view(view, details)
            problems = violations({"text": out.text, "blocks": out.blocks})
            results.append((comment_chars, name_chars, answer_ms, details_ms, len(problems)))
    ref_answer, ref_details = results[0][2], results[0][3]
    print("render of a technique answer and its Details page (median of", args.repeat, "runs)")
    print(
        f"{'comment':>12} {'name':>9} {'answer ms':>10} {'x ref':>7} {'details ms':>11} {'x ref':>7} limits"
    )
    for comment_chars, name_chars, answer_ms, details_ms, problems in results:
        print(
            f"{comment_chars:>12,} {name_chars:>9,} {answer_ms:>10.2f} {answer_ms / ref_answer:>7.1f}"
            f" {details_ms:>11.2f} {details_ms / ref_details:>7.1f} {problems or 'ok'}"
        )
    print("reference: the first row (a 1 KB comment), measured in the same run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
