"""Server-Sent Events frames and which Last-Event-ID a stream resumes from (``web.sse``);
the agent's stream on them, ``GET /events``, is tests/agent_desktop/routes/test_live_events.py."""

from __future__ import annotations

import pytest

from web.sse import parse_last_id, sse_frame


def test_sse_frames_are_exact_and_keep_a_message_on_one_data_line() -> None:
    frame = sse_frame({"text": "a\nb", "n": 1}, event="status", event_id=42)
    assert frame == b'id: 42\nevent: status\ndata: {"text":"a\\nb","n":1}\n\n'
    assert sse_frame({}) == b"data: {}\n\n"
    with pytest.raises(ValueError):
        sse_frame({}, event="x\ndata: evil")


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [(None, None, None), ("7", "3", 7), (None, "3", 3), ("", "3", 3), (" 9 ", None, 9)],
)
def test_which_last_id_wins(header: str | None, query: str | None, expected: int | None) -> None:
    assert parse_last_id(header, query) == expected


@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", "٣", "9" * 19])
def test_bad_last_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_last_id(bad, None)
