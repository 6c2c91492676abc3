"""Interactive element IDs shared by the renderer (which puts them on buttons) and the Slack
listeners (which route clicks).  An ID may carry a ``:N`` suffix to stay unique in one message;
listeners match ``^<id>(:|$)``.  Every element's ``value`` is an opaque state string that
``Answerer.answer_from_state`` understands, so any instance can serve the next click."""

from __future__ import annotations

import re

PAGE = "cm_page"  # next / previous page
DID_YOU_MEAN = "cm_dym"  # a "did you mean" candidate
OPEN = "cm_open"  # one entity of a several-entity answer, opened as a new private message
EXPAND = "cm_expand"  # show one mapping's comments and references in full
COLLAPSE = "cm_collapse"
SHARE = "cm_share"  # post the answer in the channel, attributed to the clicker
EXPORT_CSV = "cm_export_csv"
EXPORT_NAVIGATOR = "cm_export_nav"  # ATT&CK Navigator layer JSON
# A private answer's export went to the requester alone; these post it in the channel after all.
EXPORT_POST_CSV = "cm_export_post_csv"
EXPORT_POST_NAVIGATOR = "cm_export_post_nav"
PICK_FRAMEWORK = "cm_pick_fw"  # static_select of frameworks
PICK_RELEASE = "cm_pick_rel"  # static_select of releases of the framework shown
# The same subject's other answer, in place: a technique's detections, and back to its controls.
SWITCH = "cm_switch"

ALL = (
    PAGE,
    DID_YOU_MEAN,
    OPEN,
    EXPAND,
    COLLAPSE,
    SHARE,
    EXPORT_CSV,
    EXPORT_NAVIGATOR,
    EXPORT_POST_CSV,
    EXPORT_POST_NAVIGATOR,
    PICK_FRAMEWORK,
    PICK_RELEASE,
    SWITCH,
)


def matcher(action_id: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(action_id)}(:\d+)?$")
