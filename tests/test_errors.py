"""One user-facing error type, ``UserFacingError``, rendered by one function, ``error_payload``:
what a user is shown when something fails or is refused looks the same on every surface."""

from __future__ import annotations

from bot.errors import UserFacingError, failure
from bot.render.errors import TRACE_HINT, error_payload
from bot.render.limits import violations


def _texts(blocks: list[dict[str, object]]) -> list[str]:
    out = []
    for b in blocks:
        if b["type"] == "section":
            out.append(b["text"]["text"])  # type: ignore[index]
        else:
            out.extend(e["text"] for e in b["elements"])  # type: ignore[attr-defined]
    return out


def test_a_refusal_is_its_sentence_escaped_under_a_warning() -> None:
    shown = error_payload(UserFacingError("No <b>such</b> thing & more"))
    assert _texts(shown.blocks) == [":warning: No &lt;b&gt;such&lt;/b&gt; thing &amp; more"]
    assert shown.text == "No &lt;b&gt;such&lt;/b&gt; thing &amp; more"
    assert violations(shown.to_dict()) == []


def test_mrkdwn_written_by_us_is_not_escaped_again() -> None:
    shown = error_payload(UserFacingError("`a&amp;b` is not a digest command.", mrkdwn=True))
    assert _texts(shown.blocks) == [":warning: `a&amp;b` is not a digest command."]


def test_a_failure_of_ours_carries_the_error_id_and_how_to_use_it() -> None:
    error = failure("test", RuntimeError("internal detail: password=hunter2"))
    assert error.error_id
    texts = _texts(error_payload(error).blocks)
    assert texts == [
        f":warning: Sorry, something went wrong while answering. (error ID `{error.error_id}`)",
        TRACE_HINT,
    ]
    assert "hunter2" not in "".join(texts)


def test_a_hint_is_a_line_under_the_sentence() -> None:
    shown = error_payload(
        UserFacingError("Give one time of day.", hint="`/attack digest help` lists the options.")
    )
    assert _texts(shown.blocks) == [
        ":warning: Give one time of day.",
        "`/attack digest help` lists the options.",
    ]


def test_a_refusal_raised_on_purpose_passes_through_unchanged() -> None:
    error = UserFacingError("This button names something I don't have; ask again.")
    assert failure("test", error) is error
    assert error.error_id is None
