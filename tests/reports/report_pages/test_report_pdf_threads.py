"""A report's PDF is printed in a worker thread, a bounded number at once (R-7.5): while
WeasyPrint draws, the reactor answers other requests; the PDF that comes out is still the
report (read back with ``pdftotext``). The threads are real; the test holds the printing in
its thread until it has seen the reactor serve."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.internet.threads import deferToThread

from hotline.web import WebRoot
from tests.reports.report_pages.test_report_pages import calls, pdf_text
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.deferreds import has_not_fired, result_of
from tests.support.web import BASE, Browser
from web.request import ProcessInfo
from web.worker_threads import WorkerThreads

QUERY = "report=queues&from=2026-03-01&to=2026-03-02"


class HeldThreads:
    """Real threads (the reactor's pool) that note where the work ran and hold it until
    :meth:`release`."""

    def __init__(self) -> None:
        self.ran_in: list[int] = []
        self.started = 0
        self._go = threading.Event()

    def run(self, fn: Callable[[], Any]) -> Deferred[Any]:
        def held() -> Any:
            self.started += 1
            self.ran_in.append(threading.get_ident())
            assert self._go.wait(30), "the test never released the work"
            return fn()

        return deferToThread(held)

    def release(self) -> None:
        self._go.set()


async def until(done: Callable[[], bool], browser: Browser) -> None:
    """Let the real reactor carry the threads' results back, a few milliseconds a turn."""
    for _ in range(3000):
        browser.stub.flush()
        if done():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("the work never came back")


@pytest_twisted.ensureDeferred
async def test_the_reactor_answers_other_requests_while_a_pdf_prints_in_a_worker_thread(
    db: InlineDBRunner, centre: StaffCentre, clock: Clock
) -> None:
    calls(db, centre)
    held = HeldThreads()
    workers = WorkerThreads(held.run, at_once=1)
    root = WebRoot(
        db,
        ProcessInfo(web_listen="tcp:0"),
        clock=clock,
        time_zone="Europe/Prague",
        worker_threads=workers,
    )
    browser = Browser(root.resource())
    browser.signed_in("sue")

    def ask_pdf() -> Deferred[Any]:
        d = browser.stub.get(
            BASE + f"/reports/export/pdf?{QUERY}", headers={"Accept": "*/*"}, allow_redirects=False
        )
        browser.stub.flush()
        return d

    first, second = ask_pdf(), ask_pdf()
    await until(lambda: held.started == 1, browser)
    # One prints (held in its thread), the other waits for its turn: the bound.
    assert workers.under_way == 1 and workers.queued == 1
    assert has_not_fired(first) and has_not_fired(second)

    # The reactor is free meanwhile: the report page and a CSV are answered at once.
    page = browser.get(f"/reports?{QUERY}")
    assert page.status == 200 and "Technical support" in page.text
    csv_response = browser.stub.get(BASE + f"/reports/export/csv?{QUERY}")
    browser.stub.flush()
    assert result_of(csv_response).code == 200
    assert has_not_fired(first)

    held.release()
    await until(lambda: not has_not_fired(first) and not has_not_fired(second), browser)
    for asked in (first, second):
        response = result_of(asked)
        assert response.code == 200
        body = await treq.content(response)
        browser.stub.flush()
        text = pdf_text(body)
        assert "Queues, 2026-03-01 – 2026-03-02" in text
        assert "Technical support" in text and "Billing" not in text and "33.3 %" in text
    assert len(held.ran_in) == 2
    assert threading.get_ident() not in held.ran_in  # never on the reactor's thread
    root.stop()


@pytest_twisted.ensureDeferred
async def test_a_test_clock_works_inline_and_the_running_reactor_in_threads_of_their_own() -> None:
    inline = WorkerThreads.for_clock(Clock())
    assert result_of(inline.run(threading.get_ident)) == threading.get_ident()
    threaded = WorkerThreads.for_clock(reactor, name="hotline-test-work")
    try:
        names = await threaded.run(lambda: threading.current_thread().name)
    finally:
        threaded.stop()
    assert names.startswith("PoolThread-hotline-test-work")
