"""Who uses a technique, as Slack blocks: the line on the technique answer, and the list its
"Used by" button opens (each group, software or campaign with its procedure text and a way
into its own answer)."""

from __future__ import annotations

from itertools import groupby

from slack_sdk.models.blocks import Block

from bot import actions
from bot.render.mrkdwn import clip, code, esc, excerpt, link, name_text
from bot.render.pages import Doc, Message, button, context, packed, select_menu
from bot.render.state import State
from bot.render.users import KIND_HEADINGS, used_by_counts
from store.threat_views import TechniqueUser, TechniqueUsers
from store.views import UsedBy, ViewRequest

PROCEDURE = 220  # characters of a procedure text on the list (the actor answer has it whole)
MENU = 100  # entries a select menu holds


def users_request(technique_id: str, frameworks: tuple[str, ...] = ()) -> ViewRequest:
    return ViewRequest("users", (technique_id,), frameworks=frameworks)


def used_by_line(u: UsedBy) -> str:
    """``*Used by* 23 groups and 41 software (<url|APT29>, <url|FIN7>, …)``."""
    names = ", ".join(link(t.url, t.name) for t in u.top)
    more = ", …" if u.total > len(u.top) else ""
    return clip(f"*Used by* {esc(used_by_counts(u))}" + (f" ({names}{more})" if names else ""), 1900)


def used_by_button(technique_id: str, state: State, msg: Message) -> object:
    return button(
        msg, actions.SWITCH, "Used by…", State(users_request(technique_id, state.request.frameworks))
    )


def _line(u: TechniqueUser) -> str:
    text = f"{code(u.attack_id)} *{link(u.url, name_text(u.name))}*"
    if u.via:
        text += f" _(as {esc(u.via)}, revoked)_"
    if u.procedure:
        text += f" — {esc(excerpt(u.procedure, PROCEDURE))}"
    return text


def users_doc(view: TechniqueUsers, state: State, msg: Message) -> Doc:
    doc = Doc(title=f"Who uses {view.technique_id} {view.technique_name}")
    intro: list[Block] = []
    if view.users:
        kinds = [u.kind for u in view.users]
        counts = UsedBy(kinds.count("group"), kinds.count("software"), kinds.count("campaign"), ())
        intro.append(context(esc(f"{used_by_counts(counts)} in ATT&CK, with how each used it")))
    else:
        intro.append(
            context(esc(f"No group, software or campaign in the loaded ATT&CK uses {view.technique_id}."))
        )
    doc.intro = intro
    for kind, members in groupby(view.users, key=lambda u: u.kind):
        listed = list(members)
        doc.items.extend(
            packed(f"*{KIND_HEADINGS.get(kind, kind)}* ({len(listed)})", [_line(u) for u in listed])
        )
    req = state.request
    fws = req.frameworks
    back = ViewRequest("technique", req.techniques, frameworks=fws, domain=view.domain)
    options = [
        (
            f"{u.attack_id} {u.name}",
            State(ViewRequest("threat", frameworks=req.frameworks, threat=u.attack_id)),
        )
        for u in view.users[:MENU]
    ]
    doc.tools = [
        button(msg, actions.SWITCH, "Controls", State(back)) if req.frameworks else None,
        select_menu(msg, actions.OPEN, "Open a group or software…", options),
    ]
    doc.text = f"Who uses {view.technique_id} {view.technique_name}: {len(view.users)}"
    return doc
