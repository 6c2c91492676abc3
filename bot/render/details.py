"""The Details page of one mapping (a Details click): both names, the mapping type and score,
the comment cut in linear time to what one page holds, license requirements and references."""

from __future__ import annotations

from bot import actions
from bot.render.markers import category_mark, with_feature
from bot.render.mrkdwn import clip, clip_escaped, code, esc, link, name_text, one_line
from bot.render.pages import Doc as _Doc
from bot.render.pages import Message as _Message
from bot.render.pages import button as _button
from bot.render.pages import packed as _packed
from bot.render.pages import provenance as _provenance
from bot.render.pages import score_suffix as _score
from bot.render.pages import section as _section
from bot.render.state import State
from store.threat_views import AnyView, DetectionView
from store.views import MappingLine, PairView, ReleaseRef, TechniqueView


def find_line(view: AnyView, key: str) -> tuple[MappingLine, ReleaseRef] | None:
    if isinstance(view, TechniqueView):
        for sec in view.sections:
            for g in sec.groups:
                for line in g.lines:
                    if line.key == key:
                        return line, sec.release
    if isinstance(view, PairView):
        for pr in view.releases:
            for line in pr.lines:
                if line.key == key:
                    return line, pr.release
    if isinstance(view, DetectionView):
        for ds in view.sections:
            for line in ds.lines:
                if line.key == key:
                    return line, ds.release
    return None


DETAIL_COMMENT_CHARS = 6_000  # of a comment on the Details page: one page, with its chrome
_COMMENT_CHUNK = 2_000


def chunks(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size``, cut at a line break or space when possible.
    Linear in ``len(text)``: it moves an index along the text and copies each piece once."""
    out = []
    start, end = 0, len(text.rstrip())
    while start < end and text[start].isspace():
        start += 1
    while start < end:
        if end - start <= size:
            out.append(text[start:end])
            break
        limit = start + size
        cut = text.rfind("\n", start, limit)
        if cut - start < size // 2:
            cut = text.rfind(" ", start, limit)
        if cut <= start:
            cut = limit
        out.append(text[start:cut].rstrip())
        start = cut
        while start < end and text[start].isspace():
            start += 1
    return out


def _comment_pieces(comments: str) -> list[str]:
    """The comment as Details shows it: at most ``DETAIL_COMMENT_CHARS`` of it, in section-sized
    pieces, with a last line saying how much was left out.  Reads only that prefix."""
    shown = comments[: DETAIL_COMMENT_CHARS + 1].replace("\r\n", "\n")
    pieces = chunks(shown[:DETAIL_COMMENT_CHARS], _COMMENT_CHUNK)
    if len(comments) > DETAIL_COMMENT_CHARS:
        pieces.append(
            f"… the comment goes on: {len(comments):,} characters in all, the first"
            f" {DETAIL_COMMENT_CHARS:,} shown (the CSV export has it whole)."
        )
    return pieces


def detail_doc(line: MappingLine, release: ReleaseRef, state: State, msg: _Message) -> _Doc:
    capability, technique = name_text(line.capability_name), name_text(line.attack_name)
    doc = _Doc(title=f"{line.capability_id_as_written} {capability} → {line.attack_id} {technique}")
    kind = category_mark(line.score_category) if line.score_category else f"*{esc(line.mapping_type_label)}*"
    kind += esc(with_feature(line.feature))
    doc.intro.append(
        _section(
            f"{code(line.capability_id_as_written)} *{esc(capability)}* → "
            f"{code(line.attack_id)} *{esc(technique)}*\n{kind}{_score(line)}"
        )
    )
    if line.comments:
        for chunk in _comment_pieces(line.comments):
            doc.items.append([_section(clip_escaped(chunk, 2950))])
    if line.license_requirements:
        doc.items.append([_section(f"*License requirements:* {esc(clip(line.license_requirements, 1500))}")])
    if line.references:
        refs = [f"• {link(r, clip(r, 120))}" for r in line.references[:15]]
        doc.items.extend(_packed("*References*", refs))
    doc.provenance = _provenance([release])
    back = _button(msg, actions.COLLAPSE, "◀ Back", state.with_(expanded=None))
    doc.tools = [back]
    doc.text = f"{line.capability_id} → {line.attack_id}: {one_line((line.comments or '')[:2000])[:200]}"
    return doc
