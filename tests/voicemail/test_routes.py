"""The back office's pages over the real Klein resource (R-3.1 .. R-3.3, R-3.6, R-2.2).

Requests go through ``StubTreq`` into the guarded routes, against the real database
(SQLite, or PostgreSQL with HOTLINE_TEST_DATABASE_URL) with an inline DBRunner and a
``Clock``; recordings are real WAV files in a temporary recordings directory. A call back
goes through the real outbound service to the fake AMI on an in-memory network (what reaches
Asterisk is the outbound service's own business and tests); its end is what the outbound
flow stores (``finish_outbound``), which records its outcome on the item.
"""

from __future__ import annotations

import io
import json
import re
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from agent_desktop import agent_state as core
from agent_desktop.routes import desktop as desktop_routes
from agent_desktop.store import agent_sessions
from db.models import (
    Agent,
    Call,
    Event,
    PhoneSeat,
    Queue,
    QueueRight,
    Recording,
    VoicemailItem,
)
from db.passwords import hash_password
from dialplan.store.outbound import finish_outbound
from domain.enums import Activity, CallState, Direction
from hotline.web import WebRoot
from supervisor import routes as supervisor_routes
from tests.support.back_office import Office, answer, build_office, inbound_call, leave
from tests.support.centre import PASSWORD
from tests.support.db import InlineDBRunner
from tests.support.deferreds import result_of
from tests.support.i18n import extracted_messages
from tests.support.time import T0
from tests.support.web import BASE, Browser, Page, PumpingBrowser, Stream, Telephony
from voicemail import claims
from voicemail import routes as pages
from voicemail.claims import CLAIM_TTL_S
from voicemail.store import email
from voicemail.store import queue as bq
from web.i18n import LOCALE_DIR, load_po
from web.request import ProcessInfo

JSON = "application/json"


# --------------------------------------------------------------------------- the world


def end_call(w: World, call_id: int, state: CallState) -> None:
    """The outbound call ends as the outbound flow closes it: answered (the ``U()`` hook
    stored the answer) or not, then ``finish_outbound``."""

    def close(session: Session) -> None:
        call = session.get(Call, call_id)
        assert call is not None
        if state is CallState.ANSWERED:
            call.answered_at, call.state = w.now(), CallState.TALKING
        finish_outbound(session, call_id, None, state, w.now())

    w.run(close)


def call_backs(w: World) -> list[dict[str, Any]]:
    """The outbound calls placed, as their records and ``call.outbound`` events say."""

    def read(session: Session) -> list[dict[str, Any]]:
        placed = []
        for call in session.scalars(
            select(Call).where(Call.direction == Direction.OUTBOUND).order_by(Call.id)
        ):
            event = session.scalars(
                select(Event).where(Event.kind == "call.outbound", Event.call_id == call.id)
            ).one()
            placed.append(
                {
                    "agent_id": call.agent_id,
                    "number": call.callee_number,
                    "customer_id": call.customer_id,
                    "queue_id": call.queue_id,
                    "item_id": json.loads(event.payload)["item_id"],
                }
            )
        return placed

    return w.run(read)  # type: ignore[no-any-return]


@dataclass
class World:
    db: InlineDBRunner
    clock: Clock
    office: Office
    recordings: Path
    telephony: Telephony
    web: WebRoot
    seats: dict[str, int]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def browser(self, login: str) -> Browser:
        browser = PumpingBrowser(self.web.resource(), self.clock)
        page = browser.signed_in(login)
        assert page.status == 200, page.text[:300]
        return browser

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.db.run_sync(fn, *args, **kwargs)


def write_wav(path: Path, seconds: float) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _prepare(session: Session) -> tuple[Office, dict[str, int]]:
    office = build_office(session)
    hashed = hash_password(PASSWORD, n=2**10)
    for agent in session.scalars(select(Agent)):
        agent.password_hash = hashed
    seats = [PhoneSeat(name=name, dial_string=f"PJSIP/{name}") for name in ("101", "102")]
    session.add_all(seats)
    session.flush()
    return office, {s.name: s.id for s in seats}


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    clock.advance(T0.timestamp())
    db = InlineDBRunner(engine, clock)
    office, seats = db.run_sync(_prepare)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    telephony = Telephony(clock)
    web = WebRoot(
        db,
        ProcessInfo(web_listen="tcp:0"),
        clock=clock,
        time_zone="Europe/Prague",
        route_tables=[desktop_routes.routes, pages.routes, supervisor_routes.routes],
        ami=telephony.client,
        recordings_dir=recordings,
    )
    yield World(db, clock, office, recordings, telephony, web, seats)
    web.stop()


def message(w: World, number: str, *, at_s: float = 0, seconds: float | None = 2.0) -> int:
    """A caller left a message in "Support voicemail"; its WAV is on disk when ``seconds``."""
    at = T0 + timedelta(seconds=at_s)
    relative = f"voicemail/2026/11/23/{number}-{int(at_s)}.wav"
    if seconds is not None:
        write_wav(w.recordings / relative, seconds)

    def store(session: Session) -> int:
        call = inbound_call(session, w.office, number, at, end=CallState.VOICEMAIL, ended_at=at)
        return leave(
            session,
            w.office.messages,
            "message",
            number,
            at,
            call_id=call,
            recording_path=relative,
            duration_s=int(seconds or 7),
        )

    return int(w.run(store))


def callback(w: World, number: str, *, at_s: float = 0) -> int:
    at = T0 + timedelta(seconds=at_s)

    def store(session: Session) -> int:
        call = inbound_call(session, w.office, number, at, end=CallState.CALLBACK, ended_at=at)
        return leave(session, w.office.callbacks, "callback", number, at, call_id=call)

    return int(w.run(store))


def item_state(w: World, item_id: int) -> tuple[str, int | None]:
    def read(session: Session) -> tuple[str, int | None]:
        item = session.get(VoicemailItem, item_id)
        assert item is not None
        return item.state.value, item.claimed_by_id

    return w.run(read)  # type: ignore[no-any-return]


def history_actions(page: Page) -> list[str]:
    return re.findall(r'<tr data-action="([a-z_]+)">', page.text)


def row_ids(page: Page) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-item="(\d+)"', page.text)]


def post_json(browser: Browser, path: str, data: dict[str, Any] | None = None) -> Page:
    return browser.post(path, data, accept=JSON)


# --------------------------------------------------------------------------- the list


def test_the_list_shows_box_customer_or_number_call_count_last_time_and_state(
    world: World,
) -> None:
    w = world
    novak = message(w, "777123456", at_s=0)  # Jan Novák's first number
    callback(w, "+420602111222", at_s=60)  # Novák again, from his other number
    stranger = callback(w, "605999888", at_s=120)
    page = w.browser("eva").get("/backoffice")
    assert page.status == 200
    assert "Calls in voicemail" in page.text
    # Issue 16: when the item came in is "Received"; "Taken" read like "claimed".
    assert "<th>Received</th>" in page.text and "Taken" not in page.text
    assert row_ids(page) == [novak, novak + 1, stranger]  # oldest first, the order to work
    novak_row = page.text.split(f'<tr data-item="{novak}"', 1)[1].split("</tr>", 1)[0]
    assert "Support voicemail" in novak_row and "(Message)" in novak_row
    assert "Jan Novák" in novak_row and "777 123 456" in novak_row  # issue 16: one format
    assert '<td class="bo-count">2</td>' in novak_row  # both numbers count
    assert "23.11.2026 10:01" in novak_row  # the last call, in Prague time
    stranger_row = page.text.split(f'<tr data-item="{stranger}"', 1)[1].split("</tr>", 1)[0]
    assert "Support callbacks" in stranger_row and "(Callback request)" in stranger_row
    assert "605 999 888" in stranger_row and '<td class="bo-count">1</td>' in stranger_row
    assert "Open" in stranger_row


def test_each_person_sees_only_the_boxes_they_have_a_right_to(world: World) -> None:
    w = world
    vm = message(w, "777123456")
    cb = callback(w, "731000111", at_s=10)
    assert row_ids(w.browser("jan").get("/backoffice")) == [cb]  # callbacks only
    assert row_ids(w.browser("sue").get("/backoffice")) == [vm, cb]  # a supervisor: every box
    jan = w.browser("jan")
    # An item of a box without the right is "not found", exactly as an id that does not
    # exist: ids in URLs tell a stranger nothing (issue 11, item 6).
    refused, missing = jan.get(f"/backoffice/items/{vm}"), jan.get("/backoffice/items/999999")
    assert refused.status == missing.status == 404
    assert _main(refused.text) == _main(missing.text)  # the same words, the page around aside
    assert jan.get(f"/backoffice/items/{vm}/recording", accept="*/*").status == 404
    assert row_ids(jan.get(f"/backoffice?box={w.office.messages}")) == []  # no peeking
    ann = w.browser("ann")  # an agent with no box at all
    refused = ann.get("/backoffice")
    assert refused.status == 403 and "no access to the back office" in refused.text
    assert Browser(w.web.resource()).get("/backoffice").location == ("/sign-in?next=%2Fbackoffice")


def test_the_list_filters_by_box_and_state(world: World) -> None:
    w = world
    vm = message(w, "777123456")
    cb = callback(w, "731000111", at_s=10)
    eva = w.browser("eva")
    page = eva.get(f"/backoffice?box={w.office.callbacks}")
    assert row_ids(page) == [cb]
    assert f'<option value="{w.office.callbacks}" selected>Support callbacks</option>' in page.text
    assert row_ids(eva.get(f"/backoffice?box={w.office.messages}")) == [vm]
    eva.post(f"/backoffice/items/{vm}/claim")
    assert eva.post(f"/backoffice/items/{vm}/done").status == 303
    assert row_ids(eva.get("/backoffice")) == [cb]
    done = eva.get("/backoffice?state=done")
    assert row_ids(done) == [vm] and "Done" in done.text
    assert row_ids(eva.get("/backoffice?state=all")) == [cb, vm]  # newest first
    assert eva.get("/backoffice?state=lost").status == 400
    assert eva.get("/backoffice?box=x").status == 400
    listed = eva.get("/backoffice?state=all", accept=JSON)
    data = json.loads(listed.text)
    assert data["total"] == 2 and {r["id"] for r in data["rows"]} == {vm, cb}


def test_the_list_is_paged(world: World) -> None:
    w = world
    ids = [callback(w, f"60500{n:04d}", at_s=n) for n in range(pages.PAGE_SIZE + 3)]
    eva = w.browser("eva")
    first = eva.get("/backoffice")
    assert row_ids(first) == ids[: pages.PAGE_SIZE]
    assert (
        "Page 1 of 2" in first.text
        and 'rel="next" href="/backoffice?state=open&amp;page=2"' in (first.text)
    )
    second = eva.get("/backoffice?state=open&page=2")
    assert row_ids(second) == ids[pages.PAGE_SIZE :]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert row_ids(eva.get("/backoffice?page=3")) == []
    assert eva.get("/backoffice?page=0").status == 400


# --------------------------------------------------------------------------- playback


def test_a_message_plays_in_the_browser_as_wav_for_staff_with_the_right(world: World) -> None:
    w = world
    item = message(w, "777123456", seconds=1.5)
    wav = (w.recordings / "voicemail/2026/11/23/777123456-0.wav").read_bytes()
    eva = w.browser("eva")
    page = eva.get(f"/backoffice/items/{item}")
    player = (
        '<audio id="bo-audio" controls preload="metadata" src="/backoffice/items/{}/recording">'
    )
    assert player.format(item) in page.text
    # Issue 16: the message has one player; its call's row points up to it.
    assert page.text.count(f'src="/backoffice/items/{item}/recording"') == 1
    assert 'href="#bo-audio">The message, played above</a>' in page.text
    response, body = _raw(eva, f"/backoffice/items/{item}/recording")
    assert response.code == 200
    assert response.headers.getRawHeaders(b"content-type") == [b"audio/wav"]
    assert response.headers.getRawHeaders(b"accept-ranges") == [b"bytes"]
    assert response.length == len(wav)  # a Content-Length: no chunked encoding
    assert body == wav
    # jan works callbacks only; sue (supervisor) may listen to every box.
    assert w.browser("jan").get(f"/backoffice/items/{item}/recording", accept="*/*").status == 404
    assert _body(w.browser("sue"), f"/backoffice/items/{item}/recording") == wav
    anonymous = Browser(w.web.resource()).get(f"/backoffice/items/{item}/recording", accept="*/*")
    assert anonymous.status == 401


def _raw(browser: Browser, path: str, headers: dict[str, str] | None = None) -> tuple[Any, bytes]:
    d = browser.stub.get(BASE + path, headers={"Accept": "*/*", **(headers or {})})
    browser.stub.flush()
    response = result_of(d)
    body = result_of(treq.content(response))
    return response, body


def _body(browser: Browser, path: str) -> bytes:
    response, body = _raw(browser, path)
    assert response.code == 200
    return body


def test_range_requests_get_206_with_content_range_and_exactly_those_bytes(world: World) -> None:
    w = world
    item = message(w, "777123456", seconds=1.0)
    wav = (w.recordings / "voicemail/2026/11/23/777123456-0.wav").read_bytes()
    size = len(wav)
    eva = w.browser("eva")
    url = f"/backoffice/items/{item}/recording"
    for header, first, last in (
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-44", size - 44, size - 1),
        (f"bytes=10-{size + 500}", 10, size - 1),  # past the end: up to the end
    ):
        response, body = _raw(eva, url, {"Range": header})
        assert response.code == 206, header
        assert response.headers.getRawHeaders(b"content-range") == [
            f"bytes {first}-{last}/{size}".encode()
        ]
        assert response.length == last - first + 1
        assert body == wav[first : last + 1], header
    for bad in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=50-10", "bytes=x-1"):
        response, body = _raw(eva, url, {"Range": bad})
        assert response.code == 416, bad
        assert response.headers.getRawHeaders(b"content-range") == [f"bytes */{size}".encode()]
        assert body == b""
    response, body = _raw(eva, url, {"Range": "items=0-10"})  # another unit: the whole file
    assert response.code == 200 and body == wav
    d = eva.stub.head(BASE + url, headers={"Accept": "*/*"})  # a player asking the size
    eva.stub.flush()
    head = result_of(d)
    assert head.code == 200 and head.length in (0, size)
    assert head.headers.getRawHeaders(b"accept-ranges") == [b"bytes"]


def test_a_missing_recording_says_it_is_not_available(world: World) -> None:
    w = world
    item = message(w, "777123456", seconds=None)  # the file never reached the disk
    eva = w.browser("eva")
    page = eva.get(f"/backoffice/items/{item}")
    assert page.status == 200
    assert "The recording of this call is not available" in page.text
    assert 'id="bo-audio"' not in page.text
    missing = eva.get(f"/backoffice/items/{item}/recording", accept=JSON)
    assert missing.status == 404
    assert json.loads(missing.text)["error"] == "The recording of this call is not available"
    # A file deleted from disk later is the same.
    other = message(w, "731000111", at_s=30)
    (w.recordings / "voicemail/2026/11/23/731000111-30.wav").unlink()
    assert (
        "The recording of this call is not available" in eva.get(f"/backoffice/items/{other}").text
    )
    assert eva.get(f"/backoffice/items/{other}/recording", accept=JSON).status == 404


def test_a_path_outside_the_recordings_directory_is_never_served(world: World) -> None:
    w = world
    secret = w.recordings.parent / "secret.wav"
    secret.write_bytes(b"RIFF not for you")
    item = message(w, "777123456", seconds=None)

    def point_outside(session: Session) -> None:
        row = session.get(VoicemailItem, item)
        assert row is not None
        row.recording_path = "../secret.wav"

    w.run(point_outside)
    assert w.browser("eva").get(f"/backoffice/items/{item}/recording", accept="*/*").status == 404


def grant_queue(w: World, login: str, queue_id: int) -> None:
    def grant(session: Session) -> None:
        session.add(QueueRight(agent_id=w.office.agents[login], queue_id=queue_id))

    w.run(grant)


def test_a_recorded_conversation_plays_from_the_item_with_the_right_to_its_queue(
    world: World,
) -> None:
    w = world
    item = message(w, "777123456", at_s=600)
    relative = "calls/2026/11/23/earlier.wav"
    wav = write_wav(w.recordings / relative, 0.5)

    def earlier_call(session: Session) -> int:
        call = inbound_call(session, w.office, "777123456", T0, end=CallState.ANSWERED)
        session.add(Recording(call_id=call, path=relative, started_at=T0, duration_s=1))
        gone = inbound_call(session, w.office, "777123456", T0 + timedelta(seconds=5))
        session.add(Recording(call_id=gone, path="calls/gone.wav", started_at=T0))
        return call

    call = w.run(earlier_call)
    grant_queue(w, "eva", w.office.queue)
    eva = w.browser("eva")
    page = eva.get(f"/backoffice/items/{item}")
    url = f"/backoffice/items/{item}/calls/{call}/recordings/0"
    assert f'src="{url}"' in page.text
    assert page.text.count("The recording of this call is not available") == 1  # the gone one
    assert _body(eva, url) == wav
    assert (
        eva.get(f"/backoffice/items/{item}/calls/{call}/recordings/1", accept="*/*").status == 404
    )
    jan = w.browser("jan")
    assert jan.get(url, accept="*/*").status == 404  # an item of a box not his
    assert _body(w.browser("sue"), url) == wav  # a supervisor hears every queue


def test_the_right_to_a_box_does_not_open_recordings_of_another_queue(world: World) -> None:
    """R-7.4: rights are per queue. Eva works the voicemail box, so she hears the message
    and the call that left it; the customer's conversations in the billing queue, to which
    she has no right, are neither offered nor served."""
    w = world
    item = message(w, "777123456", at_s=600)
    support_wav = write_wav(w.recordings / "calls/support.wav", 0.5)
    write_wav(w.recordings / "calls/billing.wav", 0.5)

    def calls_in_two_queues(session: Session) -> tuple[int, int, int]:
        billing = Queue(code="billing", name="Billing")
        session.add(billing)
        session.flush()
        support_call = inbound_call(session, w.office, "777123456", T0, end=CallState.ANSWERED)
        session.add(Recording(call_id=support_call, path="calls/support.wav", started_at=T0))
        billing_call = inbound_call(
            session, w.office, "777123456", T0 + timedelta(seconds=60), end=CallState.ANSWERED
        )
        row = session.get(Call, billing_call)
        assert row is not None
        row.queue_id = billing.id
        session.add(Recording(call_id=billing_call, path="calls/billing.wav", started_at=T0))
        return billing.id, support_call, billing_call

    billing, support_call, billing_call = w.run(calls_in_two_queues)
    grant_queue(w, "eva", w.office.queue)
    eva = w.browser("eva")
    support_url = f"/backoffice/items/{item}/calls/{support_call}/recordings/0"
    billing_url = f"/backoffice/items/{item}/calls/{billing_call}/recordings/0"
    page = eva.get(f"/backoffice/items/{item}")
    assert f'src="{support_url}"' in page.text
    assert f'src="{billing_url}"' not in page.text  # no play button for what she may not play
    billing_row = page.text.split(f'<tr id="call-{billing_call}"', 1)[1].split("</tr>", 1)[0]
    assert "<audio" not in billing_row
    assert "You have no right to the recordings of this call's queue." in billing_row
    assert _body(eva, support_url) == support_wav
    refused = eva.get(billing_url, accept=JSON)
    assert refused.status == 403
    assert json.loads(refused.text)["error"] == (
        "You have no right to the recordings of this call's queue."
    )
    grant_queue(w, "eva", billing)  # with the right to billing, it plays
    assert f'src="{billing_url}"' in eva.get(f"/backoffice/items/{item}").text
    assert _raw(eva, billing_url)[0].code == 200


def test_a_deleted_recording_says_it_is_not_available(world: World) -> None:
    """R-5.2 keeps the record of a deleted recording; R-3.2 says so instead of hiding it."""
    w = world
    item = message(w, "777123456", at_s=600)
    write_wav(w.recordings / "calls/first.wav", 0.5)
    kept = write_wav(w.recordings / "calls/second.wav", 0.5)

    def recorded_twice(session: Session) -> int:
        call = inbound_call(session, w.office, "777123456", T0, end=CallState.ANSWERED)
        session.add(
            Recording(
                call_id=call,
                path="calls/first.wav",
                started_at=T0,
                deleted_at=T0 + timedelta(seconds=300),
            )
        )
        session.add(Recording(call_id=call, path="calls/second.wav", started_at=T0))
        return call

    call = w.run(recorded_twice)
    grant_queue(w, "eva", w.office.queue)
    eva = w.browser("eva")
    page = eva.get(f"/backoffice/items/{item}")
    row = page.text.split(f'<tr id="call-{call}"', 1)[1].split("</tr>", 1)[0]
    assert "The recording of this call is not available" in row
    base = f"/backoffice/items/{item}/calls/{call}/recordings"
    assert f'src="{base}/0"' not in row and f'src="{base}/1"' in row  # indexes stay put
    gone = eva.get(f"{base}/0", accept=JSON)
    assert gone.status == 410  # the file is still on disk, but deleted means deleted
    assert json.loads(gone.text)["error"] == "The recording of this call is not available"
    assert _body(eva, f"{base}/1") == kept


# --------------------------------------------------------------------------- working


def test_opening_the_form_claims_the_item_and_a_second_person_sees_who_holds_it(
    world: World,
) -> None:
    w = world
    item = message(w, "777123456")
    eva, sue = w.browser("eva"), w.browser("sue")
    before = eva.get(f"/backoffice/items/{item}")
    assert 'id="bo-claim"' in before.text and 'id="bo-done"' not in before.text
    opened = eva.post(f"/backoffice/items/{item}/claim")
    assert (opened.status, opened.location) == (303, f"/backoffice/items/{item}")
    form = eva.get(f"/backoffice/items/{item}")
    for control in ("bo-play", "bo-call-back", "bo-done", "bo-cancel"):
        assert f'id="{control}"' in form.text, control
    assert "You are working on this item until 10:10" in form.text
    assert item_state(w, item) == ("open", w.office.agents["eva"])
    # Sue sees who holds it, has no controls, and is refused if she tries anyway.
    seen = sue.get(f"/backoffice/items/{item}")
    assert "Eva is working on this item. It becomes free in 10 min unless Eva carries on." in (
        seen.text
    )
    assert 'id="bo-claim"' not in seen.text and 'id="bo-done"' not in seen.text
    listed = sue.get("/backoffice")
    assert '<td class="bo-holder">Eva</td>' in listed.text
    for action in ("claim", "done", "cancel"):
        refused = sue.post(f"/backoffice/items/{item}/{action}")
        assert refused.status == 409, action
        assert "Eva is working on this item" in refused.text
    refused_json = post_json(sue, f"/backoffice/items/{item}/done")
    assert json.loads(refused_json.text)["error"].startswith("Eva is working on this item")
    assert item_state(w, item) == ("open", w.office.agents["eva"])


def test_an_expired_claim_is_free_again_and_the_history_says_so(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva, sue = w.browser("eva"), w.browser("sue")
    eva.post(f"/backoffice/items/{item}/claim")
    w.clock.advance(CLAIM_TTL_S - 61)
    assert "It becomes free in 2 min" in sue.get(f"/backoffice/items/{item}").text
    w.clock.advance(60)
    assert "It becomes free in 1 min" in sue.get(f"/backoffice/items/{item}").text
    w.clock.advance(1)  # the claim has run out: nobody holds the item
    page = sue.get(f"/backoffice/items/{item}")
    assert 'id="bo-claim"' in page.text and "is working on this item" not in page.text
    assert '<td class="bo-holder"></td>' in sue.get("/backoffice").text
    assert sue.post(f"/backoffice/items/{item}/claim").status == 303
    mine = sue.get(f"/backoffice/items/{item}")
    assert 'id="bo-done"' in mine.text
    assert "after the claim of Eva expired" in mine.text
    assert history_actions(mine) == ["created", "claimed", "claimed"]
    # Eva's old page can no longer act on the item.
    assert eva.post(f"/backoffice/items/{item}/done").status == 409


def test_every_action_renews_the_claim(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    w.clock.advance(CLAIM_TTL_S - 5)
    eva.post(f"/backoffice/items/{item}/claim")  # reopening the form renews it
    w.clock.advance(CLAIM_TTL_S - 5)
    assert item_state(w, item) == ("open", w.office.agents["eva"])
    assert "Eva is working" in w.browser("sue").get(f"/backoffice/items/{item}").text


def test_cancel_leaves_the_item_in_the_queue_and_done_closes_it_both_in_the_history(
    world: World,
) -> None:
    w = world
    item = message(w, "777123456")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    cancelled = eva.post(f"/backoffice/items/{item}/cancel")
    assert cancelled.status == 303
    assert cancelled.location == f"/backoffice?outcome=cancelled&item={item}"
    assert item_state(w, item) == ("open", None)
    assert row_ids(eva.get("/backoffice")) == [item]
    jan_free = w.browser("sue").get(f"/backoffice/items/{item}")
    assert 'id="bo-claim"' in jan_free.text
    eva.post(f"/backoffice/items/{item}/claim")
    done = eva.post(f"/backoffice/items/{item}/done")
    assert (done.status, done.location) == (303, f"/backoffice?outcome=done&item={item}")
    assert item_state(w, item) == ("done", None)
    assert row_ids(eva.get("/backoffice")) == []
    page = eva.get(f"/backoffice/items/{item}")
    assert "This item is closed." in page.text and 'id="bo-claim"' not in page.text
    assert history_actions(page) == ["created", "claimed", "cancelled", "claimed", "done"]
    history = page.text.split('id="bo-history"', 1)[1]
    assert history.count("<td>Eva</td>") == 4 and "Hotline (automatic)" in history  # who did what
    again = eva.post(f"/backoffice/items/{item}/claim")
    assert again.status == 409 and "This item is already done." in again.text


def test_the_form_shows_the_warning_number_name_date_and_duration(world: World) -> None:
    w = world
    first = message(w, "777123456", seconds=65)
    callback(w, "+420602111222", at_s=60)  # another open item of Jan Novák
    page = w.browser("eva").get(f"/backoffice/items/{first}")
    assert '<p class="alert alert-error" id="bo-warning">2 calls are being processed</p>' in (
        page.text
    )
    facts = page.text.split('id="bo-facts"', 1)[1].split("</table>", 1)[0]
    assert "C-1001" in facts and "Jan Novák" in facts and "777 123 456" in facts
    assert "23.11.2026 10:00" in facts and "1:05" in facts
    alone = message(w, "605000111", at_s=300)
    assert 'id="bo-warning"' not in w.browser("eva").get(f"/backoffice/items/{alone}").text


def test_a_failed_e_mail_report_shows_in_the_items_history(world: World) -> None:
    """R-3.5: when the mailer gave up, the item says so where staff look."""
    w = world
    item = message(w, "777123456")
    w.run(email.mark_email_failed, item, ("night@example.test",), w.now())
    page = w.browser("eva").get(f"/backoffice/items/{item}")
    assert history_actions(page) == ["created", "email_failed"]
    failed = page.text.split('<tr data-action="email_failed">', 1)[1].split("</tr>", 1)[0]
    assert "E-mail report failed" in failed and "night@example.test" in failed
    assert "Hotline (automatic)" in failed


def test_a_state_changing_request_without_the_csrf_token_changes_nothing(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva = w.browser("eva")
    for action in ("claim", "done", "cancel", "call-back"):
        assert eva.post(f"/backoffice/items/{item}/{action}", csrf=None).status == 403
        assert eva.post(f"/backoffice/items/{item}/{action}", csrf="forged").status == 403
    assert item_state(w, item) == ("open", None)
    assert call_backs(w) == [] and w.telephony.actions("originate") == []
    assert eva.get(f"/backoffice/items/{item}/claim").status == 405  # never by a GET


def test_an_unknown_item_is_a_clear_404(world: World) -> None:
    eva = world.browser("eva")
    page = eva.get("/backoffice/items/4242")
    assert page.status == 404 and "There is no such item in the back office." in page.text
    assert eva.post("/backoffice/items/4242/claim").status == 404


# --------------------------------------------------------------------------- off-air


def desk(w: World, login: str) -> tuple[str, str] | None:
    def read(session: Session) -> tuple[str, str] | None:
        row = agent_sessions.open_session_row(session, w.office.agents[login], lock=False)
        return None if row is None else (row.state.value, row.activity.value)

    return w.run(read)  # type: ignore[no-any-return]


def test_working_an_item_at_a_seat_takes_the_person_off_air_until_done(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva_id = w.office.agents["eva"]
    w.run(agent_sessions.log_in, eva_id, w.seats["101"], T0)
    w.run(agent_sessions.apply_event, eva_id, core.GoOnAir(), T0, "on air")
    eva = w.browser("eva")
    assert desk(w, "eva") == ("on_air", "idle")
    eva.post(f"/backoffice/items/{item}/claim")
    assert desk(w, "eva") == ("off_air", "backoffice")
    header = eva.get(f"/backoffice/items/{item}").text.split("</header>", 1)[0]
    assert "Off air" in header
    eva.post(f"/backoffice/items/{item}/done")
    assert desk(w, "eva") == ("off_air", "paused")  # back on-air is the agent's own choice
    # Someone not at a seat works items without any desk state.
    other = message(w, "731000111", at_s=5)
    sue = w.browser("sue")
    assert sue.post(f"/backoffice/items/{other}/claim").status == 303
    assert desk(w, "sue") is None


def test_cancel_also_ends_the_back_office_work(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva_id = w.office.agents["eva"]
    w.run(agent_sessions.log_in, eva_id, w.seats["101"], T0)
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    assert desk(w, "eva") == ("off_air", "backoffice")
    eva.post(f"/backoffice/items/{item}/cancel")
    assert desk(w, "eva") == ("off_air", "paused")


def test_release_gives_the_item_back_without_acting_and_the_history_keeps_it(
    world: World,
) -> None:
    w = world
    item = message(w, "777123456")
    eva_id = w.office.agents["eva"]
    w.run(agent_sessions.log_in, eva_id, w.seats["101"], T0)
    eva, sue = w.browser("eva"), w.browser("sue")
    assert 'id="bo-release"' not in eva.get(f"/backoffice/items/{item}").text  # not held
    eva.post(f"/backoffice/items/{item}/claim")
    assert 'id="bo-release"' in eva.get(f"/backoffice/items/{item}").text
    assert 'id="bo-release"' not in sue.get(f"/backoffice/items/{item}").text
    refused = sue.post(f"/backoffice/items/{item}/release")  # not hers to give back
    assert refused.status == 409 and "Eva is working on this item" in refused.text
    assert item_state(w, item) == ("open", eva_id)
    released = eva.post(f"/backoffice/items/{item}/release")
    assert (released.status, released.location) == (
        303,
        f"/backoffice?outcome=released&item={item}",
    )
    assert item_state(w, item) == ("open", None)  # still in the queue, held by nobody
    assert desk(w, "eva") == ("off_air", "paused")  # the back-office work ended
    listed = eva.get(released.location)
    assert row_ids(listed) == [item]
    assert f"You gave item {item} back untouched: it is free for anyone." in listed.text
    assert sue.post(f"/backoffice/items/{item}/claim").status == 303  # free for anyone
    page = sue.get(f"/backoffice/items/{item}")
    assert history_actions(page) == ["created", "claimed", "released", "claimed"]
    released_row = page.text.split('<tr data-action="released">', 1)[1].split("</tr>", 1)[0]
    assert "<td>Eva</td>" in released_row and "Released" in released_row
    assert eva.post(f"/backoffice/items/{item}/release", csrf=None).status == 403
    answer_json = post_json(sue, f"/backoffice/items/{item}/release")
    assert json.loads(answer_json.text) == {
        "ok": True,
        "state": "open",
        "claimed_by_id": None,
        "customer_reached": False,
    }


def test_playing_is_kept_in_the_history_once_a_minute_per_person(world: World) -> None:
    w = world
    item = message(w, "777123456", at_s=600, seconds=1.0)
    relative = "calls/2026/11/23/earlier.wav"
    write_wav(w.recordings / relative, 0.5)

    def earlier_call(session: Session) -> int:
        call = inbound_call(session, w.office, "777123456", T0, end=CallState.ANSWERED)
        session.add(Recording(call_id=call, path=relative, started_at=T0, duration_s=1))
        return call

    call = w.run(earlier_call)
    grant_queue(w, "eva", w.office.queue)
    w.clock.advance(660)  # a minute after the message was left
    eva, sue = w.browser("eva"), w.browser("sue")
    url = f"/backoffice/items/{item}/recording"
    for header in (None, "bytes=0-99", "bytes=100-", "bytes=-44"):  # what a player sends
        response, _ = _raw(eva, url, {"Range": header} if header else {})
        assert response.code in (200, 206)
    d = eva.stub.head(BASE + url, headers={"Accept": "*/*"})
    eva.stub.flush()
    assert result_of(d).code == 200
    page = eva.get(f"/backoffice/items/{item}")
    assert history_actions(page) == ["created", "played"]
    played = page.text.split('<tr data-action="played">', 1)[1].split("</tr>", 1)[0]
    assert "Played" in played and "<td>Eva</td>" in played
    _body(sue, url)  # another person: their own row
    w.clock.advance(30)
    _body(eva, f"/backoffice/items/{item}/calls/{call}/recordings/0")  # within the minute
    assert history_actions(eva.get(f"/backoffice/items/{item}")) == ["created", "played", "played"]
    w.clock.advance(31)  # a minute after her first play: the conversation counts again
    _body(eva, f"/backoffice/items/{item}/calls/{call}/recordings/0")
    page = eva.get(f"/backoffice/items/{item}")
    assert history_actions(page) == ["created", "played", "played", "played"]
    last = page.text.rsplit('<tr data-action="played">', 1)[1].split("</tr>", 1)[0]
    assert f'href="#call-{call}"' in last  # which call's conversation
    # What could not be played is not "played".
    (w.recordings / "voicemail/2026/11/23/777123456-600.wav").unlink()
    w.clock.advance(120)
    assert eva.get(url, accept=JSON).status == 404
    assert len(history_actions(eva.get(f"/backoffice/items/{item}"))) == 4


# --------------------------------------------------------------------------- call back


def at_seat(w: World, login: str, seat: str = "101") -> None:
    agent_id = w.office.agents[login]
    w.run(agent_sessions.log_in, agent_id, w.seats[seat], w.now())


def test_back_office_staff_without_a_queue_sit_at_a_seat_from_the_back_office(
    world: World,
) -> None:
    """R-2.1, R-3.3: a call back rings the person's phone, so someone with boxes but no
    queue (no desktop) picks a seat on the back-office page, and leaves it there."""
    w = world
    item = callback(w, "777123456")
    eva = w.browser("eva")
    listing = eva.get("/backoffice")
    assert 'id="bo-seat-login"' in listing.text and ">101</option>" in listing.text
    assert eva.get("/desktop").status == 403  # the desktop stays for call-centre people
    done = eva.post("/backoffice/seat", {"seat_id": str(w.seats["101"])})
    assert (done.status, done.location) == (303, "/backoffice")
    assert desk(w, "eva") == ("off_air", "paused")
    listing = eva.get("/backoffice")
    assert "Phone seat 101: a call back rings this phone." in listing.text
    # The seat is taken for a colleague now.
    jan = w.browser("jan")
    assert ">101 (taken by Eva)</option>" in jan.get("/backoffice").text
    refused = jan.post("/backoffice/seat", {"seat_id": str(w.seats["101"])})
    assert refused.status == 409
    # At the seat, the call back goes out.
    eva.post(f"/backoffice/items/{item}/claim")
    placed = eva.post(f"/backoffice/items/{item}/call-back", {"number": "777123456"})
    assert placed.status == 303
    assert [c["agent_id"] for c in call_backs(w)] == [w.office.agents["eva"]]
    end_call(w, placed_call_id(placed), CallState.NO_ANSWER)  # she hangs up, nobody reached
    eva.post(f"/backoffice/items/{item}/cancel")
    left = eva.post("/backoffice/seat/leave")
    assert (left.status, left.location) == (303, "/backoffice")
    assert desk(w, "eva") is None
    # Only back-office people: an agent without boxes may not, and a forged post changes nothing.
    assert w.browser("ann").post("/backoffice/seat", {"seat_id": str(w.seats["102"])}).status == 403
    forged = jan.post("/backoffice/seat", {"seat_id": str(w.seats["102"])}, csrf="forged")
    assert forged.status == 403 and desk(w, "jan") is None


def test_call_back_places_an_outbound_call_to_the_caller_from_the_item(world: World) -> None:
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    page = eva.get(f"/backoffice/items/{item}")
    assert 'id="bo-number" name="number" value="777123456"' in page.text
    placed = eva.post(f"/backoffice/items/{item}/call-back", {"number": "777123456"})
    call = placed_call_id(placed)
    assert (placed.status, placed.location) == (303, f"/backoffice/items/{item}?calling={call}")
    [request] = call_backs(w)
    assert request["number"] == "420777123456"
    assert request["agent_id"] == w.office.agents["eva"]
    assert request["customer_id"] == w.office.novak
    assert request["queue_id"] == w.office.queue  # its caller ID and country prefix
    assert request["item_id"] == item
    end_call(w, call, CallState.NO_ANSWER)  # nobody answered; she tries another number
    # An edited number is called as typed; JSON for fetch.
    answer_json = post_json(eva, f"/backoffice/items/{item}/call-back", {"number": "602111222"})
    assert json.loads(answer_json.text) == {
        "ok": True,
        "call_id": call + 1,
        "number": "602111222",
    }
    assert call_backs(w)[-1]["number"] == "420602111222"


def test_call_back_is_refused_to_someone_else_and_without_a_seat_or_telephony(
    world: World, engine: Engine, tmp_path: Path
) -> None:
    w = world
    item = callback(w, "777123456")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    no_seat = eva.post(f"/backoffice/items/{item}/call-back")
    assert no_seat.status == 409 and "Log in to a phone seat first" in no_seat.text
    at_seat(w, "jan", "102")
    jan = w.browser("jan")
    held = jan.post(f"/backoffice/items/{item}/call-back")
    assert held.status == 409 and "Eva is working on this item" in held.text
    assert call_backs(w) == []
    # A centre without AMI: the button says why it cannot call.
    bare = WebRoot(
        w.db,
        ProcessInfo(),
        clock=w.clock,
        route_tables=[desktop_routes.routes, pages.routes, supervisor_routes.routes],
        recordings_dir=w.recordings,
    )
    try:
        at_seat(w, "eva")
        browser = Browser(bare.resource())
        browser.signed_in("eva")
        page = browser.get(f"/backoffice/items/{item}")
        assert 'id="bo-call-back" disabled' in page.text
        refused = browser.post(f"/backoffice/items/{item}/call-back")
        assert refused.status == 409
        assert "telephony (AMI) is not configured" in refused.text
    finally:
        bare.stop()


def placed_call_id(page: Page) -> int:
    assert page.location is not None
    return int(page.location.rsplit("calling=", 1)[1])


def test_a_refusal_of_the_outbound_service_is_shown_on_the_item(world: World) -> None:
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    w.telephony.client.stop()  # the AMI connection is lost
    refused = eva.post(f"/backoffice/items/{item}/call-back")
    assert refused.status == 409
    assert (
        "The call back could not be placed: Telephony is not reachable; the call was not placed."
        in refused.text
    )
    assert 'id="bo-done"' in refused.text  # the form is still there to try again or cancel
    as_json = post_json(eva, f"/backoffice/items/{item}/call-back")
    assert as_json.status == 409 and "could not be placed" in json.loads(as_json.text)["error"]


def outcome_text(page: Page) -> str:
    found = re.search(r'id="bo-call-back-outcome">([^<]*)<', page.text)
    assert found, "no call back outcome on the page"
    return found.group(1)


def test_a_call_back_that_did_not_connect_keeps_the_request_open(world: World) -> None:
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    form = eva.get(f"/backoffice/items/{item}")
    assert 'id="bo-done" disabled' in form.text and 'id="bo-done-hint"' in form.text
    call = placed_call_id(eva.post(f"/backoffice/items/{item}/call-back"))
    assert 'id="bo-calling"' in eva.get(f"/backoffice/items/{item}").text  # it rings
    end_call(w, call, CallState.NO_ANSWER)  # nobody answered
    page = eva.get(f"/backoffice/items/{item}")
    assert 'id="bo-calling"' not in page.text
    # Issue 16: "the outcome shows here when the call ends" holds.
    assert "did not reach the customer." in outcome_text(page)
    assert history_actions(page)[-1] == "callback_not_connected"
    assert "Called back, not reached" in page.text
    assert f'<a href="#call-{call}">call {call}</a>' in page.text
    refused = eva.post(f"/backoffice/items/{item}/done")
    assert refused.status == 409
    assert (
        "Call the customer back first. If you could not reach them, use “Could not finish”"
        in refused.text
    )
    assert item_state(w, item)[0] == "open"
    cancelled = eva.post(f"/backoffice/items/{item}/cancel")
    assert item_state(w, item) == ("open", None)  # stays in the queue for later
    listed = eva.get(cancelled.location or "")
    assert row_ids(listed) == [item]
    assert f"You stopped working on item {item}: it stays in the queue" in listed.text
    # Looking again records nothing twice.
    again = eva.get(f"/backoffice/items/{item}")
    assert history_actions(again).count("callback_not_connected") == 1


def test_a_call_back_that_connected_lets_the_request_be_done(world: World) -> None:
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    call = placed_call_id(eva.post(f"/backoffice/items/{item}/call-back"))
    end_call(w, call, CallState.ANSWERED)
    # Done right away counts the call that just connected, even before a page showed it.
    assert eva.post(f"/backoffice/items/{item}/done").status == 303
    assert item_state(w, item) == ("done", None)
    page = eva.get(f"/backoffice/items/{item}")
    assert history_actions(page)[-2:] == ["callback_connected", "done"]
    assert f'<tr id="call-{call}"' in page.text  # the call back is among the item's calls
    assert "Outbound" in page.text


def test_a_connected_call_back_enables_done_on_the_page(world: World) -> None:
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    first = placed_call_id(eva.post(f"/backoffice/items/{item}/call-back"))
    end_call(w, first, CallState.BUSY)
    second = placed_call_id(eva.post(f"/backoffice/items/{item}/call-back"))
    end_call(w, second, CallState.ANSWERED)
    page = eva.get(f"/backoffice/items/{item}")
    assert history_actions(page)[-2:] == ["callback_not_connected", "callback_connected"]
    assert 'id="bo-done" disabled' not in page.text and 'id="bo-done-hint"' not in page.text
    assert "reached the customer." in outcome_text(page)  # the last one counts
    assert "did not" not in outcome_text(page)
    done = eva.post(f"/backoffice/items/{item}/done")
    assert f"Item {item} is done and has left the queue." in eva.get(done.location or "").text


def test_signing_out_frees_the_seat_unless_a_call_holds_it(world: World) -> None:
    """R-2.1, issue 16: a seat left held by someone who signed out blocks a colleague; a call
    going on keeps it (the call is real), and it is freed once the call ended."""
    w = world
    item = callback(w, "777123456")
    at_seat(w, "eva")
    eva = w.browser("eva")
    eva.post(f"/backoffice/items/{item}/claim")
    call = placed_call_id(eva.post(f"/backoffice/items/{item}/call-back"))
    assert eva.post("/sign-out").status == 303
    assert desk(w, "eva") == ("off_air", "outbound")  # she is on the phone
    end_call(w, call, CallState.ANSWERED)
    assert desk(w, "eva") == ("off_air", "backoffice")  # the item is her after-call work
    eva = w.browser("eva")
    assert eva.post("/sign-out").status == 303
    assert desk(w, "eva") is None
    jan = w.browser("jan")
    assert jan.post("/backoffice/seat", {"seat_id": str(w.seats["101"])}).status == 303


def test_someone_left_processing_a_call_back_gets_back_to_work(world: World) -> None:
    """Issue 16: before call backs returned to their item, a connected one left its caller
    "Processing a call", which back-office staff have no form to end. Done on the item, a
    new claim, leaving the seat and signing out each end that processing."""
    w = world
    first, second = callback(w, "777123456"), callback(w, "731000111", at_s=1)
    at_seat(w, "eva")
    eva = w.browser("eva")

    def strand(call_id: int) -> None:
        """The desk as the old release left it: processing the call back."""

        def write(session: Session) -> None:
            row = agent_sessions.open_session_row(session, w.office.agents["eva"])
            assert row is not None
            row.activity, row.current_call_id = Activity.PROCESSING, call_id

        w.run(write)

    eva.post(f"/backoffice/items/{first}/claim")
    call = placed_call_id(eva.post(f"/backoffice/items/{first}/call-back"))
    end_call(w, call, CallState.ANSWERED)
    strand(call)
    assert "Processing a call" in eva.get("/backoffice").text
    assert eva.post(f"/backoffice/items/{first}/done").status == 303
    assert desk(w, "eva") == ("off_air", "paused")
    # Stranded again after the item is done: the next claim, or leaving the seat, helps.
    strand(call)
    assert eva.post(f"/backoffice/items/{second}/claim").status == 303
    assert desk(w, "eva") == ("off_air", "backoffice")
    eva.post(f"/backoffice/items/{second}/release")
    strand(call)
    assert eva.post("/backoffice/seat/leave").status == 303
    assert desk(w, "eva") is None
    at_seat(w, "eva")
    strand(call)
    eva.post("/sign-out")
    assert desk(w, "eva") is None


# ---------------------------------------------------------------------------


def test_a_request_resolved_by_a_later_call_is_shown_with_a_link_to_that_call(
    world: World,
) -> None:
    w = world
    item = callback(w, "777123456")

    def novak_calls_again(session: Session) -> int:
        at = T0 + timedelta(minutes=5)
        call = inbound_call(session, w.office, "777123456", at, customer_id=w.office.novak)
        answer(session, call, at)
        return call

    call = w.run(novak_calls_again)
    eva = w.browser("eva")
    assert row_ids(eva.get("/backoffice")) == []  # no longer waiting
    resolved = eva.get("/backoffice?state=resolved_by_contact")
    assert row_ids(resolved) == [item]
    assert "Resolved by a later call" in resolved.text
    assert f'href="/backoffice/items/{item}#call-{call}">by call {call}</a>' in resolved.text
    page = eva.get(f"/backoffice/items/{item}")
    assert f'<a href="#call-{call}" id="bo-resolved-by">by call {call}</a>' in page.text
    assert f'<tr id="call-{call}" class="bo-resolving">' in page.text
    assert "This item is closed." in page.text
    refused = eva.post(f"/backoffice/items/{item}/claim")
    assert refused.status == 409 and "resolved by a later call with the customer" in refused.text


# --------------------------------------------------------------------------- live


def open_events(w: World, login: str) -> tuple[Browser, Stream]:
    browser = Browser(w.web.resource())
    page = browser.signed_in(login)
    last = page.text.split('data-last-event-id="', 1)[1].split('"', 1)[0]
    return browser, browser.open_stream(f"/events?last_id={last}")


def backoffice_events(stream: Stream) -> list[dict[str, Any]]:
    return [json.loads(m["data"]) for m in stream.messages() if m.get("event") == "backoffice"]


def test_new_and_changed_items_reach_the_pages_of_those_who_work_their_box(
    world: World,
) -> None:
    w = world
    streams = {login: open_events(w, login) for login in ("eva", "jan", "sue", "ann")}
    vm = message(w, "777123456")
    cb = callback(w, "731000111", at_s=5)

    def tick() -> None:
        w.clock.advance(0.5)
        for browser, _ in streams.values():
            browser.stub.flush()

    tick()
    seen = {login: backoffice_events(stream) for login, (_, stream) in streams.items()}
    new_vm = {"kind": "backoffice.new", "item_id": vm, "box_id": w.office.messages, "state": None}
    new_cb = {"kind": "backoffice.new", "item_id": cb, "box_id": w.office.callbacks, "state": None}
    assert seen["eva"] == [new_vm, new_cb]
    assert seen["jan"] == [new_cb]  # not the message box
    assert seen["sue"] == [new_vm, new_cb]  # a supervisor sees every box
    assert seen["ann"] == []
    # A claim by someone else is news for the others' lists too.
    w.browser("eva").post(f"/backoffice/items/{cb}/claim")
    tick()
    claimed = backoffice_events(streams["jan"][1])[-1]
    assert claimed == {
        "kind": "backoffice.claimed",
        "item_id": cb,
        "box_id": w.office.callbacks,
        "state": "open",
    }
    assert "id: " in streams["jan"][1].text  # resumable after a reconnect


def test_the_pages_load_the_live_script_and_mark_the_parts_it_refreshes(world: World) -> None:
    w = world
    item = message(w, "777123456")
    eva = w.browser("eva")
    listing = eva.get("/backoffice")
    assert '<script src="/static/backoffice.js" defer></script>' in listing.text
    assert 'id="bo-list" data-live="backoffice"' in listing.text
    page = eva.get(f"/backoffice/items/{item}")
    assert f'class="backoffice-item" data-item="{item}"' in page.text
    assert 'id="bo-live"' in page.text and 'id="bo-history-card"' in page.text
    script = eva.get("/static/backoffice.js", accept="*/*")
    assert script.status == 200 and "hotline:backoffice" in script.text
    assert "hotline:backoffice" in eva.get("/static/hotline.js", accept="*/*").text


# --------------------------------------------------------------------------- languages


def back_office_messages() -> set[str]:
    return extracted_messages(
        [
            ("voicemail/**.py", "python"),
            ("callbacks/**.py", "python"),
            ("voicemail/templates/**.html", "jinja2"),
        ]
    )


PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_message_of_the_back_office_pages_has_a_czech_translation() -> None:
    czech = load_po(LOCALE_DIR / "cs" / "LC_MESSAGES" / "hotline.po")
    messages = back_office_messages()
    assert len(messages) > 60
    assert sorted(m for m in messages if czech.gettext(m) == m) == []
    for msg in messages:
        assert sorted(PLACEHOLDER.findall(czech.gettext(msg))) == sorted(PLACEHOLDER.findall(msg))


def test_the_core_refusals_are_the_texts_the_czech_page_translates() -> None:
    czech = load_po(LOCALE_DIR / "cs" / "LC_MESSAGES" / "hotline.po")
    for refusal in (
        claims.NEEDS_CONNECTED_CALLBACK,
        claims.HELD_BY,
        claims.DONE_ALREADY,
        claims.RESOLVED_ALREADY,
        claims.CHANGED_MEANWHILE,
        bq.NO_BOX_RIGHT,
        bq.NO_ACCESS,
        bq.NO_SUCH_ITEM,
        bq.BAD_FILTER,
    ):
        assert czech.gettext(refusal) != refusal, refusal


def test_a_czech_speaker_gets_the_pages_in_czech(world: World) -> None:
    w = world
    item = message(w, "777123456")

    def czech(session: Session) -> None:
        agent = session.get(Agent, w.office.agents["sue"])
        assert agent is not None
        agent.language = "cs"

    w.run(czech)
    w.browser("eva").post(f"/backoffice/items/{item}/claim")
    sue = w.browser("sue")
    assert "Hovory v záznamníku" in sue.get("/backoffice").text
    held = "Na této položce pracuje Eva. Uvolní se za 10 min, pokud Eva nebude pokračovat."
    assert held in sue.get(f"/backoffice/items/{item}").text
    refused = sue.post(f"/backoffice/items/{item}/done")
    assert refused.status == 409 and held in refused.text
    (w.recordings / "voicemail/2026/11/23/777123456-0.wav").unlink()
    assert (
        "Soubor se záznamem tohoto hovoru není dostupný"
        in sue.get(f"/backoffice/items/{item}").text
    )


# --------------------------------------------------------------------------- pure parts


def test_durations_read_as_minutes_and_seconds() -> None:
    assert [pages.duration_text(s) for s in (None, 0, 7, 65, 600, 3725)] == [
        "",
        "0:00",
        "0:07",
        "1:05",
        "10:00",
        "1:02:05",
    ]


# --------------------------------------------------------------------------- real TCP


def _session_cookie(w: World, login: str) -> str:
    browser = Browser(w.web.resource())
    form = browser.get("/sign-in")
    done = browser.post("/sign-in", {"login": login, "password": PASSWORD}, csrf=form.csrf())
    [cookie] = [c for c in done.set_cookies() if c.startswith("hotline_session=")]
    return cookie.split(";", 1)[0]


@pytest_twisted.ensureDeferred
async def test_a_long_recording_streams_over_a_real_socket_whole_and_in_ranges(
    world: World,
) -> None:
    from twisted.internet import reactor as installed
    from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol
    from twisted.web.server import Site

    reactor: Any = installed
    w = world
    item = message(w, "777123456", seconds=None)
    relative = "voicemail/2026/11/23/777123456-0.wav"
    wav = write_wav(w.recordings / relative, 240)  # four minutes: several MB, many chunks
    assert len(wav) > 3_000_000
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Site(w.web.resource())
    )
    base = f"http://127.0.0.1:{port.getHost().port}"
    cookie = _session_cookie(w, "eva")
    headers: dict[bytes | str, bytes | str] = {"Cookie": cookie, "Accept": "*/*"}
    url = f"{base}/backoffice/items/{item}/recording"
    try:
        whole = await treq.get(url, headers=headers)
        assert whole.code == 200
        assert await treq.content(whole) == wav
        ranged = await treq.get(url, headers={**headers, "Range": "bytes=1000000-2999999"})
        assert ranged.code == 206
        assert await treq.content(ranged) == wav[1_000_000:3_000_000]

        class Impatient(Protocol):
            """A player that asks for the file and hangs up after the first bytes."""

            def __init__(self) -> None:
                self.gone: Deferred[None] = Deferred()
                self.got = 0

            def connectionMade(self) -> None:
                transport: Any = self.transport
                transport.write(
                    f"GET /backoffice/items/{item}/recording HTTP/1.1\r\nHost: x\r\n"
                    f"Cookie: {cookie}\r\n\r\n".encode()
                )

            def dataReceived(self, data: bytes) -> None:
                self.got += len(data)
                transport: Any = self.transport
                transport.abortConnection()

            def connectionLost(self, reason: Any = None) -> None:
                self.gone.callback(None)

        impatient = Impatient()
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), impatient
        )
        await impatient.gone
        assert 0 < impatient.got < len(wav)
        again = await treq.get(url, headers={**headers, "Range": "bytes=-100"})
        assert again.code == 206 and await treq.content(again) == wav[-100:]
    finally:
        await port.stopListening()


def _main(page: str) -> str:
    """The page's own content, without the layout (its CSRF token, the live feed's id)."""
    return page.split("<main", 1)[1].split("</main>", 1)[0]
