"""The status line's pure rendering (R-2.5); that it stays free of frameworks is a contract
of .importlinter (tests/test_layers.py). The badge's words are tests/web/test_badge.py."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agent_desktop.status_line import CLOCK_MARK, mm_ss, status_message
from domain.enums import AgentNotice


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00"), (9.99, "00:09"), (60, "01:00"), (599, "09:59"), (3600, "60:00"), (-5, "00:00")],
)
def test_mm_ss(seconds: float, text: str) -> None:
    assert mm_ss(seconds) == text


@given(st.integers(min_value=0, max_value=10**7))
def test_mm_ss_reads_back_as_the_same_seconds(seconds: int) -> None:
    minutes, secs = mm_ss(seconds).split(":")
    assert int(minutes) * 60 + int(secs) == seconds
    assert len(secs) == 2 and len(minutes) >= 2


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"notice": "incoming", "waiting_s": 5}, "New incoming call, waiting time 00:05"),
        (
            {"notice": "incoming", "waiting_s": 65, "queue": "Billing"},
            "New incoming call (Billing), waiting time 01:05",
        ),
        (
            {"notice": "incoming", "waiting_s": 1, "queue": "Billing", "overflow": True},
            "New incoming overflowed call (Billing), waiting time 00:01",
        ),
        (
            {
                "notice": "incoming",
                "waiting_s": 30,
                "queue": "Billing",
                "from_queue": "Support",
                "by_agent": "Eva Dvořák",
            },
            "New incoming call transferred from queue Support by Eva Dvořák, waiting time 00:30",
        ),
        ({"notice": "caller_hung_up"}, "The caller hung up while ringing."),
        (
            {"notice": "moved_to_box", "box_name": "Night box"},
            "The call was transferred to: Night box",
        ),
        ({"notice": "handed_to_another"}, "The call was handed to another agent."),
        ({"notice": "will_be_handed"}, "The call will be handed to another agent."),
        ({"notice": "connected", "waiting_s": 754}, "Waiting time was 12:34"),
    ],
)
def test_each_notice_has_its_message(payload: dict[str, object], text: str) -> None:
    message = status_message(payload)
    assert message is not None
    assert message.text == text


def test_only_an_incoming_call_counts_on() -> None:
    incoming = status_message({"notice": "incoming", "waiting_s": 5}, elapsed_s=2.5)
    assert incoming is not None
    assert incoming.template == "New incoming call, waiting time {clock}"
    assert incoming.waiting_s == 7
    connected = status_message({"notice": "connected", "waiting_s": 5}, elapsed_s=100)
    assert connected is not None and connected.template is None
    assert connected.text == "Waiting time was 00:05"  # a final figure: no counting on


def test_an_unknown_notice_is_skipped() -> None:
    assert status_message({"notice": "teleported"}) is None
    assert status_message({}) is None


def test_a_translation_function_is_used() -> None:
    czech = {"The call will be handed to another agent.": "Hovor dostane jiný operátor."}
    message = status_message({"notice": "will_be_handed"}, lambda m: czech.get(m, m))
    assert message is not None and message.text == "Hovor dostane jiný operátor."


def test_a_broken_translation_does_not_break_the_status_line() -> None:
    message = status_message({"notice": "connected", "waiting_s": 5}, lambda m: "%(oops)s %d")
    assert message is not None and message.text == "%(oops)s %d"


payload_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=300),
    st.lists(st.integers(), max_size=3),
)


@given(
    st.sampled_from([n.value for n in AgentNotice] + ["", "nope"]),
    st.dictionaries(
        st.sampled_from(["waiting_s", "queue", "box_name", "from_queue", "by_agent", "overflow"]),
        payload_values,
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)
@example("incoming", {"waiting_s": 5}, float("inf"))
@example("incoming", {"waiting_s": float("inf")}, float("nan"))
@example("connected", {"waiting_s": 1e300}, -1.0)
def test_any_payload_gives_a_one_line_message_or_none(
    notice: str, payload: dict[str, object], elapsed: float
) -> None:
    message = status_message({"notice": notice, **payload}, elapsed_s=elapsed)
    if notice not in {n.value for n in AgentNotice}:
        assert message is None
        return
    assert message is not None
    assert "\n" not in message.text and "\r" not in message.text
    if message.template is not None:
        assert CLOCK_MARK in message.template
        assert message.waiting_s is not None and message.waiting_s >= 0
        assert message.text == message.template.replace(CLOCK_MARK, mm_ss(message.waiting_s))
