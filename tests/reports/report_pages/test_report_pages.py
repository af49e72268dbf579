"""The reports page and its exports (R-5.3): what a supervisor and an admin see, in English
and Czech; nobody sees a queue they have no right to, in the page or a file (R-7.4); bad
dates are refused in the page; CSV parsed, XLSX opened with openpyxl, PDF read back with
``pdftotext`` (Debian poppler-utils)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
import treq
from sqlalchemy.orm import Session

from db.models import Agent, Call, QueueRight
from db.passwords import hash_password
from domain.enums import CallState, Direction, Role
from tests.support.centre import PASSWORD, StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.deferreds import result_of
from tests.support.web import BASE, Browser
from tests.support.web_fixtures import START

SUPPORT_DID, BILLING_DID = "+420222000111", "+420222000999"


def calls(db: InlineDBRunner, centre: StaffCentre) -> None:
    """Two answered support calls and an abandoned one; one answered billing call; sue
    (supervisor) has the right to support only; ada is an admin."""

    def make(s: Session) -> None:
        def call(queue: int, did: str, state: CallState, wait_s: int, minutes_ago: int) -> None:
            started = START - timedelta(minutes=minutes_ago)
            entered = started + timedelta(seconds=5)
            answered = state is CallState.ANSWERED
            s.add(
                Call(
                    uniqueid=uuid.uuid4().hex,
                    direction=Direction.INBOUND,
                    did=did,
                    caller_number=f"+420600{minutes_ago:06d}",
                    queue_id=queue,
                    agent_id=centre.agents["eva"] if answered else None,
                    state=state,
                    started_at=started,
                    queue_entered_at=entered,
                    answered_at=entered + timedelta(seconds=wait_s) if answered else None,
                    ended_at=entered + timedelta(seconds=wait_s + (120 if answered else 0)),
                    reached=answered,
                    within_service_level=answered and wait_s <= 20,
                )
            )

        call(centre.support, SUPPORT_DID, CallState.ANSWERED, 10, 60)
        call(centre.support, SUPPORT_DID, CallState.ANSWERED, 30, 50)
        call(centre.support, SUPPORT_DID, CallState.ABANDONED_QUEUE, 40, 40)
        call(centre.billing, BILLING_DID, CallState.ANSWERED, 5, 30)
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


@dataclass(frozen=True)
class Download:
    status: int
    headers: Any
    body: bytes


def download(browser: Browser, path: str) -> Download:
    d = browser.stub.get(BASE + path, headers={"Accept": "*/*"}, allow_redirects=False)
    browser.stub.flush()
    response = result_of(d)
    body = result_of(treq.content(response))
    return Download(response.code, response.headers, body)


def test_a_supervisor_sees_the_queue_report_of_their_queues_with_a_chart(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    calls(db, centre)
    home = browser.signed_in("sue")
    assert 'href="/reports"' in home.text
    page = browser.get("/reports")
    assert page.status == 200, page.text
    assert "Technical support" in page.text and "Billing" not in page.text
    assert 'id="reports-no-queue"' not in page.text
    assert (
        'id="report-chart"><svg' in page.text
        and "<script" not in page.text.split("report-chart")[1].split("</figure>")[0]
    )
    row = page.text.split('<td data-key="queue">Technical support</td>')[1].split("</tr>")[0]
    assert '<td data-key="calls" class="num">3</td>' in row
    assert '<td data-key="answered" class="num">2</td>' in row
    assert '<td data-key="average_wait_s" class="num">0:20</td>' in row  # (10 + 30) / 2
    assert '<td data-key="service_level" class="num">33.3 %</td>' in row
    assert '<td data-key="abandonment" class="num">33.3 %</td>' in row
    dids = browser.get("/reports?report=dids&from=2026-03-01&to=2026-03-02")
    assert SUPPORT_DID in dids.text and BILLING_DID not in dids.text
    refused = browser.get(f"/reports?report=dids&queue={centre.billing}")
    assert refused.status == 403
    assert BILLING_DID not in refused.text


def test_an_admin_sees_every_queue_and_an_agent_no_reports(
    browser: Browser, other_browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    calls(db, centre)
    browser.signed_in("ada")
    page = browser.get("/reports?report=dids")
    assert SUPPORT_DID in page.text and BILLING_DID in page.text
    only_billing = browser.get(f"/reports?report=dids&queue={centre.billing}")
    assert SUPPORT_DID not in only_billing.text and BILLING_DID in only_billing.text
    eva = other_browser.signed_in("eva")
    assert 'href="/reports"' not in eva.text
    assert other_browser.get("/reports").status == 403
    assert download(other_browser, "/reports/export/csv").status == 403


def test_bad_dates_are_refused_in_the_page_in_the_readers_language(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    calls(db, centre)
    browser.signed_in("sue")
    bad = browser.get("/reports?report=agents&from=2026-03-05&to=2026-03-01")
    assert bad.status == 400
    assert "The period ends before it starts." in bad.text
    assert 'value="2026-03-05"' in bad.text  # what was typed is kept
    assert 'id="reports-form"' in bad.text
    too_long = browser.get("/reports?from=2024-01-01&to=2026-03-01")
    assert too_long.status == 400 and "at most 366 days" in too_long.text
    browser.post("/account/language", {"language": "cs", "next": "/reports"})
    cs = browser.get("/reports?from=1.3.2026&to=2.3.2026")
    assert cs.status == 400
    assert "Zadejte data ve tvaru RRRR-MM-DD." in cs.text


def test_the_page_in_czech(browser: Browser, db: InlineDBRunner, centre: StaffCentre) -> None:
    calls(db, centre)
    browser.signed_in("sue")
    browser.post("/account/language", {"language": "cs", "next": "/reports"})
    page = browser.get("/reports")
    assert ">Přehledy</h1>" in page.text
    assert "Úroveň služby" in page.text and "Dovolatelnost" in page.text
    assert "33,3 %" in page.text  # Czech decimal comma
    agents = browser.get("/reports?report=agents")
    assert "Doba hovorů" in agents.text and "Eva Dvořák" in agents.text


def test_csv_xlsx_and_pdf_exports_hold_the_same_figures_and_only_visible_queues(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    calls(db, centre)
    browser.signed_in("sue")
    query = "report=queues&from=2026-03-01&to=2026-03-02"

    got = download(browser, f"/reports/export/csv?{query}")
    assert got.status == 200
    assert got.headers.getRawHeaders("content-type") == ["text/csv; charset=utf-8"]
    disposition = got.headers.getRawHeaders("content-disposition")[0]
    assert 'filename="queues-2026-03-01-2026-03-02.csv"' in disposition
    rows = list(csv.DictReader(io.StringIO(got.body.decode("utf-8-sig"))))
    assert [r["Queue"] for r in rows] == ["Technical support"]
    assert rows[0]["Calls"] == "3" and rows[0]["Average wait (s)"] == "20"
    assert rows[0]["Service level (%)"] == "33.3"

    got = download(browser, f"/reports/export/xlsx?{query}")
    assert got.status == 200
    book = openpyxl.load_workbook(io.BytesIO(got.body))
    sheet = book.active
    assert sheet is not None
    assert sheet["A1"].value == "Queues, 2026-03-01 – 2026-03-02"
    header = [c.value for c in sheet[3]]
    values = dict(zip(header, [c.value for c in sheet[4]], strict=True))
    assert values["Queue"] == "Technical support" and values["Calls"] == 3
    assert values["Service level"] == pytest.approx(1 / 3)
    assert values["Average wait"] == timedelta(seconds=20)  # shown as 0:00:20
    assert sheet.max_row == 4  # no Billing row

    got = download(browser, f"/reports/export/pdf?{query}")
    assert got.status == 200 and got.body.startswith(b"%PDF")
    text = pdf_text(got.body)
    assert "Technical support" in text and "Billing" not in text
    assert "33.3 %" in text

    browser.post("/account/language", {"language": "cs", "next": "/reports"})
    got = download(browser, f"/reports/export/pdf?{query}")
    text = pdf_text(got.body)
    assert "Fronty za 2026-03-01 – 2026-03-02" in text and "Úroveň služby" in text
    got = download(browser, f"/reports/export/csv?{query}")
    assert "Úroveň služby (%)" in got.body.decode("utf-8-sig")
    assert download(browser, f"/reports/export/doc?{query}").status == 400


def pdf_text(pdf: bytes) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext (Debian poppler-utils) is needed"
    done = subprocess.run([tool, "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def test_a_supervisor_without_a_queue_is_told_why_the_reports_are_empty(
    browser: Browser, db: InlineDBRunner, centre: StaffCentre
) -> None:
    browser.signed_in("sue")  # sue has no queue right here
    page = browser.get("/reports?report=dids")
    assert page.status == 200
    assert 'id="reports-no-queue"' in page.text and 'id="report-empty"' in page.text
    browser.post("/account/language", {"language": "cs", "next": "/reports"})
    assert "nemáte právo k žádné frontě" in browser.get("/reports").text
