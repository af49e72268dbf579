"""``GET /events``: the agent's live events as Server-Sent Events (R-2.5, R-2.3, R-2.16),
``agent_desktop.routes.live_events`` on ``web.sse``'s stream (keepalive, revalidation,
resuming). The frames and the Last-Event-ID rules alone are tests/web/test_sse.py."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from twisted.internet.task import Clock

from agent_desktop import agent_state as core
from agent_desktop.routes import live_events
from agent_desktop.store import agent_sessions
from db.events import EventView, emit
from db.models import BoxRight, Event, WebSession
from hotline.web import WebRoot
from tests.support.centre import StaffCentre, add_notification
from tests.support.db import InlineDBRunner
from tests.support.web import Browser, open_desktop_stream, tick
from web import sse
from web.sse import KEEPALIVE_S, REVALIDATE_S


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def notice(
    db: InlineDBRunner,
    clock: Clock,
    centre: StaffCentre,
    login: str,
    kind: str,
    *,
    ago_s: float = 0,
    **payload: Any,
) -> int:
    """Write an ``agent.notice`` event as the call flows do; its id."""

    def write(session: Session) -> int:
        emit(
            session,
            "agent.notice",
            now_of(clock) - timedelta(seconds=ago_s),
            call_id=7,
            agent_id=centre.agents[login],
            notice=kind,
            **payload,
        )
        return int(session.scalar(select(func.max(Event.id))) or 0)

    return db.run_sync(write)


def test_the_stream_is_event_stream_with_a_retry_hint(
    browser: Browser, centre: StaffCentre
) -> None:
    stream = open_desktop_stream(browser, centre)
    assert stream.status == 200
    assert stream.headers.getRawHeaders(b"content-type") == [b"text/event-stream; charset=utf-8"]
    assert stream.text.startswith("retry: 3000\n\n: hotline live events\n\n")


def test_an_incoming_call_shows_with_its_waiting_time_and_a_counting_template(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    stream = open_desktop_stream(browser, centre)
    event_id = notice(
        db, clock, centre, "eva", "incoming", ago_s=3, waiting_s=12, queue="Technical support"
    )
    notice(db, clock, centre, "jan", "incoming", waiting_s=1, queue="Billing")  # not eva's
    tick(browser, clock)
    [message] = stream.messages()
    assert message["id"] == str(event_id)
    assert message["event"] == "status"
    data = json.loads(message["data"])
    # 12 s waited when the event was written, 3.5 s ago.
    assert data["text"] == "New incoming call (Technical support), waiting time 00:15"
    assert data["template"] == "New incoming call (Technical support), waiting time {clock}"
    assert data["waiting_s"] == 15
    assert data["notice"] == "incoming"


@pytest.mark.parametrize(
    ("kind", "payload", "text"),
    [
        ("caller_hung_up", {}, "The caller hung up while ringing."),
        (
            "moved_to_box",
            {"box_name": "Support voicemail"},
            "The call was transferred to: Support voicemail",
        ),
        ("handed_to_another", {}, "The call was handed to another agent."),
        ("will_be_handed", {}, "The call will be handed to another agent."),
        ("connected", {"waiting_s": 75}, "Waiting time was 01:15"),
    ],
)
def test_each_status_line_message(
    browser: Browser,
    centre: StaffCentre,
    db: InlineDBRunner,
    clock: Clock,
    kind: str,
    payload: dict[str, Any],
    text: str,
) -> None:
    stream = open_desktop_stream(browser, centre)
    notice(db, clock, centre, "eva", kind, **payload)
    tick(browser, clock)
    [message] = stream.messages()
    data = json.loads(message["data"])
    assert data["text"] == text
    assert data["template"] is None


def test_the_badge_follows_state_changes_made_elsewhere(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    browser.signed_in("eva")
    browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    stream = open_desktop_stream(browser, centre)
    eva = centre.agents["eva"]
    db.run_sync(agent_sessions.apply_event, eva, core.GoOnAir(), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.Offered(), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.Answered(), now_of(clock))
    tick(browser, clock)
    badges = [json.loads(m["data"]) for m in stream.messages() if m["event"] == "badge"]
    assert [(b["state"], b["label"], b["detail"]) for b in badges] == [
        ("on_air", "On air", ""),
        ("on_air", "On air", "Ringing"),
        ("off_air", "Off air", "In a call"),
    ]
    assert not any(b["seat_changed"] for b in badges)
    assert badges[0]["since"] == "since 09:30"  # Prague time of the change
    # The desktop's buttons follow: "Go on air" only off air, no outbound call while on
    # air or in a call, no pause while ringing or in a call.
    assert [b["controls"] for b in badges] == [
        {**OFFERED_NONE, "on_air": True, "can_pause": True},
        {**OFFERED_NONE, "on_air": True},
        OFFERED_NONE,
    ]


OFFERED_NONE = {
    "on_air": False,
    "pause_type_id": None,
    "can_call_out": False,
    "can_go_on_air": False,
    "can_pause": False,
}


def test_a_pause_and_a_logout_elsewhere_reach_the_desktops_controls(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    browser.signed_in("eva")
    browser.post("/desktop/seat", {"seat_id": centre.seats["101"]})
    stream = open_desktop_stream(browser, centre)
    eva, meeting = centre.agents["eva"], centre.pauses["meeting"]
    db.run_sync(agent_sessions.apply_event, eva, core.GoOnAir(), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.Pause(meeting), now_of(clock))
    db.run_sync(agent_sessions.apply_event, eva, core.LogOut(), now_of(clock))
    tick(browser, clock)
    badges = [json.loads(m["data"]) for m in stream.messages() if m["event"] == "badge"]
    assert [b["controls"] for b in badges] == [
        {**OFFERED_NONE, "on_air": True, "can_pause": True},
        {
            **OFFERED_NONE,
            "pause_type_id": meeting,
            "can_call_out": True,
            "can_go_on_air": True,
            "can_pause": True,
        },
        None,  # logged out: the page reloads with the seat choice
    ]
    assert badges[-1]["seat_changed"] is True


def test_resume_after_a_reconnect_from_last_event_id(
    web: WebRoot, browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    first = open_desktop_stream(browser, centre)
    ids = [notice(db, clock, centre, "eva", "handed_to_another") for _ in range(3)]
    tick(browser, clock)
    assert [m["id"] for m in first.messages()] == [str(i) for i in ids]
    # The connection drops after the first message; meanwhile two more events happen.
    later = [notice(db, clock, centre, "eva", "caller_hung_up") for _ in range(2)]
    again = browser.open_stream("/events?last_id=1", headers={"Last-Event-ID": str(ids[0])})
    tick(browser, clock, 0)
    got = [int(m["id"]) for m in again.messages()]
    assert got == [*ids[1:], *later]  # the header wins over the page's ?last_id=


def test_a_fresh_page_resumes_from_the_id_it_was_built_from(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    page = browser.signed_in("eva")
    last = int(page.text.split('data-last-event-id="', 1)[1].split('"', 1)[0])
    missed = notice(db, clock, centre, "eva", "will_be_handed")  # between page and stream
    stream = browser.open_stream(f"/events?last_id={last}")
    tick(browser, clock, 0)
    assert [int(m["id"]) for m in stream.messages()] == [missed]


def test_a_bad_last_event_id_is_a_400(browser: Browser, centre: StaffCentre) -> None:
    browser.signed_in("eva")
    stream = browser.open_stream("/events", headers={"Last-Event-ID": "12abc"})
    assert stream.status == 400
    assert "last event id" in stream.text


def test_keepalive_comments_and_sign_out_ends_the_stream(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock, web: WebRoot
) -> None:
    stream = open_desktop_stream(browser, centre)
    tick(browser, clock, KEEPALIVE_S)
    assert stream.text.endswith(": keepalive\n\n")
    db.run_sync(lambda s: s.execute(delete(WebSession)))
    for _ in range(int(REVALIDATE_S / KEEPALIVE_S)):
        tick(browser, clock, KEEPALIVE_S)
    assert stream.messages()[-1]["event"] == "signed_out"
    assert web.feed.subscribers == 0


def test_a_supervisor_notification_arrives_live(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    stream = open_desktop_stream(browser, centre)
    now = now_of(clock)
    nid = db.run_sync(add_notification, centre, "eva", "Please take billing calls", now)
    db.run_sync(
        lambda s: emit(
            s, "agent.notification", now, agent_id=centre.agents["eva"], notification_id=nid
        )
    )
    tick(browser, clock)
    [message] = stream.messages()
    assert message["event"] == "notification"
    data = json.loads(message["data"])
    assert data["message"] == "Please take billing calls"
    assert data["severity"] == "warning" and data["sender"] == "Sue Visor"
    assert data["hide_in_ms"] == 3600 * 1000 - 500


def test_a_czech_agent_gets_czech_messages(
    browser: Browser, centre: StaffCentre, db: InlineDBRunner, clock: Clock
) -> None:
    stream = open_desktop_stream(browser, centre, "jan")
    notice(db, clock, centre, "jan", "connected", waiting_s=61)
    tick(browser, clock)
    [message] = stream.messages()
    assert json.loads(message["data"])["text"] == "Volající čekal 01:01"


def test_streams_opened_together_check_their_sessions_at_spread_moments(
    browser: Browser,
    centre: StaffCentre,
    db: InlineDBRunner,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13 (bench/live_push.py): streams opened in one moment, as every page
    reconnecting after a restart, checked their sessions in one moment too, a thousand
    transactions that the next change's delivery waited behind. Each checks once a period,
    the first time at a random moment within it."""
    monkeypatch.setattr(sse, "_spread", random.Random(7))
    page = browser.signed_in("eva")
    last = page.text.split('data-last-event-id="', 1)[1].split('"', 1)[0]
    streams = [browser.open_stream(f"/events?last_id={last}") for _ in range(30)]
    checks_per_second = []
    for _ in range(int(REVALIDATE_S)):
        before = db.transactions["touch_session"]
        tick(browser, clock, 1.0)
        checks_per_second.append(db.transactions["touch_session"] - before)
    assert sum(checks_per_second) == len(streams)  # each stream checked once in the period
    assert max(checks_per_second) <= 3, checks_per_second  # not thirty in one moment


def test_a_back_office_change_is_made_into_one_frame_for_every_stream(
    browser: Browser,
    centre: StaffCentre,
    db: InlineDBRunner,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: a change of a box's item goes to every stream of the people who work the
    box (bench/live_push.py: a thousand). Its message holds no words, so it is made once
    and the same bytes go to English and Czech streams alike."""
    db.run_sync(lambda s: s.add(BoxRight(agent_id=centre.agents["jan"], box_id=centre.box)))
    made: list[int] = []

    def counted(event: EventView) -> bytes:
        made.append(event.id)
        return real_frame(event)

    real_frame = live_events.backoffice_frame
    monkeypatch.setattr(live_events, "backoffice_frame", counted)
    streams = []
    for login, count in (("bob", 4), ("jan", 3)):
        page = browser.signed_in(login)
        last = page.text.split('data-last-event-id="', 1)[1].split('"', 1)[0]
        streams += [(login, browser.open_stream(f"/events?last_id={last}")) for _ in range(count)]
    now = now_of(clock)
    db.run_sync(
        lambda s: emit(s, "backoffice.claimed", now, item_id=5, box_id=centre.box, state="claimed")
    )
    tick(browser, clock)
    assert len(made) == 1  # seven streams, two languages: one frame
    for login, stream in streams:
        [message] = [m for m in stream.messages() if m["event"] == "backoffice"]
        assert json.loads(message["data"]) == {
            "kind": "backoffice.claimed",
            "item_id": 5,
            "box_id": centre.box,
            "state": "claimed",
        }, login
        assert message["id"] == str(made[0])
    db.run_sync(
        lambda s: emit(s, "backoffice.done", now, item_id=5, box_id=centre.box, state="done")
    )
    tick(browser, clock)
    assert len(made) == 2  # the next change: its own frame, once
