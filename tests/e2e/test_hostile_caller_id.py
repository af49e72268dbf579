"""A caller ID that is not valid UTF-8, carries NUL bytes or is far too long is stored as
text and the call is served like any other (R-7.2; issue 11, item 5): it used to drop the
call unserved and unrecorded, with a traceback, and `resume` failed the same way."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Call
from simulator.switch import CallerScript, PhoneBehaviour
from tests.support.e2e_world import E2EWorld, make_e2e_world

SUPPORT = "222111001"
# 0xFF and a lone 0xE9 are not UTF-8 (the simulator sends surrogate escapes as raw bytes).
BAD_NUMBER = "777\udcff123\x00456"
BAD_NAME = "Jan \udce9 Nov\u00e1k\x00" + "x" * 300


def _stored_caller(world: E2EWorld) -> tuple[str, str]:
    with Session(world.engine) as s:
        call = s.scalars(select(Call)).one()
        return call.caller_number, call.caller_name


def test_a_caller_id_with_bytes_that_are_not_text_is_served_and_recorded(
    db_url: str, tmp_path: Path
) -> None:
    world = make_e2e_world(
        db_url, tmp_path, {"PJSIP/101": PhoneBehaviour(answer_after_s=1, talk_s=5)}
    )
    world.log_in("eva")
    world.call(CallerScript(did=SUPPORT, caller_id_num=BAD_NUMBER, caller_id_name=BAD_NAME))
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "answered"
    number, name = _stored_caller(world)
    assert number == "777\ufffd123456"
    assert name.startswith("Jan \ufffd Nov\u00e1kxxx") and len(name) <= 200


def test_a_message_from_such_a_caller_becomes_an_item(db_url: str, tmp_path: Path) -> None:
    world = make_e2e_world(db_url, tmp_path)
    world.call(
        CallerScript(
            did=SUPPORT, caller_id_num=BAD_NUMBER + "9" * 60, keys=((6.0, "#"),), speech_s=5
        )
    )
    world.run(60)
    [call] = world.calls()
    assert call["state"] == "voicemail"
    [item] = world.items()
    assert item["call"] == call["id"]
