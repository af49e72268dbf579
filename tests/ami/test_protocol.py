"""AMI framing: parsing the wire (including a real Asterisk 22 recording) and formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ami.protocol import (
    AMIGreeting,
    AMIMessage,
    AMIMessageTooLargeError,
    AMIParser,
    AMIProtocolError,
    AMIValueError,
    format_action,
    format_message,
)
from tests.support.asterisk_facts import AMI_RECORDING, recorded_wire


def parse_all(data: bytes, *, greeting: bool = False) -> list[AMIGreeting | AMIMessage]:
    return AMIParser(expect_greeting=greeting).feed(data)


class TestAMIMessage:
    def test_lookup_is_case_insensitive_and_keeps_duplicates_in_order(self) -> None:
        msg = AMIMessage(
            [("Action", "Originate"), ("Variable", "A=1"), ("variable", "B=2"), ("Async", "true")]
        )
        assert msg.get("VARIABLE") == "A=1"
        assert msg.get_all("Variable") == ["A=1", "B=2"]
        assert msg["async"] == "true"
        assert "ASYNC" in msg and "Nope" not in msg
        assert msg.action == "Originate"
        with pytest.raises(KeyError):
            msg["Nope"]

    def test_to_dict_keeps_the_first_of_repeated_keys(self) -> None:
        msg = AMIMessage([("Output", "line 1"), ("Output", "line 2")])
        assert msg.to_dict() == {"Output": "line 1"}

    def test_equal_messages_hash_alike(self) -> None:
        a = AMIMessage({"Event": "Hangup", "Cause": "16"})
        b = AMIMessage([("Event", "Hangup"), ("Cause", "16")])
        assert a == b and hash(a) == hash(b)
        assert a != AMIMessage([("Cause", "16"), ("Event", "Hangup")])


class TestParser:
    def test_greeting_comes_first_and_alone(self) -> None:
        items = parse_all(
            b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n"
            b"Message: Authentication accepted\r\n\r\n",
            greeting=True,
        )
        assert items == [
            AMIGreeting("Asterisk Call Manager/11.0.0"),
            AMIMessage(
                [
                    ("Response", "Success"),
                    ("ActionID", "1"),
                    ("Message", "Authentication accepted"),
                ]
            ),
        ]
        assert isinstance(items[0], AMIGreeting) and items[0].version == "11.0.0"

    def test_something_else_than_a_greeting_is_refused(self) -> None:
        with pytest.raises(AMIProtocolError):
            parse_all(b"SSH-2.0-OpenSSH_9.6\r\n", greeting=True)

    def test_messages_split_at_every_byte_come_out_the_same(self) -> None:
        wire = b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\nX: 1\r\n\r\nEvent: B\r\n\r\n"
        parser = AMIParser(expect_greeting=True)
        items = [item for i in range(len(wire)) for item in parser.feed(wire[i : i + 1])]
        assert items == parse_all(wire, greeting=True)
        assert [getattr(m, "event", None) for m in items] == [None, "A", "B"]

    def test_empty_values_and_colons_inside_values(self) -> None:
        (msg,) = parse_all(b"AccountCode: \r\nAppData: a:b: c\r\nExten:\r\n\r\n")
        assert isinstance(msg, AMIMessage)
        assert msg.fields == (("AccountCode", ""), ("AppData", "a:b: c"), ("Exten", ""))

    def test_bare_lf_line_ends_and_stray_blank_lines_are_tolerated(self) -> None:
        items = parse_all(b"\r\n\nEvent: A\nX: 1\n\n\r\n")
        assert items == [AMIMessage([("Event", "A"), ("X", "1")])]

    def test_a_message_is_only_delivered_at_its_blank_line(self) -> None:
        parser = AMIParser(expect_greeting=False)
        assert parser.feed(b"Event: A\r\nX: 1\r\n") == []
        assert parser.feed(b"\r\n") == [AMIMessage([("Event", "A"), ("X", "1")])]

    def test_message_size_is_bounded(self) -> None:
        parser = AMIParser(expect_greeting=False, max_message_bytes=100)
        parser.feed(b"Event: A\r\n")
        with pytest.raises(AMIMessageTooLargeError):
            for _ in range(20):
                parser.feed(b"Output: 0123456789\r\n")

    def test_a_line_that_never_ends_is_bounded_too(self) -> None:
        parser = AMIParser(expect_greeting=True, max_message_bytes=100)
        with pytest.raises(AMIMessageTooLargeError):
            parser.feed(b"A" * 101)


@pytest.fixture(scope="module")
def messages() -> list[AMIMessage]:
    items = parse_all(recorded_wire())
    assert all(isinstance(m, AMIMessage) for m in items)
    return [m for m in items if isinstance(m, AMIMessage)]


class TestRealAsteriskRecording:
    """The AMI traffic a real Asterisk 22 sent for an Originate and a Redirect."""

    def test_every_block_is_one_message(self, messages: list[AMIMessage]) -> None:
        blocks = AMI_RECORDING.read_text().strip("\n").split("\n\n")
        assert len(messages) == len(blocks)
        assert sum(1 for m in messages if m.event) == sum(
            1 for b in blocks if b.startswith("Event:")
        )

    def test_responses_interleaved_with_events(self, messages: list[AMIMessage]) -> None:
        responses = [m for m in messages if m.response is not None and m.event is None]
        assert [(r.action_id, r.get("Message")) for r in responses] == [
            ("orig-1", "Originate successfully queued"),
            ("orig-2", "Originate successfully queued"),
            ("redir-1", "Redirect successful"),
        ]
        # The first queued-response is preceded and followed by events.
        index = messages.index(responses[0])
        assert messages[index - 1].event == "SuccessfulAuth"
        assert messages[index + 1].event == "Newchannel"

    def test_originate_response_carries_the_action_id(self, messages: list[AMIMessage]) -> None:
        (first, second) = [m for m in messages if m.event == "OriginateResponse"]
        assert first.action_id == "orig-1"
        assert first.response == "Success"
        assert first["Reason"] == "4"
        assert first["Channel"] == "Local/answer@agents-0000000e;1"
        assert first["Context"] == "outbound-sim" and first["Exten"] == "420777123456"
        assert first["Uniqueid"] == "1795313257.28"
        assert first.get("Privilege") == "call,all"
        assert second.action_id == "orig-2" and second["Application"] == "Wait"

    def test_originate_variables_show_up_in_varset(self, messages: list[AMIMessage]) -> None:
        varsets = [
            m for m in messages if m.event == "VarSet" and m.get("Variable") == "HOTLINE_CALL_ID"
        ]
        assert varsets and all(m["Value"] == "42" for m in varsets)
        assert {m["Channel"] for m in varsets} >= {
            "Local/answer@agents-0000000e;1",
            "Local/answer@agents-0000000e;2",
        }
        assert varsets[0].get("Privilege") == "dialplan,all"
        assert varsets[0]["AccountCode"] == ""

    def test_hangup_events_have_cause_and_text(self, messages: list[AMIMessage]) -> None:
        hangups = [m for m in messages if m.event == "Hangup"]
        assert ("16", "Normal Clearing") in {(m["Cause"], m["Cause-txt"]) for m in hangups}

    def test_feeding_in_odd_chunks_gives_the_same_messages(
        self, messages: list[AMIMessage]
    ) -> None:
        wire = recorded_wire()
        parser = AMIParser(expect_greeting=False)
        chunked = [m for i in range(0, len(wire), 7) for m in parser.feed(wire[i : i + 7])]
        assert chunked == messages


class TestFormatting:
    def test_login_bytes(self) -> None:
        data = format_action("Login", "1", [("Username", "hotline"), ("Secret", "s3cret")])
        assert data == (
            b"Action: Login\r\nActionID: 1\r\nUsername: hotline\r\nSecret: s3cret\r\n\r\n"
        )

    def test_mapping_fields_keep_their_order(self) -> None:
        data = format_message({"Event": "Hangup", "Cause": "16", "Cause-txt": "Normal Clearing"})
        assert data == b"Event: Hangup\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"

    def test_utf8_values(self) -> None:
        data = format_message([("CallerID", "Jan Novák <777123456>")])
        assert data == "CallerID: Jan Novák <777123456>\r\n\r\n".encode()

    @pytest.mark.parametrize("bad", ["a\r\nAction: Hangup", "a\nb", "a\rb", "a\x00b"])
    def test_cr_lf_nul_in_values_are_refused(self, bad: str) -> None:
        with pytest.raises(AMIValueError):
            format_action("Setvar", "1", [("Variable", "X"), ("Value", bad)])

    @pytest.mark.parametrize("key", ["", "A:B", " A", "A\r\n", "A\n"])
    def test_bad_keys_are_refused(self, key: str) -> None:
        with pytest.raises(AMIValueError):
            format_message([(key, "v")])

    def test_an_empty_message_is_refused(self) -> None:
        with pytest.raises(AMIValueError):
            format_message([])


# Keys and values that format_message accepts.
_keys = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=":\r\n\x00"),
    min_size=1,
    max_size=20,
).filter(lambda k: k == k.strip())
_values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
    max_size=40,
)
_messages = st.lists(st.tuples(_keys, _values), min_size=1, max_size=8)


@given(st.binary(max_size=2000), st.booleans())
def test_random_bytes_only_ever_raise_protocol_errors(data: bytes, greeting: bool) -> None:
    parser = AMIParser(expect_greeting=greeting, max_message_bytes=512)
    try:
        for i in range(0, len(data), 13):
            for item in parser.feed(data[i : i + 13]):
                assert isinstance(item, AMIGreeting | AMIMessage)
    except AMIProtocolError:
        pass


@given(st.lists(_messages, max_size=6), st.lists(st.integers(1, 50), min_size=1))
def test_formatted_messages_parse_back_whatever_the_chunking(
    messages: list[list[tuple[str, str]]], cuts: list[int]
) -> None:
    wire = b"".join(format_message(m) for m in messages)
    parser = AMIParser(expect_greeting=False)
    out: list[AMIGreeting | AMIMessage] = []
    pos, i = 0, 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        out += parser.feed(wire[pos : pos + step])
        pos, i = pos + step, i + 1
    assert out == [AMIMessage(m) for m in messages]


@given(st.binary(max_size=300))
def test_truncated_recording_never_raises(tail: bytes) -> None:
    wire = recorded_wire()
    cut = len(tail) * 97 % len(wire)
    parser = AMIParser(expect_greeting=False)
    try:
        parser.feed(wire[:cut] + tail)
    except AMIProtocolError:
        pass
