"""Button state: round-trips what an answer needs, refuses anything it did not write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render.state import MAX_VALUE, State, StateError, decode_state, encode_state
from store.views import Filters, ViewRequest


def test_state_round_trips_view_filters_page_and_expansion() -> None:
    state = State(
        ViewRequest(
            "technique",
            ("T1048.003",),
            frameworks=("m365", "nist_800_53"),
            filters=Filters(
                framework_version="12/11/2023",
                attack_version="14.1",
                domain="enterprise",
                categories=("detect",),
                min_score="partial",
            ),
            domain="enterprise",
        ),
        page=3,
        expanded="12/11/2023@14.1@enterprise|DEF-ATH-E5|T1048.003|technique_score",
        compact=True,
    )
    assert decode_state(encode_state(state)) == state


def test_capability_ids_with_ampersands_and_spaces_survive() -> None:
    for fw, cid in (("csa_ccm", "A&A-01"), ("veris", "action.hacking.vector.Command shell")):
        state = State(ViewRequest("capability", capabilities=((fw, cid),)))
        assert decode_state(encode_state(state)).request.capabilities == ((fw, cid),)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "cm0:{}",
        "cm1:",
        "cm1:not json",
        "cm1:[]",
        'cm1:{"k":"technique"}',  # names nothing
        'cm1:{"k":"technique","t":["DROP TABLE"]}',
        'cm1:{"k":"technique","t":["T1048"],"p":100000}',  # unbounded page
        'cm1:{"k":"technique","t":["T1048"],"p":-1}',
        'cm1:{"k":"technique","t":["T1048"],"zz":1}',  # unknown key
        'cm1:{"k":"technique","t":'
        + '["T1048"]' * 1
        + ',"f":'
        + str(["nist_800_53"] * 40).replace("'", '"')
        + "}",
        'cm1:{"k":"capability","c":[["nist_800_53","<!channel>"]]}',
        'cm1:{"k":"pair","t":["T1048"]}',
        'cm1:{"k":"sql","t":["T1048"]}',
        "cm1:" + "x" * (MAX_VALUE + 10),
    ],
)
def test_forged_values_are_clean_errors(value: str) -> None:
    with pytest.raises(StateError):
        decode_state(value)


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_decoder(value: str) -> None:
    try:
        state = decode_state("cm1:" + value)
    except StateError:
        return
    assert state.page >= 1


def test_encoding_refuses_what_would_not_fit_a_select_option() -> None:
    state = State(ViewRequest("capability", capabilities=(("veris", "x" * 190),)))
    assert len(encode_state(state)) <= MAX_VALUE
    with pytest.raises(StateError):
        encode_state(state, limit=150)
