"""The page of scheduled reports (R-5.5): a supervisor makes, changes and deletes their own
schedules for their queues; an admin sees and manages every one; agents and the back office
are refused (R-7.4); forms need the CSRF token; a wrong field is said next to it by its
label, in English and Czech, with what was typed kept; the last sendings show failures."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Agent, QueueRight, ReportSchedule, ReportSending
from db.passwords import hash_password
from domain.enums import ReportFormat, ReportPeriod, Role
from reports.store import schedules as store
from tests.support.centre import PASSWORD, StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from tests.support.web_fixtures import START

PAGE = "/reports/schedules"


def rights(db: InlineDBRunner, centre: StaffCentre) -> None:
    """sue (supervisor): the right to support; ada: an admin."""

    def make(s: Session) -> None:
        s.add(QueueRight(agent_id=centre.agents["sue"], queue_id=centre.support))
        s.add(
            Agent(
                login="ada",
                name="Ada Admin",
                password_hash=hash_password(PASSWORD, n=2**10),
                role=Role.ADMIN,
            )
        )

    db.run_sync(make)


def form(**values: str) -> dict[str, str]:
    return {
        "report": "queues",
        "queue": "",
        "period": "weekly",
        "format": "pdf",
        "send_at": "07:30",
        "recipients": "boss@example.test\ndeputy@example.test",
        "language": "en",
        **values,
    }


def stored(db: InlineDBRunner) -> list[dict[str, object]]:
    def read(s: Session) -> list[dict[str, object]]:
        return [
            {
                "report": r.report,
                "period": r.period,
                "format": r.format,
                "email_to": r.email_to,
                "queue_id": r.queue_id,
                "send_at": r.send_at,
                "owner_id": r.owner_id,
                "starts_on": r.starts_on,
                "ends_on": r.ends_on,
                "send_on": r.send_on,
            }
            for r in s.scalars(select(ReportSchedule).order_by(ReportSchedule.id))
        ]

    return db.run_sync(read)


def test_a_supervisor_makes_changes_and_deletes_a_schedule_of_their_queue(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    rights(db, centre)
    browser.signed_in("sue")
    reports = browser.get("/reports")
    assert f'href="{PAGE}"' in reports.text
    page = browser.get(PAGE)
    assert page.status == 200 and 'id="schedules-empty"' in page.text
    assert "Europe/Prague" in page.text  # the times are the centre's
    new = browser.get(PAGE + "/new")
    assert "Technical support" in new.text and "Billing" not in new.text
    saved = browser.post(PAGE, form(queue=str(centre.support)))
    assert saved.status == 303 and saved.location == PAGE + "?done=saved"
    [row] = stored(db)
    assert row["period"] is ReportPeriod.WEEKLY and row["format"] is ReportFormat.PDF
    assert row["email_to"] == "boss@example.test, deputy@example.test"
    assert row["queue_id"] == centre.support and row["send_at"] == time(7, 30)
    assert row["owner_id"] == centre.agents["sue"]
    assert row["starts_on"] == date(2026, 3, 2)  # the week running: sent next Monday
    listed = browser.get(PAGE + "?done=saved")
    assert "The schedule is saved." in listed.text
    assert "boss@example.test" in listed.text and "nothing sent yet" in listed.text
    sid = db.run_sync(lambda s: s.scalar(select(ReportSchedule.id)))
    edit = browser.get(f"{PAGE}/{sid}")
    assert "07:30" in edit.text and "deputy@example.test" in edit.text
    changed = browser.post(f"{PAGE}/{sid}", form(period="daily", format="csv", recipients="x@y.cz"))
    assert changed.status == 303
    [row] = stored(db)
    assert row["period"] is ReportPeriod.DAILY and row["email_to"] == "x@y.cz"
    refused = browser.post(f"{PAGE}/{sid}/delete", {}, csrf=False)
    assert refused.status == 403 and len(stored(db)) == 1  # no CSRF token: nothing deleted
    deleted = browser.post(f"{PAGE}/{sid}/delete", {})
    assert deleted.status == 303 and stored(db) == []


def test_wrong_fields_are_said_by_their_labels_and_what_was_typed_is_kept(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    rights(db, centre)
    browser.signed_in("sue")
    browser.get(PAGE)
    bad = browser.post(
        PAGE,
        form(
            send_at="25:00",
            recipients="boss@example.test, not-an-address",
            queue=str(centre.billing),  # no right to it
        ),
    )
    assert bad.status == 400 and stored(db) == []
    assert "“Sent at” must be a time of day such as 06:30." in bad.text
    assert "“Recipients”: “not-an-address” is not an e-mail address." in bad.text
    assert "“Queue” has a value that is not offered." in bad.text
    assert 'id="s-send-at"' in bad.text and 'value="25:00"' in bad.text
    assert "boss@example.test, not-an-address</textarea>" in bad.text
    many = ", ".join(f"p{n}@example.test" for n in range(11))
    too_many = browser.post(PAGE, form(recipients=many))
    assert "“Recipients” takes at most 10 addresses." in too_many.text
    browser.post("/account/language", {"language": "cs", "next": PAGE})
    cs = browser.post(PAGE, form(send_at="", recipients="nikdo"))
    assert cs.status == 400
    assert "Vyplňte prosím „Čas odeslání“." in cs.text
    assert "„Příjemci“: „nikdo“ není e-mailová adresa." in cs.text
    assert ">Nový rozvrh</h1>" in cs.text


def test_an_admin_manages_every_schedule_and_agents_and_back_office_are_refused(
    browser: Browser, other_browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    rights(db, centre)
    browser.signed_in("sue")
    browser.get(PAGE)
    browser.post(PAGE, form(queue=str(centre.support)))
    sid = db.run_sync(lambda s: s.scalar(select(ReportSchedule.id)))
    claimed = START - timedelta(hours=2)

    def log(s: Session) -> None:
        s.add(
            ReportSending(
                schedule_id=sid,
                first_day=date(2026, 2, 23),
                last_day=date(2026, 3, 1),
                claimed_at=claimed,
                claimed_by="node",
                attempts=3,
                error="451 Mailbox busy",
            )
        )
        s.add(
            ReportSending(
                schedule_id=sid,
                first_day=date(2026, 2, 16),
                last_day=date(2026, 2, 22),
                claimed_at=claimed,
                claimed_by="node",
                attempts=1,
                sent_at=datetime(2026, 2, 23, 6, 30, tzinfo=claimed.tzinfo),
            )
        )

    db.run_sync(log)
    listed = browser.get(PAGE)
    assert "failed after 3 attempts: 451 Mailbox busy" in listed.text
    assert "2026-02-16 – 2026-02-22" in listed.text and "sent " in listed.text
    other_browser.signed_in("ada")
    admin = other_browser.get(PAGE)
    assert f'id="schedule-{sid}"' in admin.text and "Sue Visor" in admin.text
    assert other_browser.post(f"{PAGE}/{sid}", form(recipients="ada@example.test")).status == 303
    assert stored(db)[0]["owner_id"] == centre.agents["sue"]  # still sue's, with her rights
    not_hers = other_browser.post(f"{PAGE}/{sid}", form(queue=str(centre.billing)))
    assert not_hers.status == 400
    assert "The schedule&#39;s owner has no right to this queue." in not_hers.text
    # sue sees no schedule of another; a supervisor cannot open the admin's
    other_browser.post(PAGE, form())
    theirs = db.run_sync(
        lambda s: s.scalar(select(ReportSchedule.id).order_by(ReportSchedule.id.desc()))
    )
    assert browser.get(f"{PAGE}/{theirs}").status == 404
    assert browser.post(f"{PAGE}/{theirs}/delete", {}).status == 404
    assert f'id="schedule-{theirs}"' not in browser.get(PAGE).text
    eva = other_browser
    eva.post("/sign-out", {})
    eva.signed_in("eva")
    assert eva.get(PAGE).status == 403
    assert eva.post(PAGE, form()).status == 403
    eva.post("/sign-out", {})
    eva.signed_in("bob")
    assert eva.get(PAGE + "/new").status == 403
    assert len(stored(db)) == 2


def test_a_one_off_names_its_days_is_refused_backwards_and_shows_done_once_sent(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    rights(db, centre)
    browser.signed_in("sue")
    new = browser.get(PAGE + "/new")
    assert 'name="first_day"' in new.text and 'value="once"' in new.text
    missing = browser.post(PAGE, form(period="once", first_day="2026-02-01"))
    assert missing.status == 400 and "Please fill in “Last day”." in missing.text
    backwards = browser.post(
        PAGE, form(period="once", first_day="2026-02-10", last_day="2026-02-01")
    )
    assert backwards.status == 400 and "“Last day” must not be before the first day." in (
        backwards.text
    )
    early = browser.post(
        PAGE,
        form(period="once", first_day="2026-02-01", last_day="2026-02-28", send_on="2026-02-27"),
    )
    assert early.status == 400 and "“Sent on” must be after the last day" in early.text
    assert stored(db) == []
    saved = browser.post(
        PAGE,
        form(period="once", first_day="2026-02-01", last_day="2026-02-28", send_on="2026-03-03"),
    )
    assert saved.status == 303
    [row] = stored(db)
    assert row["period"] is ReportPeriod.ONCE and row["starts_on"] == date(2026, 2, 1)
    assert row["ends_on"] == date(2026, 2, 28) and row["send_on"] == date(2026, 3, 3)
    sid = db.run_sync(lambda s: s.scalar(select(ReportSchedule.id)))
    listed = browser.get(PAGE)
    assert "once: 2026-02-01 – 2026-02-28" in listed.text
    assert f'id="schedule-done-{sid}"' not in listed.text
    now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert db.run_sync(store.claim_period, sid, date(2026, 2, 1), date(2026, 2, 28), now, "a", 900)
    db.run_sync(store.note_sent, sid, date(2026, 2, 1), date(2026, 2, 28), now)
    assert f'id="schedule-done-{sid}"' in browser.get(PAGE).text
    browser.post("/account/language", {"language": "cs", "next": PAGE})
    assert browser.get(PAGE).status == 200
