"""E-mail reports of new voicemails (R-3.5) against a real SMTP server on loopback.

The server is Twisted's own ESMTP protocol with a delivery that keeps what it receives and
can refuse recipients; the mailer talks to it over TCP like to any mail server. Retries run
on an injected Clock, so the test decides when the back-off has passed.
"""

from __future__ import annotations

import email
import socket
import wave
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.internet.task import Clock, deferLater
from twisted.mail.interfaces import IMessageDelivery, IMessageSMTP
from twisted.mail.smtp import ESMTP, SMTPFactory, SMTPServerError, User
from zope.interface import implementer

from db.models import VoicemailItem, VoicemailItemHistory
from db.runner import DBRunner
from domain.enums import CallState
from hotline.app import HotlineService
from tests.support.back_office import Office, build_office, inbound_call, leave
from voicemail.intake import SpoolImportService
from voicemail.mailer import (
    NOT_AVAILABLE,
    SmtpSettings,
    SmtpUrlError,
    VoicemailMailer,
    build_message,
    item_link_template,
    parse_smtp_url,
)
from voicemail.store.email import VoicemailReport, voicemail_report

CREATED = datetime(2026, 11, 23, 21, 5, 9, tzinfo=UTC)  # 22:05:09 in Prague (CET)
NIGHT = ("night@example.test", "boss@example.test")


# --------------------------------------------------------------------------- a real server


@implementer(IMessageSMTP)
class _Message:
    def __init__(self, inbox: Inbox, recipient: str) -> None:
        self.inbox, self.recipient = inbox, recipient
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> Deferred[None]:
        self.inbox.received.append((self.recipient, b"\n".join(self.lines)))
        return succeed(None)

    def connectionLost(self) -> None:
        self.lines = []


@implementer(IMessageDelivery)
class Inbox:
    """Keeps every message per recipient; refuses an address ``refusals[address]`` times."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.refusals: dict[str, int] = {}
        self.sessions = 0

    def receivedHeader(self, helo: object, origin: object, recipients: object) -> None:
        return None

    def validateFrom(self, helo: object, origin: object) -> object:
        return origin

    def validateTo(self, user: User) -> object:
        address = str(user.dest)
        if self.refusals.get(address, 0) > 0:
            self.refusals[address] -= 1
            raise SMTPServerError(451, "Mailbox busy, try again later")
        return lambda: _Message(self, address)

    def parsed(self) -> list[tuple[str, EmailMessage]]:
        return [
            (to, email.message_from_bytes(raw, policy=default_policy))  # type: ignore[misc]
            for to, raw in self.received
        ]


class _ServerFactory(SMTPFactory):
    protocol = ESMTP

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox
        self.domain = b"mx.example.test"

    def buildProtocol(self, addr: object) -> ESMTP:
        protocol = super().buildProtocol(addr)
        protocol.delivery = self.inbox
        self.inbox.sessions += 1
        return protocol


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    tcp: Any = reactor  # the zope interfaces are not typing Protocols
    port = tcp.listenTCP(0, _ServerFactory(box), interface="127.0.0.1")
    yield box, port.getHost().port
    port.stopListening()


class _Silent(Protocol):
    """Accepts the connection and never says a word (no 220 greeting)."""

    def connectionMade(self) -> None:
        self.factory.accepted += 1  # type: ignore[attr-defined]


class HangingThenAnswering(ServerFactory):
    """A mail server whose first ``hangs`` connections are accepted and then left silent;
    later ones get the real ESMTP server of ``inbox``."""

    def __init__(self, inbox: Inbox, hangs: int = 1) -> None:
        self.inbox, self.hangs, self.accepted = inbox, hangs, 0
        self.answering = _ServerFactory(inbox)

    def buildProtocol(self, addr: Any) -> Any:
        if self.accepted < self.hangs:
            protocol = _Silent()
            protocol.factory = self
            return protocol
        return self.answering.buildProtocol(addr)


async def reactor_turns_until(done: Callable[[], bool], turns: int = 2000) -> None:
    """Let the real reactor do its I/O (loopback TCP) until ``done()``; fails if it never is."""
    for _ in range(turns):
        if done():
            return
        await deferLater(reactor, 0, lambda: None)
    raise AssertionError("the loopback exchange did not happen")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- the centre


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    (folder / "voicemail").mkdir(parents=True)
    with wave.open(str(folder / "voicemail" / "night.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 64)
    return folder


def night_message(engine: Engine, number: str = "777123456") -> tuple[Office, int]:
    with Session(engine) as s, s.begin():
        office = build_office(s)
        call = inbound_call(s, office, number, CREATED, end=CallState.VOICEMAIL)
        item = leave(
            s,
            office.night,
            "message",
            number,
            CREATED,
            call_id=call,
            recording_path="voicemail/night.wav",
            duration_s=75,
        )
    return office, item


def make_mailer(
    runner: DBRunner, port: int, clock: Clock, recordings: Path, **kw: object
) -> VoicemailMailer:
    smtp = kw.pop("smtp", None) or SmtpSettings("127.0.0.1", port, "hotline@example.test")
    return VoicemailMailer(
        runner,
        smtp,  # type: ignore[arg-type]
        reactor=reactor,  # type: ignore[arg-type]
        clock=clock,  # type: ignore[arg-type]
        recordings_dir=recordings,
        time_zone="Europe/Prague",
        retry_delays_s=(10, 30),
        **kw,  # type: ignore[arg-type]
    )


def emailed_at(engine: Engine, item: int) -> datetime | None:
    with Session(engine) as s:
        row = s.get(VoicemailItem, item)
        assert row is not None
        return row.emailed_at


# --------------------------------------------------------------------------- delivery


@pytest_twisted.ensureDeferred
async def test_a_new_voicemail_is_mailed_with_the_recording_attached(
    engine: Engine, runner: DBRunner, inbox: tuple[Inbox, int], recordings: Path
) -> None:
    server, port = inbox
    _, item = night_message(engine)
    clock = Clock()
    clock.advance(1_800_000_000)
    mailer = make_mailer(runner, port, clock, recordings)
    mailer.report_new_item(item)  # returns at once: nothing is sent yet
    assert server.received == []
    mailer.report_new_item(item)  # a second report of the same item is ignored
    await mailer.settled()
    assert sorted(to for to, _ in server.received) == sorted(NIGHT)
    assert server.sessions == 1
    _, message = server.parsed()[0]
    assert message["Subject"] == ("Voicemail from Jan Novák (777123456) in After-hours voicemail")
    assert message["From"] == "hotline@example.test"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Time:      2026-11-23 22:05:09 (Europe/Prague)" in text
    assert "Duration:  1:15" in text and "Customer:  Jan Novák" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "night.wav"
    assert attachment.get_content() == (recordings / "voicemail" / "night.wav").read_bytes()
    assert emailed_at(engine, item) == datetime.fromtimestamp(1_800_000_000, UTC)
    with Session(engine) as s:
        actions = s.scalars(
            select(VoicemailItemHistory.action).where(VoicemailItemHistory.item_id == item)
        ).all()
    assert actions[-1] == "emailed"
    assert mailer.delivered == [item] and mailer.waiting_retry == frozenset()


@pytest_twisted.ensureDeferred
async def test_a_server_that_refuses_first_then_accepts_gets_it_on_the_retry(
    engine: Engine, runner: DBRunner, inbox: tuple[Inbox, int], recordings: Path
) -> None:
    server, port = inbox
    server.refusals = {address: 1 for address in NIGHT}
    _, item = night_message(engine)
    clock = Clock()
    mailer = make_mailer(runner, port, clock, recordings)
    mailer.report_new_item(item)
    await mailer.settled()
    assert server.received == [] and mailer.waiting_retry == {item}
    assert emailed_at(engine, item) is None
    clock.advance(9.9)
    await mailer.settled()
    assert server.sessions == 1  # the back-off has not passed yet
    clock.advance(0.1)
    await mailer.settled()
    assert sorted(to for to, _ in server.received) == sorted(NIGHT)
    assert server.sessions == 2 and emailed_at(engine, item) is not None


@pytest_twisted.ensureDeferred
async def test_a_recipient_refused_once_gets_it_later_and_nobody_gets_it_twice(
    engine: Engine, runner: DBRunner, inbox: tuple[Inbox, int], recordings: Path
) -> None:
    server, port = inbox
    server.refusals = {"boss@example.test": 1}
    _, item = night_message(engine)
    clock = Clock()
    mailer = make_mailer(runner, port, clock, recordings)
    mailer.report_new_item(item)
    await mailer.settled()
    assert [to for to, _ in server.received] == ["night@example.test"]
    assert emailed_at(engine, item) is None  # not everyone has it yet
    clock.advance(10)
    await mailer.settled()
    assert [to for to, _ in server.received] == ["night@example.test", "boss@example.test"]
    assert emailed_at(engine, item) is not None


@pytest_twisted.ensureDeferred
async def test_a_server_that_is_down_is_retried_then_given_up_without_raising(
    engine: Engine, runner: DBRunner, recordings: Path
) -> None:
    _, item = night_message(engine)
    clock = Clock()
    mailer = make_mailer(runner, closed_port(), clock, recordings)
    mailer.report_new_item(item)  # must not raise although nothing listens
    await mailer.settled()
    assert mailer.waiting_retry == {item}
    clock.advance(10)
    await mailer.settled()
    assert mailer.waiting_retry == {item}  # second failure, next wait 30 s
    clock.advance(30)
    await mailer.settled()
    assert mailer.waiting_retry == frozenset() and mailer.given_up == [item]
    assert mailer.delivered == [] and emailed_at(engine, item) is None
    assert clock.getDelayedCalls() == []
    # Staff see it on the item: nobody was told, whom it was for.
    with Session(engine) as s:
        history = s.execute(
            select(VoicemailItemHistory.action, VoicemailItemHistory.params)
            .where(VoicemailItemHistory.item_id == item)
            .order_by(VoicemailItemHistory.id)
        ).all()
    assert [tuple(h) for h in history] == [
        ("created", "{}"),
        ("email_failed", '{"to": ["night@example.test", "boss@example.test"]}'),
    ]


@pytest_twisted.ensureDeferred
async def test_starttls_required_never_sends_in_the_clear(
    engine: Engine, runner: DBRunner, inbox: tuple[Inbox, int], recordings: Path
) -> None:
    server, port = inbox  # this server offers no STARTTLS
    _, item = night_message(engine)
    clock = Clock()
    smtp = parse_smtp_url(f"smtp://127.0.0.1:{port}?from=hotline@example.test&starttls=1")
    mailer = make_mailer(runner, port, clock, recordings, smtp=smtp)
    mailer.report_new_item(item)
    await mailer.settled()
    assert server.received == [] and mailer.waiting_retry == {item}
    mailer.stop()
    # The refused session's silence timer (on the mailer's clock) ends with its connection.
    await reactor_turns_until(lambda: clock.getDelayedCalls() == [])


@pytest_twisted.ensureDeferred
async def test_boxes_without_an_address_send_nothing_and_catch_up_finds_the_rest(
    engine: Engine, runner: DBRunner, inbox: tuple[Inbox, int], recordings: Path
) -> None:
    server, port = inbox
    office, night = night_message(engine)
    with Session(engine) as s, s.begin():
        daytime = leave(s, office.messages, "message", "602111222", CREATED)
    clock = Clock()
    mailer = make_mailer(runner, port, clock, recordings)
    mailer.report_new_item(daytime)
    await mailer.settled()
    assert server.received == [] and mailer.waiting_retry == frozenset()
    assert await mailer.catch_up(CREATED) == 1
    await mailer.settled()
    assert len(server.received) == 2 and mailer.delivered == [night]
    assert await mailer.catch_up(CREATED) == 0


# --------------------------------------------------------------------------- the message


def report(**changes: object) -> VoicemailReport:
    fields: dict[str, object] = {
        "item_id": 7,
        "email_to": NIGHT,
        "box_name": "After-hours voicemail",
        "kind": "message",
        "caller_number": "777123456",
        "customer_name": "",
        "created_at": CREATED,
        "duration_s": 5,
        "recording_path": "voicemail/night.wav",
    }
    fields.update(changes)
    return VoicemailReport(**fields)  # type: ignore[arg-type]


def render(rep: VoicemailReport, recordings: Path, **kw: object) -> EmailMessage:
    from zoneinfo import ZoneInfo

    from voicemail.mailer import wire_bytes  # the bytes that go on the wire

    built = build_message(
        rep,
        sender="hotline@example.test",
        zone=ZoneInfo("Europe/Prague"),
        recordings_dir=recordings,
        **kw,  # type: ignore[arg-type]
    )
    raw = wire_bytes(built)
    assert b"\r" not in raw  # Twisted's client adds the CRs
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_a_large_recording_is_linked_instead_of_attached(recordings: Path) -> None:
    message = render(
        report(),
        recordings,
        attach_limit_bytes=100,
        recording_link=item_link_template("https://hotline.example.test/"),
    )
    assert list(message.iter_attachments()) == []
    assert "too large to attach (0.0 MB): https://hotline.example.test/backoffice/items/7" in (
        text_of(message)
    )
    # Without HOTLINE_PUBLIC_URL there is no address to give: the text says where to look.
    unlinked = render(report(), recordings, attach_limit_bytes=100, recording_link="")
    assert "too large to attach (0.0 MB): the back office in Hotline" in text_of(unlinked)


def test_the_public_address_of_the_web_pages_is_checked_at_start_up() -> None:
    from hotline.config import ConfigError, load_settings

    def public(value: str) -> str | None:
        return load_settings({"HOTLINE_PUBLIC_URL": value}).public_url

    assert public("https://hotline.example.test/") == "https://hotline.example.test"
    assert public("http://10.0.0.5:8080/hotline") == "http://10.0.0.5:8080/hotline"
    assert public("") is None and load_settings({}).public_url is None
    assert item_link_template(None) == ""
    assert item_link_template("http://10.0.0.5:8080/hotline").format(item_id=3) == (
        "http://10.0.0.5:8080/hotline/backoffice/items/3"
    )
    for bad, says in (
        ("hotline.example.test", "is not a web address"),
        ("ftp://hotline.example.test", "is not a web address"),
        ("https://hotline.example.test:99999", "has a bad port"),
        ("https://hotline.example.test/?x=1", "no query or #"),
        ("https://admin:s3cret@hotline.example.test", "must not carry a user or password"),
    ):
        with pytest.raises(ConfigError) as refused:
            public(bad)
        text = str(refused.value)
        assert text.startswith("HOTLINE_PUBLIC_URL: ") and says in text, text
        assert "\n" not in text and "s3cret" not in text


def test_a_missing_or_escaping_recording_is_reported_not_available(recordings: Path) -> None:
    (recordings.parent / "secret.wav").write_bytes(b"RIFF")
    for path in ("voicemail/gone.wav", "../secret.wav", ""):
        message = render(report(recording_path=path), recordings)
        assert list(message.iter_attachments()) == []
        assert NOT_AVAILABLE in text_of(message)


def test_a_callback_request_and_a_hostile_caller_id(recordings: Path) -> None:
    message = render(
        report(kind="callback", caller_number="777\r\nBcc: thief@example.test", duration_s=None),
        recordings,
    )
    # folded because it is long; a parser keeps the fold's leading space
    assert message["Subject"].strip() == (
        "Callback request from 777 Bcc: thief@example.test in After-hours voicemail"
    )
    assert message["Bcc"] is None and message["To"] == ", ".join(NIGHT)
    assert list(message.iter_attachments()) == [] and "Duration" not in text_of(message)


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mail.example.test")
    assert (plain.host, plain.port, plain.sender, plain.starttls) == (
        "mail.example.test",
        25,
        "hotline@mail.example.test",
        None,
    )
    full = parse_smtp_url("smtp://us%40er:p%3Ass@mx:587?from=cc@example.test&starttls=1")
    assert (full.username, full.password, full.port, full.sender, full.starttls) == (
        "us@er",
        "p:ss",
        587,
        "cc@example.test",
        True,
    )
    assert "p:ss" not in repr(full)
    tls = parse_smtp_url("smtps://mx?starttls=0")
    assert (tls.port, tls.implicit_tls, tls.starttls) == (465, True, False)
    for bad in (
        "http://mx",
        "smtp://",
        "smtp://mx?starttls=yes",
        "smtp://mx?from=nobody",
        "smtp://mx?relay=1",
        "smtp://user@mx",
        "smtp://mx:99999",
    ):
        with pytest.raises(SmtpUrlError):
            parse_smtp_url(bad)


def test_the_report_comes_from_the_database_once(engine: Engine) -> None:
    _, item = night_message(engine)
    with Session(engine) as s, s.begin():
        found = voicemail_report(s, item)
        assert found is not None and found.email_to == NIGHT
        assert (found.box_name, found.customer_name, found.duration_s) == (
            "After-hours voicemail",
            "Jan Novák",
            75,
        )
        s.get(VoicemailItem, item).emailed_at = CREATED  # type: ignore[union-attr]
        s.flush()
        assert voicemail_report(s, item) is None


# --------------------------------------------------------------------------- the service's hook
#
# A message left by a caller reaches the mailer through the hook the running service installs
# (hotline.app.HotlineService: flow_context() gives the flows ``on_new_item=_new_item``, the
# spool import passes the same hook). The calls run end to end in the e2e world (simulated
# Asterisk, real FastAGI server and flows, real database); the service's pieces are built by
# HotlineService itself, on the e2e world's Clock and its inline DBRunner. Only the mailer is
# made here, as HotlineService.start() makes it (start() also listens on real ports and
# freezes the GC, which a test cannot have), with the SMTP server above on loopback.

SUPPORT_DID, SALES_DID = "222111001", "222111002"
MAILING = """
voicemail_boxes:
  - {code: VM, name: Support voicemail, email_to: 'night@example.test, boss@example.test'}
  - {code: SALES-VM, name: Sales voicemail}
queues:
  - {code: SALES, name: Sales, voicemail_box: SALES-VM}
"""


def serving_world(
    db_url: str, tmp_path: Path, smtp_port: int, public_url: str | None = None
) -> tuple[Any, HotlineService]:
    from db.catalog import load_catalog
    from dialplan.flows.router import build_router
    from hotline.config import Settings
    from tests.support.e2e_world import make_e2e_world

    world = make_e2e_world(db_url, tmp_path)  # Monday 10:00 in Prague: both queues are open
    with Session(world.engine) as s, s.begin():
        load_catalog(s, MAILING, source="mailing.yaml")
    settings = Settings(
        database_url=db_url,
        recordings_dir=tmp_path / "recordings",
        spool_dir=tmp_path / "spool",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}?from=hotline@example.test",
        public_url=public_url,
    )
    services = HotlineService(settings, reactor=world.clock)
    services.db = world.db  # the product's DBRunner, run inline on the e2e world's Clock
    # Built as the service builds it, on the e2e world's Clock; real TCP to the loopback server.
    services.mailer = services.make_mailer(reactor)
    # The FastAGI server the simulated Asterisk talks to runs the service's own flow context.
    world.servers[4573].factory.router = build_router(services.flow_context())
    return world, services


def stop_serving(services: HotlineService) -> None:
    """What stopping the process does to the parts built here: the mailer's retries go."""
    if services.mailer is not None:
        services.mailer.stop()
    services.engine.dispose()


def items_by_box(engine: Engine) -> dict[str, tuple[int, str, datetime | None]]:
    """Box code -> (item id, recording path, emailed at) of its only item."""
    from db.models import VoicemailBox

    with Session(engine) as s:
        rows = s.execute(
            select(VoicemailBox.code, VoicemailItem).join(
                VoicemailItem, VoicemailItem.box_id == VoicemailBox.id
            )
        ).all()
        return {code: (i.id, i.recording_path, i.emailed_at) for code, i in rows}


@pytest_twisted.ensureDeferred
async def test_a_message_a_caller_leaves_is_mailed_through_the_services_hook(
    db_url: str, tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    world, services = serving_world(db_url, tmp_path, port, "https://hotline.example.test")
    try:
        from simulator.switch import CallerScript

        # Both callers press # while waiting and speak; only Support's box has an address.
        world.call(CallerScript(did=SUPPORT_DID, caller_id_num="777123456", keys=((5.0, "#"),)))
        world.call(CallerScript(did=SALES_DID, caller_id_num="731000111", keys=((5.0, "#"),)))
        world.run(60)
        assert services.mailer is not None
        await services.mailer.settled()
    finally:
        stop_serving(services)
    items = items_by_box(world.engine)
    assert set(items) == {"VM", "SALES-VM"}  # both messages were stored
    support_item, recording, emailed = items["VM"]
    assert recording.startswith("voicemail/2026/11/23/")
    assert sorted(to for to, _ in server.received) == sorted(NIGHT)  # one report, no more
    for _, message in server.parsed():
        assert message["Subject"] == "Voicemail from 777123456 in Support voicemail"
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content() == (tmp_path / "recordings" / recording).read_bytes()
        # HOTLINE_PUBLIC_URL gives the link to the item's page, where it plays.
        link = f"https://hotline.example.test/backoffice/items/{support_item}"
        assert f"It can also be played at {link}" in text_of(message)
    assert emailed == world.now()  # the report is recorded on the item
    assert items["SALES-VM"][2] is None  # a box without an address sends nothing
    assert services.mailer.delivered == [support_item] and services.mailer.given_up == []


@pytest_twisted.ensureDeferred
async def test_a_message_spooled_while_the_database_was_down_is_mailed_on_import(
    db_url: str, tmp_path: Path, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    world, services = serving_world(db_url, tmp_path, port)
    try:
        from simulator.switch import CallerScript

        world.call(CallerScript(did=SUPPORT_DID, caller_id_num="777123456", keys=((20.0, "#"),)))
        world.run(10)
        world.db.go_down(tmp_path)  # the message can only be spooled
        world.run(50)
        world.db.come_back()
        assert services.mailer is not None
        await services.mailer.settled()
        assert server.received == [] and items_by_box(world.engine) == {}
        # One run of the process's spool import, with the process's hook for new items.
        importing = SpoolImportService(
            services.db, services.spool, world.clock, services.report_new_item
        )
        await importing.import_now()
        await services.mailer.settled()
    finally:
        stop_serving(services)
    [(item, recording, emailed)] = items_by_box(world.engine).values()
    assert sorted(to for to, _ in server.received) == sorted(NIGHT)
    assert emailed is not None and services.mailer.delivered == [item]
    _, message = server.parsed()[0]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content() == (tmp_path / "recordings" / recording).read_bytes()


@pytest_twisted.ensureDeferred
async def test_a_server_that_accepts_and_hangs_never_blocks_the_call_and_is_retried(
    db_url: str, tmp_path: Path
) -> None:
    """R-3.5: "never blocks the call flow". The mail server takes the connection and then
    says nothing; the caller's message is stored and the call ends as usual meanwhile. The
    silent session is cut off after the mailer's timeout (on the Clock) and the report goes
    out on the retry, when the server answers again."""
    server = Inbox()
    hanging = HangingThenAnswering(server)
    tcp: Any = reactor
    port = tcp.listenTCP(0, hanging, interface="127.0.0.1")
    world, services = serving_world(db_url, tmp_path, port.getHost().port)
    try:
        from simulator.switch import CallerScript

        world.call(CallerScript(did=SUPPORT_DID, caller_id_num="777123456", keys=((5.0, "#"),)))
        world.run(60)
        # The flow is done although the e-mail has not gone anywhere yet.
        [call] = world.calls()
        assert call["state"] == "voicemail"
        [(item, recording, emailed)] = [
            v for code, v in items_by_box(world.engine).items() if code == "VM"
        ]
        assert recording and emailed is None
        mailer = services.mailer
        assert mailer is not None
        await reactor_turns_until(lambda: hanging.accepted == 1)
        # The client is connected and waits for a greeting that never comes ...
        await reactor_turns_until(lambda: _silence_timer(world.clock) is not None)
        assert server.received == [] and mailer.waiting_retry == frozenset()
        world.clock.advance(60)  # ... until its timeout: the attempt failed, a retry waits
        await reactor_turns_until(lambda: mailer.waiting_retry == {item})
        assert server.received == []
        world.clock.advance(10)  # the first back-off
        await mailer.settled()
        assert sorted(to for to, _ in server.received) == sorted(NIGHT)
        assert mailer.delivered == [item] and hanging.accepted == 1
        assert items_by_box(world.engine)["VM"][2] is not None  # emailed_at
    finally:
        stop_serving(services)
        await port.stopListening()


def _silence_timer(clock: Clock) -> object | None:
    """The SMTP client's timeout on ``clock`` (TimeoutMixin's), once it is connected."""
    from twisted.mail.smtp import SMTPClient

    for call in clock.getDelayedCalls():
        if isinstance(getattr(call.func, "__self__", None), SMTPClient):
            return call
    return None
