"""Call records pages (R-5.1), their CSV export, a call's timeline and its recordings (R-5.2),
with the rights of R-7.4, through the real Klein resource on the test's database."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import treq
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    AuditLog,
    Call,
    FollowUpProcess,
    IvrKeyPress,
    IvrMenu,
    ProcessCall,
    ReasonNode,
    Recording,
    VoicemailItem,
)
from domain.enums import CallState, ItemKind, IvrOutcome, ReasonDirection, RingOutcome
from reports import records_routes
from tests.reports.records.calls import add_call, write_wav
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.deferreds import result_of
from tests.support.web import BASE, Browser
from tests.support.web_fixtures import START


def _raw(browser: Browser, path: str, headers: dict[str, str] | None = None) -> tuple[Any, bytes]:
    d = browser.stub.get(BASE + path, headers={"Accept": "*/*", **(headers or {})})
    browser.stub.flush()
    response = result_of(d)
    return response, result_of(treq.content(response))


def _ids_on(page_text: str) -> list[int]:
    return [int(part.split('"', 1)[0]) for part in page_text.split('<tr id="call-')[1:]]


def test_each_person_sees_only_the_calls_of_their_queues(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, other_browser: Browser
) -> None:
    """R-7.4: eva has the right to support, not billing: the billing call is neither listed
    nor shown nor exported to her; the supervisor sees both."""

    def calls(s: Session) -> tuple[int, int]:
        support = add_call(s, centre.support, START - timedelta(hours=1), caller="777111222")
        billing = add_call(s, centre.billing, START - timedelta(hours=2), caller="777333444")
        return support, billing

    support, billing = db.run_sync(calls)
    browser.signed_in("eva")
    page = browser.get("/calls")
    assert page.status == 200
    assert _ids_on(page.text) == [support]
    assert "777 111 222" in page.text and "777 333 444" not in page.text
    assert browser.get(f"/calls/{billing}").status == 404
    assert browser.get(f"/calls/{support}").status == 200
    exported = _raw(browser, "/calls.csv")[1].decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(exported))][1:] == [str(support)]
    # Nor can she pick the billing queue in the filter to get at it.
    assert _ids_on(browser.get(f"/calls?queue={centre.billing}").text) == []
    other_browser.signed_in("sue")
    assert _ids_on(other_browser.get("/calls").text) == [support, billing]


def test_a_number_in_any_format_finds_the_call(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    """The number filter normalises as customer matching does (R-2.6)."""

    def calls(s: Session) -> tuple[int, int]:
        one = add_call(s, centre.support, START - timedelta(minutes=30), caller="777123456")
        other = add_call(s, centre.support, START - timedelta(minutes=20), caller="+420602000111")
        return one, other

    one, other = db.run_sync(calls)
    browser.signed_in("eva")
    for typed in ("+420 777 123 456", "00420777123456", "777 123 456", "0777123456"):
        assert _ids_on(browser.get(f"/calls?number={typed}").text) == [one], typed
    assert _ids_on(browser.get("/calls?number=602+000+111").text) == [other]
    assert _ids_on(browser.get("/calls?number=111").text) == []


def test_filters_pick_exactly_the_matching_calls(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    def calls(s: Session) -> dict[str, Any]:
        root = ReasonNode(queue_id=centre.support, direction=ReasonDirection.INBOUND, label="Net")
        s.add(root)
        s.flush()
        leaf = ReasonNode(
            queue_id=centre.support,
            direction=ReasonDirection.INBOUND,
            parent_id=root.id,
            label="Outage",
            code="OUT",
        )
        s.add(leaf)
        s.flush()
        eva = centre.agents["eva"]
        day_before = START - timedelta(days=1)
        return {
            "root": root.id,
            "answered": add_call(
                s,
                centre.support,
                START - timedelta(minutes=50),
                agent_id=eva,
                rt_number="123456",
                reason_node_id=leaf.id,
                did="225000111",
            ),
            "abandoned": add_call(
                s,
                centre.support,
                START - timedelta(minutes=40),
                state=CallState.ABANDONED_QUEUE,
                answered_after_s=None,
                overflowed=True,
            ),
            "yesterday": add_call(s, centre.support, day_before),
        }

    ids = db.run_sync(calls)
    browser.signed_in("eva")

    def found(query: str) -> list[int]:
        page = browser.get("/calls?" + query)
        assert page.status == 200, page.text
        return _ids_on(page.text)

    assert found("state=abandoned_queue") == [ids["abandoned"]]
    assert found("overflowed=yes") == [ids["abandoned"]]
    assert found("overflowed=no") == [ids["answered"], ids["yesterday"]]
    assert found("rt=123456") == [ids["answered"]]
    assert found(f"agent={centre.agents['eva']}") == [ids["answered"]]
    assert found("did=225000111") == [ids["answered"]]
    assert found(f"reason={ids['root']}") == [ids["answered"]]  # a reason takes its sub-reasons
    # START is 09:30 in Prague on 2 March 2026: "today" in the centre's time zone.
    assert found("from=2026-03-02&to=2026-03-02") == [ids["abandoned"], ids["answered"]]
    assert found("to=2026-03-01") == [ids["yesterday"]]
    assert found("direction=out") == []
    page = browser.get("/calls?rt=123456")
    assert "Net › Outage" in page.text


def test_recording_filter(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, recordings: Path
) -> None:
    def calls(s: Session) -> tuple[int, int, int]:
        kept = add_call(s, centre.support, START - timedelta(minutes=30))
        deleted = add_call(s, centre.support, START - timedelta(minutes=20))
        none = add_call(s, centre.support, START - timedelta(minutes=10))
        s.add(Recording(call_id=kept, path="a.wav", started_at=START))
        s.add(Recording(call_id=deleted, path="b.wav", started_at=START, deleted_at=START))
        return kept, deleted, none

    kept, deleted, none = db.run_sync(calls)
    browser.signed_in("eva")
    assert _ids_on(browser.get("/calls?recording=yes").text) == [kept]
    assert _ids_on(browser.get("/calls?recording=no").text) == [none, deleted]


def test_keyset_pages_show_every_call_once_newest_first(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    def calls(s: Session) -> list[int]:
        # Several calls share a second: the cursor's id breaks the tie.
        return [
            add_call(s, centre.support, START - timedelta(seconds=(i // 3) * 60))
            for i in range(120)
        ]

    made = db.run_sync(calls)
    browser.signed_in("eva")
    seen: list[int] = []
    url: str | None = "/calls"
    pages = 0
    while url:
        page = browser.get(url)
        assert page.status == 200
        seen.extend(_ids_on(page.text))
        pages += 1
        marker = 'id="calls-next">'
        if marker in page.text:
            href = page.text.split(marker)[0].rsplit('href="', 1)[1].split('"', 1)[0]
            url = href.replace("&amp;", "&")
            assert "offset" not in url and "after=" in url
        else:
            url = None
    assert pages == 3
    newest_first = sorted(made, key=lambda i: (made.index(i) // 3, -i))
    assert seen == newest_first


def test_csv_exports_exactly_the_filtered_set_across_batches(
    db: InlineDBRunner,
    centre: StaffCentre,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Streamed in keyset batches (here of 7): nothing lost, nothing twice, same filter."""
    monkeypatch.setattr(records_routes, "CSV_BATCH", 7)

    def calls(s: Session) -> list[int]:
        made = []
        for i in range(40):
            state = CallState.ANSWERED if i % 4 else CallState.ABANDONED_QUEUE
            made.append(
                add_call(
                    s,
                    centre.support,
                    START - timedelta(minutes=i),
                    state=state,
                    rings=((centre.agents["eva"], 6, 12, RingOutcome.NO_ANSWER),),
                )
            )
        return made

    made = db.run_sync(calls)
    browser.signed_in("eva")
    response, body = _raw(browser, "/calls.csv?state=answered")
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/csv; charset=utf-8"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Call id", "Time", "From"]
    exported = [int(r[0]) for r in rows[1:]]
    assert exported == [c for i, c in enumerate(made) if i % 4]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Ringing (s)"] == "12"
    assert first["Talking (s)"] == "90"
    assert first["Time"] == "2026-03-02T09:29:00+01:00"  # the centre's time zone


def test_the_csv_header_and_the_page_speak_czech(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    db.run_sync(lambda s: add_call(s, centre.support, START - timedelta(minutes=5)))
    browser.signed_in("jan")  # jan's language is Czech
    page = browser.get("/calls")
    assert "Záznamy hovorů" in page.text
    header = _raw(browser, "/calls.csv")[1].decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Id hovoru,Čas,Od")


def test_bad_filter_input_gets_a_clear_error_in_the_layout(
    centre: StaffCentre, browser: Browser
) -> None:
    browser.signed_in("eva")
    page = browser.get("/calls?from=2026-13-40")
    assert page.status == 400
    assert "The date in from is not a date (YYYY-MM-DD)." in page.text
    assert "<header" in page.text
    assert browser.get("/calls?from=2026-03-05&to=2026-03-01").status == 400
    assert browser.get("/calls?after=garbage").status == 400
    assert browser.get("/calls?state=nonsense").status == 400
    assert browser.get("/calls?number=abc").status == 400


def test_a_calls_page_shows_its_timeline_in_order(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    eva, jan = centre.agents["eva"], centre.agents["jan"]

    def call(s: Session) -> int:
        menu = IvrMenu(code="main", name="Main menu", prompt="hotline/main")
        s.add(menu)
        s.flush()
        started = START - timedelta(minutes=10)
        call_id = add_call(
            s,
            centre.support,
            started,
            agent_id=eva,
            answered_after_s=50,
            length_s=170,
            overflowed=True,
            hangup_cause="16",
            processed_by_id=eva,
            processed_at=started + timedelta(seconds=200),
            rt_number="4242",
            rings=(
                (jan, 6, 20, RingOutcome.NO_ANSWER),
                (eva, 27, 23, RingOutcome.ANSWERED),
            ),
        )
        s.add(
            IvrKeyPress(
                call_id=call_id,
                menu_id=menu.id,
                digit="2",
                outcome=IvrOutcome.OPTION,
                at=started + timedelta(seconds=3),
            )
        )
        process = FollowUpProcess(
            title="Replace the router",
            created_by_id=eva,
            created_at=started + timedelta(seconds=210),
        )
        s.add(process)
        s.flush()
        s.add(ProcessCall(process_id=process.id, call_id=call_id))
        return call_id

    call_id = db.run_sync(call)
    browser.signed_in("eva")
    page = browser.get(f"/calls/{call_id}")
    assert page.status == 200
    timeline = page.text.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
    kinds = [part.split('"', 1)[0] for part in timeline.split('data-kind="')[1:]]
    assert kinds == [
        "started",
        "ivr_key",
        "queue_entered",
        "overflow",  # flagged on the call, no overflow ring: shown from the queue entry
        "ring",
        "ring",
        "answered",
        "ended",
        "processed",
        "follow_up",
    ]
    assert "IVR Main menu: key 2, chose an option" in timeline
    assert "Rang Jan Novák for 20 s: not answered" in timeline
    assert "Rang Eva Dvořák for 23 s: answered" in timeline
    assert "Answered by Eva Dvořák after waiting 0:45" in timeline
    assert "Processed and saved by Eva Dvořák" in timeline
    assert "Replace the router" in timeline


def test_a_box_choice_shows_on_the_timeline(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser
) -> None:
    def call(s: Session) -> int:
        started = START - timedelta(minutes=10)
        call_id = add_call(
            s, centre.support, started, state=CallState.CALLBACK, answered_after_s=None
        )
        s.add(
            VoicemailItem(
                box_id=centre.box,
                kind=ItemKind.CALLBACK,
                call_id=call_id,
                caller_number="777123456",
                created_at=started + timedelta(seconds=40),
            )
        )
        return call_id

    call_id = db.run_sync(call)
    browser.signed_in("eva")
    page = browser.get(f"/calls/{call_id}")
    assert "The caller chose 0 and asked for a callback in Support voicemail" in page.text


def test_recordings_play_with_ranges_download_and_delete_with_an_audit_trail(
    db: InlineDBRunner,
    centre: StaffCentre,
    browser: Browser,
    other_browser: Browser,
    recordings: Path,
) -> None:
    wav = write_wav(recordings / "calls/one.wav", 0.5)

    def call(s: Session) -> tuple[int, int]:
        call_id = add_call(s, centre.support, START - timedelta(minutes=10))
        rec = Recording(call_id=call_id, path="calls/one.wav", started_at=START, duration_s=1)
        s.add(rec)
        s.flush()
        return call_id, rec.id

    call_id, rec_id = db.run_sync(call)
    url = f"/calls/{call_id}/recordings/{rec_id}"
    browser.signed_in("eva")
    assert f'src="{url}"' in browser.get(f"/calls/{call_id}").text
    response, body = _raw(browser, url, {"Range": "bytes=0-99"})
    assert response.code == 206
    assert body == wav[:100]
    assert response.headers.getRawHeaders("content-range") == [f"bytes 0-99/{len(wav)}"]
    response, body = _raw(browser, url + "?download=1")
    assert body == wav
    assert "attachment" in response.headers.getRawHeaders("content-disposition")[0]
    # An agent may listen, not delete.
    refused = browser.post(url + "/delete", {"sure": "yes"})
    assert refused.status == 403
    assert (recordings / "calls/one.wav").exists()

    other_browser.signed_in("sue")
    other_browser.get(f"/calls/{call_id}")
    done = other_browser.post(url + "/delete", {"sure": "yes"})
    assert done.status == 303
    assert not (recordings / "calls/one.wav").exists()
    kept = db.run_sync(lambda s: s.get(Recording, rec_id))
    assert kept is not None and kept.deleted_at is not None
    audit = db.run_sync(lambda s: s.scalars(select(AuditLog)).all())
    assert [(a.action, a.target, a.actor_id) for a in audit] == [
        ("recording.delete", f"call:{call_id}", centre.agents["sue"])
    ]
    assert json.loads(audit[0].detail)["recording_id"] == rec_id
    page = browser.get(f"/calls/{call_id}")
    assert "Deleted" in page.text and "by Sue Visor" in page.text
    assert "Recording deleted by Sue Visor" in page.text
    assert _raw(browser, url)[0].code == 404
    assert other_browser.post(url + "/delete", {"sure": "yes"}).status == 404


def test_another_queues_recording_is_not_served(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, recordings: Path
) -> None:
    write_wav(recordings / "calls/billing.wav", 0.2)

    def call(s: Session) -> tuple[int, int]:
        call_id = add_call(s, centre.billing, START - timedelta(minutes=10))
        rec = Recording(call_id=call_id, path="calls/billing.wav", started_at=START)
        s.add(rec)
        s.flush()
        return call_id, rec.id

    call_id, rec_id = db.run_sync(call)
    browser.signed_in("eva")
    assert _raw(browser, f"/calls/{call_id}/recordings/{rec_id}")[0].code == 404
    assert db.run_sync(lambda s: s.get(Call, call_id)) is not None
