"""The search modal: a loading view (opened at once, while the trigger is fresh), the search form
with filters, and the results view.  Block and action IDs here are what ``listeners.views`` reads."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.answer import Payload
from bot.slack import constants
from bot.slack.messages import esc
from store.views import SCORE_CATEGORIES, SCORE_VALUES, Filters

RESULTS_CALLBACK_ID = constants.SEARCH_MODAL_CALLBACK_ID + "_results"
TITLE = "ATT&CK mappings"

# block_id / action_id of each input
QUERY = "cm_q"
FRAMEWORKS = "cm_fw"
RELEASE = "cm_rel"
CATEGORIES = "cm_cat"
MIN_SCORE = "cm_min"
DOMAIN = "cm_dom"
ATTACK_VERSION = "cm_av"
DOMAINS = ("enterprise", "mobile", "ics")
DOMAIN_LABELS = {"enterprise": "Enterprise", "mobile": "Mobile", "ics": "ICS"}
_ATTACK_VERSION = re.compile(r"^[0-9]{1,2}\.[0-9]{1,2}$")
MAX_BLOCKS = 100


@dataclass(frozen=True)
class SearchForm:
    """What the user asked for in the modal."""

    query: str
    frameworks: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)

    def to_json(self) -> str:
        return json.dumps(
            {
                "q": self.query,
                "fw": list(self.frameworks),
                "rel": self.filters.framework_version,
                "cat": list(self.filters.categories),
                "min": self.filters.min_score,
                "dom": self.filters.domain,
                "av": self.filters.attack_version,
            }
        )[:3000]


def loading_view(text: str = "Loading…") -> View:
    return View(
        type="modal",
        callback_id=constants.SEARCH_MODAL_CALLBACK_ID,
        title=PlainTextObject(text=TITLE),
        close=PlainTextObject(text="Close"),
        blocks=[SectionBlock(text=MarkdownTextObject(text=f":hourglass_flowing_sand: {esc(text)}"))],
    )


def _options(pairs: Sequence[tuple[str, str]]) -> list[Option]:
    return [Option(value=v[:150], text=PlainTextObject(text=label[:75])) for v, label in pairs[:100]]


def search_view(
    frameworks: Sequence[tuple[str, str]],
    releases: Sequence[tuple[str, str]],
    *,
    previous: SearchForm | None = None,
    private_metadata: str = "",
    attack_versions: Sequence[str] = (),
) -> View:
    """The form.  ``frameworks`` and ``releases`` are (value, label) pairs of what is loaded,
    ``attack_versions`` the ATT&CK versions of the loaded releases, newest first."""
    prev = previous or SearchForm(query="")
    fw_opts = _options(frameworks)
    rel_opts = _options(releases)
    blocks: list[Any] = [
        InputBlock(
            block_id=QUERY,
            label=PlainTextObject(text="Technique, control, CVE or words"),
            element=PlainTextInputElement(
                action_id=QUERY,
                placeholder=PlainTextObject(text="T1048, SC-07, CVE-2023-34362, exfiltration over web"),
                initial_value=prev.query[:3000] or None,
                max_length=500,
            ),
        )
    ]
    if fw_opts:
        chosen = [o for o in fw_opts if o.value in prev.frameworks]
        blocks.append(
            InputBlock(
                block_id=FRAMEWORKS,
                optional=True,
                label=PlainTextObject(text="Frameworks"),
                element=StaticMultiSelectElement(
                    action_id=FRAMEWORKS,
                    placeholder=PlainTextObject(text="All loaded frameworks"),
                    options=fw_opts,
                    initial_options=chosen or None,
                ),
            )
        )
    if rel_opts:
        chosen_rel = next((o for o in rel_opts if o.value == prev.filters.framework_version), None)
        blocks.append(
            InputBlock(
                block_id=RELEASE,
                optional=True,
                label=PlainTextObject(text="Framework release"),
                element=StaticSelectElement(
                    action_id=RELEASE,
                    placeholder=PlainTextObject(text="Newest"),
                    options=rel_opts,
                    initial_option=chosen_rel,
                ),
            )
        )
    av_opts = _options([(v, f"ATT&CK {v}") for v in attack_versions])
    if av_opts:
        blocks.append(
            InputBlock(
                block_id=ATTACK_VERSION,
                optional=True,
                label=PlainTextObject(text="ATT&CK version"),
                element=StaticSelectElement(
                    action_id=ATTACK_VERSION,
                    placeholder=PlainTextObject(text="Newest mapped"),
                    options=av_opts,
                    initial_option=next((o for o in av_opts if o.value == prev.filters.attack_version), None),
                ),
            )
        )
    cat_opts = _options([(c, c.capitalize()) for c in SCORE_CATEGORIES])
    blocks.append(
        InputBlock(
            block_id=CATEGORIES,
            optional=True,
            label=PlainTextObject(text="Only"),
            element=CheckboxesElement(
                action_id=CATEGORIES,
                options=cat_opts,
                initial_options=[o for o in cat_opts if o.value in prev.filters.categories] or None,
            ),
        )
    )
    score_opts = _options([(s, f"{s.capitalize()} or better") for s in SCORE_VALUES])
    blocks.append(
        InputBlock(
            block_id=MIN_SCORE,
            optional=True,
            label=PlainTextObject(text="Minimum score"),
            element=StaticSelectElement(
                action_id=MIN_SCORE,
                placeholder=PlainTextObject(text="Any score"),
                options=score_opts,
                initial_option=next((o for o in score_opts if o.value == prev.filters.min_score), None),
            ),
        )
    )
    dom_opts = _options([(d, DOMAIN_LABELS[d]) for d in DOMAINS])
    blocks.append(
        InputBlock(
            block_id=DOMAIN,
            optional=True,
            label=PlainTextObject(text="ATT&CK domain"),
            element=StaticSelectElement(
                action_id=DOMAIN,
                placeholder=PlainTextObject(text="Enterprise"),
                options=dom_opts,
                initial_option=next((o for o in dom_opts if o.value == prev.filters.domain), None),
            ),
        )
    )
    return View(
        type="modal",
        callback_id=constants.SEARCH_MODAL_CALLBACK_ID,
        title=PlainTextObject(text=TITLE),
        submit=PlainTextObject(text="Search"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata[:3000],
        blocks=blocks,
    )


def parse_search(state_values: dict[str, Any]) -> SearchForm:
    """The submitted form, from ``view.state.values``; missing or malformed inputs are ignored."""

    def element(block: str) -> dict[str, Any]:
        value = (state_values.get(block) or {}).get(block)
        return value if isinstance(value, dict) else {}

    def selected(block: str) -> str | None:
        opt = element(block).get("selected_option")
        return str(opt["value"]) if isinstance(opt, dict) and opt.get("value") else None

    def many(block: str) -> tuple[str, ...]:
        opts = element(block).get("selected_options") or []
        return tuple(str(o["value"]) for o in opts if isinstance(o, dict) and o.get("value"))

    query = str(element(QUERY).get("value") or "").strip()
    categories = tuple(c for c in many(CATEGORIES) if c in SCORE_CATEGORIES)
    min_score = selected(MIN_SCORE)
    domain = selected(DOMAIN)
    attack_version = selected(ATTACK_VERSION)
    filters = Filters(
        framework_version=selected(RELEASE),
        attack_version=attack_version if attack_version and _ATTACK_VERSION.match(attack_version) else None,
        domain=domain if domain in DOMAINS else None,
        categories=categories,
        min_score=min_score if min_score in SCORE_VALUES else None,
    )
    return SearchForm(query=query, frameworks=many(FRAMEWORKS), filters=filters)


def results_view(form: SearchForm, payload: Payload) -> View:
    """The answer inside the modal; "New search" brings the form back with the same inputs."""
    intro = SectionBlock(text=MarkdownTextObject(text=f"*Results for* _{esc(form.query[:300])}_"))
    tail = ContextBlock(
        elements=[
            MarkdownTextObject(
                text="To share or export, ask the same in a channel with the slash command or a mention."
            )
        ]
    )
    blocks: list[Any] = [intro, *payload.blocks[: MAX_BLOCKS - 2], tail]
    return View(
        type="modal",
        callback_id=RESULTS_CALLBACK_ID,
        title=PlainTextObject(text=TITLE),
        submit=PlainTextObject(text="New search"),
        close=PlainTextObject(text="Done"),
        private_metadata=form.to_json(),
        blocks=blocks,
    )


def form_from_metadata(private_metadata: str) -> SearchForm | None:
    try:
        raw = json.loads(private_metadata or "")
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None

    def s(key: str) -> str | None:
        v = raw.get(key)
        return str(v) if isinstance(v, str) and v else None

    return SearchForm(
        query=str(raw.get("q") or ""),
        frameworks=tuple(str(f) for f in raw.get("fw") or () if isinstance(f, str)),
        filters=Filters(
            framework_version=s("rel"),
            categories=tuple(c for c in raw.get("cat") or () if c in SCORE_CATEGORIES),
            min_score=s("min") if s("min") in SCORE_VALUES else None,
            domain=s("dom") if s("dom") in DOMAINS else None,
            attack_version=s("av") if _ATTACK_VERSION.match(s("av") or "") else None,
        ),
    )
